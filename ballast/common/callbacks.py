"""``stable_baselines3.common.callbacks``: SB3's callbacks, implemented in :mod:`ballast.callbacks`."""

from ballast.callbacks import (
    BaseCallback,
    CallbackList,
    CheckpointCallback,
    ConvertCallback,
    EvalCallback,
    EventCallback,
    EveryNTimesteps,
    LogEveryNTimesteps,
    ProgressBarCallback,
    StopTrainingOnMaxEpisodes,
    StopTrainingOnNoModelImprovement,
    StopTrainingOnRewardThreshold,
)

__all__ = [
    "BaseCallback", "CallbackList", "CheckpointCallback", "ConvertCallback", "EvalCallback", "EventCallback",
    "EveryNTimesteps", "LogEveryNTimesteps", "ProgressBarCallback", "StopTrainingOnMaxEpisodes",
    "StopTrainingOnNoModelImprovement", "StopTrainingOnRewardThreshold",
]
