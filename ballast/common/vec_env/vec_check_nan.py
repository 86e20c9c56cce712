"""SB3's ``stable_baselines3.common.vec_env.vec_check_nan`` path."""

from ballast.envs.check_nan import VecCheckNan

__all__ = ["VecCheckNan"]
