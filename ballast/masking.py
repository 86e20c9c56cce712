"""Action masking: which actions are valid in the current state, from the env to the distribution.

An env tells Ballast which actions are valid in one of two ways (the first that applies wins):

1. a method ``action_masks()`` returning the mask of the current state (as sb3-contrib's
   MaskablePPO expects; :class:`ballast.envs.ActionMasker` adds one to any env), read through the
   vector env with ``call("action_masks")``;
2. ``info["action_mask"]`` in the infos of ``reset`` and ``step``.

A mask holds one entry per action choice, true (or 1) where the action is valid. Its form depends
on the action space, and so do its storage in the rollout buffer and how it is applied to the
policy's distribution. Both are chosen from the action space through a small registry
(:func:`register_action_mask`), walking the space's class hierarchy:

- ``Discrete(n)``: ``n`` entries;
- ``MultiDiscrete(nvec)``: ``sum(nvec)`` entries, the masks of each dimension concatenated;
- :class:`ballast.node_spaces.NodeChoice`: one entry per node of the current graph, so a batch of
  masks is ragged (:class:`RaggedMask`: values concatenated plus lengths).

The distribution applies a mask itself through its ``masked(mask)`` method (e.g.
:class:`ballast.distributions.MaskedCategorical`), so a new kind of head supports masking by
implementing that one method; a node-choice distribution receives a :class:`RaggedMask` whose
rows follow its graphs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import VectorEnv, VectorWrapper

from ballast.buffers.storage import FixedStorage
from ballast.errors import ActionMaskError, UnsupportedSpaceError
from ballast.node_spaces import NodeChoice

MASK_METHOD = "action_masks"
MASK_INFO_KEY = "action_mask"


@dataclass
class RaggedMask:
    """A batch of masks of different lengths: ``values`` (bool, all rows concatenated) and ``lengths``.

    Row ``i`` is ``values[offsets[i]:offsets[i] + lengths[i]]``; for node choice, row ``i`` has one
    entry per node of the ``i``-th graph of the batch, in the graph's node order.
    """

    values: torch.Tensor
    lengths: torch.Tensor

    @property
    def offsets(self) -> torch.Tensor:
        """Start of each row in ``values``."""
        return torch.cumsum(self.lengths, 0) - self.lengths

    @property
    def batch_index(self) -> torch.Tensor:
        """The row of each entry of ``values`` (the segment ids of segment operations)."""
        return torch.repeat_interleave(torch.arange(len(self.lengths), device=self.lengths.device), self.lengths)

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, rows: slice) -> RaggedMask:
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            raise TypeError("a RaggedMask is sliced with a contiguous slice of rows")
        start, stop, _ = rows.indices(len(self.lengths))
        offsets = self.offsets
        begin = int(offsets[start]) if start < len(self.lengths) else int(self.values.shape[0])
        end = int(offsets[stop - 1] + self.lengths[stop - 1]) if stop > start else begin
        return RaggedMask(self.values[begin:end], self.lengths[start:stop])

    def to(self, device: torch.device | str) -> RaggedMask:
        return RaggedMask(self.values.to(device), self.lengths.to(device))

    def rows(self) -> list[torch.Tensor]:
        """The masks one by one."""
        return list(torch.split(self.values, self.lengths.tolist()))


@dataclass(frozen=True)
class MaskRule:
    """How the masks of one kind of action space are checked, stored and turned into tensors.

    ``check(space, masks, n, ignore)`` takes ``n`` masks as the env gives them (an array with a leading
    axis of ``n``, or a sequence of ``n`` arrays), raises :class:`ActionMaskError` when they do not
    fit, and returns them in the form ``storage.put`` takes. Rows where ``ignore`` (bool, ``n``) is
    true belong to env copies that the next step only resets (Gymnasium's NEXT_STEP autoreset): the
    state is terminal and its mask may allow nothing, so they become masks allowing every action.
    ``make_storage(space, capacity, n_envs, device)`` builds the rollout storage (``put(row, batch)``,
    ``gather(index)``, ``sync()``, ``nbytes()``, as the observation storages). ``to_tensor(batch,
    device)`` turns a checked batch into what the distribution's ``masked`` takes.
    ``all_valid(space, n)`` is a batch of masks allowing every action, or None where the mask's
    length is not known from the space.
    """

    check: Callable[[spaces.Space, Any, int, np.ndarray | None], Any]
    make_storage: Callable[[spaces.Space, int, int, torch.device], Any]
    to_tensor: Callable[[Any, torch.device], Any]
    all_valid: Callable[[spaces.Space, int], Any]


_RULES: dict[type, MaskRule] = {}


def register_action_mask(space_type: type, rule: MaskRule) -> None:
    """Use ``rule`` for the masks of action spaces of ``space_type`` (and its subclasses)."""
    _RULES[space_type] = rule


def mask_rule(action_space: spaces.Space) -> MaskRule:
    """The :class:`MaskRule` for ``action_space``, or :class:`UnsupportedSpaceError`."""
    for cls in type(action_space).__mro__:
        if cls in _RULES:
            return _RULES[cls]
    supported = ", ".join(sorted(c.__name__ for c in _RULES))
    raise UnsupportedSpaceError(
        f"action masks are not supported for the action space {action_space}; they are for {supported}. "
        f"Remove the env's {MASK_METHOD}() method or info[{MASK_INFO_KEY!r}], or use one of those action spaces"
    )


# --- fixed-length masks: Discrete and MultiDiscrete ---------------------------------------------
def _segments(space: spaces.Space) -> list[int]:
    if isinstance(space, spaces.Discrete):
        return [int(space.n)]
    return [int(n) for n in np.asarray(space.nvec).reshape(-1)]


def _check_fixed(space: spaces.Space, masks: Any, n: int, ignore: np.ndarray | None = None) -> np.ndarray:
    segments = _segments(space)
    width = sum(segments)
    try:
        array = np.asarray(masks)
        if array.dtype == object:
            raise ValueError
    except ValueError:
        raise ActionMaskError(
            f"action masks for {space} must be arrays of {width} entries each; got masks of different lengths"
        ) from None
    if array.ndim == 1 and n == 1:
        array = array[None]
    if array.ndim > 2 and array.shape[0] == n and int(np.prod(array.shape[1:])) == width:
        array = array.reshape(n, width)
    if array.shape != (n, width):
        what = "one mask" if n == 1 else f"{n} masks (one per observation or env copy)"
        raise ActionMaskError(
            f"expected {what} of {width} entries for the action space {space}, i.e. shape "
            f"{(width,) if n == 1 else (n, width)}, but got shape {array.shape}"
            + ("; MultiDiscrete masks concatenate the masks of each dimension" if len(segments) > 1 else "")
        )
    if array.dtype != bool and (not np.issubdtype(array.dtype, np.number) or not np.all((array == 0) | (array == 1))):
        raise ActionMaskError(f"action masks must be booleans or 0/1 values, got {array.dtype} values {array}")
    array = array.astype(np.int8, copy=False)
    if ignore is not None and np.any(ignore):
        array = array.copy()
        array[np.asarray(ignore, dtype=bool)] = 1
    start = 0
    for dim, size in enumerate(segments):
        empty = ~array[:, start:start + size].any(axis=1)
        if empty.any():
            where = f" of dimension {dim}" if len(segments) > 1 else ""
            raise ActionMaskError(
                f"the action mask{where} allows no action in row(s) {np.flatnonzero(empty).tolist()}; at least one "
                "action must be valid in every state (end the episode instead, or add a no-op action)"
            )
        start += size
    return array


def _fixed_storage(space: spaces.Space, capacity: int, n_envs: int, device: torch.device) -> FixedStorage:
    return FixedStorage(spaces.MultiBinary(sum(_segments(space))), capacity, n_envs, device=device)


def _fixed_tensor(batch: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(batch, device=device).to(torch.bool)


def _fixed_all_valid(space: spaces.Space, n: int) -> np.ndarray:
    return np.ones((n, sum(_segments(space))), dtype=np.int8)


FIXED_MASK_RULE = MaskRule(_check_fixed, _fixed_storage, _fixed_tensor, _fixed_all_valid)


# --- ragged masks: one entry per node --------------------------------------------------------------
class RaggedMaskStorage:
    """Rollout storage of ragged masks: one int8 array per item, as long as that item's mask.

    Memory is proportional to the real mask lengths; ``gather`` concatenates the requested items
    into a :class:`RaggedMask` on the device.
    """

    def __init__(self, capacity: int, n_envs: int, device: torch.device | str = "cpu") -> None:
        self.capacity, self.n_envs, self.device = capacity, n_envs, torch.device(device)
        self.items: list[np.ndarray] = [np.ones(0, dtype=np.int8)] * (capacity * n_envs)

    def put(self, row: int, batch: Sequence[np.ndarray]) -> None:
        for env, mask in enumerate(batch):
            self.items[row * self.n_envs + env] = mask

    def sync(self) -> None:
        """Nothing to do: ``gather`` copies to the device."""

    def gather(self, index: torch.Tensor) -> RaggedMask:
        chosen = [self.items[i] for i in index.tolist()]
        values = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int8)
        lengths = np.fromiter((len(m) for m in chosen), dtype=np.int64, count=len(chosen))
        return _ragged_tensor((values, lengths), self.device)

    def nbytes(self) -> int:
        return sum(int(m.nbytes) for m in self.items)


def _check_ragged(space: spaces.Space, masks: Any, n: int, ignore: np.ndarray | None = None) -> list[np.ndarray]:
    if isinstance(masks, np.ndarray) and masks.dtype != object:
        masks = list(masks) if masks.ndim == 2 else [masks] if masks.ndim == 1 and n == 1 else masks
    if isinstance(masks, np.ndarray) and masks.dtype == object:
        masks = list(masks)
    if not isinstance(masks, (list, tuple)) or len(masks) != n:
        got = f"{len(masks)} masks" if isinstance(masks, (list, tuple)) else type(masks).__name__
        raise ActionMaskError(
            f"expected {n} node masks for {space} (one 1-D array per graph, one entry per node), got {got}")
    out = []
    for i, mask in enumerate(masks):
        array = np.asarray(mask)
        if array.ndim != 1:
            raise ActionMaskError(
                f"node mask {i} must be 1-D (one entry per node of its graph), got shape {array.shape}")
        if array.dtype != bool and not (np.issubdtype(array.dtype, np.number) and np.all((array == 0) | (array == 1))):
            raise ActionMaskError(f"node mask {i} must hold booleans or 0/1 values, got {array.dtype}")
        if ignore is not None and ignore[i]:
            array = np.ones(array.shape, dtype=np.int8)
        if not array.any():
            raise ActionMaskError(
                f"node mask {i} allows no node (it has {array.size} entries); at least one node must be valid "
                "in every state (end the episode instead)")
        out.append(array.astype(np.int8, copy=False))
    return out


def _ragged_storage(space: spaces.Space, capacity: int, n_envs: int, device: torch.device) -> RaggedMaskStorage:
    return RaggedMaskStorage(capacity, n_envs, device)


def _ragged_tensor(batch: Any, device: torch.device) -> RaggedMask:
    if isinstance(batch, tuple):
        values, lengths = batch
    else:
        values = np.concatenate(batch) if len(batch) else np.zeros(0, dtype=np.int8)
        lengths = np.fromiter((len(m) for m in batch), dtype=np.int64, count=len(batch))
    return RaggedMask(torch.as_tensor(values, device=device).to(torch.bool), torch.as_tensor(lengths, device=device))


NODE_MASK_RULE = MaskRule(_check_ragged, _ragged_storage, _ragged_tensor, lambda space, n: None)

register_action_mask(spaces.Discrete, FIXED_MASK_RULE)
register_action_mask(spaces.MultiDiscrete, FIXED_MASK_RULE)
register_action_mask(NodeChoice, NODE_MASK_RULE)


# --- reading masks from an env ------------------------------------------------------------------
def env_has_mask_method(env: VectorEnv) -> bool:
    """True when ``env`` (a vector env, or each of its copies) has an ``action_masks()`` method."""
    if callable(getattr(env, MASK_METHOD, None)):
        return True
    # Asking each copy whether it has the method (rather than calling it) never raises inside a
    # worker: an error there would shut down the workers of an AsyncVectorEnv.
    try:
        return bool(all(call_copies(env, "has_wrapper_attr", MASK_METHOD)))
    except (AttributeError, NotImplementedError):
        return False


def call_copies(env: VectorEnv, name: str, *args: Any) -> tuple[Any, ...]:
    """``env.call(name, *args)`` on the vector env inside ``env``'s vector wrappers (Gymnasium's
    wrappers do not pass ``call`` on): the result of every copy's method or attribute ``name``."""
    while getattr(env, "call", None) is None and isinstance(env, VectorWrapper):
        env = env.env
    call = getattr(env, "call", None)
    if call is None:
        raise AttributeError(f"{type(env).__name__} cannot call methods of its env copies")
    return call(name, *args)


class MaskReader:
    """Reads the current masks of a vector env: from ``action_masks()`` when it has one, else from
    ``info["action_mask"]``; ``read`` returns None when the env gives no masks.

    Copies whose infos lack a mask (``info["_action_mask"]`` false) allow every action; for node
    choice, whose masks' lengths only the env knows, that is an error.
    """

    def __init__(self, env: VectorEnv, action_space: spaces.Space) -> None:
        self.env, self.action_space = env, action_space
        self.n = env.num_envs
        self.use_method = env_has_mask_method(env)
        self._rule: MaskRule | None = None

    @property
    def rule(self) -> MaskRule:
        if self._rule is None:
            self._rule = mask_rule(self.action_space)
        return self._rule

    def provides_masks(self, infos: dict[str, Any]) -> bool:
        return self.use_method or MASK_INFO_KEY in infos

    def read(self, infos: dict[str, Any], ignore: np.ndarray | None = None) -> Any:
        """The checked masks of the current observations (storage form), or None; ``ignore`` as in
        :class:`MaskRule`."""
        if self.use_method:
            method = getattr(self.env, MASK_METHOD, None)
            masks = method() if callable(method) else call_copies(self.env, MASK_METHOD)
            return self.rule.check(self.action_space, masks, self.n, ignore)
        if MASK_INFO_KEY not in infos:
            return None
        masks = infos[MASK_INFO_KEY]
        present = np.asarray(infos.get("_" + MASK_INFO_KEY, np.ones(self.n, dtype=bool)), dtype=bool)
        if not present.all():
            full = self.rule.all_valid(self.action_space, self.n)
            if full is None:
                raise ActionMaskError(
                    f"env copies {np.flatnonzero(~present).tolist()} gave no info[{MASK_INFO_KEY!r}]; node masks "
                    f"must come with every reset and step (or from an {MASK_METHOD}() method)")
            full[present] = np.asarray(masks)[present]
            masks = full
        return self.rule.check(self.action_space, masks, self.n, ignore)


def policy_supports_masks(policy: torch.nn.Module) -> bool:
    """True for policies whose ``outputs``/``act``/``evaluate_actions`` take ``action_masks``."""
    return bool(getattr(policy, "supports_action_masks", False))
