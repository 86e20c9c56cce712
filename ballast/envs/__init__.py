"""Vector-env creation (Atari preprocessing included), SB3's VecEnv API over Gymnasium vector envs, running
normalisation, the residual action wrapper, the action-mask wrapper and the bundled envs."""

from ballast.envs.adopt import EnvSettings, adopt_env, as_vector_env
from ballast.envs.check_nan import VecCheckNan
from ballast.envs.env_checker import check_env
from ballast.envs.extreme_node import ExtremeNodeEnv, register_extreme_node
from ballast.envs.frame_stack import FrameStack, VecFrameStack
from ballast.envs.graph_problems import MinVertexCoverEnv, register_envs
from ballast.envs.make import make_vector_env
from ballast.envs.masker import ActionMasker
from ballast.envs.monitor import Monitor, VecMonitor, load_results
from ballast.envs.no_velocity import NoVelocityWrapper, register_no_velocity_envs
from ballast.envs.observation_transforms import VecExtractDictObs, VecTransposeImage
from ballast.envs.residual import ResidualActionWrapper
from ballast.envs.sb3_env_util import make_atari_env, make_vec_env
from ballast.envs.sb3_vec_env import DummyVecEnv, GymnasiumVecEnv, SubprocVecEnv, VecEnv, VecEnvWrapper
from ballast.envs.testing.bit_flipping import register_bit_flipping
from ballast.envs.time_feature import TimeFeatureWrapper
from ballast.envs.vec_normalize import VecNormalize
from ballast.policies.normalize import ObservationNormalizer, RewardNormalizer, RunningMeanStd

register_envs()
register_extreme_node()
register_no_velocity_envs()
register_bit_flipping()

__all__ = [
    "make_vector_env", "make_vec_env", "make_atari_env", "as_vector_env", "adopt_env", "EnvSettings", "FrameStack",
    "VecEnv", "VecEnvWrapper", "GymnasiumVecEnv", "DummyVecEnv", "SubprocVecEnv", "VecNormalize", "VecFrameStack",
    "VecTransposeImage", "VecCheckNan", "VecExtractDictObs", "VecMonitor", "Monitor", "load_results", "check_env",
    "ActionMasker", "ExtremeNodeEnv", "MinVertexCoverEnv", "ObservationNormalizer", "RewardNormalizer",
    "NoVelocityWrapper", "ResidualActionWrapper", "RunningMeanStd", "TimeFeatureWrapper",
]
