"""The rollout buffer of a recurrent policy: a :class:`RolloutBuffer` that also keeps, for every step,
whether the hidden state was reset before it (an episode started) and the state the policy acted
from, so that minibatches are sequences (:mod:`ballast.buffers.sequences`) with known initial states.

The state of each env copy at the start of the rollout is the first row of those states; every
later sequence starts either at an episode start (zeros) or at a minibatch boundary (the state
stored when the step was collected, as in sb3-contrib's ``RecurrentRolloutBuffer``).

Minibatches follow sb3-contrib's scheme: the valid steps in env-major order (each env copy's
steps in time order), rotated at a random point, cut into ``batch_size`` rows; each minibatch is
then cut into sequences at episode starts and env changes. The reset steps of Gymnasium's
NEXT_STEP autoreset (not transitions) close their episode's sequence and are left out, as in
feed-forward PPO; their values (V of the final observation, computed from the episode's state)
bootstrap a truncation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from gymnasium import spaces

from ballast.buffers.rollout import RolloutBatch, RolloutBuffer
from ballast.buffers.sequences import RNNStates, Sequences, split_sequences


@dataclass
class RecurrentRolloutBatch(RolloutBatch):
    """A :class:`RolloutBatch` whose rows are ``sequences``, each starting from its column of ``lstm_states``."""

    sequences: Sequences | None = None
    lstm_states: RNNStates | None = None


class RecurrentRolloutBuffer(RolloutBuffer):
    """See the module docstring; ``state_shape`` is ``(n_layers, hidden)`` and ``state_parts`` 2 (LSTM) or 1 (GRU)."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, n_steps: int, n_envs: int,
                 *, state_shape: tuple[int, int], state_parts: int, normalized_keys: set[str] | None = None,
                 device: torch.device | str = "cpu") -> None:
        super().__init__(observation_space, action_space, n_steps, n_envs, normalized_keys=normalized_keys,
                         device=device)
        self.episode_starts = np.zeros((n_steps, n_envs), dtype=bool)
        rows = n_steps * n_envs
        # Row t * n_envs + e (as every field's flattening): the state env copy e acted from at step t.
        self.states = {branch: [torch.zeros(rows, *state_shape, device=self.device) for _ in range(state_parts)]
                       for branch in ("pi", "vf")}
        self._env_major = torch.arange(rows, device=self.device).view(n_steps, n_envs).t().reshape(-1)

    def add_states(self, t: int, states: RNNStates, episode_starts: np.ndarray) -> None:
        """Record the states (after the reset at episode starts) the policy acts from at step ``t``."""
        self.episode_starts[t] = episode_starts
        rows = slice(t * self.n_envs, (t + 1) * self.n_envs)
        for branch, state in zip(("pi", "vf"), states):
            for stored, part in zip(self.states[branch], state):
                stored[rows] = part.transpose(0, 1)

    def initial_states(self, rows: torch.Tensor) -> RNNStates:
        """The stored states of ``rows``, one column each: ``(n_layers, len(rows), hidden)`` per part."""
        take = lambda parts: tuple(p[rows].transpose(0, 1).contiguous() for p in parts)  # noqa: E731
        return RNNStates(take(self.states["pi"]), take(self.states["vf"]))

    def _starts(self) -> torch.Tensor:
        return torch.from_numpy(self.episode_starts.reshape(-1)).to(self.device)

    def sequences(self, index: torch.Tensor) -> Sequences:
        """The sequences of the rows ``index`` (read in that order)."""
        return split_sequences(index, self._starts(), self.n_envs, self.n_envs)

    @torch.inference_mode()
    def evaluate(self, policy: torch.nn.Module, chunk: int = 4096) -> None:
        """Fill ``values`` and ``log_probs`` with one pass of the recurrent layers over every env copy's
        rollout (cut at episode starts), the same computation the update makes."""
        del chunk  # sequences are not cut into chunks: each env copy's rollout is read whole
        self.sync()
        index = self._env_major
        sequences = self.sequences(index)
        masks = self.action_masks.gather(index) if self.masked else None
        out = policy.sequence_outputs(self.observations.gather(index), sequences,
                                      self.initial_states(index[sequences.starts]), masks)
        n = self.n_steps * self.n_envs
        actions = torch.from_numpy(self.actions.reshape(n, *self.action_shape)).to(self.device)[index]
        flat = index.cpu().numpy()
        self.values.reshape(n)[flat] = out.values.cpu().numpy()
        self.log_probs.reshape(n)[flat] = out.distribution.log_prob(actions).cpu().numpy()

    def compute_returns_and_advantages(self, last_values: np.ndarray, gamma: float, gae_lambda: float,
                                       final_values: dict[tuple[int, int], float] | None = None) -> None:
        super().compute_returns_and_advantages(last_values, gamma, gae_lambda, final_values)
        valid = torch.from_numpy(self.valid.reshape(-1)).to(self.device)
        self._order = self._env_major[valid[self._env_major]]

    def batch(self, index: torch.Tensor) -> RecurrentRolloutBatch:
        sequences = self.sequences(index)
        base = super().batch(index)
        return RecurrentRolloutBatch(**vars(base), sequences=sequences,
                                     lstm_states=self.initial_states(index[sequences.starts]))

    def minibatches(self, batch_size: int | None, generator: torch.Generator) -> Iterator[RecurrentRolloutBatch]:
        """Minibatches of ``batch_size`` valid steps, as sb3-contrib cuts them (see the module docstring);
        one minibatch of the whole rollout when ``batch_size`` is None or larger.

        The order is rotated even then, as sb3-contrib's ``RecurrentRolloutBuffer.get`` rotates it:
        the env copy whose steps hold the rotation point has its sequence cut there, the second part
        starting from the state stored when its first step was collected.
        """
        order = self._order
        if len(order) == 0:
            return
        split = int(torch.randint(len(order), (1,), generator=generator))
        rotated = torch.cat([order[split:], order[:split]])
        size = batch_size or len(rotated)
        for start in range(0, len(rotated), size):
            yield self.batch(rotated[start:start + size])
