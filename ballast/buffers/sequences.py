"""Sequence layout of a recurrent minibatch: which rows form one sequence, and how they pad.

A recurrent policy's update reads a minibatch as sequences: maximal runs of rows that are
consecutive steps of one env copy and stay inside one episode. Each sequence starts from a known
hidden state (zero at an episode start, else the one stored when the step was collected), so the
recurrent layers run over all sequences at once, padded to the longest one, with no reset inside a
sequence and no Python loop over time. The losses then read the rows back from the padded output
(:meth:`Sequences.unpad`), so padding never enters a loss and no sequence crosses an episode
boundary (sb3-contrib's ``RecurrentRolloutBuffer`` cuts at the same places and masks the padding
instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

#: A recurrent state: ``(h, c)`` of an LSTM or ``(h,)`` of a GRU, each ``(n_layers, batch, hidden)``.
State = tuple[torch.Tensor, ...]


class RNNStates(NamedTuple):
    """sb3-contrib's ``RNNStates``: the actor's and the critic's recurrent states."""

    pi: State
    vf: State


@dataclass(frozen=True)
class Sequences:
    """The layout of ``len(time)`` rows as ``n_seq`` sequences of at most ``max_len`` steps.

    ``time[i]`` and ``seq[i]``: where row ``i`` sits in the padded ``(max_len, n_seq, ...)`` layout
    (time first, as ``torch.nn.LSTM`` reads it); ``starts[j]``: the row that begins sequence ``j``.
    """

    time: torch.Tensor
    seq: torch.Tensor
    starts: torch.Tensor
    n_seq: int
    max_len: int

    def pad(self, rows: torch.Tensor) -> torch.Tensor:
        """``(n_rows, ...)`` -> ``(max_len, n_seq, ...)``, zeros where a sequence has ended."""
        if self.max_len == 1 and self.n_seq == len(rows):  # one step per sequence: acting
            return rows.unsqueeze(0)
        padded = rows.new_zeros((self.max_len, self.n_seq, *rows.shape[1:]))
        padded[self.time, self.seq] = rows
        return padded

    def unpad(self, padded: torch.Tensor) -> torch.Tensor:
        """``(max_len, n_seq, ...)`` -> ``(n_rows, ...)``, the rows :meth:`pad` placed."""
        if self.max_len == 1 and self.n_seq == len(self.time):
            return padded[0]
        return padded[self.time, self.seq]

    def mask(self) -> torch.Tensor:
        """``(max_len, n_seq)`` booleans: True where a row sits, False on padding."""
        out = torch.zeros((self.max_len, self.n_seq), dtype=torch.bool, device=self.time.device)
        out[self.time, self.seq] = True
        return out

    def to(self, device: torch.device) -> Sequences:
        return Sequences(self.time.to(device), self.seq.to(device), self.starts.to(device), self.n_seq, self.max_len)


def one_step(n: int, device: torch.device | str = "cpu") -> Sequences:
    """``n`` sequences of one step each (acting on ``n`` env copies)."""
    rows = torch.arange(n, device=device)
    return Sequences(torch.zeros(n, dtype=torch.long, device=device), rows, rows, n, 1 if n else 0)


def split_sequences(index: torch.Tensor, episode_starts: torch.Tensor, stride: int, n_first: int) -> Sequences:
    """The sequences of the rows ``index`` (positions in a flattened rollout, in the order the rows are read).

    A new sequence begins at the first row, at a row whose step started an episode
    (``episode_starts[index[i]]``), at a row that is not the step right after the previous row's
    (``index[i] != index[i - 1] + stride``: another env copy, a skipped step, the wrap of a shuffled
    order), and at a rollout's first step (``index[i] < n_first``). With the rollout flattened step
    by step (row ``t * n_envs + e``), ``stride`` and ``n_first`` are both ``n_envs``.
    """
    breaks = torch.ones(len(index), dtype=torch.bool, device=index.device)
    if len(index) > 1:
        breaks[1:] = (index[1:] != index[:-1] + stride) | episode_starts[index[1:]].bool() | (index[1:] < n_first)
    return sequences_from_breaks(breaks)


def sequences_from_breaks(breaks: torch.Tensor) -> Sequences:
    """The sequences of rows read in order, a new one beginning at each row where ``breaks`` is True
    (and at the first row)."""
    n = len(breaks)
    if n == 0:
        empty = torch.zeros(0, dtype=torch.long, device=breaks.device)
        return Sequences(empty, empty, empty, 0, 0)
    breaks = breaks.clone()
    breaks[0] = True
    seq = torch.cumsum(breaks.long(), 0) - 1
    starts = torch.nonzero(breaks).flatten()
    time = torch.arange(n, device=breaks.device) - starts[seq]
    return Sequences(time, seq, starts, len(starts), int(time.max().item()) + 1)
