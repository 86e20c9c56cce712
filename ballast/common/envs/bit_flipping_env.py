"""SB3's ``stable_baselines3.common.envs.bit_flipping_env`` path."""

from ballast.envs.testing.bit_flipping import BitFlippingEnv

__all__ = ["BitFlippingEnv"]
