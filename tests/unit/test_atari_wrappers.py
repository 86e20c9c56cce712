"""The Atari preprocessing (SB3's ``atari_wrappers``) on real ALE games, checked step by step."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("ale_py")
pytest.importorskip("cv2")

from ballast import ConfigurationError, make_atari_env  # noqa: E402
from ballast.common.atari_wrappers import (  # noqa: E402
    AtariWrapper,
    ClipRewardEnv,
    EpisodicLifeEnv,
    FireResetEnv,
    MaxAndSkipEnv,
    NoopResetEnv,
    StickyActionEnv,
    WarpFrame,
)
from ballast.envs.make import ensure_registered, make_vector_env  # noqa: E402

BREAKOUT = "BreakoutNoFrameskip-v4"


def make(env_id: str = BREAKOUT, **kwargs: object) -> gym.Env:
    ensure_registered(env_id)
    return gym.make(env_id, **kwargs)


def frame_number(env: gym.Env) -> int:
    return int(env.unwrapped.ale.getEpisodeFrameNumber())


def chain(env: gym.Env) -> list[str]:
    """The wrappers' class names, outermost first, without those ``gym.make`` adds."""
    names = []
    while isinstance(env, gym.Wrapper):
        names.append(type(env).__name__)
        env = env.env
    return [name for name in names if name not in ("OrderEnforcing", "PassiveEnvChecker")]


def test_max_and_skip_sums_rewards_and_maxes_the_last_two_frames() -> None:
    wrapped, plain = MaxAndSkipEnv(make(), skip=4), make()
    wrapped.reset(seed=3)
    plain.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(60):
        action = int(rng.integers(4))
        obs, reward, terminated, truncated, _ = wrapped.step(action)
        frames, total = [], 0.0
        for _ in range(4):
            frame, r, term, trunc, _ = plain.step(action)
            frames.append(frame)
            total += float(r)
            if term or trunc:
                break
        np.testing.assert_array_equal(obs, np.maximum(frames[-2], frames[-1]))
        assert reward == total and terminated == term
        if terminated:
            break


def test_noop_reset_plays_the_asked_number_of_noops() -> None:
    env = NoopResetEnv(make(), noop_max=30)
    env.override_num_noops = 7
    env.reset(seed=0)
    assert frame_number(env) == 7
    env.override_num_noops = None
    counts = set()
    for seed in range(12):
        env.reset(seed=seed)
        counts.add(frame_number(env))
        assert 1 <= frame_number(env) <= 30
    assert len(counts) > 3


def test_fire_reset_presses_fire_then_action_two() -> None:
    env = FireResetEnv(make())
    obs, info = env.reset(seed=0)
    assert frame_number(env) == 2 and info == {} and obs.shape == (210, 160, 3)


def test_episodic_life_ends_the_episode_at_a_lost_life_but_not_the_game() -> None:
    env = EpisodicLifeEnv(FireResetEnv(make()))
    env.reset(seed=0)
    lives = env.unwrapped.ale.lives()
    terminated = False
    for _ in range(5000):  # NOOP: the ball is missed, a life is lost
        _, _, terminated, truncated, _ = env.step(0)
        if terminated or truncated:
            break
    assert terminated and env.unwrapped.ale.lives() == lives - 1 and not env.was_real_done
    before = frame_number(env)
    env.reset()
    assert frame_number(env) > before  # a no-op step, not a new game
    assert env.lives == lives - 1


def test_sticky_actions_repeat_the_previous_action() -> None:
    env = StickyActionEnv(make(), action_repeat_probability=1.0)
    env.reset(seed=0)
    assert env._sticky_action == 0
    env.step(3)
    assert env._sticky_action == 0  # always repeated: the first action of an episode stays NOOP
    never = StickyActionEnv(make(), action_repeat_probability=0.0)
    never.reset(seed=0)
    never.step(3)
    assert never._sticky_action == 3


def test_warp_frame_is_grayscale_84_by_84_uint8() -> None:
    env = WarpFrame(make())
    assert env.observation_space == gym.spaces.Box(0, 255, (84, 84, 1), np.uint8)
    gray = np.full((210, 160, 3), 200, dtype=np.uint8)
    assert np.all(env.observation(gray) == 200)
    half = np.zeros((210, 160, 3), dtype=np.uint8)
    half[:, :80] = 255
    out = env.observation(half)[:, :, 0]
    assert out.shape == (84, 84) and np.all(out[:, :42] == 255) and np.all(out[:, 42:] == 0)
    rgb = np.zeros((210, 160, 3), dtype=np.uint8)
    rgb[..., 1] = 255  # pure green: luma 0.587 * 255
    assert abs(int(env.observation(rgb)[0, 0, 0]) - round(0.587 * 255)) <= 1


def test_clip_reward_keeps_the_sign() -> None:
    env = ClipRewardEnv(make())
    assert [env.reward(r) for r in (-7.0, 0.0, 0.25, 400)] == [-1.0, 0.0, 1.0, 1.0]


def test_atari_wrapper_chains_sb3s_steps_with_its_defaults() -> None:
    env = AtariWrapper(make())
    assert chain(env)[1:] == ["ClipRewardEnv", "WarpFrame", "FireResetEnv", "EpisodicLifeEnv", "MaxAndSkipEnv",
                              "NoopResetEnv"]
    assert env.observation_space.shape == (84, 84, 1) and env.observation_space.dtype == np.uint8
    plain = AtariWrapper(make("PongNoFrameskip-v4"), noop_max=0, frame_skip=1, terminal_on_life_loss=False,
                         clip_reward=False, action_repeat_probability=0.25)
    assert chain(plain)[1:] == ["WarpFrame", "FireResetEnv", "StickyActionEnv"]
    obs, _ = env.reset(seed=0)
    assert obs.shape == (84, 84, 1)


def test_atari_wrapper_refuses_other_envs_and_warns_on_frame_skipping_envs() -> None:
    with pytest.raises(ConfigurationError, match="ALE env"):
        AtariWrapper(gym.make("CartPole-v1"))
    with pytest.warns(UserWarning, match="16 frames"):
        AtariWrapper(make("ALE/Breakout-v5"))


def test_make_atari_env_is_seeded_and_monitored() -> None:
    first, second = (make_atari_env(BREAKOUT, n_envs=2, seed=5) for _ in range(2))
    np.testing.assert_array_equal(first.reset(), second.reset())
    assert first.observation_space.shape == (84, 84, 1)
    assert [chain(e)[-1] for e in first.envs] == ["Monitor", "Monitor"]  # innermost: whole games are scored
    for env in (first, second):
        env.close()


def test_ale_ids_register_on_first_use() -> None:
    env = make_vector_env("ALE/Pong-v5", 1)
    assert env.single_observation_space.shape == (210, 160, 3)
    env.close()
