"""SB3's ``stable_baselines3.her.her_replay_buffer``."""

from ballast.buffers.her import HerReplayBuffer

__all__ = ["HerReplayBuffer"]
