"""SB3's ``stable_baselines3.common.utils`` path, for the names Ballast has (see docs/migrating-from-sb3.md).

The helpers SB3 scripts and callbacks call, with SB3's signatures and results. Schedules built here
are Ballast's schedule data (:mod:`ballast.schedules`), so a model given one saves it as JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import torch

from ballast.device import resolve_device as get_device
from ballast.logger import latest_run_id as get_latest_run_id
from ballast.returns import explained_variance
from ballast.schedules import ConstantSchedule, FloatSchedule, LinearSchedule, Schedule, as_schedule
from ballast.seeding import set_random_seed
from ballast.torch_compat import foreach_lerp_

__all__ = ["ConstantSchedule", "FloatSchedule", "LinearSchedule", "constant_fn", "explained_variance", "get_device",
           "get_latest_run_id", "get_linear_fn", "get_schedule_fn", "obs_as_tensor", "polyak_update",
           "safe_mean", "set_random_seed", "update_learning_rate", "zip_strict"]


def safe_mean(values: Any) -> float:
    """The mean of ``values``, NaN (not a warning) when there are none."""
    values = np.asarray(values)
    return float("nan") if values.size == 0 else float(np.mean(values))


def get_schedule_fn(value_schedule: Schedule | float | Callable[[float], float]) -> Schedule:
    """A schedule of the remaining progress from a number (constant) or a callable."""
    return as_schedule(value_schedule, "value_schedule")


def get_linear_fn(start: float, end: float, end_fraction: float) -> LinearSchedule:
    """Linear from ``start`` to ``end`` over the first ``end_fraction`` of training, ``end`` after."""
    return LinearSchedule(float(start), float(end), float(end_fraction))


def constant_fn(val: float) -> ConstantSchedule:
    """``val`` at every point of training."""
    return ConstantSchedule(float(val))


def update_learning_rate(optimizer: torch.optim.Optimizer, learning_rate: float) -> None:
    """Set the learning rate of every parameter group of ``optimizer``."""
    for group in optimizer.param_groups:
        group["lr"] = learning_rate


def polyak_update(params: Iterable[torch.Tensor], target_params: Iterable[torch.Tensor], tau: float) -> None:
    """Soft target update ``target <- (1 - tau) * target + tau * param``, in place and without gradients.

    Raises ``ValueError`` when the two iterables differ in length (as ``zip_strict``).
    """
    params, target_params = list(params), list(target_params)
    if len(params) != len(target_params):
        raise ValueError(f"polyak_update: {len(params)} parameters but {len(target_params)} target parameters")
    with torch.no_grad():
        foreach_lerp_([t.data for t in target_params], [p.data for p in params], float(tau))


def zip_strict(*iterables: Iterable) -> Iterator[tuple]:
    """``zip`` that raises ``ValueError`` when the iterables differ in length."""
    return zip(*iterables, strict=True)


def obs_as_tensor(obs: np.ndarray | dict[str, np.ndarray], device: torch.device | str) -> torch.Tensor | dict:
    """Observations (an array, or a dict of arrays) as tensors on ``device``."""
    if isinstance(obs, np.ndarray):
        return torch.as_tensor(obs, device=device)
    if isinstance(obs, dict):
        return {key: torch.as_tensor(value, device=device) for key, value in obs.items()}
    raise TypeError(f"Unrecognized type of observation {type(obs)}")
