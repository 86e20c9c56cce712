"""SB3's ``stable_baselines3.common.vec_env.vec_transpose`` path."""

from ballast.envs.observation_transforms import VecTransposeImage

__all__ = ["VecTransposeImage"]
