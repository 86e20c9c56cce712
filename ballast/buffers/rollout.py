"""The on-policy rollout buffer: ``n_steps`` vector steps of ``n_envs`` env copies.

Besides the usual fields it records which entries are real transitions (``valid``): with
Gymnasium's NEXT_STEP autoreset, the step after an episode's end only resets that env copy, and
that entry is not a transition. It is kept in place (its value is V of the final observation,
which is the bootstrap value of the truncated step before it) and left out of every minibatch.

When the env gives action masks (:mod:`ballast.masking`), the mask of each step is stored too, in
a storage chosen from the action space, so that the update computes log-probabilities and
entropies over the same valid actions the policy sampled from. Without masks nothing is allocated.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from ballast.buffers.storage import Batch, make_storage
from ballast.node_spaces import is_per_node_action_space, per_node_value_space
from ballast.ragged import SetBatch
from ballast.returns import compute_gae


@dataclass
class RolloutBatch:
    """A minibatch of transitions for an on-policy update.

    Besides what the losses read, each transition's ``rewards`` (as the update sees them: normalised
    with ``normalize_rewards=True``), ``terminated`` and ``dones`` (terminated or truncated), for
    extra losses such as a reward-prediction head (:mod:`ballast.extensions`), and, in the rollouts
    of a model with extra losses, ``next_observations``: the observation each action led to, as the
    policy's networks see it (normalised), the final one where an episode ended.
    """

    observations: Batch
    actions: torch.Tensor | SetBatch
    old_values: torch.Tensor
    old_log_prob: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    action_masks: Any = None
    rewards: torch.Tensor | None = None
    terminated: torch.Tensor | None = None
    dones: torch.Tensor | None = None
    next_observations: Batch | None = None

    def slice(self, start: int, stop: int) -> RolloutBatch:
        """Rows ``start:stop`` (views, no copy)."""
        rows = lambda x: None if x is None else x[start:stop]  # noqa: E731
        return RolloutBatch(_observation_rows(self.observations, start, stop), self.actions[start:stop],
                            self.old_values[start:stop], self.old_log_prob[start:stop], self.advantages[start:stop],
                            self.returns[start:stop], rows(self.action_masks), rows(self.rewards),
                            rows(self.terminated), rows(self.dones),
                            None if self.next_observations is None else
                            _observation_rows(self.next_observations, start, stop))


def _observation_rows(obs: Batch, start: int, stop: int) -> Batch:
    return {k: v[start:stop] for k, v in obs.items()} if isinstance(obs, dict) else obs[start:stop]


def policy_action_shape(action_space: spaces.Space) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of one action as the policy samples it."""
    if isinstance(action_space, spaces.Discrete):
        return (), np.dtype(np.int64)
    if isinstance(action_space, spaces.MultiDiscrete):
        return (int(action_space.nvec.size),), np.dtype(np.int64)
    return (int(np.prod(action_space.shape)),), np.dtype(np.float32)


class RolloutBuffer:
    """Preallocated storage for one rollout; see the module docstring."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, n_steps: int, n_envs: int,
                 *, normalized_keys: set[str] | None = None, device: torch.device | str = "cpu") -> None:
        self.n_steps, self.n_envs, self.device = n_steps, n_envs, torch.device(device)
        self.action_space = action_space
        self.action_masks: Any = None
        self.masked = False
        self.observations = make_storage(observation_space, n_steps, n_envs, normalized_keys=normalized_keys,
                                         device=device)
        self._observation_storage = (observation_space, normalized_keys)
        self.next_observations: Any = None
        shape = (n_steps, n_envs)
        # Per-node actions (one value per node of each graph) are ragged like the nodes.
        self.ragged_actions = (make_storage(per_node_value_space(action_space), n_steps, n_envs, device=device)
                               if is_per_node_action_space(action_space) else None)
        self.action_shape, action_dtype = ((0,), np.dtype(np.float32)) if self.ragged_actions is not None \
            else policy_action_shape(action_space)
        self.actions = np.zeros((*shape, *self.action_shape), dtype=action_dtype)
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.values = np.zeros(shape, dtype=np.float32)
        self.log_probs = np.zeros(shape, dtype=np.float32)
        self.terminated = np.zeros(shape, dtype=bool)
        self.episode_end = np.zeros(shape, dtype=bool)
        self.valid = np.ones(shape, dtype=bool)
        self.advantages = np.zeros(shape, dtype=np.float32)
        self.returns = np.zeros(shape, dtype=np.float32)

    def use_masks(self, rule: Any) -> None:
        """Store action masks in this rollout, with the storage of ``rule`` (a
        :class:`ballast.masking.MaskRule`), or not when ``rule`` is None; every :meth:`add` then
        gives the masks of its step."""
        self.masked = rule is not None
        if rule is not None and self.action_masks is None:
            self.action_masks = rule.make_storage(self.action_space, self.n_steps, self.n_envs, self.device)

    def keep_next_observations(self) -> None:
        """Store each step's next observations too (given to :meth:`add`), for the minibatches'
        ``next_observations``."""
        if self.next_observations is None:
            space, normalized_keys = self._observation_storage
            self.next_observations = make_storage(space, self.n_steps, self.n_envs, normalized_keys=normalized_keys,
                                                  device=self.device)

    def add(self, t: int, observations: Batch, actions: np.ndarray, rewards: np.ndarray, terminated: np.ndarray,
            episode_end: np.ndarray, valid: np.ndarray, action_masks: Any = None,
            next_observations: Batch | None = None) -> None:
        """Write vector step ``t`` (values and log-probabilities come later, from :meth:`evaluate`).

        ``action_masks`` are the checked masks the actions were sampled under (see :meth:`use_masks`);
        ``next_observations`` are stored when :meth:`keep_next_observations` was called.
        """
        self.observations.put(t, observations)
        if self.next_observations is not None:
            self.next_observations.put(t, next_observations)
        if self.masked:
            self.action_masks.put(t, action_masks)
        if self.ragged_actions is not None:
            self.ragged_actions.put(t, actions)
        else:
            self.actions[t] = actions
        self.rewards[t] = rewards
        self.terminated[t] = terminated
        self.episode_end[t] = episode_end
        self.valid[t] = valid

    def sync(self) -> None:
        """Finish the storages' pending writes before reading them."""
        self.observations.sync()
        if self.next_observations is not None:
            self.next_observations.sync()
        if self.masked:
            self.action_masks.sync()

    @torch.inference_mode()
    def evaluate(self, policy: torch.nn.Module, chunk: int = 4096) -> None:
        """Fill ``values`` and ``log_probs`` for every entry with one batched pass of ``policy``.

        The policy does not change during a rollout and the stored observations are the ones it
        acted on (normalised at collection time), so this gives what a per-step evaluation would,
        at a fraction of the cost.
        """
        self.sync()
        n = self.n_steps * self.n_envs
        actions = torch.from_numpy(self.actions.reshape(n, *self.action_shape)).to(self.device)
        values, log_probs = self.values.reshape(n), self.log_probs.reshape(n)
        for start in range(0, n, chunk):
            index = torch.arange(start, min(n, start + chunk), device=self.device)
            obs = self.observations.gather(index)
            out = policy.outputs(obs, self.action_masks.gather(index)) if self.masked else policy.outputs(obs)
            taken = actions[index] if self.ragged_actions is None else self.ragged_actions.gather(index)
            values[start:start + len(index)] = out.values.cpu().numpy()
            log_probs[start:start + len(index)] = out.distribution.log_prob(taken).cpu().numpy()

    def compute_returns_and_advantages(self, last_values: np.ndarray, gamma: float, gae_lambda: float,
                                       final_values: dict[tuple[int, int], float] | None = None) -> None:
        """GAE over the rollout, then move everything the update reads to tensors on the device.

        ``next_values[t]`` is ``values[t + 1]`` (``last_values`` after the last step);
        ``final_values`` overrides it where an env reported its final observation separately
        (SAME_STEP autoreset).
        """
        next_values = np.concatenate([self.values[1:], np.asarray(last_values, dtype=np.float32)[None]], axis=0)
        for (t, env), value in (final_values or {}).items():
            next_values[t, env] = value
        self.advantages, self.returns = compute_gae(
            self.rewards, self.values, next_values, self.terminated, self.episode_end, gamma, gae_lambda
        )
        to = lambda a: torch.from_numpy(a.reshape(self.n_steps * self.n_envs, *a.shape[2:])).to(self.device)
        self._tensors = {name: to(getattr(self, name)) for name in
                         ("actions", "values", "log_probs", "advantages", "returns", "rewards", "terminated",
                          "episode_end")}
        self._valid_index = torch.from_numpy(np.flatnonzero(self.valid.reshape(-1))).to(self.device)

    def batch(self, index: torch.Tensor) -> RolloutBatch:
        t = self._tensors
        return RolloutBatch(
            observations=self.observations.gather(index),
            actions=t["actions"][index] if self.ragged_actions is None else self.ragged_actions.gather(index),
            old_values=t["values"][index],
            old_log_prob=t["log_probs"][index],
            advantages=t["advantages"][index],
            returns=t["returns"][index],
            action_masks=self.action_masks.gather(index) if self.masked else None,
            rewards=t["rewards"][index],
            terminated=t["terminated"][index],
            dones=t["episode_end"][index],
            next_observations=None if self.next_observations is None else self.next_observations.gather(index),
        )

    def minibatches(self, batch_size: int | None, generator: torch.Generator) -> Iterator[RolloutBatch]:
        """Shuffled minibatches over the valid entries (all of them, in order, when batch_size is None)."""
        index = self._valid_index
        if batch_size is None or batch_size >= len(index):
            yield self.batch(index)
            return
        # One gather per epoch in shuffled order; the minibatches are then views of it.
        shuffled = self.batch(index[torch.randperm(len(index), generator=generator).to(index.device)])
        for start in range(0, len(index), batch_size):
            yield shuffled.slice(start, start + batch_size)
