"""Soft Actor-Critic (Haarnoja et al., 2018, arXiv:1801.01290; automatic entropy, arXiv:1812.05905).

Each gradient step on a replay batch, as SB3 orders it:

1. ``alpha``: the loss of ``log alpha`` (:func:`ballast.losses.entropy_coef_loss`), when
   ``ent_coef="auto"``; the target and the actor loss use alpha from before its update;
2. ``critic``: ``0.5 * sum_i mean((Q_i(s, a) - y)^2)`` with the soft target
   ``y = r + discount * (min_i Q'_i(s', a') - alpha * log pi(a'|s'))``
   (:func:`ballast.returns.soft_q_target`);
3. ``actor``: ``mean(alpha * log pi(a~|s) - min_i Q_i(s, a~))`` with the updated critics, whose
   weights get no gradient from it (:func:`ballast.losses.sac_actor_loss`);
4. Adam steps on the actor and ``log alpha``, and every ``target_update_interval`` gradient
   steps Polyak averaging of the target critics.

Extensions (``docs/extending.md``): an extra loss joins the actor's loss (the default) or the
critic's (:func:`ballast.extensions.adds_to`); the critic's terms are
:meth:`SAC.compute_critic_losses`, the actor's and alpha's :meth:`SAC.compute_actor_losses`.
Hyperparameter names, meanings and defaults are SB3's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from ballast import losses, returns
from ballast.algos import actor_critic, hyperparameters, off_policy, validation
from ballast.algos.base import Algorithm, in_own_stream
from ballast.algos.fast_path import networks_reason
from ballast.checkpoint import Checkpoint
from ballast.distributions import SquashedGaussian
from ballast.envs.make import EnvLike
from ballast.extensions import AuxModule, ExtraLoss, Transitions, sum_terms, term_stats
from ballast.noise import ActionNoise, as_action_noise, noise_to_json
from ballast.optim import FlatParameters, make_adam
from ballast.policies.continuous import LOG_STD_MAX, LOG_STD_MIN, ActorOutput, SACPolicy
from ballast.policies.fast_mlp import Affine, CriticEnsemble, Layers
from ballast.policies.sb3_arguments import KIND_DEFAULTS
from ballast.residual.actions import residual_options
from ballast.schedules import ScheduleLike, as_schedule


@dataclass
class SACConfig(off_policy.ReplayConfig):
    """SAC's hyperparameters (see :class:`SAC`)."""

    action_noise: dict[str, Any] | None
    n_steps: int
    ent_coef: str | float
    target_update_interval: int
    target_entropy: str | float
    use_sde: bool
    sde_sample_freq: int
    use_sde_at_warmup: bool


class SAC(off_policy.OffPolicyMethods, Algorithm):
    """SAC with SB3's interface: ``SAC("MlpPolicy", "Pendulum-v1", seed=0).learn(20_000)``.

    Args (keyword-only after ``env``; defaults as in SB3):
        learning_rate: for actor, critics and entropy coefficient (a number or a schedule).
        buffer_size: replay buffer capacity in transitions.
        learning_starts: steps of uniformly random actions before learning starts.
        batch_size: minibatch size of each gradient step.
        tau: Polyak coefficient of the target critics (1 = hard copy).
        gamma: discount factor.
        train_freq: update every ``train_freq`` steps, or ``(n, "step")`` / ``(n, "episode")``.
        gradient_steps: gradient steps after each collection (-1: as many as transitions collected).
        action_noise: optional extra exploration noise (:mod:`ballast.noise`).
        n_steps: n-step returns for the critic target (1: one-step TD).
        ent_coef: the entropy coefficient alpha; ``"auto"`` learns it (initial value 1, or
            ``"auto_0.1"`` for 0.1), a number fixes it.
        target_update_interval: gradient steps between target updates.
        target_entropy: entropy target when learning alpha; ``"auto"`` is ``-dim(action space)``.
        use_sde, sde_sample_freq, use_sde_at_warmup: gSDE exploration instead of independent
            Gaussian noise, new noise every ``sde_sample_freq`` steps (-1: at each collection),
            and gSDE instead of uniform actions during the warm-up.
        prioritized_replay, replay_buffer_class, replay_buffer_kwargs: prioritized replay, as
            :class:`ballast.DQN`; the critic's loss is weighted, the actor's is not, and the
            priorities are the critics' mean ``|Q_i(s, a) - y|``.
        aux_modules, extra_losses: extensions (``docs/extending.md``); an extra loss joins the
            actor's loss unless marked ``adds_to("critic")``; ``AuxModule(optimizer="shared")``
            is trained by the actor's optimizer, ``optimizer="critic"`` by the critic's.
        The other arguments (including the residual ones, ``base_policy`` ...) are those of
        :class:`ballast.PPO`.
    """

    algorithm_name = "sac"
    config_class = SACConfig
    supported_action_spaces = (spaces.Box,)
    default_policy_class = SACPolicy
    extendable_losses = ("actor", "critic")
    loss_methods = ("compute_critic_losses", "compute_actor_losses", "compute_warmup_losses", "critic_targets",
                    "critic_loss", "actor_loss", "td_errors")
    #: Whose SB3 policy defaults apply (:data:`ballast.policies.sb3_arguments.KIND_DEFAULTS`).
    policy_kind = "sac"
    config_attributes = ("action_noise", "target_entropy")
    fixed_hyperparameters = {"buffer_size": hyperparameters.REPLAY_SIZE, **hyperparameters.REPLAY_KIND,
                             "use_sde": hyperparameters.GSDE,
                             "ent_coef": "the entropy coefficient (a learned parameter with its optimizer, or a "
                                         "constant) was built from it"}

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
        self.action_noise = as_action_noise(action_noise)
        config = self.config_class(
            learning_rate=as_schedule(learning_rate, "learning_rate"), buffer_size=int(buffer_size),
            learning_starts=int(learning_starts), batch_size=int(batch_size), tau=float(tau),
            gamma=float(gamma),
            train_freq=off_policy.parse_train_freq(train_freq), gradient_steps=int(gradient_steps),
            action_noise=noise_to_json(self.action_noise), n_steps=int(n_steps),
            ent_coef=validation.number_or_keyword(ent_coef, "auto"),
            target_update_interval=int(target_update_interval),
            target_entropy=validation.number_or_keyword(target_entropy, "auto"),
            use_sde=bool(use_sde), sde_sample_freq=int(sde_sample_freq),
            use_sde_at_warmup=bool(use_sde_at_warmup),
            **off_policy.replay_options(prioritized_replay, replay_buffer_class, replay_buffer_kwargs,
                                       optimize_memory_usage),
        )
        self._setup(policy, env, config=config, seed=seed, device=device, n_envs=n_envs,
                    policy_kwargs=policy_kwargs, normalize_observations=normalize_observations,
                    normalize_rewards=normalize_rewards, verbose=verbose, tensorboard_log=tensorboard_log,
                    vectorization=vectorization, env_kwargs=env_kwargs,
                    frame_stack=frame_stack, observation_space=observation_space,
                    action_space=action_space, aux_modules=aux_modules, extra_losses=extra_losses,
                    residual=residual_options(base_policy, residual_scale, append_base_action, critic_warmup_steps),
                    stats_window_size=stats_window_size)

    def _policy_from_config(self, normalize_observations: bool) -> nn.Module:
        self.policy_config = off_policy.policy_config(self, KIND_DEFAULTS[self.policy_kind])
        return super()._policy_from_config(normalize_observations)

    def _build(self) -> None:
        cfg = self.config
        actor_critic.build(self, target_actor=False)
        if cfg.target_entropy == "auto":
            self.target_entropy = -float(np.prod(self.action_space.shape))
        else:
            self.target_entropy = float(cfg.target_entropy)
        if isinstance(cfg.ent_coef, str):
            init = float(cfg.ent_coef.split("_")[1]) if "_" in cfg.ent_coef else 1.0
            self.log_ent_coef: nn.Parameter | None = nn.Parameter(
                torch.full((1,), float(np.log(init)), device=self.device))
            self.ent_coef_params = FlatParameters([self.log_ent_coef])
            self.ent_coef_optimizer = self.optimizers.register(
                "ent_coef_optimizer", make_adam(self.ent_coef_params, lr=cfg.learning_rate(1.0)), self.ent_coef_params,
                cfg.learning_rate)
            self.ent_coef_tensor = None
        else:
            self.log_ent_coef = self.ent_coef_params = self.ent_coef_optimizer = None
            self.ent_coef_tensor = torch.tensor(float(cfg.ent_coef), device=self.device)

    # --- acting ------------------------------------------------------------------------------
    def policy_acts_during_warmup(self) -> bool:
        return self.config.use_sde and self.config.use_sde_at_warmup

    def exploration_actions(self, obs: Any) -> np.ndarray:
        return off_policy.policy_space_actions(self.policy, obs, self.device, deterministic=False)

    # --- training ----------------------------------------------------------------------------
    @in_own_stream
    def train(self, gradient_steps: int) -> None:
        """``gradient_steps`` updates, each on a fresh replay batch."""
        cfg = self.config
        actor_critic.train(self, gradient_steps, self._update_batch)
        if cfg.use_sde:
            self.logger.record("train/std", self.policy.actor.sde_std().detach().mean())

    def _update_batch(self, batch: Transitions) -> dict[str, torch.Tensor]:
        update_target = self.n_updates % self.config.target_update_interval == 0
        return self.update(batch.observations, batch.actions, batch.rewards, batch.next_observations,
                           batch.discounts, update_target, base=batch.base_actions, next_base=batch.next_base_actions,
                           update_actor=not self._actor_frozen(), weights=batch.weights)

    def update(self, obs: Any, actions: torch.Tensor, rewards: torch.Tensor, next_obs: Any,
               discounts: torch.Tensor, update_target: bool, *, base: torch.Tensor | None = None,
               next_base: torch.Tensor | None = None, update_actor: bool = True,
               weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One gradient step on a batch of (normalised) transitions; returns detached statistics.

        Critic first (its terms, :meth:`compute_critic_losses`, then its optimizer), then actor
        and alpha (:meth:`compute_actor_losses`) with the updated critics. The gradients come
        from the fast path (:mod:`ballast.algos.fast_path`) when it applies, else from autograd;
        everything else is the same on both. The update hooks run here: ``before_gradient_step``
        before each of the two optimizer steps, with that loss's terms, and
        ``after_gradient_step`` once, after the target update, with every term. Without update
        hooks it is a function of fixed-shape tensors without host synchronisation, so
        ``torch.compile`` can wrap it.

        For a residual agent ``base`` and ``next_base`` are the base's env actions: the actor's
        corrections become executed actions (``ResidualActions.critic_actions``) before the critic
        sees them, while log-probabilities stay those of the corrections. ``update_actor=False``
        (critic warm-up) trains the critic and the entropy coefficient, not the actor: the actor's
        terms are then only ``alpha`` (:meth:`compute_warmup_losses`). ``weights``: importance
        weights of a prioritized draw, for the critic's loss (whose priorities it keeps).
        """
        cfg, extensions = self.config, self.extensions
        batch = Transitions(observations=obs, actions=actions, rewards=rewards, next_observations=next_obs,
                            discounts=discounts, base_actions=base, next_base_actions=next_base, weights=weights)
        self._td_errors = None
        ent_coef = self.log_ent_coef.detach().exp() if self.log_ent_coef is not None else self.ent_coef_tensor
        fast = self._fast_update()
        noise = None
        extensions.zero_own_grads()
        if fast is not None:
            pi = fast.actor_pass(obs, next_obs)
        else:
            if cfg.use_sde:  # one gSDE matrix for the batch, new at each gradient step, as in SB3
                actor = self.policy.actor
                noise = torch.randn(1, actor.latent_dim, actor.action_dim, device=actions.device)
            pi = self.policy.actor.outputs(obs, noise)
        terms = actor_critic.loss_gradients(fast and partial(fast.critic_gradients, batch, pi, ent_coef),
                                            partial(self.compute_critic_losses, batch, pi, ent_coef, noise),
                                            self.critic_params)
        self._hook("before_gradient_step", terms)
        self.critic_optimizer.step()
        # The alpha loss reaches only log(alpha) and the actor loss only the actor (alpha enters it
        # detached), so one backward serves both; stepping alpha last changes nothing, since this
        # step's target and actor loss use alpha from before its update, as in SB3.
        if fast is not None:
            actor_terms = fast.actor_gradients(pi, ent_coef, update_actor)
        else:
            actor_terms = self._actor_autograd(batch, pi, ent_coef, update_actor)
        return self._step_actor(terms, actor_terms, ent_coef, update_actor, update_target)

    def _actor_autograd(self, batch: Transitions, pi: ActorOutput, ent_coef: torch.Tensor, update_actor: bool
                        ) -> dict[str, torch.Tensor]:
        """The actor's and alpha's terms (only alpha's while the actor waits), their gradients written by autograd."""
        actor_terms = (self.compute_actor_losses(batch, pi, ent_coef) if update_actor
                       else self.compute_warmup_losses(batch, pi))
        self.actor_params.zero_grad()
        if "alpha" in actor_terms:
            self.ent_coef_params.zero_grad()
        if actor_terms:
            sum_terms(actor_terms).backward()
        return actor_terms

    def _step_actor(self, terms: dict[str, torch.Tensor], actor_terms: dict[str, torch.Tensor],
                    ent_coef: torch.Tensor, update_actor: bool, update_target: bool) -> dict[str, torch.Tensor]:
        """The end of :meth:`update` once the actor's gradients are written: its update hooks, the
        optimizer steps of alpha, the actor and the aux modules, the target update; returns the statistics."""
        extensions = self.extensions
        if actor_terms:
            self._hook("before_gradient_step", actor_terms)
        if "alpha" in actor_terms:
            self.ent_coef_optimizer.step()
        if update_actor:
            self.actor_optimizer.step()
        # An own optimizer steps only when an extra term ran (in a warm-up, only the critic's do).
        if extensions.extra_losses and (update_actor or extensions.has_losses("critic")):
            extensions.step_own_optimizers()
        if update_target:
            self.targets.update(self.config.tau)
        terms = {**terms, **actor_terms}
        self._hook("after_gradient_step", terms)
        stats = term_stats(terms)
        stats.update({"train/critic_loss": stats["loss/critic"], "train/ent_coef": ent_coef.detach().reshape(())})
        if "actor" in terms:
            stats["train/actor_loss"] = stats["loss/actor"]
        if "alpha" in terms:
            stats["train/ent_coef_loss"] = stats["loss/alpha"]
        return stats

    def compute_critic_losses(self, batch: Transitions, pi: ActorOutput, ent_coef: torch.Tensor,
                              sde_noise: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The critic's named, weighted terms, whose sum the critic's optimizer minimises.

        ``critic``: ``0.5 * sum_i mean((Q_i(s, a) - y)^2)`` with the soft target (module
        docstring; weighted by ``batch.weights`` with prioritized replay, whose priorities
        :meth:`td_errors` gives), then the extra terms that join the critic. ``pi`` is the actor's output for
        ``batch.observations`` (given to critic extra losses detached), ``ent_coef`` alpha before
        this step's update, ``sde_noise`` gSDE's matrix for the next actions. A subclass may
        add, remove or reweight terms; the critic's optimizer steps only the critics (and the
        aux modules given to it), whatever the terms reach.
        """
        policy = self.policy
        with torch.no_grad():
            next_actions, next_log_prob = policy.actor.action_log_prob(batch.next_observations, sde_noise)
            if batch.next_base_actions is not None:
                next_actions = policy.residual.critic_actions(batch.next_base_actions, next_actions)
            next_q = policy.q_values(batch.next_observations, next_actions, target=True)
            target = self.critic_targets(batch.rewards, batch.discounts, next_q, next_log_prob, ent_coef)
        features = policy.critic_features(batch.observations)
        q = policy.critic.q_from_features(features, batch.actions)
        terms = {"critic": self.critic_loss(q, target, batch.weights)}
        if batch.weights is not None:
            self._td_errors = self.td_errors(q.detach(), target)
        return actor_critic.add_extension_terms(self, terms, batch, "critic", pi.detached(), features, q, target)

    def critic_targets(self, rewards: torch.Tensor, discounts: torch.Tensor, next_q: torch.Tensor,
                       next_log_prob: torch.Tensor, ent_coef: torch.Tensor) -> torch.Tensor:
        """The critics' regression targets from the target critics' values ``next_q`` at ``(s', a')``:
        the soft target (:func:`ballast.returns.soft_q_target`)."""
        return returns.soft_q_target(rewards, discounts, next_q, next_log_prob, ent_coef)

    def critic_loss(self, q_values: torch.Tensor, targets: torch.Tensor,
                    weights: torch.Tensor | None = None) -> torch.Tensor:
        """The ``critic`` term: ``0.5 * sum_i mean((Q_i(s, a) - y)^2)`` (:func:`ballast.losses.q_regression_loss`,
        weighted by importance ``weights`` when given)."""
        return 0.5 * losses.q_regression_loss(q_values, targets, weights)

    def td_errors(self, q_values: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The prioritized replay's per-sample priorities: the critics' mean ``|Q_i(s, a) - y|``
        (:func:`ballast.losses.critic_td_errors`)."""
        return losses.critic_td_errors(q_values, targets)

    def actor_loss(self, log_prob: torch.Tensor, q_values: torch.Tensor, ent_coef: torch.Tensor) -> torch.Tensor:
        """The ``actor`` term from the critics' values of the actor's actions
        (:func:`ballast.losses.sac_actor_loss`)."""
        return losses.sac_actor_loss(log_prob, q_values, ent_coef)

    def compute_actor_losses(self, batch: Transitions, pi: ActorOutput, ent_coef: torch.Tensor
                             ) -> dict[str, torch.Tensor]:
        """The actor's named, weighted terms, minimised by the actor's optimizer (and alpha's).

        ``actor``: ``mean(alpha * log pi(a~|s) - min_i Q_i(s, a~))`` with the updated critics;
        ``alpha`` (when ``ent_coef="auto"``): the loss of ``log alpha``; then the extra terms that
        join the actor. Their sum is backpropagated once; a subclass may add, remove or reweight
        terms (keep ``alpha`` under that name: it decides whether alpha's optimizer steps).
        """
        policy = self.policy
        actions_pi = pi.actions
        if batch.base_actions is not None:
            actions_pi = policy.residual.critic_actions(batch.base_actions, actions_pi)
        features = policy.critic_features(batch.observations)
        q_pi = policy.critic.q_from_features(features, actions_pi, detach_params=True)
        terms = {"actor": self.actor_loss(pi.log_prob, q_pi, ent_coef)}
        terms.update(self.compute_warmup_losses(batch, pi))
        return actor_critic.add_extension_terms(self, terms, batch, "actor", pi, features, q_pi, None)

    def compute_warmup_losses(self, batch: Transitions, pi: ActorOutput) -> dict[str, torch.Tensor]:
        """The terms that train while the actor waits (a residual agent's critic warm-up): ``alpha``,
        the loss of ``log alpha`` when ``ent_coef="auto"``, so that alpha follows the (unchanged)
        policy's entropy and has the value it would have had when the actor starts; none otherwise."""
        if self.log_ent_coef is None:
            return {}
        return {"alpha": losses.entropy_coef_loss(self.log_ent_coef, pi.log_prob, self.target_entropy)}

    # --- the fast path (ballast.algos.fast_path) ----------------------------------------------
    def _fast_path_structure(self) -> str | None:
        policy = self.policy
        actor, critic, target = policy.actor, policy.critic, policy.critic_target
        if target.n_critics != critic.n_critics:
            return "the target critics are not the critics' copy"
        if any(p.dtype != torch.float32 for p in target.parameters()):
            return "the target critics are not float32"
        parameters = [*self.actor_params.params, *self.critic_params.params]
        if self.log_ent_coef is not None:
            parameters.append(self.log_ent_coef)
        return networks_reason([actor.encoder, critic.encoder, target.encoder], [actor.mlp, critic.mlp, target.mlp],
                               parameters, [self.actor_params, self.critic_params], [actor, critic])

    def _build_fast_update(self) -> SACFastUpdate:
        return SACFastUpdate(self)

    # --- checkpoint ----------------------------------------------------------------------------
    def _extra_tensors(self) -> dict[str, dict[str, torch.Tensor]]:
        ent = self.log_ent_coef if self.log_ent_coef is not None else self.ent_coef_tensor
        return {"ent_coef": {"log_ent_coef" if self.log_ent_coef is not None else "ent_coef": ent.detach()}}

    def _load_extra(self, checkpoint: Checkpoint) -> None:
        saved = checkpoint.tensors.get("ent_coef", {})
        with torch.no_grad():
            if self.log_ent_coef is not None and "log_ent_coef" in saved:
                self.log_ent_coef.copy_(saved["log_ent_coef"])
        super()._load_extra(checkpoint)


@dataclass
class SACActorPass:
    """The actor's forward pass on ``s`` and ``s'`` of a batch (its weights do not change before its step)."""

    x: torch.Tensor
    next_x: torch.Tensor
    hidden: list[torch.Tensor]
    raw_log_std: torch.Tensor
    pi: SquashedGaussian
    next_pi: SquashedGaussian


class SACFastUpdate:
    """SAC's gradients for the default MLP policy without autograd (:mod:`ballast.algos.fast_path`).

    :meth:`actor_pass` draws the actor's samples for ``s`` and ``s'`` (the noise in the order
    :meth:`SquashedGaussianActor.outputs` draws it: first for ``s``, then for ``s'``);
    :meth:`critic_gradients` and :meth:`actor_gradients` return the terms of
    :meth:`SAC.compute_critic_losses` and :meth:`SAC.compute_actor_losses` (detached) and write the
    gradients. The derivatives, per sample ``b`` of ``B``: ``d/dQ_i = (Q_i - y) / B`` (half of
    :func:`ballast.losses.q_regression_loss_grad`); the actor loss's (:func:`ballast.losses.sac_actor_loss_grad`)
    through the minimum critic's input (:meth:`CriticEnsemble.min_input_grad`) and the squashed
    Gaussian (:meth:`SquashedGaussian.output_grads`); ``log_std = clamp(z, -20, 2)`` passes the
    gradient where ``-20 <= z <= 2``; alpha's by :func:`ballast.losses.entropy_coef_loss_grad`.
    """

    def __init__(self, model: SAC) -> None:
        actor = model.policy.actor
        self.model = model
        self.encoder = actor.encoder
        self.actor = Layers.of_stacked_mlp(actor.mlp)
        self.mu, self.log_std = Affine.of_linear(actor.mu), Affine.of_linear(actor.log_std)
        self.critic = CriticEnsemble(model.policy.critic)
        self.target = CriticEnsemble(model.policy.critic_target)

    @torch.no_grad()
    def actor_pass(self, obs: torch.Tensor, next_obs: torch.Tensor) -> SACActorPass:
        x, next_x = self.encoder.forward(obs), self.encoder.forward(next_obs)
        n = x.shape[0]
        hidden = self.actor.forward(torch.cat((x, next_x)))
        latent = hidden[-1][0]
        mean, raw = self.mu.forward(latent), self.log_std.forward(latent)
        log_std = raw.clamp(LOG_STD_MIN, LOG_STD_MAX)
        eps = torch.randn(mean[:n].shape, dtype=mean.dtype, device=mean.device)
        next_eps = torch.randn(mean[n:].shape, dtype=mean.dtype, device=mean.device)
        return SACActorPass(x, next_x, hidden, raw[:n], SquashedGaussian(mean[:n], log_std[:n], eps),
                            SquashedGaussian(mean[n:], log_std[n:], next_eps))

    @torch.no_grad()
    def critic_gradients(self, batch: Transitions, p: SACActorPass, ent_coef: torch.Tensor
                         ) -> dict[str, torch.Tensor]:
        next_q = self.target.forward(torch.cat((p.next_x, p.next_pi.actions), dim=1)).q
        target = returns.soft_q_target(batch.rewards, batch.discounts, next_q, p.next_pi.log_prob, ent_coef)
        trace = self.critic.forward(torch.cat((p.x, batch.actions), dim=1))
        self.critic.backward(trace, 0.5 * losses.q_regression_loss_grad(trace.q, target, batch.weights))
        if batch.weights is not None:
            self.model._td_errors = losses.critic_td_errors(trace.q, target)
        return {"critic": 0.5 * losses.q_regression_loss(trace.q, target, batch.weights)}

    @torch.no_grad()
    def actor_gradients(self, p: SACActorPass, ent_coef: torch.Tensor, update_actor: bool
                        ) -> dict[str, torch.Tensor]:
        model, pi = self.model, p.pi
        terms = {}
        if update_actor:
            trace = self.critic.forward(torch.cat((p.x, pi.actions), dim=1))
            terms["actor"] = losses.sac_actor_loss(pi.log_prob, trace.q, ent_coef)
            d_log_prob, chosen, d_q = losses.sac_actor_loss_grad(pi.log_prob, trace.q, ent_coef)
            d_actions = self.critic.min_input_grad(trace, chosen, d_q, slice(p.x.shape[1], None))
            d_mean, d_log_std = pi.output_grads(d_actions, d_log_prob)
            d_raw = torch.where((p.raw_log_std >= LOG_STD_MIN) & (p.raw_log_std <= LOG_STD_MAX), d_log_std, 0.0)
            n = p.x.shape[0]
            latent = p.hidden[-1][0, :n]
            self.mu.weight_grad(latent, d_mean)
            self.log_std.weight_grad(latent, d_raw)
            if self.actor.affines:
                d_latent = self.mu.input_grad(d_mean) + self.log_std.input_grad(d_raw)
                self.actor.backward([h[:, :n] for h in p.hidden], d_latent.unsqueeze(0))
        if model.log_ent_coef is not None:
            terms["alpha"] = losses.entropy_coef_loss(model.log_ent_coef, pi.log_prob, model.target_entropy)
            model.log_ent_coef.grad.copy_(
                losses.entropy_coef_loss_grad(model.log_ent_coef, pi.log_prob, model.target_entropy))
        return terms
