"""Rollout collection for on-policy algorithms (PPO, A2C).

One function, used by both: step the vector env ``n_steps`` times with the current policy and
fill a :class:`RolloutBuffer`. Handles Gymnasium's autoreset modes (design principle 5):

* NEXT_STEP (the default): the step after an episode ends only resets that env copy; it is
  stored but marked invalid, and its value, V(final observation), bootstraps a truncation.
* SAME_STEP: the final observation arrives in ``info["final_obs"]``; its value is computed for
  truncated copies and placed as that step's bootstrap value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from ballast.buffers import RolloutBuffer
from ballast.callbacks import BaseCallback
from ballast.envs.make import autoreset_mode
from ballast.errors import EnvError
from ballast.policies.numpy_actor import numpy_actor


def _to_tensor(obs: Any, device: torch.device) -> Any:
    if isinstance(obs, dict):
        return {k: torch.as_tensor(v, device=device) for k, v in obs.items()}
    return torch.as_tensor(obs, device=device)


def _check_finite(rewards: np.ndarray, observations: Any) -> None:
    # A sum is finite exactly when no element is NaN or infinite (barring overflow, which the exact
    # check below then clears), so one reduction per array covers the usual case.
    if not np.isfinite(rewards.sum()) and not np.isfinite(rewards).all():
        raise EnvError(
            f"the env returned non-finite rewards {rewards.tolist()}; fix the env or wrap it so that rewards are finite"
        )
    arrays = observations.values() if isinstance(observations, dict) else (observations,)
    for array in arrays:
        if array.dtype.kind == "f" and not np.isfinite(array.sum()) and not np.isfinite(array).all():
            raise EnvError("the env returned an observation with NaN or infinite values; fix the env or clip them")


def make_rollout_buffer(model: Any) -> RolloutBuffer:
    """A rollout buffer for ``model``'s spaces, ``n_steps`` and ``n_envs`` (normalised keys stored as floats)."""
    normalizer = model.policy.normalizer
    # A residual policy stores what its networks see: the observation with the base action appended.
    observation_space = getattr(model.policy, "network_observation_space", model.observation_space)
    return RolloutBuffer(observation_space, model.action_space, model.config.n_steps, model.n_envs,
                         normalized_keys=set(normalizer.keys) if normalizer is not None else set(),
                         device=model.device)


def learn_iteration(model: Any, callback: BaseCallback) -> bool:
    """Collect one rollout, then ``model.train()``; False when a callback stopped training."""
    if not collect_rollout(model, model.rollout_buffer, callback):
        return False
    model._iteration += 1
    model._update_progress()
    model.train()
    return True


def collect_rollout(model: Any, buffer: RolloutBuffer, callback: BaseCallback) -> bool:
    """Fill ``buffer`` with ``buffer.n_steps`` vector steps; return False if a callback stopped training."""
    env, policy, device = model.env, model.policy, model.device
    cfg = model.config
    next_step_reset = autoreset_mode(env) == AutoresetMode.NEXT_STEP
    normalizer = policy.normalizer
    final_values: dict[tuple[int, int], float] = {}
    policy.train(False)
    if cfg.use_sde:
        policy.reset_noise(model.n_envs)
    callback.on_rollout_start()
    actor = numpy_actor(policy, model._np_rng)
    for t in range(buffer.n_steps):
        if cfg.use_sde and cfg.sde_sample_freq > 0 and t % cfg.sde_sample_freq == 0 and t > 0:
            policy.reset_noise(model.n_envs)
        if actor is not None:
            obs, actions, env_actions = actor(model._last_obs)
        else:
            obs, actions, env_actions = _torch_step(policy, model._last_obs, device)
        next_obs, rewards, terminated, truncated, infos = env.step(env_actions)
        rewards = np.asarray(rewards, dtype=np.float64)
        _check_finite(rewards, next_obs)
        valid = ~model._needs_reset if next_step_reset else np.ones(model.n_envs, dtype=bool)
        episode_end = np.logical_or(terminated, truncated)
        # Every env.step call counts towards the budget, as in SB3 (reset steps included), so that
        # learn(N) runs N // n_envs vector steps and schedules end exactly at progress 0.
        model.num_timesteps += model.n_envs
        _track_episodes(model, rewards, episode_end, valid)

        if normalizer is not None:
            normalizer.update(_to_tensor(next_obs, device))
        if model.reward_normalizer is not None:
            rewards = model.reward_normalizer.update_and_normalize(rewards, episode_end, valid)
        if not next_step_reset and "final_obs" in infos:
            _final_values(model, infos, truncated, t, final_values)

        buffer.add(t, obs, actions, rewards, terminated, episode_end, valid)
        model._last_obs = next_obs
        model._needs_reset = episode_end if next_step_reset else np.zeros_like(episode_end)
        callback.update_locals({"infos": infos, "rewards": rewards, "dones": episode_end})
        if not callback.on_step():
            return False
    buffer.evaluate(policy)
    with torch.inference_mode():
        last_obs = _to_tensor(model._last_obs, device)
        last_values = policy.predict_values(policy.normalize(last_obs)).cpu().numpy()
    buffer.compute_returns_and_advantages(last_values, cfg.gamma, cfg.gae_lambda, final_values)
    callback.on_rollout_end()
    return True


@torch.inference_mode()
def _torch_step(policy: Any, raw_obs: Any, device: torch.device) -> tuple[Any, ...]:
    """One acting step with PyTorch: ``(stored_obs, actions, env_actions)``."""
    if getattr(policy, "residual", None) is not None:
        obs, base = policy.normalize_with_base(_to_tensor(raw_obs, device))
        actions = policy.outputs(obs).distribution.sample()
        return obs, actions.cpu().numpy(), policy.env_actions(actions, base).cpu().numpy()
    obs = policy.normalize(_to_tensor(raw_obs, device))
    actions = policy.outputs(obs).distribution.sample()
    env_actions = policy.action_adapter(actions).cpu().numpy()
    return obs, actions.cpu().numpy(), env_actions


def _track_episodes(model: Any, rewards: np.ndarray, episode_end: np.ndarray, valid: np.ndarray) -> None:
    """Accumulate raw episode returns and lengths; finished episodes go to ``ep_info_buffer``."""
    model._episode_returns += np.where(valid, rewards, 0.0)
    model._episode_lengths += valid
    finished = episode_end & valid
    if finished.any():
        for i in np.flatnonzero(finished):
            model.ep_info_buffer.append((float(model._episode_returns[i]), int(model._episode_lengths[i])))
        model._episode_returns[finished] = 0.0
        model._episode_lengths[finished] = 0


def _final_values(model: Any, infos: dict[str, Any], truncated: np.ndarray, t: int,
                  out: dict[tuple[int, int], float]) -> None:
    """SAME_STEP autoreset: V(final observation) for the copies truncated at step ``t``."""
    mask = infos.get("_final_obs", np.zeros_like(truncated))
    for i in np.flatnonzero(np.logical_and(truncated, mask)):
        final = infos["final_obs"][i]
        if isinstance(final, dict):
            batch = {k: np.asarray(v)[None] for k, v in final.items()}
        else:
            batch = np.asarray(final)[None]
        with torch.inference_mode():
            obs = model.policy.normalize(_to_tensor(batch, model.device))
            out[(t, int(i))] = float(model.policy.predict_values(obs)[0])
