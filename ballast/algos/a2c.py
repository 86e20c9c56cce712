"""Advantage Actor-Critic (A2C; Mnih et al., 2016, arXiv:1602.01783), synchronous.

One iteration: collect ``n_steps`` vector steps, compute advantages (GAE with
``gae_lambda = 1`` by default, i.e. n-step returns), then one gradient step on the whole
rollout minimising ``policy + ent_coef * entropy + vf_coef * value``. Defaults are SB3's,
including RMSprop (``alpha = 0.99``, ``eps = rms_prop_eps``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from gymnasium import spaces
from torch import nn

from ballast import losses
from ballast.algos import hyperparameters, validation
from ballast.algos.base import Algorithm, in_own_stream
from ballast.algos.on_policy import actor_critic_structure_reason, learn_iteration, make_rollout_buffer
from ballast.algos.optimizers import ADAM, RMSPROP, build_optimizer
from ballast.buffers import RolloutBatch
from ballast.callbacks import BaseCallback
from ballast.envs.make import EnvLike
from ballast.extensions import AuxModule, ExtraLoss, add_extra_terms, record_terms, sum_terms
from ballast.node_spaces import NodeBox, NodeMultiBinary
from ballast.optim import FlatParameters
from ballast.policies.fast_mlp import ActorCriticLayers
from ballast.policies.modes import set_training_mode
from ballast.residual.actions import residual_options
from ballast.schedules import Schedule, ScheduleLike, as_schedule


@dataclass
class A2CConfig:
    """A2C's hyperparameters (see :class:`A2C`)."""

    learning_rate: Schedule
    n_steps: int
    gamma: float
    gae_lambda: float
    ent_coef: float
    vf_coef: float
    max_grad_norm: float
    rms_prop_eps: float
    use_rms_prop: bool
    use_sde: bool
    sde_sample_freq: int
    normalize_advantage: bool

    def __post_init__(self) -> None:
        validation.check_config(self)


class A2C(Algorithm):
    """A2C with SB3's interface and defaults: ``A2C("MlpPolicy", "CartPole-v1", n_envs=8).learn(...)``.

    Hyperparameters as in SB3: ``learning_rate=7e-4, n_steps=5, gamma=0.99, gae_lambda=1.0,
    ent_coef=0.0, vf_coef=0.5, max_grad_norm=0.5, rms_prop_eps=1e-5, use_rms_prop=True,
    use_sde=False, sde_sample_freq=-1, normalize_advantage=False``; the other arguments
    (including the residual ones, ``base_policy`` ...) are those of :class:`ballast.PPO`.
    """

    algorithm_name = "a2c"
    config_class = A2CConfig
    loss_methods = ("compute_losses",)
    fixed_hyperparameters = {"n_steps": hyperparameters.ROLLOUT_SIZE, "use_sde": hyperparameters.GSDE,
                             "use_rms_prop": "the optimizer was built for it",
                             "rms_prop_eps": "the optimizer was built with it"}
    supported_action_spaces = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary, NodeMultiBinary,
                               NodeBox)

    def __init__(
        self,
        policy: str | nn.Module | type[nn.Module],
        env: EnvLike | None,
        *,
        learning_rate: ScheduleLike = 7e-4,
        n_steps: int = 5,
        gamma: float = 0.99,
        gae_lambda: float = 1.0,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        rms_prop_eps: float = 1e-5,
        use_rms_prop: bool = True,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        normalize_advantage: bool = False,
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
        config = A2CConfig(
            learning_rate=as_schedule(learning_rate, "learning_rate"), n_steps=int(n_steps), gamma=float(gamma),
            gae_lambda=float(gae_lambda), ent_coef=float(ent_coef), vf_coef=float(vf_coef),
            max_grad_norm=validation.number_or_none(max_grad_norm), rms_prop_eps=float(rms_prop_eps),
            use_rms_prop=bool(use_rms_prop),
            use_sde=bool(use_sde), sde_sample_freq=int(sde_sample_freq), normalize_advantage=bool(normalize_advantage),
        )
        self._setup(policy, env, config=config, seed=seed, device=device, n_envs=n_envs, policy_kwargs=policy_kwargs,
                    normalize_observations=normalize_observations, normalize_rewards=normalize_rewards,
                    verbose=verbose, tensorboard_log=tensorboard_log, vectorization=vectorization,
                    env_kwargs=env_kwargs,
                    frame_stack=frame_stack, observation_space=observation_space, action_space=action_space,
                    aux_modules=aux_modules, extra_losses=extra_losses,
                    residual=residual_options(base_policy, residual_scale, append_base_action, critic_warmup_steps),
                    stats_window_size=stats_window_size)

    def _build(self) -> None:
        cfg = self.config
        lr = cfg.learning_rate(1.0)
        self.flat_params = FlatParameters(self._trainable_parameters())
        policy_config = self.policy_config
        # SB3's A2C: RMSprop (alpha=0.99, eps=rms_prop_eps) unless policy_kwargs name an optimizer; else Adam, eps=1e-5.
        if cfg.use_rms_prop and policy_config.optimizer_class is None:
            optimizer = build_optimizer(self.flat_params, lr, RMSPROP,
                                        {"alpha": 0.99, "eps": cfg.rms_prop_eps, "weight_decay": 0})
        else:
            optimizer = build_optimizer(self.flat_params, lr, policy_config.optimizer_class,
                                        policy_config.optimizer_kwargs, default=(ADAM, {"eps": 1e-5}))
        self.optimizer = self.optimizers.register("optimizer", optimizer, self.flat_params, cfg.learning_rate,
                                                  network=self.policy)
        self.rollout_buffer = make_rollout_buffer(self)
        self.use_masking = True

    def _on_n_envs_changed(self) -> None:
        self.rollout_buffer = make_rollout_buffer(self)

    def _learn_iteration(self, callback: BaseCallback) -> bool:
        return learn_iteration(self, callback)

    def compute_losses(self, batch: RolloutBatch) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Named, weighted loss terms: ``policy`` (policy gradient), ``value``, ``entropy``."""
        masks = () if batch.action_masks is None else (batch.action_masks,)
        outputs = self.policy.outputs(batch.observations, *masks)
        terms, stats, _ = a2c_losses(self.config, batch, outputs.distribution, outputs.values)
        if self.extensions.extra_losses:
            add_extra_terms(terms, self.extensions.terms(batch, outputs, self))
        if self._actor_frozen():
            terms.pop("policy")
            terms.pop("entropy")
        return terms, stats

    @in_own_stream
    def train(self) -> None:
        """One gradient step on the whole rollout."""
        cfg = self.config
        set_training_mode(self.policy, True)
        lr = self.optimizers.set_learning_rates(self.progress_remaining)
        batch = next(self.rollout_buffer.minibatches(None, self.generator))
        self._hook("on_minibatch", batch)
        fast = self._fast_update()
        if fast is not None:
            terms, stats = fast(batch)
            loss = sum_terms(terms)
        else:
            terms, stats = self.compute_losses(batch)
            loss = sum_terms(terms)
            self.flat_params.zero_grad()
            self.extensions.zero_own_grads()
            loss.backward()
        self.flat_params.clip_grad_norm_(cfg.max_grad_norm)
        self._hook("before_gradient_step", terms)
        self.optimizer.step()
        self.extensions.step_own_optimizers()
        self._hook("after_gradient_step", terms)
        self.n_updates += 1
        for key, value in stats.items():
            self.logger.record(key, value)
        record_terms(self.logger, terms, loss)
        self.logger.record("train/learning_rate", lr)
        self.logger.record("train/n_updates", self.n_updates)

    # --- the fast path (ballast.algos.fast_path) ----------------------------------------------
    def _fast_path_structure(self) -> str | None:
        return actor_critic_structure_reason(self)

    def _build_fast_update(self) -> A2CFastUpdate:
        return A2CFastUpdate(self)


@dataclass
class A2CLossParts:
    """What the loss's derivatives need besides the terms: the (normalised) advantages, the entropies."""

    advantages: torch.Tensor
    log_prob: torch.Tensor
    entropy: torch.Tensor


def a2c_losses(cfg: A2CConfig, batch: RolloutBatch, distribution: Any, values: torch.Tensor
               ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], A2CLossParts]:
    """A2C's named, weighted terms for the policy's distribution and values on a rollout, detached
    statistics, and :class:`A2CLossParts`; the one definition both gradient paths use."""
    log_prob, entropy = distribution.log_prob(batch.actions), distribution.entropy()
    advantages = batch.advantages
    if cfg.normalize_advantage and advantages.numel() > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    policy_loss = losses.policy_gradient_loss(log_prob, advantages)
    value_loss = losses.value_loss(values, batch.returns)
    entropy_loss = losses.entropy_loss(entropy)
    terms = {"policy": policy_loss, "value": cfg.vf_coef * value_loss, "entropy": cfg.ent_coef * entropy_loss}
    stats = {"train/policy_loss": policy_loss.detach(), "train/value_loss": value_loss.detach(),
             "train/entropy_loss": entropy_loss.detach()}
    return terms, stats, A2CLossParts(advantages, log_prob, entropy)


class A2CFastUpdate:
    """A2C's gradients for the default MLP actor-critic without autograd (:mod:`ballast.algos.fast_path`):
    ``batch -> (terms, stats)`` as :meth:`A2C.compute_losses` returns them, gradients written."""

    def __init__(self, model: A2C) -> None:
        self.config = model.config
        self.layers = ActorCriticLayers(model.policy)

    @torch.no_grad()
    def __call__(self, batch: RolloutBatch) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        cfg, layers = self.config, self.layers
        trace = layers.forward(batch.observations)
        distribution = layers.action_head.distribution(trace.head_out)
        terms, stats, parts = a2c_losses(cfg, batch, distribution, trace.values)
        d_log_prob = losses.policy_gradient_loss_grad(parts.log_prob, parts.advantages)
        d_values = losses.value_loss_grad(trace.values, batch.returns) * cfg.vf_coef
        d_entropy = losses.entropy_loss_grad(parts.entropy) * cfg.ent_coef
        d_head = layers.head_output_grad(distribution, batch.actions, d_log_prob, d_entropy)
        layers.backward(trace, d_head, d_values)
        return terms, stats
