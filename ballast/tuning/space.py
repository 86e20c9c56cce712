"""Search spaces: which hyperparameters ``ballast tune`` samples, and from which ranges.

A search space maps hyperparameter names to how each is chosen (the format is documented at the top
of ``search_spaces.yml`` and in docs/tuning.md)::

    learning_rate: {float: [1.0e-5, 0.002], log: true}
    gamma: {float: [0.97, 0.9999], one_minus: true}
    n_epochs: {choices: [1, 5, 10, 20]}
    policy_kwargs.net_arch: {choices: {tiny: {pi: [64], vf: [64]}, small: {pi: [64, 64], vf: [64, 64]}}}
    gradient_steps: {same_as: train_freq}

The spaces Ballast ships follow rl-baselines3-zoo's samplers; a user's file replaces entries one by
one. A space is plain data, checked once when built, so a typo in a name or a range fails before a
single trial runs; :meth:`SearchSpace.sample` turns an Optuna trial into a zoo entry (the mapping
that sits under an env id in a hyperparameter file), which :func:`ballast.zoo.parse_hyperparams`
reads like any other.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from ballast.errors import ConfigurationError
from ballast.zoo import get_algorithm, supported_keys

#: The spaces Ballast ships, one per algorithm name.
SHIPPED_SPACES = Path(__file__).resolve().parent / "search_spaces.yml"

#: Zoo keys that describe the run, not the method: never searched.
_NOT_SEARCHABLE = frozenset({"n_timesteps", "env_wrapper", "frame_stack", "env_kwargs"})
_KINDS = ("float", "int", "choices", "same_as")
_OPTIONS = {"float": {"log", "one_minus"}, "int": {"log"}, "choices": set(), "same_as": set()}
_SCALARS = (bool, int, float, str)


class Suggester(Protocol):
    """The part of ``optuna.Trial`` a space samples with (so tests and other samplers can stand in)."""

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int: ...

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


@dataclass(frozen=True)
class Dimension:
    """How one hyperparameter is chosen: ``kind`` is ``float``, ``int``, ``choices``, ``same_as`` or
    ``fixed`` (a value given as is)."""

    name: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    one_minus: bool = False
    choices: tuple[Any, ...] = ()
    #: For named choices: label -> value (Optuna samples the label, the run gets the value).
    named: Mapping[str, Any] | None = None
    value: Any = None

    @property
    def optuna_name(self) -> str:
        """The parameter's name in the Optuna study (``one_minus_gamma`` for a ``one_minus`` gamma)."""
        return f"one_minus_{self.name}" if self.one_minus else self.name

    def sample(self, trial: Suggester, sampled: Mapping[str, Any]) -> Any:
        """The value for this trial; ``sampled`` holds the values of the dimensions sampled before."""
        if self.kind == "fixed":
            return copy.deepcopy(self.value)
        if self.kind == "same_as":
            return sampled[self.value]
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        if self.kind == "float":
            if self.one_minus:
                return 1.0 - trial.suggest_float(self.optuna_name, 1.0 - self.high, 1.0 - self.low, log=True)
            return trial.suggest_float(self.name, self.low, self.high, log=self.log)
        label = trial.suggest_categorical(self.name, list(self.choices))
        return copy.deepcopy(self.named[label]) if self.named is not None else label

    def value_of(self, params: Mapping[str, Any], sampled: Mapping[str, Any]) -> Any:
        """The value a finished trial used, from its Optuna ``params`` (the inverse of :meth:`sample`)."""
        if self.kind in ("fixed", "same_as"):
            return self.sample(_NoTrial(), sampled)
        raw = params[self.optuna_name]
        if self.one_minus:
            return 1.0 - raw
        return copy.deepcopy(self.named[raw]) if self.named is not None else raw


class _NoTrial:
    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        raise AssertionError(name)

    suggest_int = suggest_float

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        raise AssertionError(name)


class SearchSpace:
    """The dimensions searched for one algorithm, in a fixed order (``same_as`` after its target)."""

    def __init__(self, algorithm: str, dimensions: list[Dimension]) -> None:
        self.algorithm = algorithm
        self.dimensions = _ordered(dimensions)

    def __repr__(self) -> str:
        return f"SearchSpace({self.algorithm!r}, {[d.name for d in self.dimensions]})"

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    def sample(self, trial: Suggester) -> dict[str, Any]:
        """Sample every dimension with ``trial`` and return the zoo entry they make."""
        sampled: dict[str, Any] = {}
        for dim in self.dimensions:
            sampled[dim.name] = dim.sample(trial, sampled)
        return to_entry(sampled)

    def entry_from_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The zoo entry of a finished trial, from the Optuna parameters it recorded."""
        sampled: dict[str, Any] = {}
        for dim in self.dimensions:
            sampled[dim.name] = dim.value_of(params, sampled)
        return to_entry(sampled)


def to_entry(sampled: Mapping[str, Any]) -> dict[str, Any]:
    """Sampled values as a zoo entry: ``policy_kwargs.x`` keys gathered into ``policy_kwargs``,
    values that are ``None`` left out (a named choice ``none: null`` means "not set"), and a
    ``noise_std`` without a ``noise_type`` dropped (no noise)."""
    entry: dict[str, Any] = {}
    for name, value in sampled.items():
        if value is None:
            continue
        head, _, key = name.partition(".")
        if key:
            entry.setdefault(head, {})[key] = value
        else:
            entry[name] = value
    if "noise_std" in entry and "noise_type" not in entry:
        del entry["noise_std"]
    return entry


def _ordered(dimensions: list[Dimension]) -> list[Dimension]:
    by_name = {d.name: d for d in dimensions}
    ordered = [d for d in dimensions if d.kind != "same_as"]
    for dim in dimensions:
        if dim.kind == "same_as":
            if dim.value not in by_name or by_name[dim.value].kind == "same_as":
                raise ConfigurationError(f"search space: {dim.name} is the same as {dim.value!r}, which is not "
                                         "a sampled parameter of the space")
            ordered.append(dim)
    return ordered


def shipped_space_data(algorithm: str) -> dict[str, Any]:
    """The raw entries Ballast ships for ``algorithm`` (empty when it ships none)."""
    data = yaml.safe_load(SHIPPED_SPACES.read_text(encoding="utf-8"))
    return dict(data.get(algorithm) or {})


def load_search_space(algorithm: str, overrides: str | Path | Mapping[str, Any] | None = None) -> SearchSpace:
    """The space for ``algorithm``: Ballast's, with the entries of ``overrides`` (a YAML file or a
    mapping) replacing it one by one. In ``overrides``, a mapping with ``float``/``int``/``choices``/
    ``same_as`` is a dimension, ``null`` removes a parameter from the search, anything else fixes it.
    A file may also hold one section per algorithm (``ppo: {...}``): then the algorithm's is used."""
    cls = get_algorithm(algorithm)
    name = cls.algorithm_name
    raw = shipped_space_data(name)
    if overrides is not None:
        where = str(overrides) if isinstance(overrides, (str, Path)) else "search space overrides"
        data = _read_overrides(overrides) if isinstance(overrides, (str, Path)) else dict(overrides)
        if name in data and isinstance(data[name], Mapping) and not _is_dimension(data[name]):
            data = dict(data[name])
        for key, spec in data.items():
            if spec is None:
                raw.pop(str(key), None)
            else:
                raw[str(key)] = spec
    else:
        where = f"{SHIPPED_SPACES} [{name}]"
    if not raw:
        raise ConfigurationError(f"{where}: the search space of {name.upper()} is empty; nothing to tune")
    allowed = set(supported_keys(cls)) - _NOT_SEARCHABLE
    return SearchSpace(name, [parse_dimension(str(k), v, allowed, where) for k, v in raw.items()])


def _read_overrides(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigurationError(f"the search-space file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigurationError(f"{path} is not a readable YAML file: {err}") from None
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{path} must map hyperparameter names to search ranges")
    return dict(data)


def _is_dimension(spec: Any) -> bool:
    return isinstance(spec, Mapping) and any(kind in spec for kind in _KINDS)


def parse_dimension(name: str, spec: Any, allowed: set[str], where: str) -> Dimension:
    """One entry of a search space, checked: a known hyperparameter and a well-formed range."""
    head, dot, key = name.partition(".")
    if head not in allowed or (dot and (head != "policy_kwargs" or not key)):
        raise ConfigurationError(f"{where}: {name!r} is not a hyperparameter that can be searched; known: "
                                 f"{', '.join(sorted(allowed))} and policy_kwargs.<key>")
    if not _is_dimension(spec):
        return Dimension(name, "fixed", value=spec)
    kinds = [k for k in _KINDS if k in spec]
    unknown = set(spec) - set(kinds) - _OPTIONS[kinds[0]]
    if len(kinds) > 1 or unknown:
        raise ConfigurationError(f"{where}: {name}: give one of {', '.join(_KINDS)} with the options "
                                 f"{sorted(_OPTIONS[kinds[0]])}; got the keys {sorted(spec)}")
    kind = kinds[0]
    value = spec[kind]
    if kind == "same_as":
        return Dimension(name, "same_as", value=str(value))
    if kind == "choices":
        return _choices(name, value, where)
    return _range(name, kind, value, bool(spec.get("log", False)), bool(spec.get("one_minus", False)), where)


def _range(name: str, kind: str, value: Any, log: bool, one_minus: bool, where: str) -> Dimension:
    ok = isinstance(value, list) and len(value) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    if not ok or value[0] > value[1]:
        raise ConfigurationError(f"{where}: {name}: {kind} must be [low, high] with low <= high, got {value!r}")
    low, high = value
    if kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
        raise ConfigurationError(f"{where}: {name}: int bounds must be whole numbers, got {value!r}")
    if (log and low <= 0) or (one_minus and not (low < high < 1)):
        need = "0 < low" if log and low <= 0 else "low < high < 1"
        raise ConfigurationError(f"{where}: {name}: {'log' if log else 'one_minus'} needs {need}, got {value!r}")
    return Dimension(name, kind, low=low, high=high, log=log, one_minus=one_minus)


def _choices(name: str, value: Any, where: str) -> Dimension:
    if isinstance(value, Mapping) and value:
        return Dimension(name, "choices", choices=tuple(str(k) for k in value),
                         named={str(k): v for k, v in value.items()})
    if isinstance(value, list) and value and all(isinstance(v, _SCALARS) for v in value):
        return Dimension(name, "choices", choices=tuple(value))
    raise ConfigurationError(f"{where}: {name}: choices must be a non-empty list of numbers, strings or booleans, "
                             f"or a mapping of labels to values (for lists and mappings); got {value!r}")
