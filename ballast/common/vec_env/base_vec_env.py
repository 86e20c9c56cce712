"""SB3's ``stable_baselines3.common.vec_env.base_vec_env`` path."""

from ballast.envs.sb3_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn, VecEnvWrapper, tile_images

__all__ = ["VecEnv", "VecEnvIndices", "VecEnvObs", "VecEnvStepReturn", "VecEnvWrapper", "tile_images"]
