"""What SAC and TD3 (and so DDPG, TQC and CrossQ) share: an actor, a critic ensemble, their targets and optimizers,
exploration noise, and the loop of gradient steps over replay batches.

Functions and one configuration base, not a base class: each algorithm stays one class whose
``update`` reads from top to bottom (see :mod:`ballast.algos.sac`, :mod:`ballast.algos.td3`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ballast.algos import off_policy
from ballast.extensions import ActorCriticOutputs, Transitions, add_extra_terms, sum_terms
from ballast.optim import FlatParameters
from ballast.policies.continuous import target_pairs, target_statistics_pairs
from ballast.policies.modes import set_training_mode


def build(model: Any, target_actor: bool) -> None:
    """The actor's and the critics' optimizers (registered as ``actor_optimizer`` and
    ``critic_optimizer``, with the aux modules given to each), the target networks (the critics',
    if the policy has them, and the actor's when ``target_actor``), the replay buffer and the action noise."""
    cfg, policy, extensions = model.config, model.policy, model.extensions
    off_policy.check_n_envs_train_freq(cfg.train_freq, model.n_envs)
    model.actor_params, model.actor_optimizer = off_policy.register_optimizer(
        model, "actor_optimizer", [*policy.actor.parameters(), *extensions.shared_parameters("actor")], policy.actor)
    model.critic_params, model.critic_optimizer = off_policy.register_optimizer(
        model, "critic_optimizer", [*policy.critic.parameters(), *extensions.shared_parameters("critic")],
        policy.critic)
    flats = [model.critic_params, model.actor_params] if target_actor else [model.critic_params]
    # CrossQ's policy has no target critics.
    model.targets = (off_policy.PolyakTargets(target_pairs(policy), flats, target_statistics_pairs(policy))
                     if hasattr(policy, "critic_target") else None)
    model.replay_buffer = off_policy.make_replay_buffer(model, cfg.buffer_size)
    model.action_noise = off_policy.vectorize_noise(model.action_noise, model.n_envs)
    if model.action_noise is not None and model.seed is not None:
        model.action_noise.seed(model.seed)


def transitions(model: Any, batch: Any) -> Transitions:
    """A replay batch as the networks see it: observations normalised (and, for a residual policy,
    the base's actions for them)."""
    if model.residual_actions is None:
        normalize = model.policy.normalize
        return Transitions(observations=normalize(batch.observations), actions=batch.actions, rewards=batch.rewards,
                           next_observations=normalize(batch.next_observations), discounts=batch.discounts,
                           weights=batch.weights)
    obs, base = model.policy.normalize_with_base(batch.observations)
    next_obs, next_base = model.policy.normalize_with_base(batch.next_observations)
    return Transitions(observations=obs, actions=batch.actions, rewards=batch.rewards, next_observations=next_obs,
                       discounts=batch.discounts, base_actions=base, next_base_actions=next_base,
                       weights=batch.weights)


def train(model: Any, gradient_steps: int, step: Callable[[Transitions], dict[str, torch.Tensor]]) -> None:
    """``gradient_steps`` updates, each ``step(transitions)`` on a fresh replay batch (after the
    ``on_minibatch`` hook and the update count), its statistics logged, then a prioritized
    buffer's priorities updated from the step's TD errors; stops early when an update hook asked to."""
    cfg = model.config
    set_training_mode(model.policy, True)
    lr = model.optimizers.set_learning_rates(model.progress_remaining)
    model.replay_buffer.anneal(model.progress_remaining)
    reward_fn = off_policy.reward_transform(model)
    for _ in range(gradient_steps):
        batch = model.replay_buffer.sample(cfg.batch_size, model.generator, n_steps=cfg.n_steps, gamma=cfg.gamma,
                                           reward_fn=reward_fn)
        model._hook("on_minibatch", batch)
        model.n_updates += 1
        for key, value in step(transitions(model, batch)).items():
            model.logger.record_mean(key, value)
        off_policy.update_priorities(model, batch, model._td_errors)
        if model.stop_requested:
            break
    model.logger.record("train/n_updates", model.n_updates)
    model.logger.record("train/learning_rate", lr)


def add_extension_terms(model: Any, terms: dict[str, torch.Tensor], batch: Transitions, loss: str, actor: Any,
                        critic_features: torch.Tensor | None, q_values: torch.Tensor,
                        target_q: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """``terms`` with the extra loss terms that join the loss ``loss`` (``"actor"`` or ``"critic"``),
    each given the networks' outputs (:class:`ballast.extensions.ActorCriticOutputs`); returns ``terms``.
    Quantile critics' outputs (``q_values`` of rank 3, ``target_q`` of rank 2) are given as their
    means over the quantiles, and as themselves."""
    extensions = model.extensions
    if extensions.extra_losses and extensions.has_losses(loss):
        quantiles = q_values if q_values.dim() == 3 else None
        target_quantiles = target_q if target_q is not None and target_q.dim() == 2 else None
        outputs = ActorCriticOutputs(
            loss=loss, actor=actor, critic_features=critic_features,
            q_values=q_values if quantiles is None else quantiles.mean(dim=2),
            target_q=target_q if target_quantiles is None else target_quantiles.mean(dim=1),
            quantiles=quantiles, target_quantiles=target_quantiles)
        add_extra_terms(terms, extensions.terms(batch, outputs, model, loss))
    return terms


def loss_gradients(fast_terms: Callable[[], dict[str, torch.Tensor]] | None,
                   compute_terms: Callable[[], dict[str, torch.Tensor]], parameters: FlatParameters
                   ) -> dict[str, torch.Tensor]:
    """The terms of one loss, with their gradients written into ``parameters``' ``.grad``: by the fast
    path (``fast_terms``) when it applies, else by autograd on ``compute_terms()``."""
    if fast_terms is not None:
        return fast_terms()
    terms = compute_terms()
    parameters.zero_grad()
    sum_terms(terms).backward()
    return terms
