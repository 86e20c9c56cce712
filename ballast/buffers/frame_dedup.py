"""Replay storage for stacked image observations that keeps each frame once.

With frame stacking, the observation of an env copy at step ``t`` is its frames ``t - n + 1 .. t``
(zeros before its episode's first frame) and its successor adds frame ``t + 1``: consecutive
observations share all frames but one. :class:`FrameDedupStorage` keeps, per replay entry, the
newest frame and a count of the frames before it that belong to its stack, so 1M Atari
transitions (84 x 84 x 4) hold one 84 x 84 frame each (~7 GB) instead of four (~28 GB).
``gather`` gives back exactly the stacked observations that were ``put``, zeros included.

Layout. Each env copy writes its frames, in order, into a ring of slots (plus one slot of zeros).
Entry ``(row, env)`` keeps ``slot``, where its newest frame is, and ``depth``: the frames at
``slot - 1, ..., slot - depth`` of the same copy precede it in its stack, the older positions are
zeros. Writing compares each stacked observation with its copy's previous one (read back from the
storage) and stores

* a continuation (the previous stack moved on by one frame, an ordinary step): one new frame,
  ``depth = min(previous depth + 1, n_stack - 1)``;
* a repeat of the previous stack (same-step autoreset writes an unfinished episode's observation
  as padding and again as the next row): no new frame, the previous entry's slot and depth;
* anything else, its frames from the first one that is not all zeros: a new episode's first stack
  is one frame (``depth = 0``); a stack that does not follow the previous one (the first row
  written, the first after a replay buffer was loaded into a running model) is up to ``n_stack``.

Rows come in order and overwrite the oldest, so with at most one frame per row a ring of
``capacity + n_stack - 1`` slots keeps every frame an entry in the buffer needs. Each stack of
more than one new frame takes ``n_stack - 1`` more; the ring has room for ``MAX_SPILLS`` of them per
copy among the rows held (a clear error beyond; frame stacking makes them only at such restarts).

Reading is one fancy-index gather of ``n_stack`` frames per entry (positions beyond its ``depth``
read the zero slot) and a reshape into the stacked layout; uint8 stays uint8.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from ballast.errors import ConfigurationError

#: Entries gathered at a time when whole stacks are rebuilt (keeps the temporary copy small).
_CHUNK = 4096
#: Stacks of more than one new frame each env copy may have among the rows held (the ring's slack).
MAX_SPILLS = 64


@dataclass(frozen=True)
class StackedFrames:
    """How frame stacking lays out an observation: ``n_stack`` frames concatenated along ``axis``
    (an axis of one observation, counted from 0), oldest first."""

    n_stack: int
    axis: int


class FrameDedupStorage:
    """``capacity`` rows of ``n_envs`` stacked observations, each frame stored once; see the module docstring."""

    state_name = "frames"

    def __init__(self, space: spaces.Space, capacity: int, n_envs: int, frames: StackedFrames) -> None:
        n_stack, axis = int(frames.n_stack), int(frames.axis)
        if not isinstance(space, spaces.Box) or not np.issubdtype(space.dtype, np.integer):
            raise ConfigurationError(
                f"frame-deduplicated replay storage holds stacked images (an integer Box, uint8 pixels), not {space}; "
                "Dict observations (HerReplayBuffer's too) keep the storage that holds whole observations")
        if not 2 <= n_stack <= 256 or not 0 <= axis < len(space.shape) or space.shape[axis] % n_stack:
            raise ConfigurationError(
                f"{space} is not {n_stack} frames stacked along axis {axis}; frame deduplication needs 2 to 256 "
                "frames stacked along an axis of the observation")
        self.layout = StackedFrames(n_stack, axis)
        self.capacity, self.n_envs = int(capacity), int(n_envs)
        self.item_shape = tuple(space.shape)
        frame_shape = list(self.item_shape)
        frame_shape[axis] //= n_stack
        self.frame_shape = tuple(frame_shape)
        self.max_spills = min(self.capacity, MAX_SPILLS)
        self.ring = self.capacity + (n_stack - 1) * (1 + self.max_spills)
        # Slot ``ring`` of every copy stays zero: the frames before an episode's first one.
        self.frames = np.zeros((self.ring + 1, self.n_envs, *self.frame_shape), dtype=space.dtype)
        self.slot = np.zeros((self.capacity, self.n_envs), dtype=np.int64)
        self.depth = np.zeros((self.capacity, self.n_envs), dtype=np.uint8)
        self.spilled = np.zeros((self.capacity, self.n_envs), dtype=bool)  # entries of more than one new frame
        self._back = np.arange(n_stack - 1, -1, -1)  # position p of a stack is frame slot - (n_stack - 1 - p)
        self._envs = np.arange(self.n_envs)
        self._reset_writer()

    def _reset_writer(self) -> None:
        self.written = np.zeros(self.n_envs, dtype=np.int64)  # frames each copy has written
        self._written_before = self.written.copy()  # ... before the newest row was put
        self.newest_row = -1  # the row put last
        self.previous_row = -1  # the row put before it
        self.spilled[...] = False
        self._spills = np.zeros(self.n_envs, dtype=np.int64)  # spilled entries among the rows held

    # --- layout helpers ------------------------------------------------------------------------------
    def _split(self, stacks: np.ndarray) -> np.ndarray:
        """``(k, *item_shape)`` stacks as ``(k, n_stack, *frame_shape)`` frames (a view)."""
        axis, n_stack = self.layout.axis, self.layout.n_stack
        shape = (len(stacks), *self.item_shape[:axis], n_stack, *self.frame_shape[axis:])
        return np.moveaxis(stacks.reshape(shape), 1 + axis, 1)

    def _join(self, frames: np.ndarray) -> np.ndarray:
        """``(k, n_stack, *frame_shape)`` frames as ``(k, *item_shape)`` stacks."""
        return np.moveaxis(frames, 1, 1 + self.layout.axis).reshape(len(frames), *self.item_shape)

    def _frames_of(self, index: np.ndarray) -> np.ndarray:
        """The ``(k, n_stack, *frame_shape)`` frames of the entries ``index`` (``row * n_envs + env``)."""
        rows, envs = np.divmod(index, self.n_envs)
        slot, depth = self.slot[rows, envs], self.depth[rows, envs]
        slots = np.where(self._back <= depth[:, None], (slot[:, None] - self._back) % self.ring, self.ring)
        return self.frames[slots, envs[:, None]]

    # --- the storage interface -----------------------------------------------------------------------
    def put(self, row: int, batch: Any) -> None:
        """Write the ``n_envs`` stacked observations of vector step ``row`` (rows come in order)."""
        stacks = batch.cpu().numpy() if isinstance(batch, torch.Tensor) else np.asarray(batch)
        if stacks.shape != (self.n_envs, *self.item_shape):
            raise ConfigurationError(f"expected stacked observations of shape {(self.n_envs, *self.item_shape)}, "
                                     f"got {stacks.shape}")
        if row == self.newest_row:  # the same row again: its frames are written anew
            self.written[:] = self._written_before
        else:
            self.previous_row, self.newest_row = self.newest_row, row
            self._written_before = self.written.copy()
        n_stack = self.layout.n_stack
        new = np.ascontiguousarray(self._split(stacks.astype(self.frames.dtype, copy=False)))
        new = new.reshape(self.n_envs, n_stack, -1)
        previous = self.previous_row
        before = self._frames_of(previous * self.n_envs + self._envs).reshape(new.shape) if previous >= 0 else None
        count = np.ones(self.n_envs, dtype=np.int64)  # new frames: 0 for a repeat, 1 for a step
        repeat, step = np.zeros(self.n_envs, dtype=bool), np.zeros(self.n_envs, dtype=bool)
        for env in range(self.n_envs):  # byte comparisons: a few microseconds per stack of Atari frames
            if before is not None and new[env].tobytes() == before[env].tobytes():
                repeat[env], count[env] = True, 0
            elif before is not None and new[env, :-1].tobytes() == before[env, 1:].tobytes():
                step[env] = True
            else:  # the stack's frames from the first one that is not all zeros (the last one at least)
                nonzero = np.flatnonzero(new[env, :-1].any(axis=1))
                count[env] = n_stack - nonzero[0] if len(nonzero) else 1
        spill = count > 1
        spills = self._spills - self.spilled[row] + spill
        if (spills > self.max_spills).any():
            raise ConfigurationError(
                f"more than {self.max_spills} stacked observations of one env copy among the {self.capacity} rows "
                "held neither continue the previous one by a frame nor start a new episode (zeros, then a frame); "
                "frame stacking makes such stacks only when collection restarts without an env reset (after "
                "load_replay_buffer into a running model), so these observations are not the model's frame stack")
        self._spills, self.spilled[row] = spills, spill
        slot, depth = self.slot[row], self.depth[row]
        if previous >= 0:
            slot[repeat], depth[repeat] = self.slot[previous, repeat], self.depth[previous, repeat]
            depth[step] = np.minimum(self.depth[previous, step] + 1, n_stack - 1)
        one = np.flatnonzero(count == 1)
        if len(one):
            slots = self.written[one] % self.ring
            self.frames[slots, one] = new[one, -1].reshape(len(one), *self.frame_shape)
            slot[one] = slots
        depth[~repeat & ~step] = count[~repeat & ~step] - 1
        for env in np.flatnonzero(spill):
            slots = (self.written[env] + np.arange(count[env])) % self.ring
            self.frames[slots, env] = new[env, n_stack - count[env]:].reshape(-1, *self.frame_shape)
            slot[env] = slots[-1]
        self.written += count

    def sync(self) -> None:
        """Nothing: the frames stay in CPU memory and batches are built from them."""

    def gather(self, index: torch.Tensor) -> torch.Tensor:
        """The stacked observations of the entries ``index`` (``row * n_envs + env``), as uint8 tensors."""
        index = index.cpu().numpy() if isinstance(index, torch.Tensor) else np.asarray(index)
        return torch.from_numpy(self._join(self._frames_of(index.astype(np.int64, copy=False))))

    def nbytes(self) -> int:
        """Bytes held by the frames (allocated; a page is resident once written) and the bookkeeping."""
        return int(self.frames.nbytes + self.slot.nbytes + self.depth.nbytes + self.spilled.nbytes)

    # --- checkpoints -----------------------------------------------------------------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        """The frames and bookkeeping as named arrays (shared memory where possible), for safetensors."""
        writer = [self.layout.n_stack, self.layout.axis, self.newest_row, self.previous_row]
        return {"frames": self.frames[:self.ring], "slot": self.slot, "depth": self.depth, "spilled": self.spilled,
                "written": np.stack([self.written, self._written_before]),
                "layout": np.array(writer, dtype=np.int64)}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore :meth:`state_arrays` (a ValueError if they were saved for another layout or size)."""
        layout = [int(x) for x in np.asarray(arrays["layout"]).tolist()]
        if StackedFrames(*layout[:2]) != self.layout:
            raise ValueError(f"frames stacked as {StackedFrames(*layout[:2])}, this buffer's as {self.layout}")
        for name, target in (("frames", self.frames[:self.ring]), ("slot", self.slot), ("depth", self.depth),
                             ("spilled", self.spilled)):
            saved = np.asarray(arrays[name])
            if saved.shape != target.shape:
                raise ValueError(f"saved {name} of shape {saved.shape}, this buffer's {target.shape}")
            target[...] = saved
        self.written[:], self._written_before[:] = np.asarray(arrays["written"], dtype=np.int64)
        self.newest_row, self.previous_row = layout[2], layout[3]
        self._spills = self.spilled.sum(axis=0, dtype=np.int64)

    def load_stacked(self, stacks: np.ndarray, rows: np.ndarray) -> None:
        """Fill the storage from whole stacks ``(capacity, n_envs, *item_shape)`` (a checkpoint of the
        storage that keeps whole observations), writing ``rows`` oldest first."""
        stacks = np.asarray(stacks)
        if stacks.shape != (self.capacity, self.n_envs, *self.item_shape):
            raise ValueError(f"saved observations of shape {stacks.shape}, this buffer holds "
                             f"{(self.capacity, self.n_envs, *self.item_shape)}")
        self._reset_writer()
        for row in rows:
            self.put(int(row), stacks[row])

    def stacked(self) -> np.ndarray:
        """Every entry's stacked observation, ``(capacity, n_envs, *item_shape)``."""
        out = np.empty((self.capacity * self.n_envs, *self.item_shape), dtype=self.frames.dtype)
        for start in range(0, len(out), _CHUNK):
            stop = min(start + _CHUNK, len(out))
            out[start:stop] = self._join(self._frames_of(np.arange(start, stop)))
        return out.reshape(self.capacity, self.n_envs, *self.item_shape)


def stacked_from_state(arrays: dict[str, np.ndarray], dtype: np.dtype) -> np.ndarray:
    """Whole stacked observations ``(capacity, n_envs, *item_shape)`` from a :class:`FrameDedupStorage`'s
    saved arrays (for a buffer that keeps whole observations)."""
    layout = [int(x) for x in np.asarray(arrays["layout"]).tolist()]
    frames_shape, (capacity, n_envs) = np.shape(arrays["frames"]), np.shape(arrays["slot"])
    frames = StackedFrames(*layout[:2])
    item_shape = list(frames_shape[2:])
    item_shape[frames.axis] *= frames.n_stack
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.integer):
        raise ValueError(f"stacked frames were saved for integer observations, this buffer holds {dtype}")
    storage = FrameDedupStorage(spaces.Box(0, np.iinfo(dtype).max, tuple(item_shape), dtype), capacity, n_envs,
                                frames)
    storage.load_state_arrays(arrays)
    return storage.stacked()
