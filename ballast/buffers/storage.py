"""Per-space storages: preallocated arrays for fixed-shape spaces, a dict of them for Dict spaces.

A storage holds ``capacity`` rows of ``n_envs`` items each. ``put(row, batch)`` writes one vector
step (NumPy arrays or CPU tensors); ``gather(index)`` reads items by flat index
(``row * n_envs + env``) and returns a batch of tensors on the storage's device, in the form the
space's encoder takes. Spaces of variable size (graphs, sequences) register their own storage
with :func:`register_storage`; the buffers never look inside a storage.

Items are written into NumPy arrays (cheap per-step writes) which are shared, not copied, with
the tensors that ``gather`` reads on CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from ballast.errors import UnsupportedSpaceError

Batch = torch.Tensor | dict[str, Any]


def numpy_dtype_for(space: spaces.Space, normalized: bool = False) -> np.dtype:
    """The dtype a space's items are stored in: float32 for normalised or float Boxes, int64 for
    (Multi)Discrete, int8 for MultiBinary, the space's own dtype otherwise (uint8 images stay one
    byte a pixel)."""
    if isinstance(space, (spaces.Discrete, spaces.MultiDiscrete)):
        return np.dtype(np.int64)
    if isinstance(space, spaces.MultiBinary):
        return np.dtype(np.int8)
    if normalized or np.issubdtype(space.dtype, np.floating):
        return np.dtype(np.float32)
    return np.dtype(space.dtype)


class FixedStorage:
    """A ``(capacity, n_envs, *shape)`` array for one fixed-shape space."""

    def __init__(self, space: spaces.Space, capacity: int, n_envs: int, *, normalized: bool = False,
                 device: torch.device | str = "cpu") -> None:
        shape = () if isinstance(space, spaces.Discrete) else tuple(space.shape)
        self.item_shape = shape
        self.capacity, self.n_envs = capacity, n_envs
        self.array = np.zeros((capacity, n_envs, *shape), dtype=numpy_dtype_for(space, normalized))
        self.device = torch.device(device)
        self._flat = torch.from_numpy(self.array).view(capacity * n_envs, *shape)
        if self.device.type != "cpu":
            self._flat = self._flat.to(self.device)

    def put(self, row: int, batch: Any) -> None:
        self.array[row] = batch.cpu().numpy() if isinstance(batch, torch.Tensor) else batch

    def sync(self) -> None:
        """Make the device copy match the array (a no-op on CPU, where they share memory)."""
        if self.device.type != "cpu":
            self._flat.copy_(torch.from_numpy(self.array).view_as(self._flat), non_blocking=True)

    def gather(self, index: torch.Tensor) -> torch.Tensor:
        # index_select: the same copy as self._flat[index], at a third of advanced indexing's fixed cost
        return self._flat.index_select(0, index)

    def nbytes(self) -> int:
        return int(self.array.nbytes)


class DictStorage:
    """One storage per key of a Dict space."""

    def __init__(self, storages: dict[str, Any]) -> None:
        self.storages = storages

    def put(self, row: int, batch: dict[str, Any]) -> None:
        for key, storage in self.storages.items():
            storage.put(row, batch[key])

    def sync(self) -> None:
        for storage in self.storages.values():
            storage.sync()

    def gather(self, index: torch.Tensor) -> dict[str, Any]:
        return {key: storage.gather(index) for key, storage in self.storages.items()}

    def nbytes(self) -> int:
        return sum(s.nbytes() for s in self.storages.values())


StorageBuilder = Callable[..., Any]
_REGISTRY: dict[type, StorageBuilder] = {}


def register_storage(space_type: type, builder: StorageBuilder) -> None:
    """Use ``builder(space, capacity, n_envs, normalized=..., device=...)`` for ``space_type``."""
    _REGISTRY[space_type] = builder


def make_storage(space: spaces.Space, capacity: int, n_envs: int, *, normalized_keys: set[str] | None = None,
                 device: torch.device | str = "cpu", key: str = "obs") -> Any:
    """The storage for ``space``; ``normalized_keys`` names the parts stored after normalisation."""
    normalized_keys = normalized_keys or set()
    if isinstance(space, spaces.Dict):
        return DictStorage({
            k: make_storage(sub, capacity, n_envs, normalized_keys=normalized_keys, device=device, key=k)
            for k, sub in space.spaces.items()
        })
    for cls in type(space).__mro__:
        if cls in _REGISTRY:
            return _REGISTRY[cls](space, capacity, n_envs, normalized=key in normalized_keys, device=device)
    raise UnsupportedSpaceError(f"no storage is registered for the space {space} ({type(space).__name__})")


for _space_type in (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary):
    register_storage(_space_type, FixedStorage)
