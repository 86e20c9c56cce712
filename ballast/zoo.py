"""Hyperparameters in the rl-baselines3-zoo YAML format.

A zoo file maps env ids to settings, e.g. ``hyperparams/ppo.yml``::

    CartPole-v1:
      n_envs: 8
      n_timesteps: !!float 1e5
      policy: 'MlpPolicy'
      learning_rate: lin_0.001
      policy_kwargs: "dict(net_arch=dict(pi=[64], vf=[64]), activation_fn=nn.ReLU)"

Every key is checked against the algorithm's keyword-only constructor arguments, so a typo or a
zoo feature Ballast does not have (``eval_env_wrapper``, ...) is an error naming the key, not a
silently different run. ``env_wrapper`` names wrappers from an allow-list (:data:`ENV_WRAPPERS`:
the Atari preprocessing and sb3-contrib's time feature), never an arbitrary import path;
``frame_stack`` stacks frames in the model's observation path (``VecFrameStack``, recorded in the
model); ``vec_env_wrapper`` and ``callback`` map SB3's class paths onto Ballast's classes from
allow-lists too (:mod:`ballast.zoo_components`). Env ids of ale-py's Atari games without an entry
of their own use the file's ``atari`` entry, as in the zoo.

Hindsight experience replay: an entry of an algorithm's file names the buffer as SB3 >= 1.1 does
(``replay_buffer_class: HerReplayBuffer`` and ``replay_buffer_kwargs: "dict(n_sampled_goal=4,
goal_selection_strategy='future')"``). The zoo's older ``her.yml`` names the algorithm of each entry
in ``model_class`` and the HER options at the top level (``n_sampled_goal``,
``goal_selection_strategy``, ``online_sampling``, ``max_episode_length``): read it with the
algorithm name ``"her"`` (``ballast train her ENV_ID``), and :func:`translate_her_entry` turns an
entry into the algorithm's own settings.

``policy_kwargs``, ``replay_buffer_kwargs`` and ``normalize`` are Python expressions in the zoo; they
are parsed with :mod:`ast` into plain data and never evaluated, so a hyperparameter file cannot run
code.

    settings = load_hyperparams("hyperparams/ppo.yml", "CartPole-v1")
    model = settings.create_model(seed=0)
    model.learn(settings.n_timesteps)
"""

from __future__ import annotations

import ast
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import yaml

from ballast.algos.base import ALGORITHMS, Algorithm
from ballast.callbacks import BaseCallback
from ballast.envs.atari_wrappers import AtariWrapper
from ballast.envs.frame_stack import VecFrameStack
from ballast.envs.make import EnvLike, ensure_registered
from ballast.envs.sb3_env_util import make_vec_env
from ballast.envs.time_feature import TimeFeatureWrapper
from ballast.errors import ConfigurationError
from ballast.zoo_components import (
    NamedItem,
    apply_vec_env_wrappers,
    build_callbacks,
    named_items,
    parse_callbacks,
    parse_vec_env_wrappers,
)

#: Constructor arguments that describe the run rather than the method: the caller sets them.
RUN_OPTIONS = frozenset({"seed", "device", "verbose", "tensorboard_log", "observation_space", "action_space"})

#: Zoo keys handled here rather than passed to the constructor unchanged.
ZOO_KEYS = frozenset({"n_timesteps", "policy", "normalize", "noise_type", "noise_std", "env_wrapper", "frame_stack",
                      "vec_env_wrapper", "callback"})

#: The env wrappers a zoo entry's ``env_wrapper`` may name (SB3's import paths and Ballast's own).
ENV_WRAPPERS: dict[str, type[gym.Wrapper]] = {
    "stable_baselines3.common.atari_wrappers.AtariWrapper": AtariWrapper,
    "ballast.common.atari_wrappers.AtariWrapper": AtariWrapper,
    "ballast.envs.atari_wrappers.AtariWrapper": AtariWrapper,
    "sb3_contrib.common.wrappers.TimeFeatureWrapper": TimeFeatureWrapper,
    "sb3_contrib.common.wrappers.time_feature.TimeFeatureWrapper": TimeFeatureWrapper,
    "ballast.envs.TimeFeatureWrapper": TimeFeatureWrapper,
    "ballast.envs.time_feature.TimeFeatureWrapper": TimeFeatureWrapper,
}
_NOISE_TYPES = {"normal": "NormalActionNoise", "ornstein-uhlenbeck": "OrnsteinUhlenbeckActionNoise"}

#: Zoo features Ballast does not reproduce, with what to do instead.
_UNSUPPORTED_ZOO_KEYS = {
    "eval_env_wrapper": "wrap the evaluation env in Python",
    "normalize_kwargs": "use normalize: true, false or \"{'norm_obs': ..., 'norm_reward': ...}\"",
}

_NORMALIZE_KEYS = {"norm_obs": "normalize_observations", "norm_reward": "normalize_rewards"}
_MAX_EXPRESSION_CHARS = 10_000
_MAX_DEPTH = 32


#: The pseudo-algorithm of the zoo's ``her.yml``, whose entries name their algorithm in ``model_class``.
HER = "her"
#: ``her.yml``'s keys for the HER buffer, and what Ballast does with each.
_HER_KEYS = ("n_sampled_goal", "goal_selection_strategy")


def translate_her_entry(entry: Mapping[str, Any], where: str) -> tuple[str, dict[str, Any]]:
    """``(algorithm, entry)`` for an entry of the zoo's ``her.yml``: ``model_class`` becomes the
    algorithm, ``n_sampled_goal`` and ``goal_selection_strategy`` the ``replay_buffer_kwargs`` of
    ``replay_buffer_class: HerReplayBuffer``. ``online_sampling: True`` is how Ballast (and SB3 >= 1.8)
    always samples and ``max_episode_length`` only sized SB3's offline episode storage: both are
    dropped; ``online_sampling: False`` is refused."""
    if not isinstance(entry, Mapping):
        raise ConfigurationError(f"{where} must be a mapping of hyperparameters, got {type(entry).__name__}")
    entry = dict(entry)
    model_class = entry.pop("model_class", None)
    if not isinstance(model_class, str) or model_class.lower() not in ALGORITHMS:
        raise ConfigurationError(f"{where}: a her.yml entry names its algorithm in model_class (one of "
                                 f"{', '.join(sorted(ALGORITHMS))}), got {model_class!r}")
    if entry.pop("online_sampling", True) is not True:
        raise ConfigurationError(f"{where}: online_sampling: False (HER's offline episode storage) was removed in "
                                 "SB3 1.8 and Ballast has none; goals are relabelled when a batch is sampled, so "
                                 "remove the key")
    entry.pop("max_episode_length", None)
    if "replay_buffer_class" in entry or "replay_buffer_kwargs" in entry:
        raise ConfigurationError(f"{where}: give the HER options either as her.yml's n_sampled_goal and "
                                 "goal_selection_strategy or as replay_buffer_kwargs, not both")
    entry["replay_buffer_kwargs"] = {key: entry.pop(key) for key in _HER_KEYS if key in entry}
    entry["replay_buffer_class"] = "HerReplayBuffer"
    return model_class.lower(), entry


def get_algorithm(name: str | type[Algorithm]) -> type[Algorithm]:
    """The algorithm class registered under ``name`` (case-insensitive, e.g. ``"ppo"``)."""
    if isinstance(name, type):
        return name
    cls = ALGORITHMS.get(name.lower())
    if cls is None:
        raise ConfigurationError(f"unknown algorithm {name!r}; known: {', '.join(sorted(ALGORITHMS))}")
    return cls


def _constructor_parameters(cls: type[Algorithm]) -> dict[str, inspect.Parameter]:
    params = inspect.signature(cls.__init__).parameters
    keyword_only = inspect.Parameter.KEYWORD_ONLY
    return {n: p for n, p in params.items() if p.kind is keyword_only and n not in RUN_OPTIONS}


def supported_keys(algorithm: str | type[Algorithm]) -> list[str]:
    """The keys a zoo entry may hold for ``algorithm``: its keyword-only arguments plus the zoo's own."""
    return sorted(set(_constructor_parameters(get_algorithm(algorithm))) | ZOO_KEYS)


@dataclass
class ZooSettings:
    """One env's resolved settings: what to build and for how long to train.

    ``kwargs`` are keyword arguments for the algorithm's constructor (hyperparameters,
    ``policy_kwargs`` as plain data, ``normalize_observations`` / ``normalize_rewards``); they
    are JSON-serialisable, so a run can record exactly what it used.
    """

    algorithm: str
    env_id: str
    policy: str = "auto"
    n_envs: int = 1
    n_timesteps: int | None = None
    #: The zoo's ``noise_type``/``noise_std``, turned into ``action_noise`` once the action size is known.
    noise: dict[str, Any] | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    #: The zoo's ``env_wrapper``: ``(name, keyword arguments)`` pairs, innermost first.
    env_wrappers: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: The zoo's ``frame_stack``: frames stacked in the model's observation path (None: no stacking).
    frame_stack: int | None = None
    #: The zoo's ``vec_env_wrapper`` less ``VecFrameStack``/``VecNormalize`` (which become settings), innermost first.
    vec_env_wrappers: list[NamedItem] = field(default_factory=list)
    #: The zoo's ``callback`` items (:func:`ballast.zoo_components.parse_callbacks`).
    callbacks: list[NamedItem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"algorithm": self.algorithm, "env_id": self.env_id, "policy": self.policy,
                "n_envs": self.n_envs, "n_timesteps": self.n_timesteps, "kwargs": self.kwargs, "noise": self.noise,
                "source": self.source, "env_wrappers": [[name, kw] for name, kw in self.env_wrappers],
                "frame_stack": self.frame_stack,
                "vec_env_wrappers": [[name, kw] for name, kw in self.vec_env_wrappers],
                "callbacks": [[name, kw] for name, kw in self.callbacks]}

    def make_env(self, n_envs: int | None = None, seed: int | None = None, *, stack: bool = True) -> EnvLike:
        """The env these settings train on: the env id itself, or, with ``env_wrapper``/``vec_env_wrapper``/
        ``frame_stack``, SB3's ``make_vec_env`` of ``n_envs`` monitored, wrapped copies, in the vector-env
        wrappers (then ``VecFrameStack`` when ``stack``; a trained model re-applies the stacking it
        recorded, so evaluation passes False)."""
        if not self.env_wrappers and not self.vec_env_wrappers and not (stack and self.frame_stack):
            return self.env_id
        venv = make_vec_env(self.env_id, n_envs=self.n_envs if n_envs is None else n_envs, seed=seed,
                            env_kwargs=self.kwargs.get("env_kwargs"),
                            wrapper_class=chained_wrappers(self.env_wrappers) if self.env_wrappers else None)
        venv = apply_vec_env_wrappers(venv, self.vec_env_wrappers)
        return VecFrameStack(venv, self.frame_stack) if stack and self.frame_stack else venv

    def make_callbacks(self, run_dir: str | Path | None = None) -> list[BaseCallback]:
        """The entry's ``callback`` items as callbacks for ``learn``; a ``CheckpointCallback`` without
        ``save_path`` saves into ``run_dir/checkpoints``."""
        return build_callbacks(self.callbacks, run_dir)

    def create_model(self, env: EnvLike | None = None, *, seed: int | None = None, device: str = "auto",
                     verbose: int = 0) -> Algorithm:
        """Build the algorithm on ``env`` (default: the env id) with these settings."""
        cls = get_algorithm(self.algorithm)
        kwargs = dict(self.kwargs)
        if self.noise is not None:
            kwargs["action_noise"] = self._action_noise(env)
        if env is None:
            env = self.make_env(seed=seed)
        try:
            return cls(self.policy, env, n_envs=self.n_envs, seed=seed, device=device, verbose=verbose, **kwargs)
        except ConfigurationError as err:
            if self.source is None:
                raise
            raise ConfigurationError(f"{self.source}: {err}") from None


    def _action_noise(self, env: EnvLike | None) -> dict[str, Any]:
        """The zoo's Gaussian or Ornstein-Uhlenbeck noise with ``noise_std`` on every action dimension."""
        probe = gym.make(self.env_id) if env is None or isinstance(env, str) else None
        space = probe.action_space if probe is not None else getattr(env, "single_action_space", env.action_space)
        if probe is not None:
            probe.close()
        size = int(np.prod(space.shape))
        return {"type": _NOISE_TYPES[self.noise["type"]], "mean": [0.0] * size,
                "sigma": [float(self.noise["std"])] * size}


def default_settings(algorithm: str | type[Algorithm], env_id: str) -> ZooSettings:
    """The algorithm's own defaults, ``policy="auto"`` and its default ``n_envs``; no step budget."""
    cls = get_algorithm(algorithm)
    n_envs = _constructor_parameters(cls).get("n_envs")
    default_n = n_envs.default if n_envs is not None and isinstance(n_envs.default, int) else 1
    return ZooSettings(algorithm=cls.algorithm_name, env_id=env_id, n_envs=default_n)


#: The zoo files Ballast ships (``ppo.yml``, ``sac.yml``, ...), installed with the package.
SHIPPED_HYPERPARAMS = Path(__file__).resolve().parent / "hyperparams"
#: Ballast's own entries (``ballast/ppo.yml``, ...) for the envs where the zoo's settings fail on some
#: seeds at the zoo's budget: each is the zoo's entry with the keys its comment names changed.
BALLAST_HYPERPARAMS = SHIPPED_HYPERPARAMS / "ballast"


def own_entry_file(algorithm: str, env_id: str) -> Path | None:
    """Ballast's own file (:data:`BALLAST_HYPERPARAMS`) with an entry for ``env_id``, or None."""
    path = BALLAST_HYPERPARAMS / f"{algorithm}.yml"
    if not path.is_file():
        return None
    return path if env_id in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) else None


def resolve_hyperparams_path(path: str | Path) -> Path:
    """``path`` when that file exists; else, for ``hyperparams/ppo.yml`` or ``ppo.yml`` (``ballast/ppo.yml``
    for Ballast's own entries), the file Ballast ships under that name, so that the shipped files are
    found from any working directory."""
    path = Path(path)
    if path.is_file():
        return path
    parts = path.parts[1:] if path.parts[:1] == ("hyperparams",) else path.parts
    if len(parts) in (1, 2) and (len(parts) == 1 or parts[0] == BALLAST_HYPERPARAMS.name):
        shipped = SHIPPED_HYPERPARAMS.joinpath(*parts)
        if shipped.is_file():
            return shipped
    names = ", ".join([*sorted(p.name for p in SHIPPED_HYPERPARAMS.glob("*.yml")),
                       *sorted(f"{BALLAST_HYPERPARAMS.name}/{p.name}" for p in BALLAST_HYPERPARAMS.glob("*.yml"))])
    raise ConfigurationError(f"the hyperparameter file {path} does not exist; Ballast ships {names}, found "
                             "by their name (--hyperparams ppo.yml) from any folder")


def load_hyperparams(path: str | Path, env_id: str,
                     algorithm: str | type[Algorithm] | None = None,
                     overrides: Mapping[str, Any] | None = None) -> ZooSettings:
    """Read the settings for ``env_id`` from a zoo YAML file.

    ``algorithm`` defaults to the file's stem (``ppo.yml`` -> ``"ppo"``). When the file has no
    entry for ``env_id`` its ``default`` entry is used; without one, the error lists the env ids
    the file has. Only ``yaml.safe_load`` is used: tags that build Python objects are refused.
    ``overrides`` (e.g. from :func:`parse_overrides`) replace keys of the entry before it is read,
    so they are checked like the file's own.
    """
    path = Path(path)
    if algorithm is None and path.stem.lower() == HER:
        algorithm = HER
    if algorithm is None:
        if path.stem.lower() not in ALGORITHMS:
            raise ConfigurationError(
                f"cannot tell the algorithm from the file name {path.name!r}; "
                f"pass it explicitly (one of {', '.join(sorted(ALGORITHMS))})"
            )
        algorithm = path.stem
    path = resolve_hyperparams_path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigurationError(f"{path} is not valid YAML: {err}") from None
    except UnicodeDecodeError as err:
        raise ConfigurationError(f"{path} is not UTF-8 text: {err}") from None
    if not isinstance(data, Mapping):
        raise ConfigurationError(
            f"{path} must map env ids to settings, but its top level is {type(data).__name__}"
        )
    key = env_id if env_id in data else "atari" if "atari" in data and is_atari(env_id) else \
        "default" if "default" in data else None
    if key is None:
        ids = ", ".join(str(k) for k in data) or "none"
        raise ConfigurationError(
            f"{path} has no settings for {env_id!r} and no 'default' entry; it has: {ids}"
        )
    entry, where = data[key], f"{path} [{key}]"
    if overrides:
        if entry is not None and not isinstance(entry, Mapping):
            raise ConfigurationError(f"{where} must be a mapping of hyperparameters, got {type(entry).__name__}")
        entry, where = {**(entry or {}), **overrides}, f"{where} with overrides {', '.join(overrides)}"
    if isinstance(algorithm, str) and algorithm.lower() == HER:
        algorithm, entry = translate_her_entry(entry, where)
    return parse_hyperparams(entry, env_id, algorithm, source=where)


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["learning_rate=1e-3", "policy_kwargs=dict(net_arch=[64])"]`` as ``{key: value}``: each value read
    as YAML, as the zoo file's own values are (``3e-4``, ``true``, ``[1, "episode"]``, ``null``; text that
    is not YAML, such as ``dict(...)``, stays text). The keys are checked with the entry. Later pairs win."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip() or not text.strip():
            raise ConfigurationError(f"a hyperparameter override is KEY=VALUE (e.g. learning_rate=3e-4), got {pair!r}")
        try:
            overrides[key.strip()] = yaml.safe_load(text)
        except yaml.YAMLError:
            overrides[key.strip()] = text
    return overrides


def parse_hyperparams(entry: Mapping[str, Any] | None, env_id: str, algorithm: str | type[Algorithm],
                      source: str | None = None) -> ZooSettings:
    """Turn one zoo entry (the mapping under an env id) into :class:`ZooSettings`."""
    cls = get_algorithm(algorithm)
    where = source or f"settings for {env_id!r}"
    entry = {} if entry is None else entry
    if not isinstance(entry, Mapping):
        raise ConfigurationError(f"{where} must be a mapping of hyperparameters, got {type(entry).__name__}")
    params = _constructor_parameters(cls)
    allowed = set(params) | ZOO_KEYS
    for key in entry:
        if key not in allowed:
            raise _unknown_key_error(str(key), env_id, where, cls)
    settings = default_settings(cls, env_id)
    settings.source = source
    kwargs: dict[str, Any] = {}
    for key, value in entry.items():
        if key == "n_timesteps":
            settings.n_timesteps = _positive_int(value, key, where)
        elif key == "n_envs":
            settings.n_envs = _positive_int(value, key, where)
        elif key == "policy":
            if not isinstance(value, str):
                raise ConfigurationError(f"{where}: policy must be a name such as 'MlpPolicy', got {value!r}")
            settings.policy = value
        elif key == "normalize":
            for name, flag in parse_normalize(value, where).items():
                if name in entry:
                    raise ConfigurationError(f"{where}: give either normalize or {name}, not both")
                kwargs[name] = flag
        elif key == "policy_kwargs":
            kwargs[key] = _policy_kwargs(value, where)
        elif key == "replay_buffer_kwargs":
            kwargs[key] = _expression_dict(value, key, where)
        elif key in ("noise_type", "noise_std"):
            settings.noise = _noise(entry, where)
        elif key == "env_wrapper":
            settings.env_wrappers = parse_env_wrappers(value, where)
        elif key == "frame_stack":
            settings.frame_stack = _positive_int(value, key, where)
        elif key == "vec_env_wrapper":
            wrappers, implied = parse_vec_env_wrappers(value, where)
            settings.vec_env_wrappers = [(name, {k: _plain(v, where) for k, v in kw.items()}) for name, kw in wrappers]
            for name, implied_value in implied.items():
                if name in entry:
                    raise ConfigurationError(f"{where}: give either {name} or its vec_env_wrapper item, not both")
                if name == "frame_stack":
                    settings.frame_stack = _positive_int(implied_value, "VecFrameStack's n_stack", where)
                else:
                    kwargs.update(parse_normalize(implied_value, f"{where}: vec_env_wrapper VecNormalize"))
        elif key == "callback":
            settings.callbacks = [(name, {k: _plain(v, where) for k, v in kw.items()})
                                  for name, kw in parse_callbacks(value, where)]
        else:
            kwargs[key] = _coerce(value, params[key], where)
    settings.kwargs = kwargs
    return settings


def is_atari(env_id: str) -> bool:
    """True for the Atari games of ale-py (registered on first use when ale-py is installed)."""
    ensure_registered(env_id)
    spec = gym.registry.get(env_id)
    return spec is not None and "ale_py" in str(spec.entry_point)


def parse_env_wrappers(value: Any, where: str) -> list[tuple[str, dict[str, Any]]]:
    """The zoo's ``env_wrapper``: a name, or a list of names and ``{name: {keyword: value}}`` mappings,
    each name one of :data:`ENV_WRAPPERS`."""
    wrappers = []
    for name, kwargs in named_items(value, "env_wrapper", where):
        if name not in ENV_WRAPPERS:
            raise ConfigurationError(f"{where}: the env wrapper {name!r} is not one Ballast provides; known: "
                                     f"{', '.join(ENV_WRAPPERS)}. Wrap the env in Python and pass it to the algorithm")
        wrappers.append((name, {str(k): _plain(v, where) for k, v in kwargs.items()}))
    return wrappers


def chained_wrappers(wrappers: list[tuple[str, dict[str, Any]]]) -> Callable[[gym.Env], gym.Env]:
    """One function applying ``wrappers`` (names of :data:`ENV_WRAPPERS` with their keywords) innermost first."""
    def wrap(env: gym.Env) -> gym.Env:
        for name, kwargs in wrappers:
            env = ENV_WRAPPERS[name](env, **kwargs)
        return env

    return wrap


def _noise(entry: Mapping[str, Any], where: str) -> dict[str, Any]:
    kind = entry.get("noise_type")
    if kind not in _NOISE_TYPES:
        raise ConfigurationError(f"{where}: noise_type must be one of {sorted(_NOISE_TYPES)}, got {kind!r}")
    std = _number_or_none(entry.get("noise_std"))
    if std is None or std < 0:
        raise ConfigurationError(f"{where}: noise_std must be a number >= 0, got {entry.get('noise_std')!r}")
    return {"type": kind, "std": float(std)}


def _unknown_key_error(key: str, env_id: str, where: str, cls: type[Algorithm]) -> ConfigurationError:
    name = cls.algorithm_name.upper()
    if key in RUN_OPTIONS:
        reason = f"{key!r} is a run option, not a hyperparameter: set it on the command line or in Python"
    elif key in _UNSUPPORTED_ZOO_KEYS:
        reason = (f"the rl-baselines3-zoo option {key!r} is not supported by Ballast "
                  f"({_UNSUPPORTED_ZOO_KEYS[key]})")
    else:
        reason = f"{key!r} is not a {name} hyperparameter"
    env_note = "" if env_id in where else f" (env {env_id!r})"
    return ConfigurationError(
        f"{where}{env_note}: {reason}. Supported keys for {name}: {', '.join(supported_keys(cls))}"
    )


def _positive_int(value: Any, key: str, where: str) -> int:
    number = _number_or_none(value)
    if number is None or isinstance(value, bool) or not float(number).is_integer() or number < 1:
        raise ConfigurationError(f"{where}: {key} must be a positive whole number, got {value!r}")
    return int(number)


def _number_or_none(value: Any) -> int | float | None:
    """``value`` as a number, also when written as text (YAML 1.1 reads ``1e-3`` as a string)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _coerce(value: Any, param: inspect.Parameter, where: str) -> Any:
    """Numbers written as text become numbers; whole numbers become ints where the default is an int."""
    value = _plain(value, where)
    default = param.default
    number = _number_or_none(value)
    if number is None or isinstance(default, (bool, str)):
        return value
    if isinstance(default, int):
        if not float(number).is_integer():
            raise ConfigurationError(f"{where}: {param.name} must be a whole number, got {value!r}")
        return int(number)
    return float(number) if isinstance(value, str) else value


def parse_normalize(value: Any, where: str | None = None) -> dict[str, bool]:
    """Map the zoo's ``normalize`` to ``normalize_observations`` / ``normalize_rewards``.

    ``true`` normalises both, as the zoo's ``VecNormalize`` does; ``false`` (or null) neither; a
    mapping or its string form ``"{'norm_obs': True, 'norm_reward': False}"`` chooses each, with
    the zoo's default ``True`` for a missing one. Other ``VecNormalize`` options are refused.
    """
    where = "normalize" if where is None else f"{where}: normalize"
    if value is None:
        value = False
    if isinstance(value, str):
        value = _parse_expression(value, where)
    if isinstance(value, bool):
        return {"normalize_observations": value, "normalize_rewards": value}
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in _NORMALIZE_KEYS]
        if unknown:
            raise ConfigurationError(
                f"{where}: option(s) {unknown} are not supported; Ballast supports "
                f"{sorted(_NORMALIZE_KEYS)} (true or false each)"
            )
        out = {}
        for zoo_key, kwarg in _NORMALIZE_KEYS.items():
            flag = value.get(zoo_key, True)
            if not isinstance(flag, bool):
                raise ConfigurationError(f"{where}: {zoo_key} must be true or false, got {flag!r}")
            out[kwarg] = flag
        return out
    raise ConfigurationError(
        f"{where} must be true, false or a mapping like "
        f"\"{{'norm_obs': True, 'norm_reward': False}}\", got {value!r}"
    )


def _policy_kwargs(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        value = parse_policy_kwargs(value, where)
    elif isinstance(value, Mapping):
        value = _plain(value, where)
    else:
        raise ConfigurationError(
            f"{where}: policy_kwargs must be a mapping or a \"dict(...)\" string, got {value!r}"
        )
    net_arch = value.get("net_arch")
    if isinstance(net_arch, list) and len(net_arch) == 1 and isinstance(net_arch[0], dict):
        # Older zoo files write net_arch=[dict(pi=..., vf=...)]: the same network, no shared layers.
        value["net_arch"] = net_arch[0]
    return value


def _expression_dict(value: Any, key: str, where: str) -> dict[str, Any]:
    """A mapping given as YAML or as the zoo's ``"dict(...)"`` string (parsed, never evaluated)."""
    if value is None:
        return {}
    if isinstance(value, str):
        parsed = _parse_expression(value, f"{where}: {key}")
        if isinstance(parsed, dict):
            return parsed
    elif isinstance(value, Mapping):
        return _plain(value, where)
    raise ConfigurationError(f"{where}: {key} must be a mapping or a \"dict(...)\" string, got {value!r}")


def _plain(value: Any, where: str) -> Any:
    """YAML data as JSON-compatible data (tuples become lists); anything else is refused."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v, where) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, where) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ConfigurationError(
        f"{where}: {value!r} is not plain data (numbers, strings, booleans, null, lists and mappings)"
    )


def parse_policy_kwargs(text: str, where: str | None = None) -> dict[str, Any]:
    """Parse the zoo's ``policy_kwargs`` string, e.g. ``"dict(log_std_init=-2, activation_fn=nn.ReLU)"``.

    Allowed: ``dict(key=value, ...)`` calls, dict/list/tuple literals, numbers (with a sign),
    strings, booleans, ``None``, and names such as ``nn.ReLU`` or ``th.nn.Tanh``, which become the
    string of their last part (``"ReLU"``). Anything else, a function call in particular, raises
    :class:`ballast.errors.ConfigurationError`; nothing in the text is executed.
    """
    where = "policy_kwargs" if where is None else f"{where}: policy_kwargs"
    value = _parse_expression(text, where)
    if not isinstance(value, dict):
        raise ConfigurationError(f"{where} must be dict(...) or {{...}}, got {text!r}")
    return value


def _parse_expression(text: str, where: str) -> Any:
    if len(text) > _MAX_EXPRESSION_CHARS:
        raise ConfigurationError(f"{where} is longer than {_MAX_EXPRESSION_CHARS} characters")
    source = " ".join(text.split())
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        raise ConfigurationError(f"{where}: cannot parse {text!r} ({err.__class__.__name__})") from None
    return _literal(tree.body, source, where, 0)


def _literal(node: ast.AST, source: str, where: str, depth: int) -> Any:
    """The value of one node of the restricted expression language (see :func:`parse_policy_kwargs`)."""
    if depth > _MAX_DEPTH:
        raise ConfigurationError(f"{where}: the expression is nested more than {_MAX_DEPTH} levels deep")
    depth += 1
    if isinstance(node, ast.Constant) and isinstance(node.value, (type(None), bool, int, float, str)):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _literal(node.operand, source, where, depth)
        if isinstance(operand, (int, float)) and not isinstance(operand, bool):
            return -operand if isinstance(node.op, ast.USub) else operand
    elif isinstance(node, (ast.List, ast.Tuple)):
        if not any(isinstance(e, ast.Starred) for e in node.elts):
            return [_literal(e, source, where, depth) for e in node.elts]
    elif isinstance(node, ast.Dict):
        if all(isinstance(k, ast.Constant) and isinstance(k.value, str) for k in node.keys):
            pairs = zip(node.keys, node.values, strict=True)
            return {k.value: _literal(v, source, where, depth) for k, v in pairs}
    elif isinstance(node, ast.Call):
        if (isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args
                and all(kw.arg is not None for kw in node.keywords)):
            return {kw.arg: _literal(kw.value, source, where, depth) for kw in node.keywords}
    elif isinstance(node, ast.Name):
        return node.id
    elif isinstance(node, ast.Attribute):
        root = node.value
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(root, ast.Name):
            return node.attr
    return _refuse(node, source, where)


def _refuse(node: ast.AST, source: str, where: str) -> Any:
    fragment = ast.get_source_segment(source, node) or type(node).__name__
    raise ConfigurationError(
        f"{where}: {fragment!r} is not allowed; only dict(...), dict/list/tuple literals, numbers, strings, "
        "True/False/None and names such as nn.ReLU are accepted (the text is parsed, never executed)"
    )
