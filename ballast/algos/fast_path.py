"""Whether a model's updates take the fast gradient path, and why not: one check for every algorithm.

The fast path (:mod:`ballast.policies.fast_mlp`) computes the gradients of the default MLP
policies without autograd; each algorithm's fast update gives only ``d(loss)/d(outputs)`` and
writes nothing but ``.grad``, so clipping, optimizer steps, target updates and update hooks are
the same on both paths. It applies when the loss is the algorithm's own (no subclass overriding a
loss method, no extra loss terms or auxiliary modules, no residual base) and the networks are
those the layers handle (vector observations flattened, ReLU or tanh, float32, every trainable
parameter in the optimizer's flat storage). Anything else trains with autograd, with the same
losses; :func:`status` names the first reason, and ``model.fast_path`` shows it to the user
(``verbose >= 1`` logs it once, at the start of ``learn``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ballast.encoders.standard import FlattenEncoder
from ballast.policies.fast_mlp import ACTIVATIONS


@dataclass(frozen=True)
class FastPathStatus:
    """``active``: whether updates take the fast path; ``reason``: why (not)."""

    active: bool
    reason: str

    def __bool__(self) -> bool:
        return self.active

    def __str__(self) -> str:
        return f"fast path {'on' if self.active else 'off'}: {self.reason}"


ON = "the default MLP policy's gradients are computed without autograd"


def status(model: Any) -> FastPathStatus:
    """The model's fast-path status: the first reason it does not apply, if any."""
    reason = _refusal(model)
    return FastPathStatus(reason is None, ON if reason is None else reason)


def fast_update(model: Any) -> Any:
    """The model's fast update when the fast path applies, else None.

    Built once per policy and kept: the check walks the model, and off-policy algorithms update
    after every env step. A model that changes what the check reads (its ``use_fast_path``, its
    policy, the masks of its rollouts) gets a new answer, since those are part of the key.
    """
    masked = getattr(getattr(model, "rollout_buffer", None), "masked", False)
    key = (model.policy, model.use_fast_path, masked)
    cached = model.__dict__.get("_fast_update_cache")
    if cached is None or any(a is not b for a, b in zip(cached[0], key)):
        cached = (key, model._build_fast_update() if _refusal(model) is None else None)
        model._fast_update_cache = cached
    return cached[1]


def _refusal(model: Any) -> str | None:
    if not model.use_fast_path:
        return "turned off (model.use_fast_path = False)"
    cls = type(model)
    # The class whose fast update computes the losses as its loss methods define them.
    owner = next(c for c in cls.__mro__ if "_build_fast_update" in c.__dict__)
    overridden = [name for name in cls.loss_methods if getattr(cls, name) is not getattr(owner, name)]
    if overridden:
        return f"{cls.__name__} overrides {', '.join(overridden)}, so its losses are computed with autograd"
    extensions = model.extensions
    if extensions.extra_losses:
        return "extra loss terms are added to the losses"
    if extensions.modules:
        return "the model has auxiliary modules"
    if model.residual_actions is not None:
        return "a residual policy's loss depends on its base's actions"
    if getattr(model.config, "use_sde", False):
        return "gSDE exploration (use_sde=True)"
    if getattr(getattr(model, "rollout_buffer", None), "masked", False):
        return "the rollouts have action masks"
    policy = model.policy
    if type(policy) is not model.default_policy_class:
        return f"the policy is a {type(policy).__name__}, not the default {model.default_policy_class.__name__}"
    return model._fast_path_structure()


def networks_reason(encoders: list[nn.Module | None], mlps: list[nn.Module], parameters: list[torch.Tensor],
                    flat_parameters: list[Any], modules: list[nn.Module]) -> str | None:
    """Why the networks are not those the fast layers handle, or None.

    ``encoders``: flatten encoders of one scale (None stands for an encoder shared with another
    network); ``mlps``: stacked MLPs with ReLU or tanh; ``parameters``: float32, each a view of one
    of ``flat_parameters``' storage (so its ``.grad`` is there to be written); ``modules``: the
    trainable modules whose every parameter must be in ``parameters``.
    """
    present = [e for e in encoders if e is not None]
    for encoder in present:
        if type(encoder) is not FlattenEncoder:
            return f"the observation encoder is a {type(encoder).__name__}, not a FlattenEncoder (vector observations)"
    if len({e.scale for e in present}) > 1:
        return "the encoders scale observations differently"
    for mlp in mlps:
        if mlp.activation_name not in ACTIVATIONS:
            return f"the activation is {mlp.activation_name}; the fast path has ReLU and Tanh"
    if any(p.dtype != torch.float32 for p in parameters):
        return "the parameters are not float32"
    if any(p.grad is None for p in parameters):
        return "some parameters are not in the optimizer's flat storage"
    owned = sum(len(flat.params) for flat in flat_parameters)
    if owned != sum(1 for module in modules for _ in module.parameters()):
        return "some trainable parameters are outside the policy's networks"
    return None
