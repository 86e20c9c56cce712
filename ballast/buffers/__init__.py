"""Storages (how a batch of one space is held) and the buffers built on them."""

from ballast.buffers.her import HerReplayBuffer
from ballast.buffers.hindsight import GoalSelectionStrategy
from ballast.buffers.prioritized import PrioritizedReplayBuffer
from ballast.buffers.ragged_storage import GraphStorage, RaggedArena, SetStorage
from ballast.buffers.recurrent import RecurrentRolloutBatch, RecurrentRolloutBuffer
from ballast.buffers.rollout import RolloutBatch, RolloutBuffer
from ballast.buffers.storage import DictStorage, FixedStorage, make_storage, register_storage

__all__ = ["DictStorage", "FixedStorage", "GoalSelectionStrategy", "GraphStorage", "HerReplayBuffer",
           "PrioritizedReplayBuffer", "RaggedArena",
           "RecurrentRolloutBatch", "RecurrentRolloutBuffer", "RolloutBatch", "RolloutBuffer", "SetStorage",
           "make_storage", "register_storage"]
