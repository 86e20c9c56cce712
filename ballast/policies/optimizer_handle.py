"""SB3's ``policy.optimizer`` (and, for SAC and TD3, ``policy.actor.optimizer`` and
``policy.critic.optimizer``): the optimizer the algorithm steps for a network's parameters.

The algorithm owns its optimizers (:mod:`ballast.algos.optimizers` registers, schedules and saves
them); a network only holds a weak handle on its optimizer, so copying a policy (export, a target
network) copies no optimizer state. A policy built alone with SB3's ``lr_schedule`` (behaviour
cloning, SB3's ``policy_class(observation_space, action_space, lr_schedule)``) builds an optimizer
of its own the first time it is asked for, as SB3's policy does in its constructor. The handle is
read-only: the optimizer is chosen with ``policy_kwargs=dict(optimizer_class=..., optimizer_kwargs=...)``,
as in SB3.
"""

from __future__ import annotations

import weakref
from typing import Any

from torch import nn

from ballast.errors import ConfigurationError


class OptimizerHandle:
    """Mixed into a network class: its ``optimizer`` property (None until an algorithm trains it)."""

    @property
    def optimizer(self) -> Any:
        """The optimizer that steps this network's parameters in training, or None."""
        ref = self.__dict__.get("_optimizer_ref")
        attached = ref() if ref is not None else None
        return attached if attached is not None else self._standalone_optimizer()

    def _standalone_optimizer(self) -> Any:
        """The optimizer of a network no algorithm trains: its policy's own one for it, if the
        policy was built alone (see :meth:`ballast.policies.base.BasePolicy.own_optimizer`)."""
        ref = self.__dict__.get("_policy_ref")
        policy = ref() if ref is not None else None
        return None if policy is None else policy.own_optimizer(self)

    @optimizer.setter
    def optimizer(self, value: Any) -> None:
        raise ConfigurationError(
            f"{type(self).__name__}.optimizer is chosen by the algorithm that trains it and cannot be replaced; "
            "pass policy_kwargs=dict(optimizer_class=..., optimizer_kwargs=...) to the algorithm instead, or "
            "change the learning rate through model.learning_rate")


def link_to_policy(network: nn.Module, policy: nn.Module) -> None:
    """Let a network of ``policy`` (SAC's actor, its critic) answer the optimizer the policy builds
    for it when built alone (a weak reference: no module attribute, nothing in the state dict)."""
    network.__dict__["_policy_ref"] = weakref.ref(policy)


def attach_optimizer(network: nn.Module, optimizer: Any) -> None:
    """Let ``network.optimizer`` answer ``optimizer`` (a weak reference: the model owns it)."""
    network.__dict__["_optimizer_ref"] = weakref.ref(optimizer)
