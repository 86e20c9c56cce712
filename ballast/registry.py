"""Where classes are found by name: algorithms and policy classes register themselves here.

A checkpoint names its algorithm and its policy class; loading looks them up here, never by
unpickling (design principle 3). Modules that rebuild a saved model without knowing the algorithms
(a residual policy's nested base model, the command line) go through :func:`model_from_checkpoint`
and :func:`load_model`, so nothing below :mod:`ballast.algos` imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ballast.checkpoint import Checkpoint, read_checkpoint
from ballast.errors import CheckpointError

#: Algorithm classes by their ``algorithm_name`` ("ppo", "sac", ...); filled when their modules are imported.
ALGORITHMS: dict[str, type] = {}
#: Policy classes by the name a checkpoint records ("ActorCriticPolicy", ...).
POLICIES: dict[str, type[nn.Module]] = {}


def register_policy(cls: type[nn.Module]) -> type[nn.Module]:
    """Register a policy class under its class name (a decorator); checkpoints record that name."""
    POLICIES[cls.__name__] = cls
    return cls


def policy_name_of(cls: type[nn.Module]) -> str | None:
    """The registered name of a policy class, or None for a class that is not registered."""
    return next((name for name, registered in POLICIES.items() if registered is cls), None)


def algorithm_class(name: str, source: str = "the checkpoint") -> type:
    """The algorithm class registered as ``name``, or a :class:`CheckpointError` listing the known ones."""
    cls = ALGORITHMS.get(name)
    if cls is None:
        raise CheckpointError(f"{source} holds an unknown algorithm {name!r}; known: {sorted(ALGORITHMS)}")
    return cls


def model_from_checkpoint(checkpoint: Checkpoint, device: str | torch.device = "cpu",
                          source: str = "the checkpoint") -> Any:
    """The model a checkpoint describes, built by its registered algorithm class."""
    return algorithm_class(str(checkpoint.meta.get("algorithm")), source).from_checkpoint(
        checkpoint, device=device, source=source)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> Any:
    """The model saved at ``path``, whatever its algorithm."""
    return model_from_checkpoint(read_checkpoint(path), device=device, source=str(path))
