"""Atari 2600 preprocessing with SB3's names and defaults (``stable_baselines3.common.atari_wrappers``).

:class:`AtariWrapper` chains the standard steps of Mnih et al. 2015 ("Human-level control through
deep reinforcement learning", Nature) and Machado et al. 2018 ("Revisiting the Arcade Learning
Environment", JAIR) around an ALE env without frame skipping (``*NoFrameskip-v4``, or ``ALE/*-v5``
with ``frameskip=1``):

1. :class:`StickyActionEnv` (only when ``action_repeat_probability > 0``): repeat the previous
   action with that probability;
2. :class:`NoopResetEnv`: a random number (1 to ``noop_max``) of no-op steps after each reset;
3. :class:`MaxAndSkipEnv`: repeat each action ``frame_skip`` times, sum the rewards, and return
   the pixel-wise maximum of the last two frames (the 2600 draws some sprites every other frame);
4. :class:`EpisodicLifeEnv`: a lost life ends the episode for the learner (``terminated``), while
   the game itself only resets on game over;
5. :class:`FireResetEnv` (games whose second action is FIRE): press FIRE after each reset, as
   those games wait for it;
6. :class:`WarpFrame`: grayscale and ``screen_size`` x ``screen_size`` (84 x 84) with area
   interpolation, shape ``(84, 84, 1)``, uint8;
7. :class:`ClipRewardEnv`: the reward's sign.

Frame stacking is not an env wrapper here: stack with ``VecFrameStack`` (or the zoo's
``frame_stack``), which the model records and re-applies itself, so saving, loading, evaluating and
exporting cannot forget it. The resizing needs OpenCV (``pip install "ballast-rl[atari]"``).
"""

from __future__ import annotations

import warnings
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ballast.errors import ConfigurationError

#: What ``pip`` installs for the Atari wrappers and ALE envs.
ATARI_EXTRA = 'pip install "ballast-rl[atari]" (ale-py, which ships the ROMs, and opencv-python-headless)'


def ale_interface(env: gym.Env) -> Any:
    """The ALE emulator under ``env``; an error naming the env when it is not an ALE env."""
    ale = getattr(env.unwrapped, "ale", None)
    if ale is None or not hasattr(env.unwrapped, "get_action_meanings"):
        raise ConfigurationError(
            f"the Atari wrappers need an ALE env (ale_py's AtariEnv, e.g. 'BreakoutNoFrameskip-v4' or "
            f"'ALE/Breakout-v5'), got {type(env.unwrapped).__name__} ({env.spec.id if env.spec else 'no id'})"
        )
    return ale


def _action_meanings(env: gym.Env) -> list[str]:
    ale_interface(env)
    return list(env.unwrapped.get_action_meanings())


class StickyActionEnv(gym.Wrapper):
    """With probability ``action_repeat_probability``, the previous action is played instead of the
    new one (Machado et al. 2018); the first action of an episode repeats NOOP."""

    def __init__(self, env: gym.Env, action_repeat_probability: float) -> None:
        super().__init__(env)
        if _action_meanings(env)[0] != "NOOP":
            raise ConfigurationError(f"StickyActionEnv needs action 0 to be NOOP, got {_action_meanings(env)[0]}")
        self.action_repeat_probability = action_repeat_probability
        self._sticky_action = 0

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict]:
        self._sticky_action = 0
        return self.env.reset(**kwargs)

    def step(self, action: int) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict]:
        if self.np_random.random() >= self.action_repeat_probability:
            self._sticky_action = action
        return self.env.step(self._sticky_action)


class NoopResetEnv(gym.Wrapper):
    """After each reset, 1 to ``noop_max`` no-op steps (drawn from the env's own generator), so that
    episodes start from varied states; ``override_num_noops`` fixes the count."""

    def __init__(self, env: gym.Env, noop_max: int = 30) -> None:
        super().__init__(env)
        if _action_meanings(env)[0] != "NOOP":
            raise ConfigurationError(f"NoopResetEnv needs action 0 to be NOOP, got {_action_meanings(env)[0]}")
        if noop_max < 1:
            raise ConfigurationError(f"noop_max must be at least 1, got {noop_max}")
        self.noop_max = noop_max
        self.override_num_noops: int | None = None
        self.noop_action = 0

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict]:
        obs, info = self.env.reset(**kwargs)
        noops = self.override_num_noops
        if noops is None:
            noops = int(self.unwrapped.np_random.integers(1, self.noop_max + 1))
        for _ in range(noops):
            obs, _, terminated, truncated, info = self.env.step(self.noop_action)
            if terminated or truncated:
                obs, info = self.env.reset(**kwargs)
        return obs, info


class FireResetEnv(gym.Wrapper):
    """Presses FIRE (action 1), then action 2, after each reset: games such as Breakout stand still
    until FIRE is pressed."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        meanings = _action_meanings(env)
        if len(meanings) < 3 or meanings[1] != "FIRE":
            raise ConfigurationError(f"FireResetEnv needs action 1 to be FIRE and at least 3 actions, got {meanings}")

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict]:
        self.env.reset(**kwargs)
        obs = None
        for action in (1, 2):
            obs, _, terminated, truncated, _ = self.env.step(action)
            if terminated or truncated:
                self.env.reset(**kwargs)
        return obs, {}


class EpisodicLifeEnv(gym.Wrapper):
    """A lost life is the end of an episode for the learner, not for the game.

    ``step`` returns ``terminated=True`` when the lives counter drops (but not to 0, where the game
    itself ends); ``reset`` after such a step plays one no-op instead of restarting the game, so
    every state stays reachable. Evaluate with ``terminal_on_life_loss=False`` (or through a
    ``Monitor`` placed inside this wrapper, as :func:`make_atari_env` does) to score whole games.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._ale = ale_interface(env)
        self.lives = 0
        self.was_real_done = True

    def step(self, action: int) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.was_real_done = terminated or truncated
        lives = self._ale.lives()
        if 0 < lives < self.lives:
            terminated = True
        self.lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict]:
        if self.was_real_done:
            obs, info = self.env.reset(**kwargs)
        else:
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:
                obs, info = self.env.reset(**kwargs)
        self.lives = self._ale.lives()
        return obs, info


class MaxAndSkipEnv(gym.Wrapper):
    """Each action is played ``skip`` times; the rewards are summed and the observation is the
    pixel-wise maximum of the last two frames. An episode that ends within the skip stops it."""

    def __init__(self, env: gym.Env, skip: int = 4) -> None:
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, spaces.Box):
            raise ConfigurationError(f"MaxAndSkipEnv needs a Box observation space, got {space}")
        if skip < 1:
            raise ConfigurationError(f"skip must be at least 1, got {skip}")
        self._obs_buffer = np.zeros((2, *space.shape), dtype=space.dtype)
        self._skip = skip

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        total_reward = 0.0
        terminated = truncated = False
        info: dict = {}
        for i in range(self._skip):
            obs, reward, terminated, truncated, info = self.env.step(action)
            if i >= self._skip - 2:
                self._obs_buffer[i - self._skip + 2] = obs
            total_reward += float(reward)
            if terminated or truncated:
                break
        # On the step that ends an episode the frame is that of the episode's end, which is not
        # learnt from; the maximum keeps SB3's observation there too.
        return self._obs_buffer.max(axis=0), total_reward, terminated, truncated, info


class ClipRewardEnv(gym.RewardWrapper):
    """The reward's sign, -1, 0 or +1: one learning rate for games whose scores differ by orders of magnitude."""

    def reward(self, reward: SupportsFloat) -> float:
        return float(np.sign(float(reward)))


class WarpFrame(gym.ObservationWrapper):
    """Grayscale and resize to ``height`` x ``width`` with area interpolation: ``(height, width, 1)``,
    the dtype of the input frames (uint8 for ALE)."""

    def __init__(self, env: gym.Env, width: int = 84, height: int = 84) -> None:
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, spaces.Box) or len(space.shape) != 3 or space.shape[2] != 3:
            raise ConfigurationError(f"WarpFrame needs RGB frames, a Box of shape (H, W, 3); got {space}")
        self._cv2 = _opencv()
        self.width, self.height = width, height
        self.observation_space = spaces.Box(low=0, high=255, shape=(height, width, 1), dtype=space.dtype)

    def observation(self, frame: np.ndarray) -> np.ndarray:
        cv2 = self._cv2
        frame = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        frame = cv2.resize(frame, (self.width, self.height), interpolation=cv2.INTER_AREA)
        return frame[:, :, None]


def _opencv() -> Any:
    try:
        import cv2
    except ImportError:
        message = f"WarpFrame resizes frames with OpenCV, which is not installed: {ATARI_EXTRA}"
        raise ConfigurationError(message) from None
    cv2.ocl.setUseOpenCL(False)
    return cv2


class AtariWrapper(gym.Wrapper):
    """SB3's Atari preprocessing in one wrapper (the steps in the module docstring), same keywords and
    defaults. Use it on ALE envs without frame skipping: on an env that skips frames itself
    (``ALE/*-v5`` skips 4 by default), ``frame_skip`` would multiply it, which is warned about."""

    def __init__(
        self,
        env: gym.Env,
        noop_max: int = 30,
        frame_skip: int = 4,
        screen_size: int = 84,
        terminal_on_life_loss: bool = True,
        clip_reward: bool = True,
        action_repeat_probability: float = 0.0,
    ) -> None:
        ale_interface(env)
        env_skip = getattr(env.unwrapped, "_frameskip", 1)
        if frame_skip > 1 and isinstance(env_skip, int) and env_skip > 1:
            warnings.warn(
                f"AtariWrapper(frame_skip={frame_skip}) on an env that already skips {env_skip} frames "
                f"({env.spec.id if env.spec else 'this env'}): each action lasts {frame_skip * env_skip} frames. "
                "Use a NoFrameskip-v4 id, or make the v5 env with frameskip=1.",
                stacklevel=2,
            )
        if action_repeat_probability > 0.0:
            env = StickyActionEnv(env, action_repeat_probability)
        if noop_max > 0:
            env = NoopResetEnv(env, noop_max=noop_max)
        if frame_skip > 1:
            env = MaxAndSkipEnv(env, skip=frame_skip)
        if terminal_on_life_loss:
            env = EpisodicLifeEnv(env)
        if "FIRE" in _action_meanings(env):
            env = FireResetEnv(env)
        env = WarpFrame(env, width=screen_size, height=screen_size)
        if clip_reward:
            env = ClipRewardEnv(env)
        super().__init__(env)
