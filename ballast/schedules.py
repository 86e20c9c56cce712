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
    """Linear from ``start`` (progress_remaining = 1) to ``end`` (progress_remaining = 0)."""

    start: float
    end: float = 0.0

    def __call__(self, progress_remaining: float) -> float:
        return self.end + progress_remaining * (self.start - self.end)

    def to_json(self) -> dict[str, Any]:
        return {"type": "linear", "start": self.start, "end": self.end}


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


Schedule = ConstantSchedule | LinearSchedule | CallableSchedule
ScheduleLike = float | int | str | Schedule | Callable[[float], float] | dict


def linear(start: float, end: float = 0.0) -> LinearSchedule:
    """A schedule that goes linearly from ``start`` to ``end`` over training."""
    return LinearSchedule(float(start), float(end))


def as_schedule(value: ScheduleLike, name: str = "value") -> Schedule:
    """Turn a number, a zoo string (``"lin_0.001"``), JSON data or a callable into a schedule."""
    if isinstance(value, (ConstantSchedule, LinearSchedule, CallableSchedule)):
        return value
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
            return LinearSchedule(float(value["start"]), float(value.get("end", 0.0)))
        raise ConfigurationError(f"{name}: unknown schedule data {value!r}")
    if callable(value):
        return CallableSchedule(value)
    raise ConfigurationError(f"{name} must be a number, a schedule or a callable, got {type(value).__name__}")


def schedule_to_json(schedule: Schedule, progress_remaining: float) -> dict[str, Any]:
    """JSON data for ``schedule``; an arbitrary callable is frozen at its current value."""
    if isinstance(schedule, CallableSchedule):
        return ConstantSchedule(schedule(progress_remaining)).to_json()
    return schedule.to_json()
