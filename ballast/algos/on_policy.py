"""Rollout collection for on-policy algorithms (PPO, A2C).

One function, used by both: step the vector env ``n_steps`` times with the current policy and
fill a :class:`RolloutBuffer`. Handles Gymnasium's autoreset modes (design principle 5):

* NEXT_STEP (the default): the step after an episode ends only resets that env copy; it is
  stored but marked invalid, and its value, V(final observation), bootstraps a truncation.
* SAME_STEP: the final observation arrives in ``info["final_obs"]``; its value is computed for
  truncated copies and placed as that step's bootstrap value.

When the env gives action masks (``action_masks()`` or ``info["action_mask"]``, see
:mod:`ballast.masking`), each step's actions are sampled under the current masks, which are stored
with the step.

A recurrent policy (RecurrentPPO) acts from the hidden state it carries in ``model.collection``:
before each step the state of a copy whose episode starts is reset to zeros, and the state it acts
from is stored with the step (:class:`ballast.buffers.RecurrentRolloutBuffer`). An episode starts
after the reset step of NEXT_STEP autoreset (the reset step itself, on the final observation,
still carries the ended episode's state, so its value bootstraps a truncation from that state),
and after the episode's last step with SAME_STEP autoreset.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from ballast.algos.fast_path import networks_reason
from ballast.algos.protocols import CollectingModel, OnPolicyModel
from ballast.buffers import RecurrentRolloutBuffer, RolloutBuffer
from ballast.buffers.sequences import RNNStates
from ballast.callback_locals import step_infos
from ballast.callbacks import BaseCallback
from ballast.envs.make import autoreset_mode
from ballast.envs.vector_infos import with_final_observations
from ballast.errors import ActionMaskError, ConfigurationError, EnvError
from ballast.masking import MaskReader, policy_supports_masks
from ballast.policies.heads import BernoulliHead, CategoricalHead, GaussianHead, MultiCategoricalHead
from ballast.policies.modes import set_training_mode
from ballast.policies.numpy_actor import numpy_actor
from ballast.policies.recurrent import reset_states
from ballast.ragged import collate
from ballast.spaces import batch_observation


def _to_tensor(obs: Any, device: torch.device, space: Any = None) -> Any:
    if isinstance(obs, dict) and not any(isinstance(v, (tuple, list)) for v in obs.values()):
        return {k: torch.as_tensor(v, device=device) for k, v in obs.items()}
    if isinstance(obs, np.ndarray):
        return torch.as_tensor(obs, device=device)
    # Graph and Sequence observations come from the vector env as tuples, one item per env copy.
    return collate(space, obs, device)


def _check_finite(rewards: np.ndarray, observations: Any) -> None:
    # A sum is finite exactly when no element is NaN or infinite (barring overflow, which the exact
    # check below then clears), so one reduction per array covers the usual case.
    if not math.isfinite(rewards.sum()) and not np.isfinite(rewards).all():
        raise EnvError(
            f"the env returned non-finite rewards {rewards.tolist()}; fix the env or wrap it so that rewards are finite"
        )
    arrays = observations.values() if isinstance(observations, dict) else (observations,)
    for array in arrays:
        if not isinstance(array, np.ndarray):
            continue  # graphs and sets are checked when the encoder reads them
        if array.dtype.kind == "f" and not math.isfinite(array.sum()) and not np.isfinite(array).all():
            raise EnvError("the env returned an observation with NaN or infinite values; fix the env or clip them")


def make_rollout_buffer(model: OnPolicyModel) -> RolloutBuffer:
    """A rollout buffer for ``model``'s spaces, ``n_steps`` and ``n_envs`` (normalised keys stored as floats)."""
    normalizer = model.policy.normalizer
    # A residual policy stores what its networks see: the observation with the base action appended.
    observation_space = getattr(model.policy, "network_observation_space", model.observation_space)
    keys = set(normalizer.keys) if normalizer is not None else set()
    if getattr(model.policy, "recurrent", False):
        cfg = model.policy.config
        return RecurrentRolloutBuffer(observation_space, model.action_space, model.config.n_steps, model.n_envs,
                                      state_shape=(cfg.n_lstm_layers, cfg.lstm_hidden_size),
                                      state_parts=model.policy.state_parts, normalized_keys=keys, device=model.device)
    return RolloutBuffer(observation_space, model.action_space, model.config.n_steps, model.n_envs,
                         normalized_keys=keys, device=model.device)


def learn_iteration(model: OnPolicyModel, callback: BaseCallback) -> bool:
    """Collect one rollout, then ``model.train()``; False when a callback stopped training."""
    if not collect_rollout(model, model.rollout_buffer, callback):
        return False
    model.iteration += 1
    model.update_progress()
    model.train()
    return True


def collect_rollout(model: OnPolicyModel, buffer: RolloutBuffer, callback: BaseCallback) -> bool:
    """Fill ``buffer`` with ``buffer.n_steps`` vector steps; return False if a callback stopped training."""
    env, policy, device, collection = model.env, model.policy, model.device, model.collection
    cfg = model.config
    next_step_reset = autoreset_mode(env) == AutoresetMode.NEXT_STEP
    normalizer = policy.normalizer
    recurrent = getattr(policy, "recurrent", False)
    final_values: dict[tuple[int, int], float] = {}
    set_training_mode(policy, False)
    if cfg.use_sde:
        policy.reset_noise(model.n_envs)
    callback.on_rollout_start()
    reader = _mask_reader(model)
    masked = model.use_masking and reader.provides_masks(collection.infos)
    if masked and not policy_supports_masks(policy):
        raise ConfigurationError(
            f"the env gives action masks but the policy {type(policy).__name__} does not take them; use an "
            "ActorCriticPolicy (or set supports_action_masks = True on a policy whose outputs() take action_masks)")
    buffer.use_masks(reader.rule if masked else None)
    actor = None if masked else numpy_actor(policy, model.np_rng)
    if model.extensions.extra_losses:
        buffer.keep_next_observations()
    masks = None
    # Acting with PyTorch gives each step's values and log-probabilities too; with NumPy (or a policy
    # whose forward gives no such pair) the buffer evaluates the whole rollout in one pass at the end.
    stepped_values = actor is None and not recurrent
    # With SAME_STEP autoreset every step of every copy is a transition and no copy waits for a reset.
    all_valid, none_resetting = np.ones(model.n_envs, dtype=bool), np.zeros(model.n_envs, dtype=bool)
    for t in range(buffer.n_steps):
        if cfg.use_sde and cfg.sde_sample_freq > 0 and t % cfg.sde_sample_freq == 0 and t > 0:
            policy.reset_noise(model.n_envs)
        if masked:
            masks = _current_masks(reader, collection.infos, collection.needs_reset if next_step_reset else None)
        if actor is not None:
            obs, actions, env_actions = actor(collection.observations)
        else:
            mask_tensor = None if masks is None else reader.rule.to_tensor(masks, device)
            if recurrent:
                obs, actions, env_actions = _recurrent_step(model, buffer, t, mask_tensor)
            else:
                obs, actions, env_actions, step_values = _torch_step(policy, collection.observations, device,
                                                                     mask_tensor)
                if step_values is None or step_values[0].size != model.n_envs or step_values[1].size != model.n_envs:
                    stepped_values = False
                else:
                    buffer.values[t], buffer.log_probs[t] = step_values
        next_obs, rewards, terminated, truncated, infos = env.step(env_actions)
        rewards = np.asarray(rewards, dtype=np.float64)
        _check_finite(rewards, next_obs)
        valid = ~collection.needs_reset if next_step_reset else all_valid
        episode_end = np.logical_or(terminated, truncated)
        # Every env.step call counts towards the budget, as in SB3 (reset steps included), so that
        # learn(N) runs N // n_envs vector steps and schedules end exactly at progress 0.
        model.num_timesteps += model.n_envs
        track_episodes(model, rewards, episode_end, valid if next_step_reset else None, infos)

        if normalizer is not None:
            normalizer.update(_to_tensor(next_obs, device, model.observation_space))
        if model.reward_normalizer is not None:
            rewards = model.reward_normalizer.update_and_normalize(rewards, episode_end, valid)
        if not next_step_reset and "final_obs" in infos:
            _final_values(model, infos, truncated, t, final_values)

        buffer.add(t, obs, actions, rewards, terminated, episode_end, valid, masks,
                   None if buffer.next_observations is None else
                   _network_observations(policy, device, model.observation_space,
                                         next_obs if next_step_reset or not episode_end.any()
                                         else with_final_observations(next_obs, infos, episode_end)))
        collection.observations, collection.infos = next_obs, infos
        collection.needs_reset = episode_end if next_step_reset else none_resetting
        if recurrent:  # after NEXT_STEP's reset step, or SAME_STEP's last step, a new episode begins
            collection.episode_starts = ~valid if next_step_reset else episode_end
        callback.update_locals({
            "new_obs": next_obs, "rewards": rewards, "dones": episode_end, "actions": actions,
            "clipped_actions": env_actions, "n_steps": t,
            "infos": step_infos(model, callback, infos, episode_end, terminated, truncated, next_obs, next_step_reset)})
        if not callback.on_step():
            return False
    if not stepped_values:
        buffer.evaluate(policy)
    with torch.inference_mode():
        last_obs = policy.normalize(_to_tensor(collection.observations, device, model.observation_space))
        last_values = (_recurrent_values(model, last_obs) if recurrent
                       else policy.predict_values(last_obs).squeeze(-1)).cpu().numpy()
    buffer.compute_returns_and_advantages(last_values, cfg.gamma, cfg.gae_lambda, final_values)
    callback.on_rollout_end()
    return True


def _mask_reader(model: OnPolicyModel) -> MaskReader:
    """The model's mask reader for its current env (built again when the env changed)."""
    reader = model.collection.mask_reader
    if reader is None or reader.env is not model.env:
        reader = model.collection.mask_reader = MaskReader(model.env, model.action_space)
    return reader


def _current_masks(reader: MaskReader, infos: dict[str, Any], resetting: np.ndarray | None) -> Any:
    """The masks of the current observations; every action is valid for a step without any, and for
    the copies in ``resetting`` (their action is not taken: the step resets them)."""
    masks = reader.read(infos, resetting)
    if masks is None:
        masks = reader.rule.all_valid(reader.action_space, reader.n)
        if masks is None:
            raise ActionMaskError(
                "the env gave info['action_mask'] at the start of the rollout but not at this step; node masks "
                "must come with every reset and step (or from an action_masks() method)")
    return masks


def _recurrent_state(model: OnPolicyModel, reset: bool = True) -> RNNStates:
    """The carried state of every env copy, reset to zeros where an episode starts at the next step
    (unless ``reset`` is False)."""
    collection, policy = model.collection, model.policy
    state = collection.recurrent_state
    if state is None or state.pi[0].shape[1] != model.n_envs:
        state = policy.initial_state(model.n_envs)
    if not reset:
        return state
    starts = torch.as_tensor(collection.episode_starts, device=model.device)
    return RNNStates(reset_states(state.pi, starts), reset_states(state.vf, starts))


@torch.inference_mode()
def _recurrent_step(model: OnPolicyModel, buffer: RecurrentRolloutBuffer, t: int, action_masks: Any
                    ) -> tuple[Any, np.ndarray, np.ndarray]:
    """One acting step of a recurrent policy from its carried state; stores the state it acted from."""
    policy, collection = model.policy, model.collection
    initial = _recurrent_state(model)
    buffer.add_states(t, initial, collection.episode_starts)
    raw = _to_tensor(collection.observations, model.device, model.observation_space)
    obs, base = policy.normalize_with_base(raw)  # a residual policy's networks also read the base's action
    out, collection.recurrent_state = policy.step(obs, initial, action_masks)
    actions = out.distribution.sample()
    return obs, actions.cpu().numpy(), policy.env_actions(actions, base).cpu().numpy()


def _recurrent_values(model: OnPolicyModel, obs: Any, env: int | None = None) -> torch.Tensor:
    """V(obs) from the carried state of every env copy, reset where an episode starts; or, for the
    final observation of copy ``env`` (SAME_STEP autoreset), from its state after the last step."""
    state = _recurrent_state(model, reset=env is None)
    if env is not None:
        state = RNNStates(*(tuple(part[:, env:env + 1] for part in branch) for branch in state))
    return model.policy.values_after(obs, state)


@torch.inference_mode()
def _network_observations(policy: Any, device: torch.device, space: Any, raw_obs: Any) -> Any:
    """Raw observations as the policy's networks see them (as :func:`_torch_step` stores them)."""
    raw = _to_tensor(raw_obs, device, space)
    if getattr(policy, "residual", None) is not None:
        return policy.normalize_with_base(raw)[0]
    return policy.normalize(raw)


@torch.inference_mode()
def _torch_step(policy: Any, raw_obs: Any, device: torch.device, action_masks: Any = None) -> tuple[Any, ...]:
    """One acting step with PyTorch: ``(stored_obs, actions, env_actions, values_and_log_probs)``; the
    actions come from the policy's ``forward``, as in ``predict`` (see :mod:`ballast.policies.base`),
    and so do the values and log-probabilities (NumPy, one per copy; None when ``forward`` gives no
    such pair)."""
    raw = _to_tensor(raw_obs, device, getattr(policy, "observation_space", None))
    if getattr(policy, "residual", None) is not None:
        # Residual policies act in Box spaces, which have no action masks.
        obs, base = policy.normalize_with_base(raw)
        out = policy(obs)
        return obs, out[0].cpu().numpy(), policy.env_actions(out[0], base).cpu().numpy(), _values_and_log_probs(out)
    obs = policy.normalize(raw)
    out = policy(obs) if action_masks is None else policy(obs, action_masks=action_masks)
    env_actions = policy.action_adapter(out[0]).cpu().numpy()
    return obs, out[0].cpu().numpy(), env_actions, _values_and_log_probs(out)


def _values_and_log_probs(out: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """The values and log-probabilities of SB3's ``forward`` triple ``(actions, values, log_probs)``,
    flattened; None when ``out`` is no such triple."""
    if not isinstance(out, tuple) or len(out) != 3 or not all(isinstance(x, torch.Tensor) for x in out[1:]):
        return None
    return out[1].detach().reshape(-1).cpu().numpy(), out[2].detach().reshape(-1).cpu().numpy()


def track_episodes(model: CollectingModel, rewards: np.ndarray, episode_end: np.ndarray, valid: np.ndarray | None,
                   infos: dict[str, Any]) -> None:
    """Accumulate raw episode returns and lengths; each finished episode goes to ``ep_info_buffer`` as
    SB3's Monitor reports it (``{"r": return, "l": length, "t": seconds since learn started}``), and
    its ``info["is_success"]``, when the env gives one, to ``ep_success_buffer``; ``episode_count``
    counts them (SB3's ``_episode_num``). ``valid`` marks the copies whose step was a transition
    (None: all of them)."""
    collection = model.collection
    if valid is None:
        collection.episode_returns += rewards
        collection.episode_lengths += 1
        finished = episode_end
    else:
        collection.episode_returns += np.where(valid, rewards, 0.0)
        collection.episode_lengths += valid
        finished = episode_end & valid
    if finished.any():
        model.episode_count += int(finished.sum())
        elapsed = round((time.time_ns() - model.start_time) / 1e9, 6)
        for i in np.flatnonzero(finished):
            model.ep_info_buffer.append({"r": float(collection.episode_returns[i]),
                                         "l": int(collection.episode_lengths[i]), "t": elapsed})
            success = _episode_success(infos, int(i))
            if success is not None:
                model.ep_success_buffer.append(float(success))
        collection.episode_returns[finished] = 0.0
        collection.episode_lengths[finished] = 0


def _episode_success(infos: dict[str, Any], i: int) -> Any:
    """``info["is_success"]`` of the last step of copy ``i``'s finished episode, or None. With same-step
    autoreset the last step's info is ``final_info`` (the top level then holds the reset's info)."""
    final = infos.get("final_info")
    present = infos.get("_final_info")
    if final is not None and (present is None or present[i]):
        infos = final
    values, has_value = infos.get("is_success"), infos.get("_is_success")
    if values is None or (has_value is not None and not has_value[i]):
        return None
    return values[i]


def _final_values(model: OnPolicyModel, infos: dict[str, Any], truncated: np.ndarray, t: int,
                  out: dict[tuple[int, int], float]) -> None:
    """SAME_STEP autoreset: V(final observation) for the copies truncated at step ``t``."""
    mask = infos.get("_final_obs", np.zeros_like(truncated))
    for i in np.flatnonzero(np.logical_and(truncated, mask)):
        batch, _ = batch_observation(model.observation_space, infos["final_obs"][i])
        with torch.inference_mode():
            obs = model.policy.normalize(_to_tensor(batch, model.device, model.observation_space))
            value = (_recurrent_values(model, obs, int(i)) if getattr(model.policy, "recurrent", False)
                     else model.policy.predict_values(obs))
            out[(t, int(i))] = value.item()


#: The action heads whose distributions give their loss derivatives (``output_grads``).
FAST_HEADS = (CategoricalHead, MultiCategoricalHead, BernoulliHead, GaussianHead)


def actor_critic_structure_reason(model: OnPolicyModel) -> str | None:
    """Why PPO's or A2C's actor-critic is not one :class:`ballast.policies.fast_mlp.ActorCriticLayers`
    handles, or None."""
    policy = model.policy
    if policy.node_level:
        return "the actions are chosen per node of a graph"
    if type(policy.action_head) not in FAST_HEADS:
        return f"the action head is a {type(policy.action_head).__name__}"
    if "mlp_extractor" in policy._modules:
        return "the policy has an mlp_extractor of its own"
    mlps = [policy.trunk] if policy.trunk is not None else [policy.actor_mlp, policy.critic_mlp]
    return networks_reason([policy.encoder, policy.vf_encoder], mlps, model.flat_params.params,
                           [model.flat_params], [policy])
