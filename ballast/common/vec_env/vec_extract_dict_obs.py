"""SB3's ``stable_baselines3.common.vec_env.vec_extract_dict_obs`` path."""

from ballast.envs.observation_transforms import VecExtractDictObs

__all__ = ["VecExtractDictObs"]
