"""The bit-flipping env of hindsight experience replay (Andrychowicz et al., 2017, arXiv:1707.01495).

SB3's ``BitFlippingEnv`` (``stable_baselines3.common.envs.bit_flipping_env``). The state is a vector of
``n_bits`` random bits; each action flips one bit (``Discrete(n_bits)``), or, with
``continuous=True``, every bit whose action component is positive (``Box(-1, 1, (n_bits,))``). The
goal is all ones. The reward is 0 when the state equals the goal (the episode terminates) and -1
otherwise, a sparse reward that random exploration rarely meets once ``n_bits`` is large; episodes
are truncated after ``max_steps`` steps (``n_bits`` by default, enough to flip every bit once).

Observations are a ``Dict`` of ``"observation"`` (the state), ``"achieved_goal"`` (also the state)
and ``"desired_goal"`` (all ones), each a ``MultiBinary(n_bits)`` by default, an integer in
``Discrete(2**n_bits)`` with ``discrete_obs_space=True`` (bit ``i`` of the integer is bit ``i`` of
the state), or a 36 x 36 ``uint8`` image with ``image_obs_space=True`` (its first ``n_bits`` pixels
in row-major order are 0 or 255, the others 0). ``compute_reward`` recomputes rewards for batches
of achieved and desired goals, which is what hindsight relabelling needs, and ``compute_terminated``
(which SB3's env lacks, Gymnasium-Robotics' ``GoalEnv`` has) the terminations.

Ballast registers it as ``ballast/BitFlipping-v0`` (``gymnasium.make("ballast/BitFlipping-v0",
n_bits=15)``, or ``SAC("MultiInputPolicy", "ballast/BitFlipping-v0", env_kwargs={...})``).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.registration import EnvSpec

from ballast.errors import ConfigurationError

ENV_ID = "BitFlippingEnv-v0"
#: The id Ballast registers the env under with Gymnasium.
REGISTERED_ID = "ballast/BitFlipping-v0"
IMAGE_SIDE = 36


class BitFlippingEnv(gym.Env):
    """Flip bits until all are 1; a goal-conditioned env with a vectorised ``compute_reward``.

    :param n_bits: the number of bits
    :param continuous: ``Box(-1, 1, (n_bits,), float32)`` actions flipping every bit whose component
        is positive, instead of ``Discrete(n_bits)`` actions flipping one bit
    :param max_steps: the number of steps after which an episode is truncated (default ``n_bits``)
    :param discrete_obs_space: observe the state and goals as integers in ``Discrete(2**n_bits)``
    :param image_obs_space: observe them as ``uint8`` images (36 x 36, one channel)
    :param channel_first: images ``(1, 36, 36)`` rather than ``(36, 36, 1)``
    :param render_mode: ``"human"`` prints the state, ``"rgb_array"`` returns a copy of it
    """

    metadata = {"render_modes": ["human", "rgb_array"]}

    def __init__(
        self,
        n_bits: int = 10,
        continuous: bool = False,
        max_steps: int | None = None,
        discrete_obs_space: bool = False,
        image_obs_space: bool = False,
        channel_first: bool = True,
        render_mode: str = "human",
    ) -> None:
        if discrete_obs_space and image_obs_space:
            raise ConfigurationError("BitFlippingEnv observes integers (discrete_obs_space=True) or images "
                                     "(image_obs_space=True), not both; set one of them to False")
        if image_obs_space and n_bits > IMAGE_SIDE * IMAGE_SIDE:
            raise ConfigurationError(f"an image observation holds at most {IMAGE_SIDE * IMAGE_SIDE} bits, got "
                                     f"n_bits={n_bits}; use fewer bits or the MultiBinary observation")
        self.n_bits = n_bits
        self.continuous = continuous
        self.discrete_obs_space = discrete_obs_space
        self.image_obs_space = image_obs_space
        self.render_mode = render_mode
        self.image_shape = (1, IMAGE_SIDE, IMAGE_SIDE) if channel_first else (IMAGE_SIDE, IMAGE_SIDE, 1)
        goal_space = self._goal_space()
        self.observation_space = spaces.Dict(
            {"observation": goal_space, "achieved_goal": goal_space, "desired_goal": goal_space})
        self.action_space = (spaces.Box(-1, 1, shape=(n_bits,), dtype=np.float32) if continuous
                             else spaces.Discrete(n_bits))
        self.desired_goal = np.ones(n_bits, dtype=goal_space.dtype)
        self.max_steps = n_bits if max_steps is None else max_steps
        self.current_step = 0
        self.state = np.zeros(n_bits, dtype=np.int8)
        # SB3 gives the env a spec with this id; this one can also rebuild the env (``gymnasium.make(env.spec)``).
        self.spec = EnvSpec(ENV_ID, entry_point=f"{__name__}:{type(self).__name__}", kwargs=dict(
            n_bits=n_bits, continuous=continuous, max_steps=max_steps, discrete_obs_space=discrete_obs_space,
            image_obs_space=image_obs_space, channel_first=channel_first))

    def _goal_space(self) -> spaces.Space:
        if self.discrete_obs_space:
            return spaces.Discrete(2**self.n_bits)
        if self.image_obs_space:
            return spaces.Box(low=0, high=255, shape=self.image_shape, dtype=np.uint8)
        return spaces.MultiBinary(self.n_bits)

    def convert_if_needed(self, state: np.ndarray) -> int | np.ndarray:
        """A vector of bits as the observation shows it: itself, an integer, or an image."""
        bits = np.asarray(state).astype(np.int64)
        if self.discrete_obs_space:
            return int(sum(int(bit) << i for i, bit in enumerate(bits)))
        if self.image_obs_space:
            pixels = np.zeros(int(np.prod(self.image_shape)), dtype=np.uint8)
            pixels[: self.n_bits] = bits * 255
            return pixels.reshape(self.image_shape)
        return np.asarray(state).copy()

    def convert_to_bit_vector(self, state: int | np.ndarray, batch_size: int) -> np.ndarray:
        """Observations of goals (one, or a batch of ``batch_size``) as bits, shape ``(batch_size, n_bits)``.

        Integers are decoded bit by bit, images give their first ``n_bits`` pixels divided by 255.
        """
        if self.discrete_obs_space or isinstance(state, (int, np.integer)):
            values = np.asarray(state, dtype=np.int64).reshape(batch_size, 1)
            return (values >> np.arange(self.n_bits)) & 1
        flat = np.asarray(state).reshape(batch_size, -1)
        return flat[:, : self.n_bits] / 255 if self.image_obs_space else flat

    def _batch_size(self, goal: int | np.ndarray) -> int:
        """How many goals ``goal`` holds: a leading batch axis is one more axis than a single goal has."""
        if isinstance(goal, (int, np.integer)):
            return 1
        goal = np.asarray(goal)
        single_goal_rank = 0 if self.discrete_obs_space else len(self.image_shape) if self.image_obs_space else 1
        return goal.shape[0] if goal.ndim > single_goal_rank else 1

    def compute_reward(self, achieved_goal: int | np.ndarray, desired_goal: int | np.ndarray,
                       _info: Any) -> np.ndarray:
        """Rewards for achieved and desired goals, one or a batch of each: 0 where they are equal, else -1.

        Goals are given as the observation shows them (bits, integers or images); a batch has a
        leading axis (``(batch, n_bits)``, ``(batch,)`` or ``(batch, 1)`` integers, ``(batch, *image_shape)``),
        and a single goal is compared with every goal of a batch. Returns float32 rewards of shape
        ``(batch,)`` (``(1,)`` for single goals). ``_info`` is not used.
        """
        achieved = self.convert_to_bit_vector(achieved_goal, self._batch_size(achieved_goal))
        desired = self.convert_to_bit_vector(desired_goal, self._batch_size(desired_goal))
        return np.where(np.any(achieved != desired, axis=-1), -1.0, 0.0).astype(np.float32)

    def compute_terminated(self, achieved_goal: int | np.ndarray, desired_goal: int | np.ndarray,
                           _info: Any) -> np.ndarray:
        """Whether the goals are reached, for one or a batch of goal pairs (as :meth:`compute_reward`):
        the episode terminates when the state equals the desired goal."""
        return self.compute_reward(achieved_goal, desired_goal, _info) == 0.0

    def _get_obs(self) -> dict[str, int | np.ndarray]:
        return {
            "observation": self.convert_if_needed(self.state),
            "achieved_goal": self.convert_if_needed(self.state),
            "desired_goal": self.convert_if_needed(self.desired_goal),
        }

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, int | np.ndarray], dict]:
        super().reset(seed=seed)
        self.current_step = 0
        self.state = self.np_random.integers(0, 2, size=self.n_bits, dtype=np.int8)
        return self._get_obs(), {}

    def step(self, action: int | np.ndarray) -> tuple[dict[str, int | np.ndarray], float, bool, bool, dict]:
        if self.continuous:
            flip = np.asarray(action).reshape(self.n_bits) > 0
        else:
            flip = np.zeros(self.n_bits, dtype=bool)
            flip[int(np.asarray(action).item())] = True
        self.state[flip] = 1 - self.state[flip]
        obs = self._get_obs()
        reward = float(self.compute_reward(obs["achieved_goal"], obs["desired_goal"], None)[0])
        terminated = reward == 0.0
        self.current_step += 1
        return obs, reward, terminated, self.current_step >= self.max_steps, {"is_success": terminated}

    def render(self) -> np.ndarray | None:
        """Print the state (``render_mode="human"``) or return a copy of it (``"rgb_array"``), as SB3 does."""
        if self.render_mode == "rgb_array":
            return self.state.copy()
        print(self.state)
        return None


def register_bit_flipping() -> None:
    """Register ``ballast/BitFlipping-v0`` with Gymnasium (done on ``import ballast``)."""
    if REGISTERED_ID not in gym.registry:
        gym.register(id=REGISTERED_ID, entry_point=f"{__name__}:BitFlippingEnv")
