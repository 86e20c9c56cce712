"""SB3's ``stable_baselines3.her``: ``from ballast.her import HerReplayBuffer, GoalSelectionStrategy``."""

from ballast.buffers.her import HerReplayBuffer
from ballast.buffers.hindsight import GoalSelectionStrategy

__all__ = ["GoalSelectionStrategy", "HerReplayBuffer"]
