"""Vector-env creation, running normalisation, the residual action wrapper, the action-mask wrapper
and the bundled envs."""

from ballast.envs.graph_problems import MinVertexCoverEnv, register_envs
from ballast.envs.make import make_vec_env
from ballast.envs.masker import ActionMasker
from ballast.envs.residual import ResidualActionWrapper
from ballast.policies.normalize import ObservationNormalizer, RewardNormalizer, RunningMeanStd

register_envs()

__all__ = ["make_vec_env", "ActionMasker", "MinVertexCoverEnv", "ObservationNormalizer", "RewardNormalizer",
           "ResidualActionWrapper", "RunningMeanStd"]
