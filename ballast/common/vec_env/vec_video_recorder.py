"""SB3's ``stable_baselines3.common.vec_env.vec_video_recorder`` path."""

from ballast.recording import VecVideoRecorder

__all__ = ["VecVideoRecorder"]
