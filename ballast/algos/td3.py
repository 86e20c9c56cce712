"""Twin Delayed DDPG (TD3; Fujimoto et al., 2018, arXiv:1802.09477).

Each gradient step on a replay batch, as SB3 orders it:

1. ``critic``: ``sum_i mean((Q_i(s, a) - y)^2)`` with the clipped double-Q target
   ``y = r + discount * min_i Q'_i(s', clip(mu'(s') + clip(eps, -c, c), -1, 1))``,
   ``eps ~ N(0, target_policy_noise^2)``, ``c = target_noise_clip``
   (:func:`ballast.returns.clipped_double_q_target`);
2. every ``policy_delay`` gradient steps: ``actor``, ``-mean(Q_1(s, mu(s)))`` with the updated
   first critic, whose weights get no gradient from it
   (:func:`ballast.losses.deterministic_actor_loss`), then Polyak averaging of the target
   actor and critics.

:class:`ballast.DDPG` is this algorithm with one critic, ``policy_delay=1`` and no target
policy noise. Extensions (``docs/extending.md``): an extra loss joins the actor's loss (the
default, at the delayed actor updates) or the critic's (:func:`ballast.extensions.adds_to`); the
terms are :meth:`TD3.compute_critic_losses` and :meth:`TD3.compute_actor_losses`.
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
from ballast.algos import actor_critic, hyperparameters, off_policy
from ballast.algos.base import Algorithm, in_own_stream
from ballast.algos.fast_path import networks_reason
from ballast.envs.make import EnvLike
from ballast.extensions import AuxModule, ExtraLoss, Transitions, term_stats
from ballast.noise import ActionNoise, as_action_noise, noise_to_json
from ballast.policies.continuous import TD3Policy
from ballast.policies.fast_mlp import Affine, CriticEnsemble, Layers
from ballast.policies.sb3_arguments import KIND_DEFAULTS
from ballast.residual.actions import residual_options
from ballast.schedules import ScheduleLike, as_schedule
from ballast.torch_compat import tanh_backward


def td3_policy_defaults(n_critics: int = 2) -> dict[str, Any]:
    """SB3's TD3 policy defaults: ReLU, separate encoders (``net_arch``: ``[400, 300]``, ``[256, 256]``
    after the NatureCNN, from :func:`ballast.policies.config.default_net_arch`)."""
    return {**KIND_DEFAULTS["td3"], "n_critics": n_critics}


@dataclass
class TD3Config(off_policy.ReplayConfig):
    """TD3's hyperparameters (see :class:`TD3`)."""

    action_noise: dict[str, Any] | None
    n_steps: int
    policy_delay: int
    target_policy_noise: float
    target_noise_clip: float


class TD3(off_policy.OffPolicyMethods, Algorithm):
    """TD3 with SB3's interface: ``TD3("MlpPolicy", "Pendulum-v1", action_noise=..., seed=0).learn(20_000)``.

    Args (keyword-only after ``env``; defaults as in SB3): ``learning_rate=1e-3``,
    ``buffer_size=1_000_000``, ``learning_starts=100``, ``batch_size=256``, ``tau=0.005``,
    ``gamma=0.99``, ``train_freq=1``, ``gradient_steps=1``, ``action_noise=None``, ``n_steps=1``
    (meanings as in :class:`ballast.SAC`), and
        policy_delay: critic updates per actor (and target) update.
        target_policy_noise: std of the Gaussian noise added to the target action (smoothing).
        target_noise_clip: that noise is clipped to ``[-target_noise_clip, target_noise_clip]``.
        prioritized_replay, replay_buffer_class, replay_buffer_kwargs: prioritized replay, as for
            :class:`ballast.SAC`.
        base_policy, residual_scale, append_base_action, critic_warmup_steps: a residual agent, as in
            :class:`ballast.PPO`.
        aux_modules, extra_losses: extensions, as for :class:`ballast.SAC` (``docs/extending.md``).
    """

    algorithm_name = "td3"
    config_class = TD3Config
    supported_action_spaces = (spaces.Box,)
    default_policy_class = TD3Policy
    default_n_critics = 2
    extendable_losses = ("actor", "critic")
    loss_methods = ("compute_critic_losses", "compute_actor_losses")
    config_attributes = ("action_noise",)
    fixed_hyperparameters = {"buffer_size": hyperparameters.REPLAY_SIZE, **hyperparameters.REPLAY_KIND}

    def __init__(
        self,
        policy: str | nn.Module | type[nn.Module],
        env: EnvLike | None,
        *,
        learning_rate: ScheduleLike = 1e-3,
        buffer_size: int = 1_000_000,
        learning_starts: int = 100,
        batch_size: int = 256,
        tau: float = 0.005,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 1,
        action_noise: ActionNoise | dict[str, Any] | None = None,
        n_steps: int = 1,
        policy_delay: int = 2,
        target_policy_noise: float = 0.2,
        target_noise_clip: float = 0.5,
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
        config = TD3Config(
            learning_rate=as_schedule(learning_rate, "learning_rate"), buffer_size=int(buffer_size),
            learning_starts=int(learning_starts), batch_size=int(batch_size), tau=float(tau),
            gamma=float(gamma),
            train_freq=off_policy.parse_train_freq(train_freq), gradient_steps=int(gradient_steps),
            action_noise=noise_to_json(self.action_noise), n_steps=int(n_steps),
            policy_delay=int(policy_delay),
            target_policy_noise=float(target_policy_noise), target_noise_clip=float(target_noise_clip),
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
        self.policy_config = off_policy.policy_config(self, td3_policy_defaults(self.default_n_critics))
        return super()._policy_from_config(normalize_observations)

    def _build(self) -> None:
        actor_critic.build(self, target_actor=True)

    # --- acting ------------------------------------------------------------------------------
    def exploration_actions(self, obs: Any) -> np.ndarray:
        return off_policy.policy_space_actions(self.policy, obs, self.device, deterministic=True)

    # --- training ----------------------------------------------------------------------------
    @in_own_stream
    def train(self, gradient_steps: int) -> None:
        """``gradient_steps`` critic updates, each on a fresh replay batch, with delayed actor updates."""
        actor_critic.train(self, gradient_steps, self._update_batch)

    def _update_batch(self, batch: Transitions) -> dict[str, torch.Tensor]:
        update_actor = self.n_updates % self.config.policy_delay == 0
        return self.update(batch.observations, batch.actions, batch.rewards, batch.next_observations,
                           batch.discounts, update_actor, base=batch.base_actions, next_base=batch.next_base_actions,
                           train_actor=not self._actor_frozen(), weights=batch.weights)

    def update(self, obs: Any, actions: torch.Tensor, rewards: torch.Tensor, next_obs: Any,
               discounts: torch.Tensor, update_actor: bool, *, base: torch.Tensor | None = None,
               next_base: torch.Tensor | None = None, train_actor: bool = True,
               weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One gradient step on a batch of (normalised) transitions; returns detached statistics.

        Critic (:meth:`compute_critic_losses`, then its optimizer); with ``update_actor`` then the
        actor (:meth:`compute_actor_losses`) and the target networks. The gradients come from the
        fast path (:mod:`ballast.algos.fast_path`) when it applies, else from autograd; everything
        else is the same on both. ``before_gradient_step`` runs before each optimizer step with
        that loss's terms, ``after_gradient_step`` once at the end with every term. Without update
        hooks it is a function of fixed-shape tensors without host synchronisation, so
        ``torch.compile`` can wrap it.

        For a residual agent ``base`` and ``next_base`` are the base's env actions: the actors'
        corrections become executed actions (``ResidualActions.critic_actions``; the target
        smoothing noise is added to the executed action, the critic's input) before the critic
        sees them. ``train_actor=False`` (critic warm-up) skips the actor step but not the targets.
        ``weights``: importance weights of a prioritized draw, for the critic's loss (whose
        priorities, the critics' mean ``|Q_i(s, a) - y|``, it keeps).
        """
        cfg, extensions = self.config, self.extensions
        batch = Transitions(observations=obs, actions=actions, rewards=rewards, next_observations=next_obs,
                            discounts=discounts, base_actions=base, next_base_actions=next_base, weights=weights)
        self._td_errors = None
        fast = self._fast_update()
        extensions.zero_own_grads()
        terms = actor_critic.loss_gradients(fast and partial(fast.critic_gradients, batch),
                                            partial(self.compute_critic_losses, batch), self.critic_params)
        self._hook("before_gradient_step", terms)
        self.critic_optimizer.step()
        extended = bool(extensions.extra_losses)
        extra_ran = extended and extensions.has_losses("critic")
        if update_actor and train_actor:
            actor_terms = actor_critic.loss_gradients(fast and partial(fast.actor_gradients, batch),
                                                      partial(self.compute_actor_losses, batch), self.actor_params)
            self._hook("before_gradient_step", actor_terms)
            self.actor_optimizer.step()
            terms = {**terms, **actor_terms}
            extra_ran = extra_ran or (extended and extensions.has_losses("actor"))
        if update_actor:
            self.targets.update(cfg.tau)
        if extra_ran:  # an own optimizer steps only when an extra term ran (not at critic-only steps)
            extensions.step_own_optimizers()
        self._hook("after_gradient_step", terms)
        stats = term_stats(terms)
        stats["train/critic_loss"] = stats["loss/critic"]
        if "actor" in terms:
            stats["train/actor_loss"] = stats["loss/actor"]
        return stats

    def compute_critic_losses(self, batch: Transitions) -> dict[str, torch.Tensor]:
        """The critic's named, weighted terms, whose sum the critic's optimizer minimises.

        ``critic``: ``sum_i mean((Q_i(s, a) - y)^2)`` with the clipped double-Q target (module
        docstring; weighted by ``batch.weights`` with prioritized replay), then the extra terms
        that join the critic. A subclass may add, remove or reweight terms; the critic's
        optimizer steps only the critics (and the aux modules given to it).
        """
        policy, cfg = self.policy, self.config
        next_obs = batch.next_observations
        with torch.no_grad():
            next_actions = policy.actor_target(next_obs)
            if batch.next_base_actions is not None:
                next_actions = policy.residual.critic_actions(batch.next_base_actions, next_actions)
            if cfg.target_policy_noise > 0 and cfg.target_noise_clip > 0:  # noise clipped to 0 is none
                noise = (torch.randn_like(next_actions) * cfg.target_policy_noise).clamp(
                    -cfg.target_noise_clip, cfg.target_noise_clip)
                next_actions = (next_actions + noise).clamp(-1.0, 1.0)
            next_q = policy.q_values(next_obs, next_actions, target=True)
            target = returns.clipped_double_q_target(batch.rewards, batch.discounts, next_q)
        features = policy.critic_features(batch.observations)
        q = policy.critic.q_from_features(features, batch.actions)
        terms = {"critic": losses.q_regression_loss(q, target, batch.weights)}
        if batch.weights is not None:
            self._td_errors = losses.critic_td_errors(q.detach(), target)
        return actor_critic.add_extension_terms(self, terms, batch, "critic", None, features, q, target)

    def compute_actor_losses(self, batch: Transitions) -> dict[str, torch.Tensor]:
        """The actor's named, weighted terms (at the delayed actor updates), minimised by its optimizer.

        ``actor``: ``-mean(Q_1(s, mu(s)))`` with the updated first critic, whose weights get no
        gradient from it (a residual agent's correction first becomes the executed action); then
        the extra terms that join the actor.
        """
        policy = self.policy
        pi = policy.actor.outputs(batch.observations)
        actions_pi = pi.actions
        if batch.base_actions is not None:
            actions_pi = policy.residual.critic_actions(batch.base_actions, actions_pi)
        features = policy.critic_features(batch.observations)
        q_pi = policy.critic.q_from_features(features, actions_pi, detach_params=True, first_only=True)
        terms = {"actor": losses.deterministic_actor_loss(q_pi)}
        return actor_critic.add_extension_terms(self, terms, batch, "actor", pi, features, q_pi, None)

    # --- the fast path (ballast.algos.fast_path) ----------------------------------------------
    def _fast_path_structure(self) -> str | None:
        policy = self.policy
        networks = [policy.actor, policy.actor_target, policy.critic, policy.critic_target]
        if policy.critic_target.n_critics != policy.critic.n_critics:
            return "the target critics are not the critics' copy"
        if any(p.dtype != torch.float32 for m in (policy.actor_target, policy.critic_target) for p in m.parameters()):
            return "the target networks are not float32"
        return networks_reason([m.encoder for m in networks], [m.mlp for m in networks],
                               [*self.actor_params.params, *self.critic_params.params],
                               [self.actor_params, self.critic_params], [policy.actor, policy.critic])

    def _build_fast_update(self) -> TD3FastUpdate:
        return TD3FastUpdate(self)

    # --- checkpoint ----------------------------------------------------------------------------
class _Actor:
    """A :class:`~ballast.policies.continuous.DeterministicActor` ``tanh(mu(MLP(s)))`` as plain tensors."""

    def __init__(self, actor: nn.Module) -> None:
        self.layers, self.mu = Layers.of_stacked_mlp(actor.mlp), Affine.of_linear(actor.mu)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        hidden = self.layers.forward(x)
        return torch.tanh(self.mu.forward(hidden[-1][0])), hidden


class TD3FastUpdate:
    """TD3's (and DDPG's) gradients for the default MLP policy without autograd
    (:mod:`ballast.algos.fast_path`): :meth:`critic_gradients` and :meth:`actor_gradients` return the
    terms of :meth:`TD3.compute_critic_losses` and :meth:`TD3.compute_actor_losses` (detached) and
    write the gradients. The derivatives: :func:`ballast.losses.q_regression_loss_grad`; the actor
    loss's (:func:`ballast.losses.deterministic_actor_loss_grad`) through the first critic's input;
    ``mu = tanh(z)``: ``dz = d mu (1 - mu^2)``.
    """

    def __init__(self, model: TD3) -> None:
        policy, cfg = model.policy, model.config
        self.encoder = policy.actor.encoder
        self.actor, self.actor_target = _Actor(policy.actor), _Actor(policy.actor_target)
        self.critic = CriticEnsemble(policy.critic)
        self.first_critic = CriticEnsemble(policy.critic, first=True)
        self.target = CriticEnsemble(policy.critic_target)
        self.config = cfg
        self.model = model

    @torch.no_grad()
    def critic_gradients(self, batch: Transitions) -> dict[str, torch.Tensor]:
        cfg = self.config
        x, next_x = self.encoder.forward(batch.observations), self.encoder.forward(batch.next_observations)
        next_actions, _ = self.actor_target.forward(next_x)
        if cfg.target_policy_noise > 0:
            noise = (torch.randn_like(next_actions) * cfg.target_policy_noise).clamp(
                -cfg.target_noise_clip, cfg.target_noise_clip)
            next_actions = (next_actions + noise).clamp(-1.0, 1.0)
        next_q = self.target.forward(torch.cat((next_x, next_actions), dim=1)).q
        target = returns.clipped_double_q_target(batch.rewards, batch.discounts, next_q)
        trace = self.critic.forward(torch.cat((x, batch.actions), dim=1))
        self.critic.backward(trace, losses.q_regression_loss_grad(trace.q, target, batch.weights))
        if batch.weights is not None:
            self.model._td_errors = losses.critic_td_errors(trace.q, target)
        return {"critic": losses.q_regression_loss(trace.q, target, batch.weights)}

    @torch.no_grad()
    def actor_gradients(self, batch: Transitions) -> dict[str, torch.Tensor]:
        x = self.encoder.forward(batch.observations)
        mu, hidden = self.actor.forward(x)
        trace = self.first_critic.forward(torch.cat((x, mu), dim=1))
        d_q = losses.deterministic_actor_loss_grad(trace.q)
        chosen = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        d_mu = self.first_critic.min_input_grad(trace, chosen, d_q[0], slice(x.shape[1], None))
        d_z = tanh_backward(d_mu, mu)
        self.actor.mu.weight_grad(hidden[-1][0], d_z)
        if self.actor.layers.affines:
            self.actor.layers.backward(hidden, self.actor.mu.input_grad(d_z).unsqueeze(0))
        return {"actor": losses.deterministic_actor_loss(trace.q)}
