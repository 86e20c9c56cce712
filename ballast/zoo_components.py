"""The zoo's ``vec_env_wrapper`` and ``callback`` keys: SB3 class paths mapped onto Ballast's classes.

rl-baselines3-zoo imports whatever dotted path an entry names. Ballast reads the same spellings
(a name, a list of names, or ``{name: {keyword: value}}`` items) but only from allow-lists, so a
hyperparameter file never imports code:

- ``vec_env_wrapper``: SB3's ``VecMonitor``, ``VecCheckNan`` and ``VecTransposeImage`` wrap the
  vector env (Ballast's classes of the same names); ``VecFrameStack`` and ``VecNormalize`` become the
  ``frame_stack`` and ``normalize`` settings, which the model keeps (saved with it, re-applied when
  it is evaluated or exported), as the zoo's own ``frame_stack`` and ``normalize`` keys do.
- ``callback``: SB3's ``CheckpointCallback`` (``save_path`` defaults to the run folder's
  ``checkpoints/``), ``StopTrainingOnMaxEpisodes`` and ``ProgressBarCallback``; the zoo's
  ``SaveVecNormalizeCallback`` is not needed (normalisation statistics are part of every saved model)
  and is accepted as such. The zoo's ``ParallelTrainCallback``, which trains on a copy of the model in
  a second thread while the env steps, changes what is learned from which data, and is refused.

The keywords of each item are checked against the class's signature when the file is read.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ballast.callbacks import BaseCallback, CheckpointCallback, ProgressBarCallback, StopTrainingOnMaxEpisodes
from ballast.envs.check_nan import VecCheckNan
from ballast.envs.monitor import VecMonitor
from ballast.envs.observation_transforms import VecTransposeImage
from ballast.envs.sb3_vec_env import VecEnv
from ballast.errors import ConfigurationError

#: ``(name, keyword arguments)``: one item of a zoo list of classes.
NamedItem = tuple[str, dict[str, Any]]


def _paths(class_name: str, module: str, package: str) -> list[str]:
    """The dotted paths a zoo file may name a class by: SB3's (package and module) and Ballast's."""
    return [f"{root}.{package}.{class_name}" for root in ("stable_baselines3.common", "ballast.common")] + \
           [f"{root}.{package}.{module}.{class_name}" for root in ("stable_baselines3.common", "ballast.common")] + \
           [f"ballast.{class_name}"]


def _by_path(classes: Mapping[str, tuple[str, Any]], package: str) -> dict[str, Any]:
    return {path: cls for name, (module, cls) in classes.items() for path in _paths(name, module, package)}


#: ``vec_env_wrapper`` names that wrap the vector env.
VEC_ENV_WRAPPERS: dict[str, type] = _by_path({
    "VecMonitor": ("vec_monitor", VecMonitor),
    "VecCheckNan": ("vec_check_nan", VecCheckNan),
    "VecTransposeImage": ("vec_transpose", VecTransposeImage),
}, "vec_env")
#: ``vec_env_wrapper`` names that become a setting of the model instead.
VEC_ENV_SETTINGS: dict[str, str] = _by_path({
    "VecFrameStack": ("vec_frame_stack", "frame_stack"),
    "VecNormalize": ("vec_normalize", "normalize"),
}, "vec_env")

#: ``callback`` names and the classes built for them (None: nothing to build, see the module docstring).
CALLBACKS: dict[str, type[BaseCallback] | None] = {
    **_by_path({
        "CheckpointCallback": ("callbacks", CheckpointCallback),
        "StopTrainingOnMaxEpisodes": ("callbacks", StopTrainingOnMaxEpisodes),
        "ProgressBarCallback": ("callbacks", ProgressBarCallback),
    }, "callbacks"),
    "rl_zoo3.callbacks.SaveVecNormalizeCallback": None,
}
_REFUSED_CALLBACKS = {
    "rl_zoo3.callbacks.ParallelTrainCallback": (
        "it trains a copy of the model in a second thread while the env steps, so updates use older "
        "policies and data than the hyperparameters were tuned with elsewhere; Ballast collects and trains "
        "in turn: remove the item (the run is then the zoo's without the parallel thread)"),
}


def named_items(value: Any, key: str, where: str) -> list[NamedItem]:
    """The zoo's list-of-classes value: a name, or a list of names and ``{name: {keyword: value}}`` items."""
    items = value if isinstance(value, list) else [value]
    named = []
    for item in items:
        if isinstance(item, Mapping) and len(item) == 1:
            ((name, kwargs),) = item.items()
            kwargs = {} if kwargs is None else kwargs
        else:
            name, kwargs = item, {}
        if not isinstance(name, str) or not isinstance(kwargs, Mapping):
            raise ConfigurationError(f"{where}: {key} entries are names or {{name: {{keyword: value}}}}, got {item!r}")
        named.append((name, {str(k): v for k, v in kwargs.items()}))
    return named


def _check_keywords(cls: Any, name: str, kwargs: Mapping[str, Any], skip: int, where: str,
                    optional: tuple[str, ...] = ()) -> None:
    """Refuse keywords ``cls`` does not take (its first ``skip`` parameters are given by Ballast)."""
    params = list(inspect.signature(cls).parameters.values())[skip:]
    names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = sorted(set(kwargs) - set(names))
    if unknown:
        takes = ", ".join(names) or "none"
        raise ConfigurationError(f"{where}: {name} takes no keyword(s) {unknown}; it takes {takes}")
    missing = [p.name for p in params if p.default is p.empty and p.kind is not p.VAR_KEYWORD
               and p.name not in kwargs and p.name not in optional]
    if missing:
        raise ConfigurationError(f"{where}: {name} needs the keyword(s) {missing}")


def parse_vec_env_wrappers(value: Any, where: str) -> tuple[list[NamedItem], dict[str, Any]]:
    """``(wrappers, settings)``: the vector-env wrappers to apply, in order, and the ``frame_stack`` /
    ``normalize`` values that ``VecFrameStack`` / ``VecNormalize`` items stand for."""
    where = f"{where}: vec_env_wrapper"
    wrappers: list[NamedItem] = []
    settings: dict[str, Any] = {}
    for name, kwargs in named_items(value, "vec_env_wrapper", where):
        setting = VEC_ENV_SETTINGS.get(name)
        if setting == "frame_stack":
            unknown = sorted(set(kwargs) - {"n_stack", "channels_order"})
            if unknown or "n_stack" not in kwargs:
                raise ConfigurationError(f"{where}: {name} takes n_stack (needed) and channels_order, got {kwargs}")
            if kwargs.get("channels_order") not in (None, "last", "first"):
                raise ConfigurationError(f"{where}: {name}'s channels_order is 'last', 'first' or null, "
                                         f"got {kwargs['channels_order']!r}")
            settings["frame_stack"] = kwargs["n_stack"]
        elif setting == "normalize":
            settings["normalize"] = dict(kwargs) if kwargs else True
        elif name in VEC_ENV_WRAPPERS:
            _check_keywords(VEC_ENV_WRAPPERS[name], name, kwargs, 1, where)
            wrappers.append((name, kwargs))
        else:
            known = sorted({path.rsplit(".", 1)[1] for path in [*VEC_ENV_WRAPPERS, *VEC_ENV_SETTINGS]})
            raise ConfigurationError(f"{where}: {name!r} is not a vector-env wrapper Ballast provides; known (by SB3's "
                                     f"import paths): {', '.join(known)}. Wrap the vector env in Python and pass "
                                     "it to the algorithm")
    return wrappers, settings


def apply_vec_env_wrappers(venv: VecEnv, wrappers: list[NamedItem]) -> VecEnv:
    """``venv`` wrapped in ``wrappers`` (from :func:`parse_vec_env_wrappers`), the first innermost."""
    for name, kwargs in wrappers:
        venv = VEC_ENV_WRAPPERS[name](venv, **kwargs)
    return venv


def parse_callbacks(value: Any, where: str) -> list[NamedItem]:
    """The zoo's ``callback`` items, each one of :data:`CALLBACKS` with keywords its class takes."""
    where = f"{where}: callback"
    items = named_items(value, "callback", where)
    for name, kwargs in items:
        if name in _REFUSED_CALLBACKS:
            raise ConfigurationError(f"{where}: {name} is not supported: {_REFUSED_CALLBACKS[name]}")
        if name not in CALLBACKS:
            known = sorted({path.rsplit(".", 1)[1] for path in CALLBACKS})
            raise ConfigurationError(f"{where}: {name!r} is not a callback Ballast provides; known (by SB3's and the "
                                     f"zoo's import paths): {', '.join(known)}. Pass other callbacks to "
                                     "model.learn(callback=...) in Python")
        cls = CALLBACKS[name]
        if cls is not None:
            _check_keywords(cls, name, kwargs, 0, where, optional=("save_path",))
    return items


def build_callbacks(items: list[NamedItem], run_dir: str | Path | None) -> list[BaseCallback]:
    """The callbacks of :func:`parse_callbacks`' ``items``; a ``CheckpointCallback`` without
    ``save_path`` saves into ``run_dir/checkpoints``."""
    callbacks = []
    for name, kwargs in items:
        cls: Callable[..., BaseCallback] | None = CALLBACKS[name]
        if cls is None:
            continue
        if cls is CheckpointCallback and "save_path" not in kwargs:
            if run_dir is None:
                raise ConfigurationError(f"{name} needs save_path when the run has no folder; give it in the "
                                         "entry's keywords")
            kwargs = {**kwargs, "save_path": Path(run_dir) / "checkpoints"}
        callbacks.append(cls(**kwargs))
    return callbacks
