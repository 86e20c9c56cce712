"""Extending an algorithm without forking it: auxiliary modules and extra loss terms.

* **Auxiliary modules** (``aux_modules={"name": AuxModule(...)}``) are ``nn.Module``s registered
  with the model: moved to its device, trained either by the algorithm's main optimizer
  (``optimizer="shared"``) or by their own Adam (``optimizer={"lr": 1e-3}``), and saved in the
  checkpoint. They are built again on load from a registered name or an import path plus JSON
  config, never unpickled.
* **Extra losses** (``extra_losses=[fn, ...]``) are callables ``fn(inputs: LossInputs)`` that
  return named terms, each a tensor or ``(tensor, weight)``. They are added to the algorithm's
  own terms (for actor-critic algorithms, to the sum that is minimised; for SAC/TD3, to the critic
  loss unless the name starts with ``actor``), logged under ``loss/<name>``, and their gradients
  reach the shared encoder unless the function detaches its inputs.

Hooks at the points of an update are methods of :class:`ballast.callbacks.BaseCallback`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ballast.errors import CheckpointError, ConfigurationError
from ballast.optim import FlatAdam, FlatParameters

_AUX_REGISTRY: dict[str, type[nn.Module]] = {}


def register_aux_module(name: str, cls: type[nn.Module]) -> type[nn.Module]:
    """Register ``cls`` under ``name``, so checkpoints refer to it by that name."""
    _AUX_REGISTRY[name] = cls
    return cls


def _class_reference(cls: type[nn.Module]) -> str:
    for name, registered in _AUX_REGISTRY.items():
        if registered is cls:
            return name
    if "<locals>" in cls.__qualname__ or cls.__module__ == "__main__":
        raise ConfigurationError(
            f"the auxiliary module class {cls.__qualname__} cannot be found again when loading (it is defined "
            "in a function or in __main__); define it at module level in an importable module or register it "
            "with ballast.extensions.register_aux_module(name, cls)"
        )
    return f"{cls.__module__}:{cls.__qualname__}"


def _resolve_class(reference: str) -> type[nn.Module]:
    if reference in _AUX_REGISTRY:
        return _AUX_REGISTRY[reference]
    module_name, _, qualname = reference.partition(":")
    if not qualname:
        raise CheckpointError(f"the auxiliary module {reference!r} is neither registered nor an import path")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as err:
        raise CheckpointError(
            f"the checkpoint's auxiliary module {reference!r} cannot be imported ({err}); import or register it "
            "before loading"
        ) from None
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        raise CheckpointError(f"{reference!r} is not an nn.Module class")
    return obj


@dataclass
class AuxModule:
    """The recipe of an auxiliary module: ``cls(**config)``, and how it is optimised.

    ``config`` must be JSON data (it is stored in the checkpoint). ``optimizer`` is ``"shared"``
    (trained by the algorithm's main optimizer, with its learning rate) or a dict of options for
    its own Adam (``{"lr": 1e-3}``; ``eps`` may be given too).
    """

    cls: type[nn.Module] | str
    config: dict[str, Any] = field(default_factory=dict)
    optimizer: str | dict[str, float] = "shared"

    def reference(self) -> str:
        return self.cls if isinstance(self.cls, str) else _class_reference(self.cls)

    def build(self) -> nn.Module:
        cls = _resolve_class(self.cls) if isinstance(self.cls, str) else self.cls
        return cls(**self.config)

    def to_json(self) -> dict[str, Any]:
        return {"class": self.reference(), "config": self.config, "optimizer": self.optimizer}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuxModule:
        return cls(cls=data["class"], config=dict(data.get("config", {})), optimizer=data.get("optimizer", "shared"))


@dataclass
class LossInputs:
    """What an extra loss receives.

    ``batch``: the minibatch (``RolloutBatch`` for PPO/A2C, ``ReplayBatch`` for off-policy
    algorithms); ``outputs``: the policy's intermediate outputs for it (``PolicyOutput`` with
    ``features``, ``latent_pi``, ``latent_vf``, ``distribution``, ``values`` for PPO/A2C; a dict of
    named tensors for off-policy algorithms); ``aux``: the auxiliary modules by name; ``model``:
    the algorithm (read-only use).
    """

    batch: Any
    outputs: Any
    aux: nn.ModuleDict
    model: Any


ExtraLoss = Callable[[LossInputs], Mapping[str, Any]]


class Extensions:
    """The auxiliary modules and extra losses of one model, and their own optimizers."""

    def __init__(self, aux_modules: Mapping[str, AuxModule] | None, extra_losses: Iterable[ExtraLoss] | None,
                 device: torch.device) -> None:
        self.specs: dict[str, AuxModule] = {}
        for name, spec in (aux_modules or {}).items():
            if not isinstance(spec, AuxModule):
                raise ConfigurationError(
                    f"aux_modules[{name!r}] must be a ballast.extensions.AuxModule(cls, config, optimizer), "
                    f"got {type(spec).__name__}"
                )
            spec.reference()  # fails early if the class could not be found again on load
            self.specs[name] = spec
        self.modules = nn.ModuleDict({name: spec.build() for name, spec in self.specs.items()}).to(device)
        self.extra_losses = list(extra_losses or [])
        self.own: dict[str, tuple[FlatParameters, FlatAdam]] = {}

    def __bool__(self) -> bool:
        return bool(self.specs) or bool(self.extra_losses)

    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters of the aux modules trained by the algorithm's main optimizer."""
        return [p for name, spec in self.specs.items() if spec.optimizer == "shared"
                for p in self.modules[name].parameters()]

    def build_own_optimizers(self) -> None:
        for name, spec in self.specs.items():
            if spec.optimizer != "shared":
                options = dict(spec.optimizer)
                flat = FlatParameters(self.modules[name].parameters())
                self.own[name] = (flat, FlatAdam(flat, lr=options.pop("lr", 3e-4), eps=options.pop("eps", 1e-8)))

    def zero_own_grads(self) -> None:
        for flat, _ in self.own.values():
            flat.zero_grad()

    def step_own_optimizers(self) -> None:
        for _, optimizer in self.own.values():
            optimizer.step()

    def terms(self, batch: Any, outputs: Any, model: Any) -> dict[str, torch.Tensor]:
        """The weighted extra loss terms for one minibatch, by name."""
        out: dict[str, torch.Tensor] = {}
        inputs = LossInputs(batch=batch, outputs=outputs, aux=self.modules, model=model)
        for fn in self.extra_losses:
            for name, value in fn(inputs).items():
                term, weight = value if isinstance(value, tuple) else (value, 1.0)
                if name in out:
                    raise ConfigurationError(f"two extra losses return a term named {name!r}")
                out[name] = term * weight if weight != 1.0 else term
        return out

    # --- checkpoint ---------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"aux_modules": {name: spec.to_json() for name, spec in self.specs.items()},
                "extra_losses": [_function_reference(fn) for fn in self.extra_losses]}

    def state_tensors(self) -> dict[str, dict[str, torch.Tensor]]:
        groups: dict[str, dict[str, torch.Tensor]] = {}
        if self.specs:
            groups["aux_modules"] = dict(self.modules.state_dict())
        for name, (_, optimizer) in self.own.items():
            groups[f"aux_optimizer.{name}"] = dict(optimizer.state)
        return groups

    def optimizer_json(self) -> dict[str, Any]:
        return {name: optimizer.param_groups for name, (_, optimizer) in self.own.items()}

    def load(self, tensors: Mapping[str, Mapping[str, torch.Tensor]], optimizer_json: Mapping[str, Any]) -> None:
        if self.specs:
            if "aux_modules" not in tensors:
                raise CheckpointError("the checkpoint has no weights for its auxiliary modules")
            self.modules.load_state_dict(dict(tensors["aux_modules"]))
        for name, (_, optimizer) in self.own.items():
            state = tensors.get(f"aux_optimizer.{name}")
            if state:
                optimizer.load_state_dict({"state": {0: dict(state)}, "param_groups": optimizer_json[name]})


def add_extra_terms(terms: dict[str, torch.Tensor], extra: Mapping[str, torch.Tensor]) -> None:
    """Add ``extra`` to an algorithm's ``terms``; a name already used by the algorithm is an error."""
    for name, value in extra.items():
        if name in terms:
            raise ConfigurationError(f"an extra loss returns the term {name!r}, which the algorithm already uses")
        terms[name] = value


def record_terms(logger: Any, terms: Mapping[str, torch.Tensor], total: torch.Tensor) -> None:
    """Log every named loss term as ``loss/<name>`` and their sum as ``train/loss``."""
    for name, value in terms.items():
        logger.record_mean(f"loss/{name}", value.detach())
    logger.record_mean("train/loss", total.detach())


def _function_reference(fn: Callable) -> str | None:
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if module in (None, "__main__") or "<" in qualname:
        return None
    return f"{module}:{qualname}"


def resolve_extra_losses(references: Iterable[str | None]) -> list[ExtraLoss]:
    """Import the extra losses named in a checkpoint; a missing one is a clear error."""
    out = []
    for reference in references:
        if reference is None:
            raise CheckpointError(
                "the model was saved with an extra loss defined in __main__ or inside a function, which cannot be "
                "imported again; pass extra_losses=[...] to load()"
            )
        module_name, _, qualname = reference.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as err:
            raise CheckpointError(
                f"the extra loss {reference!r} cannot be imported ({err}); pass extra_losses=[...] to load()"
            ) from None
        out.append(obj)
    return out
