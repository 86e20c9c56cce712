"""Proportional prioritized experience replay (Schaul et al., 2016, "Prioritized Experience Replay", ICLR).

:class:`PrioritizedReplayBuffer` is :class:`~ballast.buffers.replay.ReplayBuffer` (the same storage,
episode bookkeeping and n-step returns) that draws entry ``i`` with probability

``P(i) = p_i / sum_k p_k``,  ``p_i = (|delta_i| + min_priority)^alpha``

from a :class:`~ballast.buffers.sum_tree.SumTree` over its entries (``row * n_envs + env``), one
stratified draw per batch (segment ``b`` of the total mass gives sample ``b``). ``delta_i`` is the
TD error the last update on entry ``i`` computed (:meth:`PrioritizedReplayBuffer.update_priorities`;
for distributional losses the per-sample loss, as each algorithm says). A new entry gets the
largest ``|delta| + min_priority`` seen so far (1 at first), so it is replayed soon. Entries
that cannot be sampled (the newest row, whose next observation is not written yet, and the
invalid entries of autoreset steps) have priority 0.

Sampling non-uniformly biases the expected update; the importance weights
``w_i = (N * P(i))^-beta / max_j w_j`` (:func:`importance_weights`) undo it, fully at
``beta = 1``. They are normalised by the largest weight of the batch (as SB3's draft and most
implementations do), so they only scale updates down; ``N`` (the transitions stored) then
cancels. ``beta`` goes linearly from ``beta`` to ``final_beta`` over training
(:meth:`PrioritizedReplayBuffer.anneal`, called by the algorithms with their remaining progress).

Names and defaults follow SB3's unreleased ``PrioritizedReplayBuffer`` (pull request #1622):
``alpha=0.5``, ``beta=0.4``, ``final_beta=1.0``, ``min_priority=1e-6``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from ballast.buffers.frame_dedup import StackedFrames
from ballast.buffers.replay import ReplayBatch, ReplayBuffer
from ballast.buffers.sum_tree import SumTree, stratified_prefix_sums
from ballast.errors import ConfigurationError


def importance_weights(probabilities: np.ndarray, n: int, beta: float) -> np.ndarray:
    """``w_i = (n * P(i))^-beta / max_j w_j`` over a batch: the importance-sampling correction of a
    draw with probabilities ``P(i)`` among ``n`` entries, normalised by the batch's largest weight."""
    weights = (n * np.asarray(probabilities, dtype=np.float64)) ** (-beta)
    return weights / weights.max()


def linear_beta(beta: float, final_beta: float, progress_remaining: float) -> float:
    """``beta`` annealed linearly: ``beta`` at the start of training, ``final_beta`` at its end."""
    return beta + (1.0 - progress_remaining) * (final_beta - beta)


#: The keywords of ``replay_buffer_kwargs`` a prioritized buffer takes, with their defaults.
PRIORITIZED_DEFAULTS = {"alpha": 0.5, "beta": 0.4, "final_beta": 1.0, "min_priority": 1e-6}


def check_prioritized_kwargs(kwargs: dict[str, Any]) -> dict[str, float]:
    """``replay_buffer_kwargs`` over :data:`PRIORITIZED_DEFAULTS`, refusing unknown names and values
    that cannot work."""
    unknown = sorted(set(kwargs) - PRIORITIZED_DEFAULTS.keys())
    if unknown:
        raise ConfigurationError(
            f"replay_buffer_kwargs has {unknown}, which PrioritizedReplayBuffer does not take; it takes "
            f"{sorted(PRIORITIZED_DEFAULTS)} (defaults {PRIORITIZED_DEFAULTS})")
    values = {**PRIORITIZED_DEFAULTS, **kwargs}
    out = {}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not np.isfinite(value) or value < 0 or (name == "min_priority" and value == 0):
            expected = "a number > 0" if name == "min_priority" else "a number >= 0"
            raise ConfigurationError(
                f"replay_buffer_kwargs {name}={value!r} cannot work: expected {expected}; pass e.g. "
                f"{name}={PRIORITIZED_DEFAULTS[name]} (the default)")
        out[name] = float(value)
    return out


class PrioritizedReplayBuffer(ReplayBuffer):
    """A replay buffer that draws transitions in proportion to their priority; see the module docstring.

    Args:
        observation_space, action_space, buffer_size, n_envs, device, stacked_frames: as :class:`ReplayBuffer`.
        alpha: how much the priorities count (0: uniform, 1: in proportion to ``|delta|``).
        beta: the importance-weight exponent at the start of training (0: no correction, 1: full).
        final_beta: the exponent at the end of training.
        min_priority: added to ``|delta|``, so that every stored transition can be drawn.
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, buffer_size: int,
                 n_envs: int = 1, *, device: torch.device | str = "cpu", alpha: float = 0.5, beta: float = 0.4,
                 final_beta: float = 1.0, min_priority: float = 1e-6, handle_timeout_termination: bool = True,
                 stacked_frames: StackedFrames | None = None) -> None:
        super().__init__(observation_space, action_space, buffer_size, n_envs, device=device,
                         handle_timeout_termination=handle_timeout_termination, stacked_frames=stacked_frames)
        options = check_prioritized_kwargs(
            {"alpha": alpha, "beta": beta, "final_beta": final_beta, "min_priority": min_priority})
        self.alpha, self.beta = options["alpha"], options["beta"]
        self.final_beta, self.min_priority = options["final_beta"], options["min_priority"]
        self.tree = SumTree(self.capacity * self.n_envs)
        self.max_priority = 1.0  # the largest |delta| + min_priority seen, before the exponent alpha
        self.current_beta = self.beta
        # Rows written since the last draw; their priorities are set when the next draw needs them.
        self._pending: list[int] = []

    # --- writing: rows become sampleable when the row after them is written -----------------------
    def _advance(self) -> None:
        self._pending.append(self.pos)
        super()._advance()

    def _flush(self) -> None:
        """Give the rows written since the last draw the max priority (0 to invalid entries and to the
        newest row, which stays pending until a newer one is written)."""
        newest = (self.pos - 1) % self.capacity
        if not self._pending or self._pending == [newest]:  # the newest row's priority is 0 already
            return
        rows = np.unique(np.asarray(self._pending, dtype=np.int64))
        priorities = np.where(self.valid[rows] & (rows != newest)[:, None], self.max_priority ** self.alpha, 0.0)
        entries = rows[:, None] * self.n_envs + np.arange(self.n_envs)
        self.tree.update(entries.reshape(-1), priorities.reshape(-1))
        self._pending = [newest] if newest in rows else []

    # --- reading ---------------------------------------------------------------------------------
    def anneal(self, progress_remaining: float) -> None:
        """Set the importance-weight exponent for the remaining progress (1 at the start of training, 0 at its end)."""
        self.current_beta = linear_beta(self.beta, self.final_beta, float(progress_remaining))

    def sample_prioritized(self, batch_size: int, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``(entries, probabilities)`` of ``batch_size`` stratified draws in proportion to the priorities."""
        self._flush()
        total = self.tree.total()
        if not total > 0:
            raise ConfigurationError("the replay buffer holds no transition that can be sampled yet "
                                     "(it needs at least two stored rows)")
        uniforms = torch.rand(batch_size, generator=generator, dtype=torch.float64).numpy()
        entries = self.tree.find(stratified_prefix_sums(total, uniforms))
        return entries, self.tree.leaves[entries] / total

    def sample(self, batch_size: int, generator: torch.Generator, *, n_steps: int = 1, gamma: float = 0.99,
               reward_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
               device: torch.device | str | None = None) -> ReplayBatch:
        """``batch_size`` transitions drawn by priority, with their importance weights (``batch.weights``)."""
        entries, probabilities = self.sample_prioritized(batch_size, generator)
        rows, envs = np.divmod(entries, self.n_envs)
        batch = self.batch_at(rows, envs, n_steps=n_steps, gamma=gamma, reward_fn=reward_fn, device=device)
        weights = importance_weights(probabilities, len(self), self.current_beta).astype(np.float32)
        batch.weights = torch.from_numpy(weights).to(batch.rewards.device)
        return batch

    def update_priorities(self, indices: torch.Tensor | np.ndarray, td_errors: torch.Tensor | np.ndarray) -> None:
        """After a gradient step: ``p_i = (|delta_i| + min_priority)^alpha`` for the entries ``indices``
        (``batch.indices``) from that step's per-sample TD errors (SB3's draft: ``update_priorities``)."""
        if isinstance(indices, torch.Tensor):
            indices = indices.cpu().numpy()
        if isinstance(td_errors, torch.Tensor):
            td_errors = td_errors.detach().cpu().numpy()
        errors = np.abs(np.asarray(td_errors, dtype=np.float64)).reshape(-1) + self.min_priority
        if errors.shape[0] != len(indices):
            raise ConfigurationError(f"update_priorities got {len(indices)} indices and {errors.shape[0]} TD errors; "
                                     "pass one TD error per sampled transition")
        if not np.isfinite(errors).all():
            raise ConfigurationError("update_priorities got non-finite TD errors; the loss diverged (lower the "
                                     "learning rate or clip the gradients with max_grad_norm)")
        self._flush()  # rows still pending would otherwise overwrite these priorities later
        self.tree.update(indices, errors ** self.alpha)
        self.max_priority = max(self.max_priority, float(errors.max()))

    # --- memory and state ------------------------------------------------------------------------
    def nbytes(self) -> int:
        return super().nbytes() + sum(int(level.nbytes) for level in self.tree.levels)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """:meth:`ReplayBuffer.state_tensors` with the sum tree (the priorities and their sums), the max
        priority, the current beta and the rows whose priorities are still to be set."""
        tensors = super().state_tensors()
        tensors["priority_tree"] = torch.from_numpy(self.tree.state())
        tensors["priority_state"] = torch.tensor([self.max_priority, self.current_beta], dtype=torch.float64)
        tensors["pending_rows"] = torch.tensor(self._pending, dtype=torch.int64)
        return tensors

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore :meth:`state_tensors`; a uniform buffer's content gets priority 1 for every
        sampleable entry (what its transitions would have had as new ones)."""
        super().load_state_tensors(tensors)
        if "priority_tree" not in tensors:
            self.tree.set_all(np.zeros(self.tree.n_leaves))
            self.max_priority, self._pending = 1.0, list(range(self.rows()))
            return
        self.tree.load_state(tensors["priority_tree"].detach().cpu().numpy())
        self.max_priority, self.current_beta = (float(x) for x in tensors["priority_state"].tolist())
        self._pending = [int(x) for x in tensors["pending_rows"].tolist()]
