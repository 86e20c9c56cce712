"""A policy alone to and from the safe format (``policy.save(path)``, ``Policy.load(path)``, as SB3's).

The file is a checkpoint (:mod:`ballast.checkpoint`: JSON and safetensors in a zip, no pickle)
whose ``meta.json`` says ``"kind": "policy"``; its ``config.json`` holds what rebuilds the policy
(its class, SB3 policy name, configuration, spaces, whether it normalises observations, gSDE, a
residual policy's options and base), laid out as in a model's checkpoint, so :func:`load_policy`
also takes the policy out of a model's file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from torch import nn

from ballast.checkpoint import Checkpoint, checkpoint_to_bytes, read_checkpoint, read_checkpoint_bytes, write_checkpoint
from ballast.device import resolve_device
from ballast.errors import CheckpointError
from ballast.registry import policy_class, policy_reference
from ballast.spaces import space_from_json, space_to_json

POLICY_KIND = "policy"

# Buffers that describe the env rather than what was learned: built from the spaces, not saved (files
# written before they were left out of the state dict hold them; :func:`learned_state` drops them).
ENV_BUFFER_PREFIXES = ("action_adapter.",)


def learned_state(saved: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A saved policy state without the buffers that describe the env (see ENV_BUFFER_PREFIXES)."""
    return {key: value for key, value in saved.items() if not key.startswith(ENV_BUFFER_PREFIXES)}


def policy_entry(cls: type[nn.Module], name: str, config: Any, normalize_observations: bool, use_sde: bool,
                 constructor_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """What rebuilds a policy: the ``"policy"`` entry of a checkpoint's config (``constructor_kwargs``:
    a user's policy class's own ``policy_kwargs``, see :func:`ballast.policies.sb3_arguments.split_policy_kwargs`)."""
    entry = {"name": name, "class": policy_reference(cls), "config": config.to_json(),
             "normalize_observations": normalize_observations, "use_sde": use_sde}
    if constructor_kwargs:
        entry["constructor_kwargs"] = dict(constructor_kwargs)
    return entry


def policy_config_json(policy: nn.Module) -> dict[str, Any]:
    """:func:`policy_entry` of a policy built by Ballast."""
    return policy_entry(type(policy), policy.policy_name, policy.config, policy.normalizer is not None,
                        bool(getattr(policy, "use_sde", False)), getattr(policy, "constructor_kwargs", None))


def policy_checkpoint(policy: nn.Module) -> Checkpoint:
    config: dict[str, Any] = {"policy": policy_config_json(policy),
                              "observation_space": space_to_json(policy.observation_space),
                              "action_space": space_to_json(policy.action_space)}
    tensors = {"policy": dict(policy.state_dict())}
    residual = getattr(policy, "residual", None)
    if residual is not None:
        config["residual"] = {"residual_scale": residual.scale, "append_base_action": residual.append_base_action,
                              "base": residual.base.to_json()}
        base_tensors = residual.base.state_tensors()
        if base_tensors:
            tensors["residual_base"] = base_tensors
    return Checkpoint(meta={"kind": POLICY_KIND, "policy": type(policy).__name__}, config=config, tensors=tensors)


def save_policy(policy: nn.Module, path: str | Path | BinaryIO) -> Path | None:
    """Write ``policy`` to ``path`` (``.zip`` appended to a path without a suffix) or into a binary file object."""
    checkpoint = policy_checkpoint(policy)
    if hasattr(path, "write"):
        path.write(checkpoint_to_bytes(checkpoint))
        return None
    return write_checkpoint(path, checkpoint)


def load_policy(path: str | Path | BinaryIO, device: str | torch.device = "auto") -> nn.Module:
    """The policy in a policy file, or in a model's checkpoint, rebuilt and on ``device``."""
    source = "the file object" if hasattr(path, "read") else str(path)
    ckpt = read_checkpoint_bytes(path.read(), source) if hasattr(path, "read") else read_checkpoint(path)
    if ckpt.meta.get("kind") != POLICY_KIND and "algorithm" not in ckpt.meta:
        raise CheckpointError(f"{source} holds neither a policy nor a model (meta {ckpt.meta})")
    try:
        policy = _build(ckpt)
    except (KeyError, TypeError) as err:
        raise CheckpointError(f"{source} is missing or has malformed content ({err!r}); the file is damaged") from None
    missing, unexpected = policy.load_state_dict(learned_state(ckpt.tensors["policy"]), strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{source}: the saved weights do not fit the policy: missing {missing}, "
                              f"unexpected {unexpected}")
    return policy.to(resolve_device(device))


def _build(ckpt: Checkpoint) -> nn.Module:
    cfg = ckpt.config
    entry = cfg["policy"]
    cls = policy_class(entry["class"])
    observation_space, action_space = space_from_json(cfg["observation_space"]), space_from_json(cfg["action_space"])
    use_sde = entry.get("use_sde", cfg.get("hyperparameters", {}).get("use_sde", False))
    from ballast.policies.config import PolicyConfig

    extra: dict[str, Any] = {}
    residual = cfg.get("residual")
    if residual is not None:
        from ballast.residual.actions import ResidualActions
        from ballast.residual.bases import base_from_checkpoint

        base = base_from_checkpoint(residual["base"], ckpt.tensors.get("residual_base", {}),
                                    int(np.prod(action_space.shape)))
        extra["residual"] = ResidualActions(base, observation_space, action_space, scale=residual["residual_scale"],
                                            append_base_action=residual["append_base_action"])
    with torch.random.fork_rng(devices=[]):  # building draws initial weights, which the saved ones replace
        policy = cls(observation_space, action_space, policy_name=entry["name"],
                     config=PolicyConfig.from_json(entry["config"]), use_sde=use_sde,
                     normalize_observations=entry["normalize_observations"], **extra,
                     **entry.get("constructor_kwargs", {}))
    policy.constructor_kwargs = dict(entry.get("constructor_kwargs", {}))
    return policy

