"""The replay buffer of the off-policy algorithms: every observation is stored once.

Layout: a circular buffer of ``capacity = buffer_size // n_envs`` rows of ``n_envs`` entries,
built on the per-space storages of :mod:`ballast.buffers.storage`. Row ``t`` holds, per env copy,
the observation the agent acted on, the action in the policy's space (in [-1, 1] for squashed
continuous policies: what the critics are trained on), the reward, ``terminated``,
``truncated`` and ``valid``. The next observation of entry ``(t, e)`` is the observation of
``(t + 1, e)``; nothing is stored twice.

Episode ends need no second observation array either. With Gymnasium's NEXT_STEP autoreset
(the default) the step after an episode's end only resets that env copy: it is not a
transition, and the observation the agent holds at that step is the episode's final
observation. That step is written as a row entry with ``valid = False``, so the terminal or
truncated entry above it finds the true final observation as its next observation, and the
entry is never sampled. For SAME_STEP autoreset the collector writes the final observations as
an extra row of invalid entries (:meth:`ReplayBuffer.add_padding`), giving the same layout.

Sampling draws entries uniformly among the valid ones, never the newest row (its next
observation is not written yet), with a ``torch.Generator`` owned by the algorithm.

Stacked image observations (``stacked_frames``, set by the algorithms when the model stacks the
frames of image observations) go to :class:`~ballast.buffers.frame_dedup.FrameDedupStorage`,
which keeps each frame once instead of each stack whole and gives back the same stacks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from ballast.buffers.frame_dedup import FrameDedupStorage, StackedFrames, stacked_from_state
from ballast.buffers.rollout import policy_action_shape
from ballast.buffers.storage import Batch, DictStorage, make_storage, numpy_dtype_for
from ballast.errors import ConfigurationError
from ballast.returns import n_step_returns

_MAX_REDRAWS = 1000


@dataclass
class ReplayBatch:
    """Sampled transitions, ready for a target ``rewards + discounts * V(next_observations)``.

    ``rewards`` are n-step returns (the reward itself for ``n_steps = 1``) and ``discounts`` is
    ``gamma^k * (1 - terminated)`` (see :func:`ballast.returns.n_step_returns`). ``indices`` are
    the flat entries (``row * n_envs + env``) the transitions start at. ``weights``: the
    importance weights of a prioritized draw (:class:`ballast.buffers.prioritized.PrioritizedReplayBuffer`),
    None for a uniform one.
    """

    observations: Batch
    actions: torch.Tensor
    rewards: torch.Tensor
    next_observations: Batch
    discounts: torch.Tensor
    indices: torch.Tensor
    weights: torch.Tensor | None = None

    def rows(self, start: int, stop: int) -> ReplayBatch:
        """Transitions ``start:stop`` (views, no copy); observations must be tensors or dicts of them."""
        def part(value: Any) -> Any:
            if value is None:
                return None
            return {k: part(v) for k, v in value.items()} if isinstance(value, dict) else value[start:stop]

        return ReplayBatch(*(part(getattr(self, field.name)) for field in fields(self)))


def _to_device(batch: Batch, device: torch.device) -> Batch:
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch.to(device, non_blocking=True)


def batch_to_device(batch: ReplayBatch, device: torch.device) -> ReplayBatch:
    """The batch's tensors on ``device`` (importance weights, if any, included)."""
    return ReplayBatch(*(None if getattr(batch, field.name) is None else _to_device(getattr(batch, field.name), device)
                         for field in fields(batch)))


class ReplayBuffer:
    """Preallocated circular replay buffer; see the module docstring.

    Args:
        observation_space, action_space: the spaces of one env copy.
        buffer_size: transitions held in total (``buffer_size // n_envs`` rows, as in SB3).
        n_envs: env copies writing one entry each per row.
        device: where sampled batches are sent (the storage itself stays in CPU memory).
        stacked_frames: how the frames of stacked image observations are laid out; with it, each
            frame is stored once (:mod:`ballast.buffers.frame_dedup`).
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, buffer_size: int,
                 n_envs: int = 1, *, device: torch.device | str = "cpu", handle_timeout_termination: bool = True,
                 stacked_frames: StackedFrames | None = None) -> None:
        self.capacity = max(int(buffer_size) // int(n_envs), 2)
        #: False: truncated steps are stored as terminated (not bootstrapped), as SB3's option of that name.
        self.handle_timeout_termination = bool(handle_timeout_termination)
        self.n_envs = int(n_envs)
        self.device = torch.device(device)
        self.stacked_frames = stacked_frames
        self.observations = (make_storage(observation_space, self.capacity, self.n_envs) if stacked_frames is None
                             else FrameDedupStorage(observation_space, self.capacity, self.n_envs, stacked_frames))
        self.action_shape, action_dtype = policy_action_shape(action_space)
        shape = (self.capacity, self.n_envs)
        self.actions = np.zeros((*shape, *self.action_shape), dtype=action_dtype)
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.terminated = np.zeros(shape, dtype=bool)
        self.truncated = np.zeros(shape, dtype=bool)
        self.valid = np.zeros(shape, dtype=bool)
        self.pos = 0
        self.full = False
        self.padding_rows = 0
        # Flat views (shared memory) for gathering sampled entries.
        flat = self.capacity * self.n_envs
        self._actions_flat = self.actions.reshape(flat, *self.action_shape)
        self._rewards_flat = self.rewards.reshape(flat)
        self._terminated_flat = self.terminated.reshape(flat)
        self._truncated_flat = self.truncated.reshape(flat)
        self._valid_flat = self.valid.reshape(flat)

    # --- writing -------------------------------------------------------------------------------
    def add_observation(self, observations: Batch) -> None:
        """Write the observations the agent acts on now (before stepping the env: it may reuse its arrays)."""
        self.observations.put(self.pos, observations)

    def add_transition(self, actions: np.ndarray, rewards: np.ndarray, terminated: np.ndarray,
                       truncated: np.ndarray, valid: np.ndarray | None = None) -> None:
        """Complete the current row with the step's outcome and move to the next row.

        ``valid`` is False for env copies whose step only reset them (NEXT_STEP autoreset).
        """
        pos = self.pos
        if not self.handle_timeout_termination:
            terminated = np.logical_or(terminated, truncated)
        self.actions[pos] = np.asarray(actions).reshape(self.actions.shape[1:])
        self.rewards[pos] = rewards
        self.terminated[pos] = terminated
        self.truncated[pos] = truncated
        self.valid[pos] = True if valid is None else valid
        self._advance()

    def add(self, observations: Batch, actions: np.ndarray, rewards: np.ndarray, terminated: np.ndarray,
            truncated: np.ndarray, valid: np.ndarray | None = None) -> None:
        """Write one row: :meth:`add_observation` then :meth:`add_transition`."""
        self.add_observation(observations)
        self.add_transition(actions, rewards, terminated, truncated, valid)

    def add_padding(self, observations: Batch) -> None:
        """Write a row of observations that are only successors (final observations), never sampled."""
        self.add_observation(observations)
        pos = self.pos
        self.actions[pos] = 0
        self.rewards[pos] = 0.0
        self.terminated[pos] = False
        self.truncated[pos] = False
        self.valid[pos] = False
        if not self.full:
            self.padding_rows += 1
        self._advance()

    def end_episodes(self, next_observations: Batch | None) -> None:
        """Close the stored episodes before the env is reset outside the collection loop.

        With the observations that followed the newest row, those entries become truncated
        transitions that bootstrap from them; without, the newest row is dropped.
        """
        if self.pos == 0 and not self.full:
            return
        newest = (self.pos - 1) % self.capacity
        if next_observations is None:
            self.valid[newest] = False
            return
        self.truncated[newest] |= self.valid[newest] & ~self.terminated[newest]
        self.add_padding(next_observations)

    def _advance(self) -> None:
        self.pos += 1
        if self.pos == self.capacity:
            self.pos = 0
            self.full = True

    # --- reading -------------------------------------------------------------------------------
    def size(self) -> int:
        """Steps stored, per env copy (SB3's ``size()``): rows written, less the rows that only hold
        final observations (SAME_STEP autoreset); ``capacity`` once the buffer is full."""
        return self.capacity if self.full else self.pos - self.padding_rows

    def rows(self) -> int:
        """Rows written so far, padding rows included (at most ``capacity``)."""
        return self.capacity if self.full else self.pos

    def __len__(self) -> int:
        return self.size() * self.n_envs

    def sample_indices(self, batch_size: int, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Rows and env copies of ``batch_size`` entries drawn uniformly among the sampleable ones.

        Sampleable: valid entries of every row but the newest. Invalid entries are rejected
        (rejection sampling keeps the draw uniform; there is at most one per episode).
        """
        n_rows = self.capacity - 1 if self.full else self.pos - 1
        if n_rows < 1:
            raise ConfigurationError("the replay buffer needs at least two stored rows before sampling")
        start = self.pos if self.full else 0
        n_envs = self.n_envs

        def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
            rows = torch.randint(n_rows, (n,), generator=generator).numpy()
            if start:
                rows = (rows + start) % self.capacity
            envs = (torch.randint(n_envs, (n,), generator=generator).numpy() if n_envs > 1
                    else np.zeros(n, dtype=np.int64))
            return rows, envs

        # A few spare draws, so that one round usually yields enough valid entries; the first
        # valid ones of an i.i.d. sequence are i.i.d. uniform over the valid entries.
        rows, envs = draw(batch_size + batch_size // 8 + 4)
        valid = self._valid_flat
        for _ in range(_MAX_REDRAWS):
            keep = np.flatnonzero(valid[rows * n_envs + envs] if n_envs > 1 else valid[rows])
            if len(keep) >= batch_size:
                keep = keep[:batch_size]
                return rows[keep], envs[keep]
            more_rows, more_envs = draw(batch_size)
            rows = np.concatenate([rows[keep], more_rows])
            envs = np.concatenate([envs[keep], more_envs])
        raise ConfigurationError("the replay buffer holds (almost) no valid transitions to sample")

    def sample(self, batch_size: int, generator: torch.Generator, *, n_steps: int = 1, gamma: float = 0.99,
               reward_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
               device: torch.device | str | None = None) -> ReplayBatch:
        """``batch_size`` transitions with ``n_steps``-step returns (see :class:`ReplayBatch`).

        ``reward_fn`` transforms stored rewards before they are summed (reward normalisation
        with the current statistics, as SB3's ``VecNormalize`` does at sampling time).
        """
        rows, envs = self.sample_indices(batch_size, generator)
        return self.batch_at(rows, envs, n_steps=n_steps, gamma=gamma, reward_fn=reward_fn, device=device)

    def batch_at(self, rows: np.ndarray, envs: np.ndarray, *, n_steps: int = 1, gamma: float = 0.99,
                 reward_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 device: torch.device | str | None = None) -> ReplayBatch:
        """The transitions starting at entries ``(rows, envs)``, as :meth:`sample` returns them."""
        n_envs, capacity = self.n_envs, self.capacity
        index = rows * n_envs + envs
        if n_steps <= 1:
            rewards = torch.from_numpy(self._rewards_flat[index])
            if reward_fn is not None:
                rewards = reward_fn(rewards)
            terminal = self._terminated_flat[index]
            discounts = torch.from_numpy(np.where(terminal, np.float32(0.0), np.float32(gamma)))
            next_rows = rows + 1
            next_rows[next_rows == capacity] = 0
        else:
            offsets = np.arange(n_steps)
            window = ((rows[:, None] + offsets) % capacity) * n_envs + envs[:, None]
            # steps past the newest row have no successor observation yet
            distance = (self.pos - 1 - rows) % capacity
            available = self._valid_flat[window] & (offsets < distance[:, None])
            rewards = torch.from_numpy(self._rewards_flat[window])
            if reward_fn is not None:
                rewards = reward_fn(rewards)
            terminated = self._terminated_flat[window]
            episode_end = terminated | self._truncated_flat[window]
            rewards, discounts, lengths = n_step_returns(
                rewards, torch.from_numpy(terminated), torch.from_numpy(episode_end),
                torch.from_numpy(available), gamma,
            )
            next_rows = (rows + lengths.numpy()) % capacity
        index_t = torch.from_numpy(index)
        batch = ReplayBatch(
            observations=self.observations.gather(index_t),
            actions=torch.from_numpy(self._actions_flat[index]),
            rewards=rewards,
            next_observations=self.observations.gather(torch.from_numpy(next_rows * n_envs + envs)),
            discounts=discounts,
            indices=index_t,
        )
        target = self.device if device is None else torch.device(device)
        return batch if target.type == "cpu" else batch_to_device(batch, target)

    def anneal(self, progress_remaining: float) -> None:
        """Nothing: uniform draws have no importance weights (unlike
        :class:`~ballast.buffers.prioritized.PrioritizedReplayBuffer`'s)."""

    # --- memory and state ------------------------------------------------------------------------
    def nbytes(self) -> int:
        """Bytes held by the buffer's arrays."""
        arrays = (self.actions, self.rewards, self.terminated, self.truncated, self.valid)
        return int(self.observations.nbytes() + sum(array.nbytes for array in arrays))

    def _observation_storages(self) -> dict[str, Any]:
        storages = (self.observations.storages if isinstance(self.observations, DictStorage)
                    else {None: self.observations})
        return {"observations" if key is None else f"observations.{key}": storage for key, storage in storages.items()}

    def _observation_arrays(self) -> dict[str, np.ndarray]:
        """Fixed-shape storages' arrays (shared memory), the content of the others (ragged, frame-deduplicated)
        under ``NAME.KIND.PART``."""
        arrays = {}
        for name, storage in self._observation_storages().items():
            if hasattr(storage, "array"):
                arrays[name] = storage.array
            elif hasattr(storage, "state_arrays"):
                kind = getattr(storage, "state_name", "ragged")
                arrays.update({f"{name}.{kind}.{part}": array for part, array in storage.state_arrays().items()})
            else:
                raise ConfigurationError(
                    f"the observation storage {type(storage).__name__} cannot be saved as tensors")
        return arrays

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """The whole content as named CPU tensors (sharing memory with the buffer where it can), for safetensors."""
        arrays = {**self._observation_arrays(), "actions": self.actions, "rewards": self.rewards,
                  "terminated": self.terminated, "truncated": self.truncated, "valid": self.valid}
        tensors = {name: torch.from_numpy(array) for name, array in arrays.items()}
        tensors["position"] = torch.tensor([self.pos, int(self.full), self.padding_rows], dtype=torch.int64)
        return tensors

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore what :meth:`state_tensors` returned (same spaces, capacity and ``n_envs``).

        Stacked observations load into either storage whichever one saved them: whole stacks into a
        frame-deduplicated storage (files saved before it existed) and frames into whole stacks.
        """
        position = [int(x) for x in tensors["position"].tolist()]
        arrays = {"actions": self.actions, "rewards": self.rewards, "terminated": self.terminated,
                  "truncated": self.truncated, "valid": self.valid}
        for name, storage in self._observation_storages().items():
            frames = _parts(tensors, f"{name}.frames.")
            kind = getattr(storage, "state_name", "ragged")
            parts = _parts(tensors, f"{name}.{kind}.")
            try:
                if hasattr(storage, "array"):
                    if name in tensors or not frames:
                        arrays[name] = storage.array
                    else:
                        storage.array[...] = stacked_from_state(frames, storage.array.dtype)
                elif not parts and name in tensors and hasattr(storage, "load_stacked"):
                    storage.load_stacked(tensors[name].detach().cpu().numpy(), _rows_oldest_first(
                        position[0], bool(position[1]), self.capacity))
                else:
                    storage.load_state_arrays(parts)
            except ConfigurationError:
                raise
            except (KeyError, ValueError) as err:
                raise ConfigurationError(f"the saved replay buffer's {name!r} does not fit this buffer ({err}); "
                                         "use the same buffer_size and n_envs") from None
        for name, array in arrays.items():
            if name not in tensors:
                raise ConfigurationError(f"the saved replay buffer lacks {name!r}")
            saved = tensors[name].detach().cpu().numpy()
            if saved.shape != array.shape:
                raise ConfigurationError(
                    f"the saved replay buffer's {name!r} has shape {saved.shape}, this buffer {array.shape}; "
                    "use the same buffer_size and n_envs"
                )
            array[...] = saved
        self.pos, self.full = position[0], bool(position[1])
        self.padding_rows = position[2] if len(position) > 2 else 0


def _parts(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, np.ndarray]:
    """The tensors named ``prefix + part``, by part, as arrays."""
    return {key[len(prefix):]: value.detach().cpu().numpy() for key, value in tensors.items() if key.startswith(prefix)}


def _rows_oldest_first(pos: int, full: bool, capacity: int) -> np.ndarray:
    """The rows written, oldest first."""
    return np.r_[pos:capacity, 0:pos] if full else np.arange(pos)


def replay_buffer_nbytes(observation_space: spaces.Space, action_space: spaces.Space, buffer_size: int,
                         n_envs: int = 1) -> int:
    """Bytes a :class:`ReplayBuffer` of these spaces and size holds, computed without allocating it
    (graph and set observations not counted: their memory follows the sizes stored)."""
    rows = max(int(buffer_size) // int(n_envs), 2)
    entries = rows * int(n_envs)

    def observation_bytes(space: spaces.Space) -> int:
        if isinstance(space, spaces.Dict):
            return sum(observation_bytes(sub) for sub in space.spaces.values())
        if isinstance(space, (spaces.Graph, spaces.Sequence)):
            return 0  # ragged: memory follows the sizes of the stored graphs and sets, unknown in advance
        shape = () if isinstance(space, spaces.Discrete) else tuple(space.shape)
        return int(np.prod(shape, dtype=np.int64)) * numpy_dtype_for(space).itemsize

    action_shape, action_dtype = policy_action_shape(action_space)
    action_bytes = int(np.prod(action_shape, dtype=np.int64)) * action_dtype.itemsize
    per_entry = observation_bytes(observation_space) + action_bytes + np.dtype(np.float32).itemsize + 3
    return entries * per_entry

