"""SB3's hyperparameter attributes on a model: ``model.gamma``, ``model.learning_rate``, ``model.clip_range``...

Each field of an algorithm's configuration dataclass is a property of the algorithm class (added
when the class is defined, :func:`add_config_properties`), reading the configuration as SB3's
attribute reads: numbers as numbers, ``learning_rate`` as given (a number, or the schedule),
``clip_range`` and ``clip_range_vf`` as schedules (callables of the remaining progress, as SB3
holds them after building), ``train_freq`` as SB3's ``TrainFreq(frequency, unit)``.

Setting one changes what the next update reads, with the constructor's checks, where the model
reads it at each use (``gamma``, ``ent_coef`` of PPO and A2C, ``clip_range``, ``batch_size``,
``tau``, ``learning_rate`` and the others); one that sized or built something at construction
(``n_steps``, ``buffer_size``, ``use_sde``, ...) raises :class:`ballast.errors.ConfigurationError`
saying how to get a model with another value, instead of being silently ignored.
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any, NamedTuple

from ballast.errors import ConfigurationError
from ballast.schedules import ConstantSchedule, Schedule, as_schedule


class TrainFrequencyUnit(str, Enum):
    """SB3's unit of ``train_freq`` (equal to the strings ``"step"`` and ``"episode"``)."""

    STEP = "step"
    EPISODE = "episode"


class TrainFreq(NamedTuple):
    """SB3's ``train_freq``: every ``frequency`` steps or episodes."""

    frequency: int
    unit: TrainFrequencyUnit


#: Why a hyperparameter cannot change once built (an algorithm lists its own in ``fixed_hyperparameters``).
ROLLOUT_SIZE = "the rollout buffer holds n_steps steps of each env copy"
REPLAY_SIZE = "the replay buffer was allocated with this capacity"
GSDE = "the policy's action distribution was built for it"
#: The replay buffer's kind and options, fixed once it is built (``prioritized_replay``, ``replay_buffer_kwargs``).
REPLAY_KIND = {name: "the replay buffer was built with it" for name in ("prioritized_replay", "replay_buffer_kwargs")}
SCHEDULES = ("clip_range", "clip_range_vf")


def _get(name: str) -> Any:
    def getter(model: Any) -> Any:
        value = getattr(model.config, name)
        if name == "learning_rate" and isinstance(value, ConstantSchedule):
            return value.value
        if name == "train_freq":
            return TrainFreq(value[0], TrainFrequencyUnit(value[1]))
        return value

    return getter


def _set(name: str) -> Any:
    def setter(model: Any, value: Any) -> None:
        set_hyperparameter(model, name, value)

    return setter


def add_config_properties(cls: type) -> None:
    """Give ``cls`` a property for each field of its ``config_class`` that it has no attribute for."""
    if not dataclasses.is_dataclass(cls.config_class):
        return
    for field in dataclasses.fields(cls.config_class):
        if field.name in cls.config_attributes or any(field.name in c.__dict__ for c in cls.__mro__):
            continue
        setattr(cls, field.name, property(_get(field.name), _set(field.name),
                                          doc=f"The ``{field.name}`` hyperparameter (SB3's attribute)."))


def set_hyperparameter(model: Any, name: str, value: Any) -> None:
    """Change one hyperparameter of a built model (see the module docstring)."""
    cfg = model.config
    if name in model.fixed_hyperparameters:
        reason = model.fixed_hyperparameters[name]
        raise ConfigurationError(
            f"{name} cannot change after {type(model).__name__} is built ({reason}); build a new model with "
            f"{name}={value!r} (load(path, {name}=...) keeps the weights of a saved one)")
    old = getattr(cfg, name)
    if name == "learning_rate" or name in SCHEDULES:
        new = None if value is None else as_schedule(value, name)
    elif name == "train_freq":
        from ballast.algos.off_policy import parse_train_freq

        new = parse_train_freq(value)
    elif isinstance(old, bool):
        new = bool(value)
    elif isinstance(old, int) and not isinstance(value, bool) and float(value).is_integer():
        new = int(value)
    elif isinstance(old, float) or old is None:
        new = value if value is None else float(value)
    else:
        new = value
    model.config = dataclasses.replace(cfg, **{name: new})  # the config's own checks run again
    if name == "learning_rate":
        model.optimizers.replace_schedule(old, new)
    if name == "gamma" and model.reward_normalizer is not None:
        model.reward_normalizer.gamma = float(new)


def learning_rate_schedule(model: Any) -> Schedule:
    """SB3's ``lr_schedule``: the learning rate as a function of the remaining progress."""
    return model.config.learning_rate
