"""The running normalisers are modules of the model: they live in :mod:`ballast.policies.normalize`.

This module keeps ``from ballast.envs.normalize import ...`` working.
"""

from ballast.policies.normalize import ObservationNormalizer, RewardNormalizer, RunningMeanStd

__all__ = ["ObservationNormalizer", "RewardNormalizer", "RunningMeanStd"]
