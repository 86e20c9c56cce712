"""SB3's ``stable_baselines3.common.type_aliases``: the aliases scripts use in their type hints.

``Schedule`` is Ballast's schedule type (:mod:`ballast.schedules`: callables of the remaining progress
that are also data, saved as JSON). SB3's buffer-sample tuples (``ReplayBufferSamples``, ...) are not
here: Ballast's buffers give their own batches (``ballast.extensions.Transitions``,
``ballast.buffers.RolloutBatch``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, SupportsFloat

import gymnasium as gym
import numpy as np
import torch

from ballast.algos.hyperparameters import TrainFreq, TrainFrequencyUnit
from ballast.callbacks import BaseCallback
from ballast.envs.sb3_vec_env import VecEnv
from ballast.schedules import Schedule

GymEnv = gym.Env | VecEnv
GymObs = tuple | dict[str, Any] | np.ndarray | int
GymResetReturn = tuple[GymObs, dict]
AtariResetReturn = tuple[np.ndarray, dict[str, Any]]
GymStepReturn = tuple[GymObs, float, bool, bool, dict]
AtariStepReturn = tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]
TensorDict = dict[str, torch.Tensor]
OptimizerStateDict = dict[str, Any]
MaybeCallback = None | Callable | list[BaseCallback] | BaseCallback
PyTorchObs = torch.Tensor | TensorDict


class PolicyPredictor(Protocol):
    """Anything with SB3's ``predict``: Ballast's models and policies, and SB3's."""

    def predict(self, observation: np.ndarray | dict[str, np.ndarray], state: tuple[np.ndarray, ...] | None = None,
                episode_start: np.ndarray | None = None, deterministic: bool = False
                ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]: ...


__all__ = ["AtariResetReturn", "AtariStepReturn", "GymEnv", "GymObs", "GymResetReturn", "GymStepReturn",
           "MaybeCallback", "OptimizerStateDict", "PolicyPredictor", "PyTorchObs", "Schedule", "TensorDict",
           "TrainFreq", "TrainFrequencyUnit"]
