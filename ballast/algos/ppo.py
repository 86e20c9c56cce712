"""Proximal Policy Optimization (Schulman et al., 2017, arXiv:1707.06347), clip variant.

One iteration: collect ``n_steps`` vector steps (``ballast.algos.on_policy``), compute GAE, then
``n_epochs`` passes of shuffled minibatches of ``batch_size``; each minibatch minimises
``policy + ent_coef * entropy + vf_coef * value`` (``ballast.losses``). Hyperparameter names,
meanings and defaults are Stable-Baselines3's, so published settings carry over.
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
from ballast.algos.optimizers import ADAM, build_optimizer
from ballast.buffers import RolloutBatch
from ballast.callbacks import BaseCallback
from ballast.envs.make import EnvLike
from ballast.extensions import AuxModule, ExtraLoss, add_extra_terms, record_terms, sum_terms
from ballast.node_spaces import NodeBox, NodeMultiBinary
from ballast.optim import FlatParameters
from ballast.policies.actor_critic import PolicyOutput
from ballast.policies.fast_mlp import ActorCriticLayers
from ballast.policies.modes import set_training_mode
from ballast.residual.actions import residual_options
from ballast.returns import explained_variance
from ballast.schedules import Schedule, ScheduleLike, as_schedule


@dataclass
class PPOConfig:
    """PPO's hyperparameters (see :class:`PPO` for their meaning)."""

    learning_rate: Schedule
    n_steps: int
    batch_size: int
    n_epochs: int
    gamma: float
    gae_lambda: float
    clip_range: Schedule
    clip_range_vf: Schedule | None
    normalize_advantage: bool
    ent_coef: float
    vf_coef: float
    max_grad_norm: float
    use_sde: bool
    sde_sample_freq: int
    target_kl: float | None

    def __post_init__(self) -> None:
        validation.check_config(self)

class PPO(Algorithm):
    """PPO with SB3's interface: ``PPO("MlpPolicy", "CartPole-v1", seed=0).learn(100_000)``.

    Args (all keyword-only after ``env``, defaults as in SB3):
        policy: ``"MlpPolicy"``, ``"CnnPolicy"``, ``"MultiInputPolicy"``, ``"auto"``, a policy
            class, or a policy module.
        env: an env id, a ``gymnasium.Env``, a factory, or a Gymnasium vector env.
        learning_rate: a number, a schedule (``ballast.schedules.linear``), a callable of the
            remaining progress (1 -> 0), or a zoo string such as ``"lin_3e-4"``.
        n_steps: vector steps per env copy and rollout.
        batch_size, n_epochs: minibatch size and number of passes over each rollout.
        gamma, gae_lambda: discount and GAE lambda.
        clip_range, clip_range_vf: PPO clip and optional value clip (schedules allowed).
        normalize_advantage: standardise advantages per minibatch.
        ent_coef, vf_coef, max_grad_norm: loss weights and gradient-norm clip.
        use_sde, sde_sample_freq: gSDE exploration, new noise every ``sde_sample_freq`` steps (-1: once per rollout).
        target_kl: stop the epochs early when the approximate KL exceeds ``1.5 * target_kl``.
        normalize_observations, normalize_rewards: running normalisation inside the model.
        n_envs: env copies to create when ``env`` is an id or a factory.
        vectorization: ``"auto"`` (numpy-batched when the env has it, else sync), ``"sync"`` or ``"async"``.
        frame_stack: stack this many observations (``VecFrameStack(env, frame_stack)``), kept in the model
            (every algorithm takes it; see docs/atari-and-images.md).
        base_policy: a frozen base controller to improve (a Ballast model, a saved model's path, an
            ``.onnx`` path, an import path ``"module:function"`` or a callable ``obs_batch -> action_batch``);
            the agent then learns a zero-initialised correction (Box actions; see docs/residual.md).
        residual_scale: the executed action is ``clip(base + residual_scale * (high - low) / 2 * r)``.
        append_base_action: the networks also see the base's action (normalised to [-1, 1]).
        critic_warmup_steps: env steps during which only the critic (value function) is trained.
    """

    algorithm_name = "ppo"
    config_class = PPOConfig
    loss_methods = ("compute_losses",)
    fixed_hyperparameters = {"n_steps": hyperparameters.ROLLOUT_SIZE, "use_sde": hyperparameters.GSDE}
    supported_action_spaces = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary, NodeMultiBinary,
                               NodeBox)

    def __init__(
        self,
        policy: str | nn.Module | type[nn.Module],
        env: EnvLike | None,
        *,
        learning_rate: ScheduleLike = 3e-4,
        n_steps: int = 2048,
        batch_size: int = 64,
        n_epochs: int = 10,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        clip_range: ScheduleLike = 0.2,
        clip_range_vf: ScheduleLike | None = None,
        normalize_advantage: bool = True,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        target_kl: float | None = None,
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
        config = self.config_class(
            learning_rate=as_schedule(learning_rate, "learning_rate"),
            n_steps=int(n_steps), batch_size=None if batch_size is None else int(batch_size),
            n_epochs=int(n_epochs), gamma=float(gamma),
            gae_lambda=float(gae_lambda), clip_range=as_schedule(clip_range, "clip_range"),
            clip_range_vf=None if clip_range_vf is None else as_schedule(clip_range_vf, "clip_range_vf"),
            normalize_advantage=bool(normalize_advantage), ent_coef=float(ent_coef), vf_coef=float(vf_coef),
            max_grad_norm=validation.number_or_none(max_grad_norm), use_sde=bool(use_sde),
            sde_sample_freq=int(sde_sample_freq),
            target_kl=None if target_kl is None else float(target_kl),
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
        self.flat_params = FlatParameters(self._trainable_parameters())
        cfg, policy_config = self.config, self.policy_config
        # SB3's PPO: Adam with eps=1e-5 ("small values to avoid NaN in Adam"), unless policy_kwargs say otherwise.
        optimizer = build_optimizer(self.flat_params, cfg.learning_rate(1.0), policy_config.optimizer_class,
                                    policy_config.optimizer_kwargs, default=(ADAM, {"eps": 1e-5}))
        self.optimizer = self.optimizers.register("optimizer", optimizer, self.flat_params, cfg.learning_rate,
                                                  network=self.policy)
        self.rollout_buffer = make_rollout_buffer(self)
        self.use_masking = True
        validation.check_rollout_size(cfg, self.n_envs)

    def _on_n_envs_changed(self) -> None:
        self.rollout_buffer = make_rollout_buffer(self)

    # --- one iteration -------------------------------------------------------------------
    def _learn_iteration(self, callback: BaseCallback) -> bool:
        return learn_iteration(self, callback)

    def compute_losses(self, batch: RolloutBatch, clip_range: float, clip_range_vf: float | None
                       ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Named, weighted loss terms for one minibatch, and detached statistics.

        Terms: ``policy`` (clipped surrogate), ``value`` (``vf_coef`` x MSE), ``entropy``
        (``ent_coef`` x negative entropy; left out when ``ent_coef`` is 0, which changes no
        gradient). Their sum is minimised. The statistics include ``log_ratio`` (per sample), from
        which the approximate KL and the clip fraction are computed once per epoch.
        """
        outputs = self._batch_outputs(batch)
        terms, stats, _ = ppo_losses(self.config, batch, outputs.distribution, outputs.values, clip_range,
                                     clip_range_vf)
        if self.extensions.extra_losses:
            add_extra_terms(terms, self.extensions.terms(batch, outputs, self))
        if self._actor_frozen():
            terms.pop("policy")
            terms.pop("entropy", None)
        return terms, stats

    def _batch_outputs(self, batch: RolloutBatch) -> PolicyOutput:
        """The policy's outputs on a minibatch (under its action masks, when the rollout has them)."""
        if batch.action_masks is None:
            return self.policy.outputs(batch.observations)
        return self.policy.outputs(batch.observations, batch.action_masks)

    @in_own_stream
    def train(self) -> None:
        """``n_epochs`` passes of minibatch updates over the collected rollout."""
        cfg = self.config
        set_training_mode(self.policy, True)
        lr = self.optimizers.set_learning_rates(self.progress_remaining)
        clip_range = cfg.clip_range(self.progress_remaining)
        clip_range_vf = None if cfg.clip_range_vf is None else cfg.clip_range_vf(self.progress_remaining)
        if cfg.use_sde:
            self.policy.reset_noise(cfg.batch_size or cfg.n_steps * self.n_envs)
        log_ratios: list[torch.Tensor] = []
        fast = self._fast_update()
        for epoch in range(cfg.n_epochs):
            stop = False
            for batch in self.rollout_buffer.minibatches(cfg.batch_size, self.generator):
                if not self._hook("on_minibatch", batch):
                    stop = True
                if fast is not None:
                    terms, stats = fast(batch, clip_range, clip_range_vf)
                else:
                    terms, stats = self.compute_losses(batch, clip_range, clip_range_vf)
                log_ratio = stats.pop("log_ratio")
                if cfg.target_kl is not None and losses.approx_kl(log_ratio).item() > 1.5 * cfg.target_kl:
                    stop = True
                    if self.verbose:
                        print(f"Early stopping at epoch {epoch}: approx_kl exceeds 1.5 x target_kl")
                    break
                loss = sum_terms(terms)
                if fast is None:
                    self.flat_params.zero_grad()
                    self.extensions.zero_own_grads()
                    loss.backward()
                self.flat_params.clip_grad_norm_(cfg.max_grad_norm)
                stop = not self._hook("before_gradient_step", terms) or stop
                self.optimizer.step()
                self.extensions.step_own_optimizers()
                stop = not self._hook("after_gradient_step", terms) or stop
                self.n_updates += 1
                log_ratios.append(log_ratio)
                for key, value in stats.items():
                    self.logger.record_mean(key, value)
                record_terms(self.logger, terms, loss)
                if stop:
                    break
            if stop:
                break
        self._log_training(lr, clip_range, log_ratios, batch)

    # --- the fast path (ballast.algos.fast_path) ----------------------------------------------
    def _fast_path_structure(self) -> str | None:
        return actor_critic_structure_reason(self)

    def _build_fast_update(self) -> PPOFastUpdate:
        return PPOFastUpdate(self)

    def _log_training(self, lr: float, clip_range: float, log_ratios: list[torch.Tensor], batch: RolloutBatch) -> None:
        if log_ratios:
            log_ratio = torch.cat(log_ratios)
            self.logger.record("train/approx_kl", losses.approx_kl(log_ratio))
            self.logger.record("train/clip_fraction", losses.clip_fraction(torch.exp(log_ratio), clip_range))
        if self.config.ent_coef == 0.0:
            with torch.no_grad():
                entropy = self._batch_outputs(batch).distribution.entropy()
                self.logger.record("train/entropy_loss", losses.entropy_loss(entropy))
        self.logger.record("train/learning_rate", lr)
        self.logger.record("train/clip_range", clip_range)
        self.logger.record("train/n_updates", self.n_updates)
        self.logger.record("train/explained_variance", self._explained_variance())
        head = self.policy.action_head
        if hasattr(head, "log_std"):
            self.logger.record("train/std", head.log_std.detach().exp().mean())

    def _explained_variance(self) -> float:
        buf = self.rollout_buffer
        valid = buf.valid.reshape(-1)
        return explained_variance(buf.values.reshape(-1)[valid], buf.returns.reshape(-1)[valid])


@dataclass
class PPOLossParts:
    """What the loss's derivatives need besides the terms: the (normalised) advantages, the ratios
    ``rho``, and the entropies (None when ``ent_coef`` is 0)."""

    advantages: torch.Tensor
    ratio: torch.Tensor
    entropy: torch.Tensor | None


def ppo_losses(cfg: PPOConfig, batch: RolloutBatch, distribution: Any, values: torch.Tensor, clip_range: float,
               clip_range_vf: float | None) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], PPOLossParts]:
    """PPO's named, weighted terms for the policy's distribution and values on a minibatch, detached
    statistics, and :class:`PPOLossParts`; the one definition both gradient paths use."""
    log_prob = distribution.log_prob(batch.actions)
    advantages = batch.advantages
    if cfg.normalize_advantage and advantages.numel() > 1:
        std, mean = torch.std_mean(advantages)
        advantages = (advantages - mean) / (std + 1e-8)
    log_ratio = log_prob - batch.old_log_prob
    ratio = torch.exp(log_ratio)
    policy_loss = losses.ppo_clip_loss(ratio, advantages, clip_range)
    value_loss = losses.value_loss(values, batch.returns, batch.old_values, clip_range_vf)
    terms = {"policy": policy_loss, "value": cfg.vf_coef * value_loss}
    stats = {"train/policy_gradient_loss": policy_loss.detach(), "train/value_loss": value_loss.detach(),
             "log_ratio": log_ratio.detach()}
    entropy = None
    if cfg.ent_coef != 0.0:
        entropy = distribution.entropy()
        entropy_loss = losses.entropy_loss(entropy)
        terms["entropy"] = cfg.ent_coef * entropy_loss
        stats["train/entropy_loss"] = entropy_loss.detach()
    return terms, stats, PPOLossParts(advantages, ratio, entropy)


class PPOFastUpdate:
    """PPO's gradients for the default MLP actor-critic without autograd (:mod:`ballast.algos.fast_path`).

    ``(batch, clip_range, clip_range_vf) -> (terms, stats)`` as :meth:`PPO.compute_losses` returns
    them (detached), with the gradients written into ``.grad``. The derivatives of the loss with
    respect to the heads' outputs are those of :mod:`ballast.losses` and the distribution's
    ``output_grads``: ``d/d log pi = (dL/d rho) rho``.
    """

    def __init__(self, model: PPO) -> None:
        self.config = model.config
        self.layers = ActorCriticLayers(model.policy)

    @torch.no_grad()
    def __call__(self, batch: RolloutBatch, clip_range: float, clip_range_vf: float | None
                 ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        cfg, layers = self.config, self.layers
        trace = layers.forward(batch.observations)
        distribution = layers.action_head.distribution(trace.head_out)
        terms, stats, parts = ppo_losses(cfg, batch, distribution, trace.values, clip_range, clip_range_vf)
        d_log_prob = losses.ppo_clip_loss_grad(parts.ratio, parts.advantages, clip_range) * parts.ratio
        d_values = losses.value_loss_grad(trace.values, batch.returns, batch.old_values, clip_range_vf) * cfg.vf_coef
        d_entropy = None if parts.entropy is None else losses.entropy_loss_grad(parts.entropy) * cfg.ent_coef
        d_head = layers.head_output_grad(distribution, batch.actions, d_log_prob, d_entropy)
        layers.backward(trace, d_head, d_values)
        return terms, stats

