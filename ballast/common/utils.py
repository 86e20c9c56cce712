"""SB3's ``stable_baselines3.common.utils`` path, for the names Ballast has (see docs/migrating-from-sb3.md).

The helpers SB3 scripts and callbacks call, with SB3's signatures and results. Schedules built here
are Ballast's schedule data (:mod:`ballast.schedules`), so a model given one saves it as JSON.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from ballast.algos.checkpointing import format_system_info, system_info
from ballast.algos.hyperparameters import TrainFreq, TrainFrequencyUnit
from ballast.device import resolve_device as get_device
from ballast.errors import ObservationError, SpaceMismatchError
from ballast.logger import latest_run_id as get_latest_run_id
from ballast.returns import explained_variance
from ballast.schedules import ConstantSchedule, FloatSchedule, LinearSchedule, Schedule, as_schedule
from ballast.seeding import set_random_seed
from ballast.spaces import batch_observation
from ballast.torch_compat import foreach_lerp_

__all__ = ["ConstantSchedule", "FloatSchedule", "LinearSchedule", "check_for_correct_spaces", "check_shape_equal",
           "constant_fn", "explained_variance", "get_device", "get_latest_run_id", "get_linear_fn",
           "get_parameters_by_name", "get_schedule_fn", "get_system_info", "is_vectorized_box_observation",
           "is_vectorized_dict_observation", "is_vectorized_discrete_observation",
           "is_vectorized_multibinary_observation", "is_vectorized_multidiscrete_observation",
           "is_vectorized_observation", "obs_as_tensor", "polyak_update", "safe_mean", "set_random_seed",
           "should_collect_more_steps", "update_learning_rate", "zip_strict"]


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


def get_parameters_by_name(model: torch.nn.Module, included_names: Iterable[str]) -> list[torch.Tensor]:
    """The entries of ``model.state_dict()`` (parameters and buffers, e.g. batch-norm running statistics)
    whose name contains one of ``included_names``, in state-dict order."""
    names = list(included_names)
    return [value for name, value in model.state_dict().items() if any(key in name for key in names)]


def should_collect_more_steps(train_freq: TrainFreq, num_collected_steps: int, num_collected_episodes: int) -> bool:
    """Whether an off-policy collection with ``train_freq`` goes on after that many steps and episodes."""
    if train_freq.unit == TrainFrequencyUnit.STEP:
        return num_collected_steps < train_freq.frequency
    if train_freq.unit == TrainFrequencyUnit.EPISODE:
        return num_collected_episodes < train_freq.frequency
    raise ValueError(f"train_freq's unit must be TrainFrequencyUnit.STEP or EPISODE, got {train_freq.unit!r}")


def get_system_info(print_info: bool = True) -> tuple[dict[str, str], str]:
    """The versions a bug report needs, as a dict and as Markdown lines (printed with ``print_info``):
    what a checkpoint records, SB3's keys with ``"Ballast"`` where SB3 has ``"Stable-Baselines3"`` (OS,
    Python, Ballast, PyTorch, GPU Enabled, Numpy, Gymnasium)."""
    info = system_info()
    # "#42" in a kernel version would link to an issue once pasted into one: "# 42" does not.
    info["OS"] = re.sub(r"#(\d)", r"# \1", info["OS"])
    text = format_system_info(info) + "\n"
    if print_info:
        print(text)
    return info, text


def check_for_correct_spaces(env: Any, observation_space: spaces.Space, action_space: spaces.Space) -> None:
    """Raise :class:`ballast.errors.SpaceMismatchError` (a ``ValueError``, as SB3's) when ``env``'s spaces
    are not ``observation_space`` and ``action_space``."""
    for kind, expected, got in (("observation", observation_space, env.observation_space),
                                ("action", action_space, env.action_space)):
        if expected != got:
            raise SpaceMismatchError(f"{kind} spaces do not match: expected {expected}, the env has {got}")


def check_shape_equal(space1: spaces.Space, space2: spaces.Space) -> None:
    """Raise ``AssertionError`` (as SB3's) when two Box spaces, or the Box subspaces of two Dict spaces
    with the same keys, differ in shape; other spaces are not compared."""
    if isinstance(space1, spaces.Dict):
        assert isinstance(space2, spaces.Dict), f"spaces must be of the same type: {type(space1)} != {type(space2)}"
        assert space1.spaces.keys() == space2.spaces.keys(), (
            f"spaces must have the same keys: {list(space1.spaces)} != {list(space2.spaces)}")
        for key in space1.spaces:
            check_shape_equal(space1.spaces[key], space2.spaces[key])
    elif isinstance(space1, spaces.Box):
        assert space1.shape == space2.shape, f"spaces must have the same shape: {space1.shape} != {space2.shape}"


def is_vectorized_box_observation(observation: np.ndarray, observation_space: spaces.Box) -> bool:
    """Whether a Box observation is a batch (see :func:`is_vectorized_observation`)."""
    return is_vectorized_observation(observation, observation_space)


def is_vectorized_discrete_observation(observation: int | np.ndarray, observation_space: spaces.Discrete) -> bool:
    """Whether a Discrete observation is a batch: ``()`` one, ``(n_env,)`` a batch."""
    return is_vectorized_observation(observation, observation_space)


def is_vectorized_multidiscrete_observation(observation: np.ndarray, observation_space: spaces.MultiDiscrete
                                            ) -> bool:
    """Whether a MultiDiscrete observation is a batch: ``(len(nvec),)`` one, ``(n_env, len(nvec))`` a batch."""
    return is_vectorized_observation(observation, observation_space)


def is_vectorized_multibinary_observation(observation: np.ndarray, observation_space: spaces.MultiBinary) -> bool:
    """Whether a MultiBinary observation is a batch (see :func:`is_vectorized_observation`)."""
    return is_vectorized_observation(observation, observation_space)


def is_vectorized_dict_observation(observation: dict[str, Any], observation_space: spaces.Dict) -> bool:
    """Whether a Dict observation is a batch: every entry one observation of its subspace, or every entry
    a batch; a mix is a ``ValueError``."""
    return is_vectorized_observation(observation, observation_space)


def is_vectorized_observation(observation: Any, observation_space: spaces.Space) -> bool:
    """Whether ``observation`` is a batch of observations of ``observation_space`` or one (SB3's), as
    ``predict`` decides it (:func:`ballast.spaces.batch_observation`); a shape that fits neither raises
    :class:`ballast.errors.ObservationError` (a ``ValueError``, as SB3's) saying what was expected. A Dict
    observation is a batch when each of its entries is one; as in SB3 the entries' batch sizes are not compared
    (``predict`` then refuses sizes that differ)."""
    if not isinstance(observation_space, spaces.Dict) or not isinstance(observation, dict):
        return batch_observation(observation_space, observation)[1]
    if any(key not in observation for key in observation_space.spaces):
        batch_observation(observation_space, observation)  # raises, naming the missing keys
    flags = {is_vectorized_observation(observation[key], space) for key, space in observation_space.spaces.items()}
    if len(flags) > 1:
        raise ObservationError("some keys of the dict observation are batched and others are not")
    return flags.pop()
