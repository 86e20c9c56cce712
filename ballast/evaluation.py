"""``evaluate_policy``: run a model for a number of episodes and report the returns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode

from ballast.envs.adopt import as_vector_env
from ballast.envs.make import EnvLike, autoreset_mode
from ballast.errors import ConfigurationError, EnvError
from ballast.masking import MaskReader, policy_supports_masks


def evaluate_policy(
    model: Any,
    env: EnvLike,
    n_eval_episodes: int = 10,
    deterministic: bool = True,
    seed: int | None = None,
    return_episode_rewards: bool = False,
    callback: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
    reward_threshold: float | None = None,
    use_masking: bool | None = None,
) -> tuple[float, float] | tuple[list[float], list[int]]:
    """Run ``model`` on ``env`` until ``n_eval_episodes`` episodes have finished.

    Episodes are spread over the env copies as in SB3 (copy i runs ``(n + i) // n_envs`` of
    them) so that short episodes do not bias the mean. Rewards are the env's own, unnormalised:
    normalisation lives in the model. With ``seed`` the env is reset with it, so two calls with
    the same seed and model give the same returns.

    Action masks (``env.action_masks()`` or ``info["action_mask"]``, see :mod:`ballast.masking`)
    are passed to ``model.predict`` as ``action_masks``: with ``use_masking=None`` (the default)
    whenever the env gives them, so a model trained with masks is evaluated with them; with
    ``True`` the env must give them (an error otherwise, as sb3-contrib's ``evaluate_policy``);
    with ``False`` they are ignored.

    Returns ``(mean, std)`` of the episode returns, or the lists ``(returns, lengths)`` when
    ``return_episode_rewards`` is True.
    """
    vec = as_vector_env(env, model)
    n_envs = vec.num_envs
    targets = np.array([(n_eval_episodes + i) // n_envs for i in range(n_envs)], dtype=int)
    counts = np.zeros(n_envs, dtype=int)
    current_rewards = np.zeros(n_envs)
    current_lengths = np.zeros(n_envs, dtype=int)
    episode_rewards: list[float] = []
    episode_lengths: list[int] = []
    next_step_reset = autoreset_mode(vec) == AutoresetMode.NEXT_STEP
    needs_reset = np.zeros(n_envs, dtype=bool)
    observations, infos = vec.reset(seed=seed)
    takes_masks = use_masking or (use_masking is None and policy_supports_masks(getattr(model, "policy", None)))
    reader = MaskReader(vec, model.action_space) if takes_masks else None
    if use_masking and not reader.provides_masks(infos):
        raise ConfigurationError(
            "use_masking=True but the env gives no action masks: give it an action_masks() method "
            "(e.g. with ballast.envs.ActionMasker) or put them in info['action_mask'], or pass use_masking=False")
    while (counts < targets).any():
        masks = reader.read(infos, needs_reset if next_step_reset else None) if reader is not None else None
        if masks is None:
            actions, _ = model.predict(observations, deterministic=deterministic)
        else:
            actions, _ = model.predict(observations, deterministic=deterministic, action_masks=masks)
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
