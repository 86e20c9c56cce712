"""Storages (how a batch of one space is held) and the buffers built on them."""

from ballast.buffers.rollout import RolloutBatch, RolloutBuffer
from ballast.buffers.storage import DictStorage, FixedStorage, make_storage, register_storage

__all__ = ["DictStorage", "FixedStorage", "RolloutBatch", "RolloutBuffer", "make_storage", "register_storage"]
