"""Extending an algorithm without forking it: auxiliary modules and extra loss terms.

* **Auxiliary modules** (``aux_modules={"name": AuxModule(...)}``) are ``nn.Module``s registered
  with the model: moved to its device, trained either by the algorithm's main optimizer
  (``optimizer="shared"``; for SAC, TD3 and DDPG the actor's, ``optimizer="critic"`` the
  critics') or by their own Adam (``optimizer={"lr": 1e-3}``), and saved in the checkpoint.
  They are built again on load from a registered name or an import path plus JSON config, never
  unpickled.
* **Extra losses** (``extra_losses=[fn, ...]``) are callables ``fn(inputs: LossInputs)`` that
  return named terms, each a scalar tensor or ``(tensor, weight)``. They are added to one of the
  algorithm's losses (PPO and A2C: the one sum that is minimised; SAC, TD3 and DDPG: the actor's
  by default, the critic's with :func:`adds_to`; DQN: the Q-network's), logged under
  ``loss/<name>``, and their gradients reach the shared encoder unless the function detaches its
  inputs. A checkpoint names them by import path; one that cannot be imported on load (defined in
  ``__main__``, say) leaves a stand-in that lets the model act and raises if training calls it.

Hooks at the points of an update are methods of :class:`ballast.callbacks.BaseCallback`. The
guide is ``docs/extending.md``.
"""

from __future__ import annotations

import importlib
import json
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from torch import nn

from ballast.errors import CheckpointError, ConfigurationError
from ballast.import_path import MODULE_CLASSES, class_reference, register_module_class, resolve_class
from ballast.optim import FlatAdam, FlatParameters

#: The shared table of registered classes (:data:`ballast.import_path.MODULE_CLASSES`).
_AUX_REGISTRY = MODULE_CLASSES
_ADAM_OPTIONS = {"lr", "eps", "betas"}
_ADDS_TO = "__ballast_adds_to__"
_WHAT, _REGISTER_WITH = "auxiliary module class", "ballast.extensions.register_aux_module"


def register_aux_module(name: str, cls: type[nn.Module] | None = None) -> Any:
    """Register ``cls`` under ``name``, so checkpoints refer to it by that name; returns ``cls``.

    Without ``cls`` it returns a class decorator (``@register_aux_module("my_head")``). Loading a
    checkpoint finds the class by this name, so the registering code must have run by then (e.g.
    the module that defines the class is imported). Registering a name again replaces its class.
    Names share one table with :func:`ballast.encoders.register_features_extractor`.
    """
    if cls is None:
        return lambda decorated: register_aux_module(name, decorated)
    return register_module_class(name, cls, "register_aux_module")


def _class_reference(cls: type[nn.Module]) -> str:
    return class_reference(cls, _WHAT, _REGISTER_WITH)


def _resolve_class(reference: str) -> type[nn.Module]:
    return resolve_class(reference, _WHAT, _REGISTER_WITH, error=CheckpointError)


@dataclass
class AuxModule:
    """The recipe of an auxiliary module: ``cls(**config)``, and how it is optimised.

    ``cls`` is a module-level ``nn.Module`` class, or the name it was registered under, or its
    import path ``"package.module:ClassName"``. ``config`` must be JSON data (it is stored in the
    checkpoint). ``optimizer`` is ``"shared"`` (trained by the algorithm's main optimizer, with its
    learning-rate schedule and gradient clipping; for SAC, TD3 and DDPG the actor's), the name of
    one of the algorithm's losses that has an optimizer of its own (``"actor"`` or ``"critic"`` for
    SAC, TD3 and DDPG: trained by that optimizer), or a dict of options for its own Adam
    (``{"lr": 1e-3}``; ``eps`` and ``betas`` may be given too; no gradient clipping).
    """

    cls: type[nn.Module] | str
    config: dict[str, Any] = field(default_factory=dict)
    optimizer: str | dict[str, Any] = "shared"

    def reference(self) -> str:
        """How the checkpoint names the class: its registered name, else its import path."""
        return self.cls if isinstance(self.cls, str) else _class_reference(self.cls)

    def check(self, name: str, optimizers: Iterable[str] = ()) -> None:
        """Raise :class:`ConfigurationError` now for what would otherwise fail at save or load.

        ``optimizers``: the names, besides ``"shared"``, the algorithm accepts for ``optimizer``.
        """
        self.reference()
        try:
            json.dumps(self.config, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise ConfigurationError(
                f"aux_modules[{name!r}].config must be JSON data (it is saved with the model): {err}"
            ) from None
        optimizers = tuple(optimizers)
        if self.optimizer == "shared" or (isinstance(self.optimizer, str) and self.optimizer in optimizers):
            return
        if not isinstance(self.optimizer, Mapping):
            names = "".join(f", {o!r}" for o in optimizers)
            raise ConfigurationError(
                f"aux_modules[{name!r}].optimizer must be 'shared'{names} or a dict of Adam options such as "
                f"{{'lr': 1e-3}}, got {self.optimizer!r}"
            )
        unknown = set(self.optimizer) - _ADAM_OPTIONS
        if unknown:
            raise ConfigurationError(
                f"aux_modules[{name!r}].optimizer has unknown options {sorted(unknown)}; "
                f"known: {sorted(_ADAM_OPTIONS)}"
            )

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

    ``batch``: the minibatch (for PPO and A2C a ``RolloutBatch``: ``observations`` as stored,
    i.e. normalised when observation normalisation is on, ``actions``, ``old_values``,
    ``old_log_prob``, ``advantages``, ``returns``, ``rewards``, ``terminated``, ``dones``; for SAC, TD3, DDPG and DQN a
    :class:`Transitions`); ``outputs``: the policy's intermediate outputs for it, with gradients
    (for PPO and A2C a ``PolicyOutput``: ``features``, ``latent_pi``, ``latent_vf``,
    ``distribution``, ``values``; for SAC, TD3 and DDPG an :class:`ActorCriticOutputs`; for DQN a
    :class:`QOutputs`); ``aux``: the auxiliary modules by name; ``model``: the algorithm (read
    it, do not change it).
    """

    batch: Any
    outputs: Any
    aux: nn.ModuleDict
    model: Any


@dataclass
class Transitions:
    """A replay minibatch of SAC, TD3, DDPG or DQN, as the networks see it.

    ``observations`` and ``next_observations`` are normalised when observation normalisation is
    on (a dict of tensors for Dict spaces); ``actions`` are in the policy's space ([-1, 1] for
    SAC, TD3 and DDPG; indices for DQN); ``rewards`` are the n-step returns (the reward itself
    for ``n_steps=1``, scaled when reward normalisation is on); ``discounts`` are
    ``gamma^k * (1 - terminated)``, so the TD target is ``rewards + discounts * V(next)``.
    For a residual agent (``base_policy=``) ``base_actions`` and ``next_base_actions`` are the
    base's env actions for ``observations`` and ``next_observations`` (``None`` otherwise), and
    ``actions`` are the executed actions in the policy's space. ``weights`` are the importance
    weights of a prioritized replay draw (``None`` for a uniform one): the critic's or Q loss is
    their weighted mean over the samples.
    """

    observations: Any
    actions: torch.Tensor
    rewards: torch.Tensor
    next_observations: Any
    discounts: torch.Tensor
    base_actions: torch.Tensor | None = None
    next_base_actions: torch.Tensor | None = None
    weights: torch.Tensor | None = None

    @property
    def terminations(self) -> torch.Tensor:
        """1.0 where the episode terminated within the transition (no bootstrap), else 0.0
        (computed from ``discounts``, so it needs ``gamma > 0``)."""
        return (self.discounts == 0).to(self.rewards.dtype)


@dataclass
class ActorCriticOutputs:
    """The intermediate outputs an extra loss of SAC, TD3 or DDPG receives.

    ``loss``: the loss the term joins, ``"critic"`` or ``"actor"``.
    ``actor``: a :class:`ballast.policies.continuous.ActorOutput` for ``batch.observations``
    (``features``, ``latent``, ``actions``; for SAC also ``mean``, ``log_std`` and ``log_prob`` of
    the reparameterised sample). In the actor loss it carries gradients into the actor; in SAC's
    critic loss it is the same sample, detached (the actor steps after the critic); in TD3's and
    DDPG's critic loss it is None (the actor does not run there).
    ``critic_features``: the critic's encoder output for ``batch.observations`` (with a shared
    encoder, the actor's features, without gradient, as the critics read them).
    ``q_values``: critic loss: ``Q_i(s, a)`` of the replayed actions, shape ``(n_critics, batch)``,
    with gradients into the critics; actor loss: ``Q_i(s, actor.actions)`` with the critic weights
    detached (gradients reach the actions only), ``(n_critics, batch)`` for SAC and ``(1, batch)``
    (the first critic) for TD3 and DDPG.
    ``target_q``: critic loss: the TD target ``y`` (no gradient); actor loss: None.
    TQC: ``q_values`` and ``target_q`` are means over the quantiles; ``quantiles`` the critics'
    quantiles ``(n_critics, batch, n_quantiles)`` (with the gradients ``q_values`` has) and, in the
    critic loss, ``target_quantiles`` the truncated target mixture ``(batch, kept)``; None otherwise.
    """

    loss: str
    actor: Any
    critic_features: torch.Tensor | None
    q_values: torch.Tensor
    target_q: torch.Tensor | None
    quantiles: torch.Tensor | None = None
    target_quantiles: torch.Tensor | None = None


@dataclass
class QOutputs:
    """The intermediate outputs an extra loss of DQN receives.

    ``features``: the Q-network's encoder output for ``batch.observations``; ``q_values``:
    ``Q(s, .)``, shape ``(batch, n_actions)``; ``q_taken``: ``Q(s, a)`` of the replayed actions,
    ``(batch,)``; all with gradients. ``target_q``: the TD target (no gradient).
    QR-DQN: ``q_values`` and ``q_taken`` are means over the quantiles, ``quantiles`` the
    quantiles of the replayed actions ``(batch, n_quantiles)`` (with gradients), ``target_q``
    and ``target_quantiles`` the target quantiles' mean ``(batch,)`` and themselves.
    """

    features: torch.Tensor
    q_values: torch.Tensor
    q_taken: torch.Tensor
    target_q: torch.Tensor
    quantiles: torch.Tensor | None = None
    target_quantiles: torch.Tensor | None = None


ExtraLoss = Callable[[LossInputs], Mapping[str, Any]]
F = TypeVar("F", bound=Callable[..., Any])


def adds_to(loss: str) -> Callable[[F], F]:
    """Mark an extra loss as joining the algorithm's loss named ``loss``; returns a decorator.

    SAC, TD3 and DDPG have ``"actor"`` (the default: the term is minimised with the actor loss,
    by the actor's optimizer, at the actor's update) and ``"critic"`` (with the critic loss,
    before the critic's optimizer steps). DQN has one loss, ``"q"``; PPO and A2C one, ``"loss"``.
    The mark is an attribute of the function, so a loss imported again by a checkpoint keeps it.
    """
    if not isinstance(loss, str):
        raise ConfigurationError(f"adds_to needs the name of a loss such as 'actor' or 'critic', got {loss!r}")

    def mark(fn: F) -> F:
        setattr(fn, _ADDS_TO, loss)
        return fn

    return mark


class Extensions:
    """The auxiliary modules and extra losses of one model, and their own optimizers.

    ``losses`` are the names of the algorithm's losses an extra loss may join (see
    :func:`adds_to`), the default first. When there are several, they are also accepted as an
    auxiliary module's ``optimizer`` (the optimizer of that loss); ``"shared"`` means the first.
    """

    def __init__(self, aux_modules: Mapping[str, AuxModule] | None, extra_losses: Iterable[ExtraLoss] | None,
                 device: torch.device, losses: tuple[str, ...] = ("loss",)) -> None:
        self.losses = tuple(losses)
        optimizers = self.losses if len(self.losses) > 1 else ()
        self.specs: dict[str, AuxModule] = {}
        for name, spec in (aux_modules or {}).items():
            if not isinstance(spec, AuxModule):
                raise ConfigurationError(
                    f"aux_modules[{name!r}] must be a ballast.extensions.AuxModule(cls, config, optimizer), "
                    f"got {type(spec).__name__}"
                )
            if not (isinstance(name, str) and name.isidentifier()):
                raise ConfigurationError(f"aux module names must be Python identifiers (no dots), got {name!r}")
            spec.check(name, optimizers)
            self.specs[name] = spec
        self.modules = nn.ModuleDict({name: spec.build() for name, spec in self.specs.items()}).to(device)
        self.extra_losses = list(extra_losses or [])
        for fn in self.extra_losses:
            self.loss_of(fn)
        self.own: dict[str, tuple[FlatParameters, FlatAdam]] = {}

    def __bool__(self) -> bool:
        return bool(self.specs) or bool(self.extra_losses)

    def loss_of(self, fn: ExtraLoss) -> str:
        """The algorithm's loss ``fn`` joins: its :func:`adds_to` mark, else the default."""
        loss = getattr(fn, _ADDS_TO, None)
        if loss is None:
            return self.losses[0]
        if loss not in self.losses:
            raise ConfigurationError(
                f"the extra loss {getattr(fn, '__qualname__', fn)!r} adds to the loss {loss!r}, but this algorithm's "
                f"extra losses can join {list(self.losses)}"
            )
        return loss

    def has_losses(self, loss: str) -> bool:
        """Whether some extra loss joins the algorithm's loss ``loss``."""
        return any(self.loss_of(fn) == loss for fn in self.extra_losses)

    def shared_parameters(self, loss: str | None = None) -> list[nn.Parameter]:
        """Parameters of the aux modules trained by the optimizer of the algorithm's loss ``loss``
        (by default its main one): ``optimizer="shared"`` means the main loss's optimizer."""
        main = self.losses[0]
        loss = main if loss is None else loss
        return [p for name, spec in self.specs.items()
                if spec.optimizer == loss or (spec.optimizer == "shared" and loss == main)
                for p in self.modules[name].parameters()]

    def build_own_optimizers(self, optimizers: Any) -> None:
        """Adam for each aux module with an optimizer of its own (after the modules are on their device),
        registered in the model's :class:`~ballast.algos.optimizers.Optimizers` as ``aux_optimizer.<name>``."""
        for name, spec in self.specs.items():
            if isinstance(spec.optimizer, Mapping):
                options = spec.optimizer
                flat = FlatParameters(self.modules[name].parameters())
                optimizer = FlatAdam(flat, lr=float(options.get("lr", 3e-4)), eps=float(options.get("eps", 1e-8)),
                                     betas=tuple(options.get("betas", (0.9, 0.999))))
                self.own[name] = (flat, optimizer)
                optimizers.register(f"aux_optimizer.{name}", optimizer, flat)

    def zero_own_grads(self) -> None:
        for flat, _ in self.own.values():
            flat.zero_grad()

    def step_own_optimizers(self) -> None:
        for _, optimizer in self.own.values():
            optimizer.step()

    def terms(self, batch: Any, outputs: Any, model: Any, loss: str | None = None) -> dict[str, torch.Tensor]:
        """The weighted extra loss terms for one minibatch, by name: of the extra losses that join
        the algorithm's loss ``loss`` (all of them when None)."""
        out: dict[str, torch.Tensor] = {}
        inputs = LossInputs(batch=batch, outputs=outputs, aux=self.modules, model=model)
        for fn in self.extra_losses:
            if loss is not None and self.loss_of(fn) != loss:
                continue
            for name, value in fn(inputs).items():
                term, weight = value if isinstance(value, tuple) else (value, 1.0)
                if name in out:
                    raise ConfigurationError(f"two extra losses return a term named {name!r}")
                if not (isinstance(term, torch.Tensor) and term.dim() == 0):
                    shape = tuple(term.shape) if isinstance(term, torch.Tensor) else type(term).__name__
                    raise ConfigurationError(f"the extra loss term {name!r} must be a scalar tensor, got {shape}")
                out[name] = term * weight if weight != 1.0 else term
        return out

    # --- checkpoint ---------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"aux_modules": {name: spec.to_json() for name, spec in self.specs.items()},
                "extra_losses": [_function_reference(fn) for fn in self.extra_losses]}

    def state_tensors(self) -> dict[str, dict[str, torch.Tensor]]:
        """The aux modules' weights (their own optimizers are saved with the model's others)."""
        return {"aux_modules": dict(self.modules.state_dict())} if self.specs else {}

    def load(self, tensors: Mapping[str, Mapping[str, torch.Tensor]]) -> None:
        if self.specs:
            if "aux_modules" not in tensors:
                raise CheckpointError("the checkpoint has no weights for its auxiliary modules")
            self.modules.load_state_dict(dict(tensors["aux_modules"]))


def add_extra_terms(terms: dict[str, torch.Tensor], extra: Mapping[str, torch.Tensor]) -> None:
    """Add ``extra`` to an algorithm's ``terms``; a name already used by the algorithm is an error."""
    for name, value in extra.items():
        if name in terms:
            raise ConfigurationError(f"an extra loss returns the term {name!r}, which the algorithm already uses")
        terms[name] = value


def sum_terms(terms: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The sum of ``terms`` in their order; one term is returned as it is (no extra operation)."""
    values = iter(terms.values())
    total = next(values)
    for value in values:
        total = total + value
    return total


def term_stats(terms: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached ``loss/<name>`` for every term and their sum as ``train/loss``, for ``record_mean``."""
    stats = {f"loss/{name}": value.detach() for name, value in terms.items()}
    stats["train/loss"] = sum_terms(stats)
    return stats


def record_terms(logger: Any, terms: Mapping[str, torch.Tensor], total: torch.Tensor) -> None:
    """Log every named loss term as ``loss/<name>`` and their sum as ``train/loss``."""
    for name, value in terms.items():
        logger.record_mean(f"loss/{name}", value.detach())
    logger.record_mean("train/loss", total.detach())


class MissingExtraLoss:
    """Stands for an extra loss of a checkpoint that cannot be imported: acting works, training raises.

    A model is often loaded only to predict, evaluate or export, which needs no loss; training it
    needs the function itself (``load(path, extra_losses=[...])``). Saving keeps the reference.
    """

    def __init__(self, reference: str | None, reason: str) -> None:
        self.reference, self.reason = reference, reason

    def __repr__(self) -> str:
        return f"MissingExtraLoss({self.reference!r})"

    def __call__(self, inputs: LossInputs) -> Mapping[str, Any]:
        raise CheckpointError(
            f"this model was loaded without its extra loss {self.reference or '(unnamed)'}: {self.reason}; "
            "pass extra_losses=[...] to load() to train it"
        )


def _function_reference(fn: Callable) -> str | None:
    """``module:qualname`` of an extra loss (importable or not, for messages), None when it has no name."""
    if isinstance(fn, MissingExtraLoss):
        return fn.reference
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not (module and qualname):
        return None
    return f"{module}:{qualname}"


def resolve_extra_losses(references: Iterable[str | None]) -> list[ExtraLoss]:
    """Import the extra losses named in a checkpoint; one that cannot be imported becomes a
    :class:`MissingExtraLoss` (with a warning), so the model still loads to act."""
    out: list[ExtraLoss] = []
    for reference in references:
        module_name, _, qualname = (reference or "").partition(":")
        if reference is None or module_name == "__main__" or "<" in qualname:
            # The loading script's __main__ is not the saving one's: never look a name up there.
            reason = "it was defined in a script run as __main__, inside a function, or has no name"
        else:
            try:
                obj: Any = importlib.import_module(module_name)
                for part in qualname.split("."):
                    obj = getattr(obj, part)
            except (ImportError, AttributeError, ValueError) as err:
                reason = f"it cannot be imported ({err})"
            else:
                out.append(obj)
                continue
        warnings.warn(f"the checkpoint's extra loss {reference or '(unnamed)'} is not available: {reason}; the "
                      "model can act, and training it needs load(path, extra_losses=[...])", stacklevel=4)
        out.append(MissingExtraLoss(reference, reason))
    return out
