"""SB3's ``stable_baselines3.common.vec_env.dummy_vec_env`` path."""

from ballast.envs.sb3_vec_env import DummyVecEnv

__all__ = ["DummyVecEnv"]
