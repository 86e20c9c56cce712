"""Truncated Quantile Critics (TQC; Kuznetsov et al., 2020, "Controlling Overestimation Bias with
Truncated Mixture of Continuous Distributional Quantile Critics", arXiv:2005.04269).

TQC is SAC (:mod:`ballast.algos.sac`) with distributional critics: each of the ``n_critics``
networks outputs ``N = n_quantiles`` quantiles ``Z_i^k(s, a)`` of the return
(:class:`~ballast.policies.continuous.TQCPolicy`). Each gradient step, in SAC's order:

1. ``alpha``: as SAC;
2. ``critic``: the quantile Huber loss of every critic's quantiles against the truncated target
   mixture (:func:`ballast.losses.tqc_critic_loss`): the target critics' ``n_critics * N``
   quantiles at ``(s', a')`` pooled and sorted, the top ``top_quantiles_to_drop_per_net *
   n_critics`` dropped, ``y_j = r + discount * (z_(j) - alpha * log pi(a'|s'))``
   (:func:`ballast.returns.truncated_quantile_target`). Dropping the largest atoms is how TQC
   controls the overestimation bias that SAC controls with the minimum over two critics, and the
   number dropped tunes it;
3. ``actor``: ``mean(alpha * log pi(a~|s) - mean_{i,k} Z_i^k(s, a~))`` (:func:`ballast.losses.tqc_actor_loss`);
4. Adam steps and Polyak averaging of the target critics, as SAC.

Acting, gSDE, residual policies, extensions (the terms ``critic``, ``actor``, ``alpha``), saving and
export are SAC's code: only the critics, the target and the two losses differ. The gradients come
from autograd (``model.fast_path`` says so). Hyperparameter names and defaults are sb3-contrib's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from gymnasium import spaces
from torch import nn

from ballast import losses, returns
from ballast.algos import validation
from ballast.algos.sac import SAC, SACConfig
from ballast.envs.make import EnvLike
from ballast.errors import ConfigurationError
from ballast.extensions import AuxModule, ExtraLoss
from ballast.noise import ActionNoise
from ballast.policies.continuous import TQCPolicy
from ballast.schedules import ScheduleLike

#: Why TQC's updates take autograd (``model.fast_path``).
NO_FAST_UPDATE = "TQC's quantile critics and truncated targets have no fast update; its gradients come from autograd"


@dataclass
class TQCConfig(SACConfig):
    """TQC's hyperparameters: SAC's and ``top_quantiles_to_drop_per_net`` (see :class:`TQC`)."""

    top_quantiles_to_drop_per_net: int = 2


class TQC(SAC):
    """TQC with sb3-contrib's interface: ``TQC("MlpPolicy", "Pendulum-v1", seed=0).learn(20_000)``.

    Arguments and their meanings as :class:`ballast.SAC`, with sb3-contrib's defaults, and
    ``top_quantiles_to_drop_per_net``: the largest target quantiles dropped per critic (2; 0 keeps
    them all, more makes the target more pessimistic). ``policy_kwargs=dict(n_quantiles=...,
    n_critics=...)`` set the quantiles per critic (25) and the critics (2).
    """

    algorithm_name = "tqc"
    config_class = TQCConfig
    default_policy_class = TQCPolicy
    policy_kind = "tqc"

    def __init__(
        self,
        policy: str | nn.Module | type[nn.Module],
        env: EnvLike | None,
        *,
        learning_rate: ScheduleLike = 3e-4,
        buffer_size: int = 1_000_000,
        learning_starts: int = 100,
        batch_size: int = 256,
        tau: float = 0.005,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 1,
        action_noise: ActionNoise | dict[str, Any] | None = None,
        n_steps: int = 1,
        ent_coef: str | float = "auto",
        target_update_interval: int = 1,
        target_entropy: str | float = "auto",
        top_quantiles_to_drop_per_net: int = 2,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        use_sde_at_warmup: bool = False,
        prioritized_replay: bool = False,
        replay_buffer_class: type | str | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        stats_window_size: int = 100,
        aux_modules: Mapping[str, AuxModule] | None = None,
        extra_losses: Iterable[ExtraLoss] | None = None,
        normalize_observations: bool = False,
        normalize_rewards: bool = False,
        policy_kwargs: dict[str, Any] | None = None,
        n_envs: int = 1,
        vectorization: str = "auto",
        env_kwargs: dict[str, Any] | None = None,
        frame_stack: int | None = None,
        seed: int | None = None,
        device: str | torch.device = "auto",
        verbose: int = 0,
        tensorboard_log: str | None = None,
        observation_space: spaces.Space | None = None,
        action_space: spaces.Space | None = None,
        base_policy: Any = None,
        residual_scale: float = 1.0,
        append_base_action: bool = True,
        critic_warmup_steps: int = 0,
    ) -> None:
        rule = validation.RULES["top_quantiles_to_drop_per_net"]
        if not rule.accepts(top_quantiles_to_drop_per_net):  # before the env and the networks are built
            raise validation.refusal("top_quantiles_to_drop_per_net", top_quantiles_to_drop_per_net, rule)
        super().__init__(
            policy, env, learning_rate=learning_rate, buffer_size=buffer_size, learning_starts=learning_starts,
            batch_size=batch_size, tau=tau, gamma=gamma, train_freq=train_freq, gradient_steps=gradient_steps,
            action_noise=action_noise, n_steps=n_steps, ent_coef=ent_coef,
            target_update_interval=target_update_interval, target_entropy=target_entropy, use_sde=use_sde,
            sde_sample_freq=sde_sample_freq, use_sde_at_warmup=use_sde_at_warmup,
            stats_window_size=stats_window_size, aux_modules=aux_modules, extra_losses=extra_losses,
            prioritized_replay=prioritized_replay, replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=optimize_memory_usage,
            normalize_observations=normalize_observations, normalize_rewards=normalize_rewards,
            policy_kwargs=policy_kwargs, n_envs=n_envs, vectorization=vectorization, env_kwargs=env_kwargs,
            frame_stack=frame_stack,
            seed=seed, device=device, verbose=verbose, tensorboard_log=tensorboard_log,
            observation_space=observation_space, action_space=action_space, base_policy=base_policy,
            residual_scale=residual_scale, append_base_action=append_base_action,
            critic_warmup_steps=critic_warmup_steps,
        )
        self.config = dataclasses.replace(self.config, top_quantiles_to_drop_per_net=int(top_quantiles_to_drop_per_net))
        if self.n_target_quantiles < 1:
            raise ConfigurationError(
                f"top_quantiles_to_drop_per_net={top_quantiles_to_drop_per_net} drops every one of the "
                f"{self.n_quantiles} quantiles of each critic, leaving no target; pass a number below n_quantiles "
                "(sb3-contrib's defaults: 2 of 25)")

    def _build(self) -> None:
        critic = getattr(self.policy, "critic", None)
        if getattr(critic, "n_quantiles", None) is None:
            raise ConfigurationError(
                f"TQC needs a policy whose critics output quantiles (TQCPolicy or a subclass), got "
                f"{type(self.policy).__name__}; pass 'MlpPolicy', 'CnnPolicy', 'MultiInputPolicy' or a TQCPolicy "
                "subclass")
        super()._build()

    @property
    def n_quantiles(self) -> int:
        """Quantiles per critic (sb3-contrib's ``critic.n_quantiles``)."""
        return self.policy.critic.n_quantiles

    @property
    def n_target_quantiles(self) -> int:
        """Atoms of the truncated target mixture: ``n_critics * (n_quantiles - top_quantiles_to_drop_per_net)``."""
        critic = self.policy.critic
        return critic.n_critics * (critic.n_quantiles - self.config.top_quantiles_to_drop_per_net)

    def critic_targets(self, rewards: torch.Tensor, discounts: torch.Tensor, next_q: torch.Tensor,
                       next_log_prob: torch.Tensor, ent_coef: torch.Tensor) -> torch.Tensor:
        """The truncated target mixture ``(batch, n_target_quantiles)`` from the target critics'
        quantiles ``next_q`` (:func:`ballast.returns.truncated_quantile_target`)."""
        return returns.truncated_quantile_target(rewards, discounts, next_q, next_log_prob, ent_coef,
                                                 self.config.top_quantiles_to_drop_per_net)

    def critic_loss(self, q_values: torch.Tensor, targets: torch.Tensor,
                    weights: torch.Tensor | None = None) -> torch.Tensor:
        """The ``critic`` term: the quantile Huber loss of each critic against the targets
        (:func:`ballast.losses.tqc_critic_loss`, weighted by importance ``weights`` when given)."""
        return losses.tqc_critic_loss(q_values, targets, weights)

    def td_errors(self, q_values: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The prioritized replay's per-sample priorities: each sample's quantile Huber loss,
        averaged over the critics (:func:`ballast.losses.tqc_td_errors`, which says why)."""
        return losses.tqc_td_errors(q_values, targets)

    def actor_loss(self, log_prob: torch.Tensor, q_values: torch.Tensor, ent_coef: torch.Tensor) -> torch.Tensor:
        """The ``actor`` term with the mean of all quantiles (:func:`ballast.losses.tqc_actor_loss`)."""
        return losses.tqc_actor_loss(log_prob, q_values, ent_coef)

    # --- the fast path (ballast.algos.fast_path) ----------------------------------------------
    def _fast_path_structure(self) -> str:
        return NO_FAST_UPDATE

    def _build_fast_update(self) -> None:
        """None: TQC's losses as its methods define them are computed with autograd (:data:`NO_FAST_UPDATE`)."""
        return None
