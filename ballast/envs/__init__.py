"""Vector-env creation, running normalisation, and the residual action wrapper."""

from ballast.envs.make import make_vec_env
from ballast.envs.normalize import ObservationNormalizer, RewardNormalizer, RunningMeanStd
from ballast.envs.residual import ResidualActionWrapper

__all__ = ["make_vec_env", "ObservationNormalizer", "RewardNormalizer", "ResidualActionWrapper", "RunningMeanStd"]
