"""Vector-env creation, running normalisation, the action-mask wrapper and the bundled envs."""

from ballast.envs.make import make_vec_env
from ballast.envs.masker import ActionMasker
from ballast.envs.normalize import ObservationNormalizer, RewardNormalizer, RunningMeanStd

__all__ = ["make_vec_env", "ActionMasker", "ObservationNormalizer", "RewardNormalizer", "RunningMeanStd"]
