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
from ballast.import_path import class_reference, register_module_class, resolve_class

#: Algorithm classes by their ``algorithm_name`` ("ppo", "sac", ...); filled when their modules are imported.
ALGORITHMS: dict[str, type] = {}


def register_policy(cls: type[nn.Module]) -> type[nn.Module]:
    """Register a policy class under its class name (a decorator; also for a user's policy class
    defined in a script): checkpoints record that name (see :mod:`ballast.import_path`)."""
    return register_module_class(cls.__name__, cls, "ballast.registry.register_policy")


def policy_reference(cls: type[nn.Module]) -> str:
    """How a checkpoint names a policy class: its registered name, else its import path."""
    return class_reference(cls, "policy class", "ballast.registry.register_policy")


def policy_class(reference: str) -> type[nn.Module]:
    """The policy class a checkpoint names, or a :class:`CheckpointError` saying what to import or register."""
    return resolve_class(reference, "policy class", "ballast.registry.register_policy", CheckpointError)


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
