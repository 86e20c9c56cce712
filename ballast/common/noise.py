"""SB3's ``stable_baselines3.common.noise``: action noise, implemented in :mod:`ballast.noise`."""

from ballast.noise import ActionNoise, NormalActionNoise, OrnsteinUhlenbeckActionNoise, VectorizedActionNoise

__all__ = ["ActionNoise", "NormalActionNoise", "OrnsteinUhlenbeckActionNoise", "VectorizedActionNoise"]
