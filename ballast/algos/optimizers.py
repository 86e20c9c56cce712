"""A model's optimizers, registered once by name: learning rates, saving and restoring follow.

An algorithm registers each optimizer where it builds it (``self.optimizers.register("critic_optimizer",
...)``), with the flat parameters it steps and the learning-rate schedule it follows (None: a
fixed rate, as an auxiliary module's own Adam). From that list the model sets every scheduled
learning rate from the training progress, and a checkpoint holds each optimizer's state under its
name: tensors as a safetensors group ``<name>``, hyperparameters and scalars as JSON under
``state.json``'s key ``<name>``. Nothing else of an algorithm writes optimizer state.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ballast.checkpoint import optimizer_from_tensors, optimizer_to_tensors
from ballast.errors import ConfigurationError
from ballast.import_path import import_path, path_of
from ballast.optim import FlatAdam, FlatParameters, FlatRMSprop, flush_denormals_in_steps
from ballast.policies.config import ADAM
from ballast.policies.optimizer_handle import attach_optimizer
from ballast.schedules import Schedule

#: Before optimizers were registered, an auxiliary module's own Adam was saved as ``state["aux_optimizers"][name]``
#: (its parameter groups) and the group ``aux_optimizer.<name>`` (its state tensors, unprefixed).
AUX_PREFIX = "aux_optimizer."


@dataclass
class RegisteredOptimizer:
    """One optimizer of a model: what it steps and the learning-rate schedule it follows."""

    name: str
    optimizer: Any
    parameters: FlatParameters | None
    schedule: Schedule | None


class Optimizers:
    """The optimizers of one model, in registration order; see the module docstring."""

    def __init__(self) -> None:
        self._entries: dict[str, RegisteredOptimizer] = {}

    def register(self, name: str, optimizer: Any, parameters: FlatParameters | None = None,
                 schedule: Schedule | None = None, network: nn.Module | None = None) -> Any:
        """Add ``optimizer`` under ``name`` (unique in the model); returns the optimizer. ``network``
        (the policy, or its actor or critic) answers it as SB3's ``network.optimizer``."""
        if name in self._entries:
            raise ConfigurationError(f"an optimizer named {name!r} is registered already")
        self._entries[name] = RegisteredOptimizer(name, optimizer, parameters, schedule)
        if network is not None:
            attach_optimizer(network, optimizer)
        return optimizer

    def __getitem__(self, name: str) -> Any:
        return self._entries[name].optimizer

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[RegisteredOptimizer]:
        return iter(self._entries.values())

    def names(self) -> list[str]:
        return list(self._entries)

    def replace_schedule(self, old: Schedule, new: Schedule) -> None:
        """Every optimizer that followed the schedule ``old`` follows ``new`` (``model.learning_rate = ...``)."""
        for entry in self._entries.values():
            if entry.schedule is old:
                entry.schedule = new

    def rehome_parameters(self) -> int:
        """:meth:`FlatParameters.rehome` for every optimizer's parameters; how many were brought back."""
        return sum(entry.parameters.rehome() for entry in self._entries.values() if entry.parameters is not None)

    def set_learning_rates(self, progress_remaining: float) -> float | None:
        """Set every scheduled optimizer's learning rate for ``progress_remaining`` (1 -> 0); returns
        the rate of the first one (the one logged as ``train/learning_rate``), None when none is scheduled."""
        logged = None
        for entry in self._entries.values():
            if entry.schedule is None:
                continue
            lr = entry.schedule(progress_remaining)
            for group in entry.optimizer.param_groups:
                group["lr"] = lr
            logged = lr if logged is None else logged
        return logged

    def state_tensors(self) -> dict[str, dict[str, torch.Tensor]]:
        """Each optimizer's state tensors, as a checkpoint group named after it."""
        return {entry.name: optimizer_to_tensors(entry.optimizer)[0] for entry in self._entries.values()}

    def state_json(self) -> dict[str, Any]:
        """Each optimizer's parameter groups and scalar state, as JSON named after it."""
        return {entry.name: optimizer_to_tensors(entry.optimizer)[1] for entry in self._entries.values()}

    def load(self, tensors: Mapping[str, Mapping[str, torch.Tensor]], state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_tensors` and :meth:`state_json` saved; an optimizer the
        checkpoint has no state for (a model saved before it was trained) keeps its fresh state."""
        legacy_aux = state.get("aux_optimizers", {})
        for entry in self._entries.values():
            if entry.name in state:
                optimizer_from_tensors(entry.optimizer, dict(tensors.get(entry.name, {})), state[entry.name])
            elif entry.name.startswith(AUX_PREFIX) and entry.name[len(AUX_PREFIX):] in legacy_aux:
                saved = tensors.get(entry.name)
                if saved:
                    entry.optimizer.load_state_dict({"state": {0: dict(saved)},
                                                     "param_groups": legacy_aux[entry.name[len(AUX_PREFIX):]]})


RMSPROP = path_of(torch.optim.RMSprop)
_FLAT_ADAM_OPTIONS = {"eps", "betas"}
_FLAT_RMSPROP_OPTIONS = {"alpha", "eps"}


def build_optimizer(flat: FlatParameters, lr: float, optimizer_class: str | None, optimizer_kwargs: Mapping[str, Any],
                    *, default: tuple[str, Mapping[str, Any]] = (ADAM, {})) -> Any:
    """The optimizer of ``flat``'s parameters, as SB3's ``policy_kwargs`` ask for it.

    ``optimizer_class`` (an import path) with ``optimizer_kwargs``, or, when it is None, the
    algorithm's ``default`` class and options, replaced by ``optimizer_kwargs`` when those are given
    (SB3's rule). Adam and RMSprop with their plain options run as Ballast's flat optimizers (the same
    update with less fixed cost per step; Adam as PyTorch's fused kernel); any other
    class, or options they do not cover, is the ``torch.optim`` class itself over the flat parameter.
    Every optimizer's step runs with subnormal floats flushed to zero (:func:`ballast.optim.denormals_flushed`).
    """
    if optimizer_class is None:
        optimizer_class = default[0]
        options = dict(optimizer_kwargs) if optimizer_kwargs else dict(default[1])
    else:
        options = dict(optimizer_kwargs)
    plain = {k: v for k, v in options.items() if not (k == "weight_decay" and v == 0)}
    if optimizer_class == ADAM and set(plain) <= _FLAT_ADAM_OPTIONS:
        betas = tuple(plain.get("betas", (0.9, 0.999)))
        return FlatAdam(flat, lr=lr, betas=betas, eps=float(plain.get("eps", 1e-8)))
    if optimizer_class == RMSPROP and set(plain) <= _FLAT_RMSPROP_OPTIONS:
        return FlatRMSprop(flat, lr=lr, alpha=float(plain.get("alpha", 0.99)), eps=float(plain.get("eps", 1e-8)))
    return flush_denormals_in_steps(import_path(optimizer_class)([flat.param], lr=lr, **options))
