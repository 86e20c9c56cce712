"""CrossQ (Bhatt et al., 2024, "CrossQ: Batch Normalization in Deep Reinforcement Learning for Greater
Sample Efficiency and Simplicity", ICLR; sb3-contrib's ``CrossQ``).

CrossQ is SAC (:mod:`ballast.algos.sac`) without target networks: batch renormalisation in the
actor's and critics' hidden layers (:class:`~ballast.policies.crossq.CrossQPolicy`) keeps the
bootstrapped critic stable instead. Each gradient step, as sb3-contrib orders it:

1. ``critic``: the actor, its batch-renorm layers in eval mode, samples ``a' ~ pi(.|s')``; the
   critics evaluate ``(s, a)`` and ``(s', a')`` in ONE forward pass over the concatenated batch,
   their batch-renorm layers in train mode, so that the batch statistics are those of the mixture of
   both (the paper's point: ``(s', a')`` would otherwise be out of distribution for the layers).
   Then ``0.5 * sum_i mean((Q_i(s, a) - y)^2)`` with ``y = r + discount * (min_i Q_i(s', a') - alpha
   * log pi(a'|s'))`` from the same critics, without gradient through ``y``; the critics' layers go
   back to eval mode;
2. every ``policy_delay`` gradient steps: the actor, its layers in train mode, samples
   ``a~ ~ pi(.|s)`` (its layers back to eval mode after), ``alpha``'s loss and the actor's,
   ``mean(alpha * log pi(a~|s) - min_i Q_i(s, a~))`` with the updated critics in eval mode
   (:func:`ballast.losses.sac_actor_loss`);
3. Adam steps (``betas=(0.5, 0.999)`` for actor and critics by default); there is nothing to average.

Acting, gSDE, n-step returns, residual agents, extensions (the terms ``critic``, ``actor`` and
``alpha``; a critic extra loss receives the features and Q-values of ``(s, a)`` only), saving and
export are SAC's code. The gradients come from autograd (``model.fast_path`` says so).
Hyperparameter names and defaults are sb3-contrib's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from gymnasium import spaces
from torch import nn

from ballast.algos import actor_critic, validation
from ballast.algos.sac import SAC, SACConfig
from ballast.envs.make import EnvLike
from ballast.errors import ConfigurationError
from ballast.extensions import AuxModule, ExtraLoss, Transitions
from ballast.noise import ActionNoise
from ballast.policies.continuous import ActorOutput
from ballast.policies.crossq import CrossQCritic, CrossQPolicy
from ballast.schedules import ScheduleLike
from ballast.seeding import global_generators_kept

#: Why CrossQ's updates take autograd (``model.fast_path``).
NO_FAST_UPDATE = ("CrossQ's batch-renormalised networks have no fast update (the fast layers have no batch "
                  "renormalisation); its gradients come from autograd")
NO_TARGETS = "CrossQ has no target networks"


@dataclass
class CrossQConfig(SACConfig):
    """CrossQ's hyperparameters: SAC's (``tau`` is 1 and ``target_update_interval`` 1, unused: there
    are no target networks) and ``policy_delay`` (see :class:`CrossQ`)."""

    policy_delay: int = 3


class CrossQ(SAC):
    """CrossQ with sb3-contrib's interface: ``CrossQ("MlpPolicy", "Pendulum-v1", seed=0).learn(20_000)``.

    Arguments and their meanings as :class:`ballast.SAC`, with sb3-contrib's defaults (``learning_rate``
    1e-3), without ``tau`` and ``target_update_interval`` (no target networks), and ``policy_delay``:
    critic updates per actor (and alpha) update (3). ``policy_kwargs`` take SAC's keys and
    ``batch_norm`` (True), ``batch_norm_momentum`` (0.01), ``batch_norm_eps`` (0.001) and
    ``renorm_warmup_steps`` (100,000 train-mode batches of plain batch norm before renormalising);
    ``net_arch`` defaults to ``dict(pi=[256, 256], qf=[1024, 1024])``.
    """

    algorithm_name = "crossq"
    config_class = CrossQConfig
    default_policy_class = CrossQPolicy
    policy_kind = "crossq"
    fixed_hyperparameters = {**SAC.fixed_hyperparameters, "tau": NO_TARGETS, "target_update_interval": NO_TARGETS}

    def __init__(
        self,
        policy: str | nn.Module | type[nn.Module],
        env: EnvLike | None,
        *,
        learning_rate: ScheduleLike = 1e-3,
        buffer_size: int = 1_000_000,
        learning_starts: int = 100,
        batch_size: int = 256,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 1,
        action_noise: ActionNoise | dict[str, Any] | None = None,
        n_steps: int = 1,
        ent_coef: str | float = "auto",
        target_entropy: str | float = "auto",
        policy_delay: int = 3,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        use_sde_at_warmup: bool = False,
        prioritized_replay: bool = False,
        replay_buffer_class: type | None = None,
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
        rule = validation.RULES["policy_delay"]
        if not rule.accepts(policy_delay):  # before the env and the networks are built
            raise validation.refusal("policy_delay", policy_delay, rule)
        super().__init__(
            policy, env, learning_rate=learning_rate, buffer_size=buffer_size, learning_starts=learning_starts,
            batch_size=batch_size, tau=1.0, gamma=gamma, train_freq=train_freq, gradient_steps=gradient_steps,
            action_noise=action_noise, n_steps=n_steps, ent_coef=ent_coef, target_update_interval=1,
            target_entropy=target_entropy, use_sde=use_sde, sde_sample_freq=sde_sample_freq,
            use_sde_at_warmup=use_sde_at_warmup, prioritized_replay=prioritized_replay,
            replay_buffer_class=replay_buffer_class, replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=optimize_memory_usage,
            stats_window_size=stats_window_size, aux_modules=aux_modules,
            extra_losses=extra_losses, normalize_observations=normalize_observations,
            normalize_rewards=normalize_rewards, policy_kwargs=policy_kwargs, n_envs=n_envs,
            vectorization=vectorization, env_kwargs=env_kwargs,
            frame_stack=frame_stack, seed=seed, device=device, verbose=verbose,
            tensorboard_log=tensorboard_log, observation_space=observation_space, action_space=action_space,
            base_policy=base_policy, residual_scale=residual_scale, append_base_action=append_base_action,
            critic_warmup_steps=critic_warmup_steps,
        )
        self.config = dataclasses.replace(self.config, policy_delay=int(policy_delay))

    def _build(self) -> None:
        if not isinstance(getattr(self.policy, "critic", None), CrossQCritic):
            raise ConfigurationError(
                f"CrossQ needs a policy with batch-renormalised critics and no target (CrossQPolicy or a subclass), "
                f"got {type(self.policy).__name__}; pass 'MlpPolicy' or a CrossQPolicy subclass")
        # The policy's configuration holds sb3-contrib's Adam betas (0.5, 0.999) unless others were given.
        self.policy_config = self.policy.config
        super()._build()

    def _config_to_json(self) -> dict[str, Any]:
        return {k: v for k, v in super()._config_to_json().items() if k not in ("tau", "target_update_interval")}

    # --- training ----------------------------------------------------------------------------
    def _update_batch(self, batch: Transitions) -> dict[str, torch.Tensor]:
        actor_step = self.n_updates % self.config.policy_delay == 0
        return self.update(batch, actor_step=actor_step, update_actor=actor_step and not self._actor_frozen())

    def update(self, batch: Transitions, *, actor_step: bool = True, update_actor: bool = True
               ) -> dict[str, torch.Tensor]:
        """One gradient step on a batch of (normalised) transitions; returns detached statistics.

        The critics first (:meth:`compute_critic_losses`, their optimizer), then, when ``actor_step``
        (every ``policy_delay`` gradient steps), the actor's sample for ``s`` with its batch-renorm
        layers in train mode, and the actor's and alpha's terms (:meth:`compute_actor_losses`; only
        alpha's with ``update_actor=False``, a residual agent's critic warm-up) and their optimizers.
        The update hooks run as in SAC's :meth:`~ballast.SAC.update`.
        """
        policy, extensions = self.policy, self.extensions
        actor = policy.actor
        self._td_errors = None
        ent_coef = self.log_ent_coef.detach().exp() if self.log_ent_coef is not None else self.ent_coef_tensor
        noise = None
        if self.config.use_sde:  # one gSDE matrix for the batch, new at each gradient step, as in SB3
            noise = torch.randn(1, actor.latent_dim, actor.action_dim, device=batch.actions.device)
        extensions.zero_own_grads()
        acting = None
        if extensions.extra_losses and extensions.has_losses("critic"):
            # What a critic extra loss is given as the actor's outputs for s, drawn aside so that the
            # training stream is that of a run without it.
            with torch.no_grad(), global_generators_kept():
                actor.set_bn_training_mode(False)
                acting = actor.outputs(batch.observations, noise)
        terms = actor_critic.loss_gradients(None, lambda: self.compute_critic_losses(batch, acting, ent_coef, noise),
                                            self.critic_params)
        self._hook("before_gradient_step", terms)
        self.critic_optimizer.step()
        actor_terms: dict[str, torch.Tensor] = {}
        if actor_step:
            actor.set_bn_training_mode(True)  # the actor's batch statistics move only here, as in sb3-contrib
            pi = actor.outputs(batch.observations, noise)
            actor.set_bn_training_mode(False)
            actor_terms = self._actor_autograd(batch, pi, ent_coef, update_actor)
        return self._step_actor(terms, actor_terms, ent_coef, update_actor, update_target=False)

    def compute_critic_losses(self, batch: Transitions, pi: ActorOutput | None, ent_coef: torch.Tensor,
                              sde_noise: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The critic's named, weighted terms: ``critic`` (module docstring, step 1) and the extra terms
        that join the critic. ``pi`` is the actor's output for ``batch.observations``, given to critic
        extra losses detached (:meth:`update` computes it only when there are such losses: the critic
        loss itself does not need it), ``ent_coef`` alpha before this step's update, ``sde_noise``
        gSDE's matrix for the next actions. Leaves every batch-renorm layer in eval mode."""
        policy = self.policy
        actor, critic = policy.actor, policy.critic
        with torch.no_grad():
            actor.set_bn_training_mode(False)
            next_actions, next_log_prob = actor.action_log_prob(batch.next_observations, sde_noise)
            if batch.next_base_actions is not None:
                next_actions = policy.residual.critic_actions(batch.next_base_actions, next_actions)
        n = batch.actions.shape[0]
        features = torch.cat([policy.critic_features(batch.observations),
                              policy.critic_features(batch.next_observations)])
        critic.set_bn_training_mode(True)
        all_q = critic.q_from_features(features, torch.cat([batch.actions, next_actions]))
        critic.set_bn_training_mode(False)
        q, next_q = all_q[:, :n], all_q[:, n:].detach()
        with torch.no_grad():
            target = self.critic_targets(batch.rewards, batch.discounts, next_q, next_log_prob, ent_coef)
        terms = {"critic": self.critic_loss(q, target, batch.weights)}
        if batch.weights is not None:  # prioritized replay: this batch's priorities come from its TD errors
            self._td_errors = self.td_errors(q.detach(), target)
        return actor_critic.add_extension_terms(self, terms, batch, "critic",
                                                None if pi is None else pi.detached(), features[:n], q, target)

    def compute_actor_losses(self, batch: Transitions, pi: ActorOutput, ent_coef: torch.Tensor
                             ) -> dict[str, torch.Tensor]:
        """SAC's actor terms (:meth:`ballast.SAC.compute_actor_losses`) with the critics' batch-renorm
        layers in eval mode; ``pi`` is the actor's train-mode sample for ``batch.observations``."""
        self.policy.critic.set_bn_training_mode(False)
        return super().compute_actor_losses(batch, pi, ent_coef)

    # --- the fast path (ballast.algos.fast_path) ----------------------------------------------
    def _fast_path_structure(self) -> str:
        return NO_FAST_UPDATE

    def _build_fast_update(self) -> None:
        """None: CrossQ's losses are computed with autograd (:data:`NO_FAST_UPDATE`)."""
        return None
