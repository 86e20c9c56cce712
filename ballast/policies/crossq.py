"""CrossQ's policy (sb3-contrib's ``CrossQPolicy``): SAC's squashed Gaussian actor and a critic
ensemble, both with batch renormalisation in their hidden layers, and no target critics.

::

    actor:  obs -> [encoder] -> (BRN -> Linear -> act) x len(pi) -> BRN -> mean, log_std -> tanh(...)
    critic: (obs, a) -> [encoder] -> concat -> n_critics x ((BRN -> Linear -> act) x len(qf) -> BRN -> Linear) -> Q_i

(BRN: :class:`~ballast.policies.batch_renorm.BatchRenorm`, ``batch_norm=False`` leaves them out.)
The actor acts in eval mode, where each batch-renorm layer is the affine map of its running
statistics, so ``predict`` and the exported policy are deterministic functions of the observation.
The algorithm (:class:`ballast.CrossQ`) switches the layers between modes during its updates.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import torch
from gymnasium import spaces

from ballast.policies.batch_renorm import BatchRenormMLP, BatchRenormOptions, set_batch_renorm_training
from ballast.policies.config import ADAM, PolicyConfig
from ballast.policies.continuous import (
    ContinuousCritic,
    OffPolicyActorCritic,
    SquashedGaussianActor,
    StackedOutput,
    actor_critic_sizes,
    squashed_box,
)
from ballast.policies.heads import zero_output_layer_
from ballast.policies.optimizer_handle import link_to_policy
from ballast.policies.sb3_arguments import LrSchedule, given_arguments, policy_config
from ballast.registry import register_policy

if TYPE_CHECKING:
    from ballast.residual.actions import ResidualActions

Obs = torch.Tensor | dict[str, torch.Tensor]

#: sb3-contrib's Adam (and AdamW) options for CrossQ when none are given: ``beta_1 = 0.5``, as the paper's code.
ADAM_BETAS = [0.5, 0.999]
_ADAM_CLASSES = (None, ADAM, "torch.optim.adamw:AdamW")


def with_crossq_optimizer_defaults(config: PolicyConfig) -> PolicyConfig:
    """``config`` with sb3-contrib's CrossQ default ``optimizer_kwargs=dict(betas=(0.5, 0.999))`` when
    no options were given and the optimizer is Adam or AdamW (SB3's rule: given options replace them)."""
    if config.optimizer_kwargs or config.optimizer_class not in _ADAM_CLASSES:
        return config
    return dataclasses.replace(config, optimizer_kwargs={"betas": list(ADAM_BETAS)})


def batch_renorm_options(config: PolicyConfig) -> BatchRenormOptions | None:
    """The batch-renorm layers' settings from the policy configuration (None: ``batch_norm=False``)."""
    if not config.batch_norm:
        return None
    return BatchRenormOptions(momentum=config.batch_norm_momentum, eps=config.batch_norm_eps,
                              warmup_steps=config.renorm_warmup_steps)


class CrossQActor(SquashedGaussianActor):
    """SAC's actor (:class:`SquashedGaussianActor`, gSDE included) whose hidden layers are a
    :class:`BatchRenormMLP` with a last batch-renorm layer before the mean and log-std heads."""

    def set_bn_training_mode(self, mode: bool) -> None:
        """sb3-contrib's: train (batch statistics, running statistics updated) or eval mode of the
        batch-renorm layers only."""
        set_batch_renorm_training(self, mode)


class CrossQCritic(ContinuousCritic):
    """``n_critics`` Q-networks with batch renormalisation (a :class:`BatchRenormMLP` with a last
    batch-renorm layer before each output layer), computed as one stacked network; each network
    has its own statistics. ``forward`` returns ``(n_critics, batch)``, as :class:`ContinuousCritic`."""

    def q_from_features(self, features: torch.Tensor, actions: torch.Tensor, *, detach_params: bool = False,
                        first_only: bool = False) -> torch.Tensor:
        """Q-values of the encoder's ``features`` and ``actions``; ``detach_params`` computes with every
        weight (batch-renorm scales and shifts included) detached. In train mode the batch statistics
        are over the rows given: CrossQ passes ``(s, a)`` and ``(s', a')`` together."""
        h = self.mlp(torch.cat([features, actions], dim=1), detach_params)
        weight, bias = self.out_weight, self.out_bias
        if detach_params:
            weight, bias = weight.detach(), bias.detach()
        q = StackedOutput.apply(h, weight, bias)
        return q[:1] if first_only else q

    def set_bn_training_mode(self, mode: bool) -> None:
        """sb3-contrib's: train or eval mode of the batch-renorm layers only."""
        set_batch_renorm_training(self, mode)


@register_policy
class CrossQPolicy(OffPolicyActorCritic):
    """sb3-contrib's ``CrossQPolicy``; see the module docstring. Default ``net_arch``:
    ``dict(pi=[256, 256], qf=[1024, 1024])``; Adam with ``betas=(0.5, 0.999)``."""

    default_optimizer_kwargs = {"betas": tuple(ADAM_BETAS)}

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space,
                 lr_schedule: LrSchedule | None = None, net_arch: Any = None, activation_fn: Any = None,
                 batch_norm: bool | None = None, batch_norm_momentum: float | None = None,
                 batch_norm_eps: float | None = None, renorm_warmup_steps: int | None = None,
                 use_sde: bool = False, log_std_init: float | None = None, use_expln: bool | None = None,
                 clip_mean: float | None = None, features_extractor_class: Any = None,
                 features_extractor_kwargs: dict[str, Any] | None = None, normalize_images: bool | None = None,
                 optimizer_class: Any = None, optimizer_kwargs: dict[str, Any] | None = None,
                 n_critics: int | None = None, share_features_extractor: bool | None = None, *,
                 ortho_init: bool | None = None, full_std: bool | None = None, policy_name: str | None = None,
                 config: PolicyConfig | None = None, normalize_observations: bool = False,
                 residual: ResidualActions | None = None) -> None:
        """sb3-contrib's arguments in its order (see :mod:`ballast.policies.sb3_arguments`), then Ballast's."""
        policy_name = policy_name or self.default_policy_name
        config = policy_config(config, given_arguments(locals(), "crossq"), "crossq", policy_name)
        super().__init__(observation_space, action_space, lr_schedule, policy_name=policy_name,
                         config=with_crossq_optimizer_defaults(config),
                         normalize_observations=normalize_observations, residual=residual)
        self.use_sde = use_sde
        cfg = self.config
        options = batch_renorm_options(cfg)
        pi_sizes, qf_sizes = actor_critic_sizes(cfg)
        action_dim = squashed_box(action_space, "CrossQ")
        encoder = cfg.make_features_extractor(self.network_observation_space, policy_name)
        actor_mlp = BatchRenormMLP(encoder.features_dim, pi_sizes, cfg.activation_fn, 1, final_norm=bool(pi_sizes),
                                   options=options)
        self.actor = CrossQActor(encoder, action_dim, pi_sizes, cfg.activation_fn, use_sde=use_sde,
                                 log_std_init=cfg.log_std_init, full_std=cfg.full_std, use_expln=cfg.use_expln,
                                 clip_mean=cfg.clip_mean, ortho_init=cfg.ortho_init, mlp=actor_mlp)
        if self.residual is not None:
            zero_output_layer_(self.actor.mu)
        shared = cfg.share_features_extractor
        critic_encoder = None if shared else cfg.make_features_extractor(self.network_observation_space, policy_name)
        features_dim = encoder.features_dim
        critic_mlp = BatchRenormMLP(features_dim + action_dim, qf_sizes, cfg.activation_fn, cfg.n_critics,
                                    final_norm=True, options=options)
        self.critic = CrossQCritic(critic_encoder, features_dim, action_dim, qf_sizes, cfg.activation_fn,
                                   cfg.n_critics, cfg.ortho_init, mlp=critic_mlp)
        link_to_policy(self.actor, self)
        link_to_policy(self.critic, self)

    def reset_noise(self, n_envs: int = 1) -> None:
        self.actor.reset_noise(n_envs)

    def set_bn_training_mode(self, mode: bool) -> None:
        """Train or eval mode of every batch-renorm layer (the actor's and the critics')."""
        set_batch_renorm_training(self, mode)
