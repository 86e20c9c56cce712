"""Schedules for hyperparameters that change over training (learning rate, clip range).

A schedule maps the *remaining progress* ``p`` (1.0 at the start of training, 0.0 at the end,
as in Stable-Baselines3) to a value. Built-in schedules are plain data, so a checkpoint stores
them as JSON; an arbitrary callable is accepted too, and is saved as its value at save time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ballast.errors import ConfigurationError


@dataclass(frozen=True)
class ConstantSchedule:
    """``value`` at every point of training."""

    value: float

    def __call__(self, progress_remaining: float) -> float:
        return self.value

    def to_json(self) -> dict[str, Any]:
        return {"type": "constant", "value": self.value}


@dataclass(frozen=True)
class LinearSchedule:
    """Linear from ``start`` (progress_remaining = 1) to ``end``, reached once ``end_fraction`` of
    training has passed and kept after (SB3's ``LinearSchedule(start, end, end_fraction)``)."""

    start: float
    end: float = 0.0
    end_fraction: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.end_fraction <= 1.0:
            raise ConfigurationError(f"end_fraction must be in (0, 1], got {self.end_fraction}")

    def __call__(self, progress_remaining: float) -> float:
        if self.end_fraction == 1.0:
            return self.end + progress_remaining * (self.start - self.end)
        elapsed = 1.0 - progress_remaining
        if elapsed > self.end_fraction:
            return self.end
        return self.start + elapsed * (self.end - self.start) / self.end_fraction

    def to_json(self) -> dict[str, Any]:
        data = {"type": "linear", "start": self.start, "end": self.end}
        if self.end_fraction != 1.0:
            data["end_fraction"] = self.end_fraction
        return data


@dataclass(frozen=True)
class CallableSchedule:
    """A user callable of the remaining progress; not serialisable as data."""

    fn: Callable[[float], float]

    def __call__(self, progress_remaining: float) -> float:
        return float(self.fn(progress_remaining))

    def to_json(self) -> dict[str, Any]:
        raise ConfigurationError(
            f"the schedule {self.fn!r} is an arbitrary callable and cannot be stored as data; "
            "use ballast.schedules.linear(start, end) or a constant to make it saveable"
        )


class FloatSchedule:
    """SB3's ``FloatSchedule``: a number or a schedule, called for a ``float``. A model given one
    keeps the schedule inside (saved as data when it is one of Ballast's)."""

    def __init__(self, value_schedule: Any) -> None:
        if isinstance(value_schedule, FloatSchedule):
            value_schedule = value_schedule.value_schedule
        elif isinstance(value_schedule, (int, float)) and not isinstance(value_schedule, bool):
            value_schedule = ConstantSchedule(float(value_schedule))
        elif not callable(value_schedule):
            raise TypeError(f"FloatSchedule takes a number or a callable, got {type(value_schedule).__name__}")
        self.value_schedule = value_schedule

    def __call__(self, progress_remaining: float) -> float:
        return float(self.value_schedule(progress_remaining))


Schedule = ConstantSchedule | LinearSchedule | CallableSchedule
ScheduleLike = float | int | str | Schedule | Callable[[float], float] | dict


def linear(start: float, end: float = 0.0) -> LinearSchedule:
    """A schedule that goes linearly from ``start`` to ``end`` over training."""
    return LinearSchedule(float(start), float(end))


def as_schedule(value: ScheduleLike, name: str = "value") -> Schedule:
    """Turn a number, a zoo string (``"lin_0.001"``), JSON data or a callable into a schedule."""
    if isinstance(value, (ConstantSchedule, LinearSchedule, CallableSchedule)):
        return value
    if isinstance(value, FloatSchedule):
        return as_schedule(value.value_schedule, name)
    if isinstance(value, bool):
        raise ConfigurationError(f"{name} must be a number or a schedule, got the boolean {value}")
    if isinstance(value, (int, float)):
        return ConstantSchedule(float(value))
    if isinstance(value, str):
        try:
            if value.startswith("lin_"):
                return LinearSchedule(float(value[4:]), 0.0)
            return ConstantSchedule(float(value))
        except ValueError:
            raise ConfigurationError(
                f"{name}={value!r} is not a number or a 'lin_<start>' linear schedule"
            ) from None
    if isinstance(value, dict):
        kind = value.get("type")
        if kind == "constant":
            return ConstantSchedule(float(value["value"]))
        if kind == "linear":
            return LinearSchedule(float(value["start"]), float(value.get("end", 0.0)),
                                  float(value.get("end_fraction", 1.0)))
        raise ConfigurationError(f"{name}: unknown schedule data {value!r}")
    if callable(value):
        return CallableSchedule(value)
    raise ConfigurationError(f"{name} must be a number, a schedule or a callable, got {type(value).__name__}")


def schedule_to_json(schedule: Schedule, progress_remaining: float) -> dict[str, Any]:
    """JSON data for ``schedule``; an arbitrary callable is frozen at its current value."""
    if isinstance(schedule, CallableSchedule):
        return ConstantSchedule(schedule(progress_remaining)).to_json()
    return schedule.to_json()
