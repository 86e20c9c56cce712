"""SB3's ``stable_baselines3.common.envs.multi_input_envs`` path."""

from ballast.envs.testing.multi_input import SimpleMultiObsEnv

__all__ = ["SimpleMultiObsEnv"]
