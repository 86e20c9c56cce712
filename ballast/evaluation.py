"""``evaluate_policy``: run a model for a number of episodes and report the returns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode

from ballast.envs.make import EnvLike, autoreset_mode, make_vec_env
from ballast.errors import EnvError


def evaluate_policy(
    model: Any,
    env: EnvLike,
    n_eval_episodes: int = 10,
    deterministic: bool = True,
    seed: int | None = None,
    return_episode_rewards: bool = False,
    callback: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
    reward_threshold: float | None = None,
) -> tuple[float, float] | tuple[list[float], list[int]]:
    """Run ``model`` on ``env`` until ``n_eval_episodes`` episodes have finished.

    Episodes are spread over the env copies as in SB3 (copy i runs ``(n + i) // n_envs`` of
    them) so that short episodes do not bias the mean. Rewards are the env's own, unnormalised:
    normalisation lives in the model. With ``seed`` the env is reset with it, so two calls with
    the same seed and model give the same returns.

    Returns ``(mean, std)`` of the episode returns, or the lists ``(returns, lengths)`` when
    ``return_episode_rewards`` is True.
    """
    vec = make_vec_env(env, 1) if not hasattr(env, "num_envs") else env
    n_envs = vec.num_envs
    targets = np.array([(n_eval_episodes + i) // n_envs for i in range(n_envs)], dtype=int)
    counts = np.zeros(n_envs, dtype=int)
    current_rewards = np.zeros(n_envs)
    current_lengths = np.zeros(n_envs, dtype=int)
    episode_rewards: list[float] = []
    episode_lengths: list[int] = []
    next_step_reset = autoreset_mode(vec) == AutoresetMode.NEXT_STEP
    needs_reset = np.zeros(n_envs, dtype=bool)
    observations, _ = vec.reset(seed=seed)
    while (counts < targets).any():
        actions, _ = model.predict(observations, deterministic=deterministic)
        observations, rewards, terminated, truncated, infos = vec.step(actions)
        rewards = np.asarray(rewards, dtype=np.float64)
        if not np.all(np.isfinite(rewards)):
            raise EnvError(f"the env returned a non-finite reward {rewards} during evaluation")
        real = ~needs_reset if next_step_reset else np.ones(n_envs, dtype=bool)
        current_rewards += np.where(real, rewards, 0.0)
        current_lengths += real
        done = np.logical_or(terminated, truncated) & real
        for i in np.flatnonzero(done):
            if counts[i] < targets[i]:
                episode_rewards.append(float(current_rewards[i]))
                episode_lengths.append(int(current_lengths[i]))
                counts[i] += 1
            current_rewards[i] = 0.0
            current_lengths[i] = 0
        needs_reset = done
        if callback is not None:
            callback(locals(), globals())
    mean, std = float(np.mean(episode_rewards)), float(np.std(episode_rewards))
    if reward_threshold is not None and mean < reward_threshold:
        raise AssertionError(f"mean reward {mean:.2f} is below the threshold {reward_threshold:.2f}")
    if return_episode_rewards:
        return episode_rewards, episode_lengths
    return mean, std
