"""SB3's ``stable_baselines3.common.vec_env.subproc_vec_env`` path."""

from ballast.envs.sb3_vec_env import SubprocVecEnv

__all__ = ["SubprocVecEnv"]
