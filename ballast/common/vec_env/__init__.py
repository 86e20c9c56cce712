"""SB3's ``stable_baselines3.common.vec_env``: vector envs with SB3's API over Gymnasium's (see ``ballast.envs``)."""

from ballast.envs.check_nan import VecCheckNan
from ballast.envs.frame_stack import VecFrameStack
from ballast.envs.monitor import VecMonitor
from ballast.envs.observation_transforms import VecExtractDictObs, VecTransposeImage
from ballast.envs.sb3_vec_env import (
    DummyVecEnv,
    SubprocVecEnv,
    VecEnv,
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
    VecEnvWrapper,
    is_vecenv_wrapped,
    unwrap_vec_wrapper,
)
from ballast.envs.vec_normalize import VecNormalize, sync_envs_normalization, unwrap_vec_normalize
from ballast.recording import VecVideoRecorder

__all__ = [
    "DummyVecEnv", "SubprocVecEnv", "VecCheckNan", "VecEnv", "VecEnvIndices", "VecEnvObs", "VecEnvStepReturn",
    "VecEnvWrapper", "VecExtractDictObs", "VecFrameStack", "VecMonitor", "VecNormalize", "VecTransposeImage",
    "VecVideoRecorder",
    "is_vecenv_wrapped", "sync_envs_normalization", "unwrap_vec_normalize", "unwrap_vec_wrapper",
]
