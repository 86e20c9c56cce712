"""Vector-env creation and running normalisation."""

from ballast.envs.make import make_vec_env
from ballast.envs.normalize import ObservationNormalizer, RewardNormalizer, RunningMeanStd

__all__ = ["make_vec_env", "ObservationNormalizer", "RewardNormalizer", "RunningMeanStd"]
