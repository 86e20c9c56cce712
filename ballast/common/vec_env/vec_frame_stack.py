"""SB3's ``stable_baselines3.common.vec_env.vec_frame_stack`` path."""

from ballast.envs.frame_stack import VecFrameStack

__all__ = ["VecFrameStack"]
