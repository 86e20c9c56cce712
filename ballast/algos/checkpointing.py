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
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ballast.checkpoint import Checkpoint, read_checkpoint, write_checkpoint
from ballast.envs.adopt import EnvSettings, adopt_env
from ballast.envs.make import EnvLike, copies_for
from ballast.errors import CheckpointError, ConfigurationError, SpaceMismatchError
from ballast.extensions import AuxModule, ExtraLoss, resolve_extra_losses
from ballast.import_path import import_path, path_of
from ballast.registry import POLICIES, algorithm_class, policy_name_of
from ballast.residual.bases import base_from_checkpoint
from ballast.schedules import CallableSchedule, ConstantSchedule, LinearSchedule, schedule_to_json
from ballast.spaces import same_kind, space_from_json, space_to_json, spaces_equal
from ballast.transfer import (
    ENV_BUFFER_PREFIXES,
    check_action_bounds,
    describe_difference,
    mismatch_error,
    size_mismatches,
)


def import_class(path: str) -> type:
    """Import ``module:QualName``; only called for names a user registered or passed explicitly."""
    try:
        return import_path(path)
    except (ImportError, AttributeError) as err:
        raise CheckpointError(f"cannot import {path!r} named in the checkpoint ({err})") from None


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
    policy_class = policy_name_of(model.policy_class) or path_of(model.policy_class)
    config = {
        "hyperparameters": model._config_to_json(),
        "policy": {"name": model.policy_name, "class": policy_class, "config": model.policy_config.to_json(),
                   "normalize_observations": model.policy.normalizer is not None},
        "normalize_rewards": model.reward_normalizer is not None,
        "observation_space": space_to_json(model.observation_space),
        "action_space": space_to_json(model.action_space),
        "env_id": model.env_id,
        "env_kwargs": model.env_kwargs,
        "n_envs": model.n_envs,
        "seed": model.seed,
        "extensions": model.extensions.to_json(),
        "env_settings": model.env_settings.to_json(),
    }
    if model.stats_window_size != 100:
        config["stats_window_size"] = model.stats_window_size
    if model.residual_actions is not None:
        config["residual"] = {**model.residual_options.to_json(), "base": model.residual_actions.base.to_json()}
    state = {
        "num_timesteps": model.num_timesteps,
        "total_timesteps": model.total_timesteps,
        "n_updates": model.n_updates,
        "iteration": model.iteration,
        "progress_remaining": model.progress_remaining,
        "action_space_rng": model.action_space.np_random.bit_generator.state,
        "numpy_rng": model.np_rng.bit_generator.state,
        **model.optimizers.state_json(),
        **model._extra_state(),
    }
    tensors = {
        "policy": dict(model.policy.state_dict()),
        "rng": {"torch": torch.get_rng_state(), "generator": model.generator.get_state()},
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
    meta = {"algorithm": model.algorithm_name, "policy": model.policy_name}
    return Checkpoint(meta=meta, config=config, state=state, tensors=tensors)


def save(model: Any, path: str | Path, include_replay_buffer: bool = False) -> Path:
    """Write ``model`` to one checkpoint file (atomically); returns its path."""
    return write_checkpoint(path, to_checkpoint(model, include_replay_buffer))


def load(cls: type, path: str | Path, *, env: EnvLike | None, device: str | torch.device,
         extra_losses: Iterable[ExtraLoss] | None, overrides: dict[str, Any]) -> Any:
    """The model saved at ``path`` (see :meth:`ballast.algos.base.Algorithm.load`)."""
    if extra_losses is not None:
        overrides = {**overrides, "extra_losses": list(extra_losses)}
    return from_checkpoint(cls, read_checkpoint(path), env=env, device=device, source=str(path), overrides=overrides)


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
    try:
        return _build(algo_cls, checkpoint, env, device, overrides)
    except (KeyError, TypeError) as err:
        raise CheckpointError(f"{source} is missing or has malformed content ({err!r}); the file is damaged") from None


def _build(cls: type, ckpt: Checkpoint, env: EnvLike | None, device: str | torch.device,
           overrides: dict[str, Any]) -> Any:
    cfg = ckpt.config
    observation_space = space_from_json(cfg["observation_space"])
    action_space = space_from_json(cfg["action_space"])
    policy_cfg = cfg["policy"]
    policy_class = POLICIES.get(policy_cfg["class"])
    if policy_class is None:
        policy_class = import_class(policy_cfg["class"])
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
    policy = policy_cfg["name"] if policy_class is cls.default_policy_class else policy_class
    cls.__init__(
        model, policy, adopted, seed=cfg.get("seed"), device=device, policy_kwargs=policy_cfg["config"],
        n_envs=cfg.get("n_envs", 1), normalize_observations=policy_cfg["normalize_observations"],
        normalize_rewards=cfg["normalize_rewards"], observation_space=observation_space,
        action_space=action_space, env_kwargs=None if vec is not None else cfg.get("env_kwargs"),
        **hyperparameters,
    )
    # The vector env above is built already (with the saved env_kwargs when env was an id); the
    # kwargs are kept for set_env(id) and the next save.
    model.env_kwargs = dict(cfg.get("env_kwargs") or {})
    model.env_id = cfg.get("env_id") or model.env_id
    restore(model, ckpt)
    return model


def restore(model: Any, ckpt: Checkpoint) -> None:
    """Put the state a checkpoint saved into a model built from its description."""
    saved = ckpt.tensors["policy"]
    lines = size_mismatches(saved, model.policy)
    if lines:
        what = describe_difference(space_from_json(ckpt.config["observation_space"]),
                                   space_from_json(ckpt.config["action_space"]),
                                   model.observation_space, model.action_space)
        raise mismatch_error(what, lines)
    # The action bounds come from the env's action space (the same as the saved one unless only sizes differ).
    own = {k: v for k, v in model.policy.state_dict().items() if k.startswith(ENV_BUFFER_PREFIXES)}
    missing, unexpected = model.policy.load_state_dict({**saved, **own}, strict=False)
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
    model.progress_remaining = float(state.get("progress_remaining", 1.0))
    if "numpy_rng" in state:
        model.np_rng.bit_generator.state = state["numpy_rng"]
    if "action_space_rng" in state:
        model.action_space.np_random.bit_generator.state = state["action_space_rng"]
    rng = ckpt.tensors.get("rng", {})
    if "torch" in rng:
        torch.set_rng_state(rng["torch"])
    if "generator" in rng:
        model.generator.set_state(rng["generator"])
    model.extensions.load(ckpt.tensors)
    model.optimizers.load(ckpt.tensors, state)
    if "replay_buffer" in ckpt.tensors and getattr(model, "replay_buffer", None) is not None:
        model.replay_buffer.load_state_tensors(ckpt.tensors["replay_buffer"])
    model._load_extra(ckpt)
