"""A model to and from the safe checkpoint format (:mod:`ballast.checkpoint`).

What a checkpoint holds: the hyperparameters (schedules as data), the policy's class, name and
configuration, the spaces, the env's id and keyword arguments, the extensions, a residual model's
base; the policy's weights and buffers (normalisation statistics included), every registered
optimizer's state (:mod:`ballast.algos.optimizers`), the auxiliary modules, the RNG states, the
counters, the reward normaliser, the algorithm's own extra state and, on request, the replay
buffer. Loading rebuilds the model from this description and restores the state, so predictions
after loading equal those before saving, and a resumed run continues the saved one.
"""

from __future__ import annotations

import dataclasses
import inspect
import platform
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from ballast.checkpoint import (
    Checkpoint,
    checkpoint_to_bytes,
    optimizer_state_dict,
    read_checkpoint,
    read_checkpoint_bytes,
    write_checkpoint,
)
from ballast.envs.adopt import EnvSettings, adopt_env
from ballast.envs.make import EnvLike, copies_for
from ballast.errors import CheckpointError, ConfigurationError, SpaceMismatchError, StateDictError
from ballast.extensions import AuxModule, resolve_extra_losses
from ballast.policies.persistence import learned_state, policy_entry
from ballast.registry import algorithm_class, policy_class
from ballast.residual.bases import base_from_checkpoint
from ballast.schedules import CallableSchedule, ConstantSchedule, LinearSchedule, schedule_to_json
from ballast.seeding import global_generators_kept
from ballast.spaces import same_kind, space_from_json, space_to_json, spaces_equal
from ballast.transfer import (
    check_action_bounds,
    describe_difference,
    mismatch_error,
    size_mismatches,
)
from ballast.version import __version__


def config_to_json(model: Any) -> dict[str, Any]:
    """The hyperparameters as JSON data; a schedule as its data (a callable one as its current value)."""
    out = {}
    for f in dataclasses.fields(model.config):
        value = getattr(model.config, f.name)
        if isinstance(value, (ConstantSchedule, LinearSchedule, CallableSchedule)):
            value = schedule_to_json(value, model.progress_remaining)
        out[f.name] = value
    return out


def to_checkpoint(model: Any, include_replay_buffer: bool = False) -> Checkpoint:
    """Everything that decides the model's actions and continues its training, in memory."""
    buffer = getattr(model, "replay_buffer", None)
    if include_replay_buffer and buffer is None:
        raise ConfigurationError(f"{model.algorithm_name.upper()} has no replay buffer to include")
    config = {
        "hyperparameters": model._config_to_json(),
        "policy": policy_entry(model.policy_class, model.policy_name, model.policy_config,
                               model.policy.normalizer is not None, bool(getattr(model.config, "use_sde", False)),
                               model.policy_constructor_kwargs),
        "normalize_rewards": model.reward_normalizer is not None,
        "observation_space": space_to_json(model.observation_space),
        "action_space": space_to_json(model.action_space),
        "env_id": model.env_id,
        "env_kwargs": model.env_kwargs,
        "n_envs": model.n_envs,
        "seed": model.seed,
        "verbose": model.verbose,
        "extensions": model.extensions.to_json(),
        "env_settings": model.env_settings.to_json(),
    }
    if model.stats_window_size != 100:
        config["stats_window_size"] = model.stats_window_size
    if model.residual_actions is not None:
        base = model.residual_actions.base.to_json()
        if base.get("kind") in ("callable", "module") and not base.get("import_path"):
            warnings.warn(f"the {base['kind']} base policy has no import path (a lambda, or defined inside a "
                          "function), so the file cannot rebuild it: load it with load(path, base_policy=...) giving "
                          "the base again", UserWarning, stacklevel=3)
        config["residual"] = {**model.residual_options.to_json(), "base": base}
    state = {
        "num_timesteps": model.num_timesteps,
        "total_timesteps": model.total_timesteps,
        "n_updates": model.n_updates,
        "iteration": model.iteration,
        "episode_count": model.episode_count,
        "progress_remaining": model.progress_remaining,
        "action_space_rng": model.action_space.np_random.bit_generator.state,
        "numpy_rng": model.np_rng.bit_generator.state,
        **model.optimizers.state_json(),
        **model._extra_state(),
    }
    tensors = {
        "policy": policy_state_dict(model.policy),
        "rng": rng_tensors(model),
        **model.optimizers.state_tensors(),
        **model._extra_tensors(),
        **model.extensions.state_tensors(),
    }
    if model.reward_normalizer is not None:
        tensors["reward_normalizer"] = dict(model.reward_normalizer.state_dict())
    if include_replay_buffer:
        tensors["replay_buffer"] = buffer.state_tensors()
    base_tensors = model.residual_actions.base.state_tensors() if model.residual_actions is not None else {}
    if base_tensors:
        tensors["residual_base"] = base_tensors
    meta = {"algorithm": model.algorithm_name, "policy": model.policy_name, "system_info": system_info()}
    return Checkpoint(meta=meta, config=config, state=state, tensors=tensors)


def rng_tensors(model: Any) -> dict[str, torch.Tensor]:
    """The model's torch stream (CPU, and CUDA on a CUDA model) and its shuffling generator, as uint8 tensors."""
    cpu, cuda = model.torch_stream.get_state()
    tensors = {"torch": cpu, "generator": model.generator.get_state()}
    if cuda is not None:
        tensors["cuda"] = cuda
    return tensors


#: What SB3's ``save(exclude=...)`` may name that a Ballast file never holds (nothing to leave out).
NEVER_SAVED = frozenset({"env", "logger", "_logger", "_custom_logger", "rollout_buffer", "device",
                         "tensorboard_log", "_vec_normalize_env", "_episode_storage", "_last_obs",
                         "_last_episode_starts", "_last_original_obs", "ep_info_buffer", "ep_success_buffer"})
#: SB3's names of the optimizers, and Ballast's (``get_parameters``; ``save(exclude=...)`` leaves their state out).
SB3_OPTIMIZER_NAMES = {"optimizer": "policy.optimizer", "actor_optimizer": "actor.optimizer",
                       "critic_optimizer": "critic.optimizer", "ent_coef_optimizer": "ent_coef_optimizer"}


def save(model: Any, path: str | Path | BinaryIO, *, exclude: Iterable[str] | None = None,
         include: Iterable[str] | None = None, include_replay_buffer: bool = False) -> Path | None:
    """Write ``model`` to one checkpoint file (atomically) or into a binary file object; returns the path
    (None for a file object). ``exclude``/``include``: see :meth:`ballast.algos.base.Algorithm.save`."""
    include = set(include or ())
    exclude = set(exclude or ()) - include  # as SB3's: what include names is saved
    optimizer_names = {"optimizers", *SB3_OPTIMIZER_NAMES, *SB3_OPTIMIZER_NAMES.values()}
    needed = exclude - NEVER_SAVED - optimizer_names - {"replay_buffer", "verbose"}
    if needed:
        raise ConfigurationError(
            f"save(exclude={sorted(needed)}): a Ballast checkpoint needs them to rebuild the model; exclude may name "
            f"the optimizers' state ('optimizers'), 'verbose', 'replay_buffer' and what a checkpoint never holds "
            f"({sorted(NEVER_SAVED)})")
    checkpoint = to_checkpoint(model, (include_replay_buffer or "replay_buffer" in include)
                               and "replay_buffer" not in exclude)
    if "verbose" in exclude:
        checkpoint.config.pop("verbose")
    if exclude & optimizer_names:
        for name in model.optimizers.names():
            checkpoint.tensors.pop(name, None)
            checkpoint.state.pop(name, None)
    if hasattr(path, "write"):
        path.write(checkpoint_to_bytes(checkpoint))
        return None
    return write_checkpoint(path, checkpoint)


def load(cls: type, path: str | Path | BinaryIO, *, env: EnvLike | None, device: str | torch.device,
         custom_objects: Mapping[str, Any] | None, print_system_info: bool, overrides: dict[str, Any]) -> Any:
    """The model saved at ``path`` or in a binary file object (see :meth:`ballast.algos.base.Algorithm.load`)."""
    source = "the file object" if hasattr(path, "read") else str(path)
    checkpoint = read_checkpoint_bytes(path.read(), source) if hasattr(path, "read") else read_checkpoint(path)
    overrides = {**custom_object_overrides(cls, custom_objects or {}), **overrides}
    if print_system_info:
        print("== CURRENT SYSTEM INFO ==")
        print(format_system_info(system_info()))
        print("== SAVED MODEL SYSTEM INFO ==")
        saved = checkpoint.meta.get("system_info", {"Ballast": checkpoint.meta.get("ballast_version")})
        print(format_system_info(saved))
    return from_checkpoint(cls, checkpoint, env=env, device=device, source=source, overrides=overrides)


def custom_object_overrides(cls: type, custom_objects: Mapping[str, Any]) -> dict[str, Any]:
    """SB3's ``custom_objects`` as hyperparameter overrides: a hyperparameter by its name,
    ``lr_schedule`` as ``learning_rate``; SB3's saved objects that Ballast rebuilds from data (the
    spaces) are not needed; anything else is ignored with a warning."""
    allowed = constructor_parameters(cls)
    out: dict[str, Any] = {}
    for key, value in custom_objects.items():
        name = "learning_rate" if key == "lr_schedule" else key
        if name in allowed:
            out[name] = value
        elif key not in ("observation_space", "action_space"):
            warnings.warn(f"custom_objects[{key!r}] is not a hyperparameter of {cls.__name__}; it is ignored",
                          stacklevel=4)
    return out


def constructor_parameters(cls: type) -> set[str]:
    """The keyword arguments ``cls(policy, env, ...)`` takes, which ``load`` may override."""
    names = set(inspect.signature(cls.__init__).parameters) - {"self", "policy", "env"}
    return names - {"observation_space", "action_space"}


def system_info() -> dict[str, str]:
    """The versions a checkpoint records, as SB3's ``get_system_info``."""
    import gymnasium
    import numpy

    return {"OS": f"{platform.platform()} {platform.version()}", "Python": platform.python_version(),
            "Ballast": __version__, "PyTorch": torch.__version__, "GPU Enabled": str(torch.cuda.is_available()),
            "Numpy": numpy.__version__, "Gymnasium": gymnasium.__version__}


def format_system_info(info: Mapping[str, Any]) -> str:
    return "\n".join(f"- {key}: {value}" for key, value in info.items())


def from_checkpoint(cls: type, checkpoint: Checkpoint, *, env: EnvLike | None, device: str | torch.device,
                    source: str, overrides: dict[str, Any]) -> Any:
    """The model a checkpoint describes, built by ``cls`` (or, for the base class, the saved algorithm)."""
    algo_name = checkpoint.meta.get("algorithm")
    generic = not cls.algorithm_name
    if not generic and algo_name != cls.algorithm_name:
        raise CheckpointError(
            f"{source} holds a {str(algo_name).upper()} model, not {cls.algorithm_name.upper()}; "
            f"use ballast.{str(algo_name).upper()}.load or ballast.load"
        )
    algo_cls = algorithm_class(str(algo_name), source) if generic else cls
    check_overrides(algo_cls, overrides)
    try:
        # Loading never moves the process's generators: the model continues its own saved stream.
        with global_generators_kept():
            return _build(algo_cls, checkpoint, env, device, overrides)
    except (KeyError, TypeError) as err:
        raise CheckpointError(f"{source} is missing or has malformed content ({err!r}); the file is damaged") from None


def _build(cls: type, ckpt: Checkpoint, env: EnvLike | None, device: str | torch.device,
           overrides: dict[str, Any]) -> Any:
    cfg = ckpt.config
    observation_space = space_from_json(cfg["observation_space"])
    action_space = space_from_json(cfg["action_space"])
    policy_cfg = cfg["policy"]
    saved_policy_class = policy_class(policy_cfg["class"])
    hyperparameters = {**cfg["hyperparameters"], **overrides}
    extensions = cfg.get("extensions") or {}
    if extensions.get("aux_modules"):
        hyperparameters["aux_modules"] = {name: AuxModule.from_json(spec)
                                          for name, spec in extensions["aux_modules"].items()}
    if extensions.get("extra_losses") and "extra_losses" not in hyperparameters:
        hyperparameters["extra_losses"] = resolve_extra_losses(extensions["extra_losses"])
    if "stats_window_size" in cfg:
        hyperparameters.setdefault("stats_window_size", cfg["stats_window_size"])
    residual = cfg.get("residual")
    if residual is not None:
        if "base_policy" not in overrides:
            action_dim = int(np.prod(action_space.shape))
            hyperparameters["base_policy"] = base_from_checkpoint(
                residual["base"], ckpt.tensors.get("residual_base", {}), action_dim)
        for key in ("residual_scale", "append_base_action", "critic_warmup_steps"):
            hyperparameters.setdefault(key, residual[key])
    adopted = adopt_env(env, copies_for(env, cfg.get("n_envs", 1)),
                        env_kwargs=cfg.get("env_kwargs") if isinstance(env, str) else None,
                        saved=EnvSettings.from_checkpoint_config(cfg))
    vec = adopted.vector_env
    if vec is not None:
        check_action_bounds(action_space, vec.single_action_space)
        for kind, saved, new in (("observation", observation_space, vec.single_observation_space),
                                 ("action", action_space, vec.single_action_space)):
            # Spaces that differ in sizes only are checked layer by layer when the weights load.
            if not spaces_equal(saved, new) and not same_kind(saved, new):
                raise SpaceMismatchError(
                    f"the model was saved with the {kind} space {saved}, but the env has {new}; "
                    "load it with an env of the same spaces"
                )
    model = cls.__new__(cls)
    policy = policy_cfg["name"] if saved_policy_class is cls.default_policy_class else saved_policy_class
    arguments = dict(seed=cfg.get("seed"), device=device, verbose=cfg.get("verbose", 0),
                     policy_kwargs={**policy_cfg["config"], **policy_cfg.get("constructor_kwargs", {})},
                     n_envs=cfg.get("n_envs", 1), normalize_observations=policy_cfg["normalize_observations"],
                     normalize_rewards=cfg["normalize_rewards"],
                     env_kwargs=None if vec is not None else cfg.get("env_kwargs"))
    cls.__init__(model, policy, adopted, observation_space=observation_space, action_space=action_space,
                 **{**arguments, **hyperparameters})
    if "policy_kwargs" in overrides and model.policy_config.to_json() != policy_cfg["config"]:
        raise ConfigurationError(
            f"the policy_kwargs given to load ({overrides['policy_kwargs']}) build another policy than the saved "
            f"one ({policy_cfg['config']}), which its weights fit; leave policy_kwargs out")
    # The vector env above is built already (with the saved env_kwargs when env was an id); the
    # kwargs are kept for set_env(id) and the next save.
    model.env_kwargs = dict(cfg.get("env_kwargs") or {})
    model.env_id = cfg.get("env_id") or model.env_id
    restore(model, ckpt)
    return model


def check_overrides(cls: type, overrides: Mapping[str, Any]) -> None:
    """Refuse a ``load`` keyword that is not one of ``cls``'s hyperparameters."""
    unknown = sorted(set(overrides) - constructor_parameters(cls))
    if unknown:
        raise TypeError(
            f"{cls.__name__}.load() got unexpected keyword arguments {unknown}; it takes env, device, custom_objects, "
            f"print_system_info, force_reset and {cls.__name__}'s hyperparameters "
            f"({', '.join(sorted(constructor_parameters(cls)))})")


def restore(model: Any, ckpt: Checkpoint) -> None:
    """Put the state a checkpoint saved into a model built from its description."""
    saved = ckpt.tensors["policy"]
    lines = size_mismatches(saved, model.policy)
    if lines:
        what = describe_difference(space_from_json(ckpt.config["observation_space"]),
                                   space_from_json(ckpt.config["action_space"]),
                                   model.observation_space, model.action_space)
        raise mismatch_error(what, lines)
    missing, unexpected = model.policy.load_state_dict(learned_state(saved), strict=False)
    if missing or unexpected:
        raise CheckpointError(f"the saved weights do not fit the policy: missing {missing}, unexpected {unexpected}")
    if model.reward_normalizer is not None and "reward_normalizer" in ckpt.tensors:
        saved = ckpt.tensors["reward_normalizer"]
        if saved["returns"].shape != model.reward_normalizer.returns.shape:
            saved = {**saved, "returns": torch.zeros_like(model.reward_normalizer.returns)}
        model.reward_normalizer.load_state_dict(saved)
    state = ckpt.state
    model.num_timesteps = int(state["num_timesteps"])
    model.total_timesteps = int(state.get("total_timesteps", model.num_timesteps))
    model.n_updates = int(state["n_updates"])
    model.iteration = int(state["iteration"])
    model.episode_count = int(state.get("episode_count", 0))
    model.progress_remaining = float(state.get("progress_remaining", 1.0))
    if "numpy_rng" in state:
        model.np_rng.bit_generator.state = state["numpy_rng"]
    if "action_space_rng" in state:
        model.action_space.np_random.bit_generator.state = state["action_space_rng"]
    rng = ckpt.tensors.get("rng", {})
    if "torch" in rng:  # the model's stream; in files of earlier versions, torch's global state at saving
        model.torch_stream.set_state(rng["torch"], rng.get("cuda"))
    if "generator" in rng:
        model.generator.set_state(rng["generator"])
    model.extensions.load(ckpt.tensors)
    model.optimizers.load(ckpt.tensors, state)
    if "replay_buffer" in ckpt.tensors and getattr(model, "replay_buffer", None) is not None:
        model.replay_buffer.load_state_tensors(ckpt.tensors["replay_buffer"])
    model._load_extra(ckpt)


def policy_state_dict(policy: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The policy's tensors under their own names, also after ``model.policy = torch.compile(model.policy)``
    (a compiled module prefixes every name with ``_orig_mod.``): the file loads into a new policy, as in SB3."""
    return dict(getattr(policy, "_orig_mod", policy).state_dict())


# --- SB3's get_parameters / set_parameters -----------------------------------------------------------
def _sb3_optimizer_name(name: str) -> str:
    return SB3_OPTIMIZER_NAMES.get(name, name)


def get_parameters(model: Any) -> dict[str, dict[str, Any]]:
    """``{"policy": policy state dict, <SB3's optimizer name>: optimizer state dict, ...}``."""
    params: dict[str, dict[str, Any]] = {"policy": policy_state_dict(model.policy)}
    for entry in model.optimizers:
        params[_sb3_optimizer_name(entry.name)] = entry.optimizer.state_dict()
    return params


def set_parameters(model: Any, load_path_or_dict: Any, *, exact_match: bool, device: str | torch.device) -> None:
    """Put a :func:`get_parameters` dict, or a saved model's tensors, into ``model`` (see
    :meth:`ballast.algos.base.Algorithm.set_parameters`)."""
    if isinstance(load_path_or_dict, Mapping):
        params = dict(load_path_or_dict)
    else:
        params = _parameters_of_file(model, load_path_or_dict)
    expected = set(get_parameters(model))
    unknown = sorted(set(params) - expected)
    if unknown:
        raise ConfigurationError(f"set_parameters got {unknown}, which {type(model).__name__} does not have; "
                                 f"it has {sorted(expected)}")
    missing = sorted(expected - set(params))
    if exact_match and missing:
        raise ConfigurationError(f"set_parameters(exact_match=True) needs every one of {sorted(expected)}; missing "
                                 f"{missing} (pass exact_match=False to update only what is given)")
    by_sb3_name = {_sb3_optimizer_name(entry.name): entry.optimizer for entry in model.optimizers}
    for name, state in params.items():
        if name == "policy":
            state = learned_state({k: torch.as_tensor(v) for k, v in state.items()})
            missing_keys, unexpected = model.policy.load_state_dict(state, strict=False)
            if exact_match and (missing_keys or unexpected):
                raise StateDictError(f"the policy's weights do not fit: missing {missing_keys}, unexpected "
                                     f"{unexpected}; pass exact_match=False to load only the given ones")
        else:
            by_sb3_name[name].load_state_dict(state)


def _parameters_of_file(model: Any, path: Any) -> dict[str, dict[str, Any]]:
    """The :func:`get_parameters` dict of a saved Ballast model (a path or a binary file object)."""
    source = "the file object" if hasattr(path, "read") else str(path)
    checkpoint = read_checkpoint_bytes(path.read(), source) if hasattr(path, "read") else read_checkpoint(path)
    params: dict[str, dict[str, Any]] = {"policy": dict(checkpoint.tensors["policy"])}
    for entry in model.optimizers:
        if entry.name in checkpoint.state:
            tensors, state = checkpoint.tensors.get(entry.name, {}), checkpoint.state[entry.name]
            params[_sb3_optimizer_name(entry.name)] = optimizer_state_dict(tensors, state)
    return params


# --- the replay buffer's own file --------------------------------------------------------------------
REPLAY_BUFFER_KIND = "replay_buffer"


def save_replay_buffer(model: Any, path: str | Path | BinaryIO) -> Path | None:
    """Write the replay buffer (its transitions and episode bookkeeping) as a safe file, atomically."""
    buffer = model.replay_buffer
    checkpoint = Checkpoint(
        meta={"kind": REPLAY_BUFFER_KIND, "algorithm": model.algorithm_name},
        config={"observation_space": space_to_json(model.observation_space),
                "action_space": space_to_json(model.action_space), "capacity": buffer.capacity,
                "n_envs": buffer.n_envs},
        tensors={"replay_buffer": buffer.state_tensors()})
    if hasattr(path, "write"):
        path.write(checkpoint_to_bytes(checkpoint))
        return None
    return write_checkpoint(path, checkpoint)


def load_replay_buffer(model: Any, path: str | Path | BinaryIO) -> None:
    """Fill the replay buffer from a file :func:`save_replay_buffer` wrote, for a model of the same spaces."""
    source = "the file object" if hasattr(path, "read") else str(path)
    checkpoint = read_checkpoint_bytes(path.read(), source) if hasattr(path, "read") else read_checkpoint(path)
    if checkpoint.meta.get("kind") != REPLAY_BUFFER_KIND:
        raise CheckpointError(f"{source} is not a replay buffer file (written by model.save_replay_buffer)")
    cfg, buffer = checkpoint.config, model.replay_buffer
    for kind, saved, own in (("observation", cfg["observation_space"], model.observation_space),
                             ("action", cfg["action_space"], model.action_space)):
        if not spaces_equal(space_from_json(saved), own):
            raise SpaceMismatchError(f"{source} holds transitions of the {kind} space {space_from_json(saved)}, "
                                     f"but the model has {own}")
    if (cfg["capacity"], cfg["n_envs"]) != (buffer.capacity, buffer.n_envs):
        raise CheckpointError(
            f"{source} holds a buffer of {cfg['capacity']} steps x {cfg['n_envs']} env copies, the model's has "
            f"{buffer.capacity} x {buffer.n_envs}; build the model with buffer_size and n_envs as when it was saved")
    buffer.load_state_tensors(checkpoint.tensors["replay_buffer"])
