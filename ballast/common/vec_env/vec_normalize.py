"""SB3's ``stable_baselines3.common.vec_env.vec_normalize`` path."""

from ballast.envs.vec_normalize import VecNormalize

__all__ = ["VecNormalize"]
