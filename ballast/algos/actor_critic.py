"""What SAC and TD3 (and so DDPG) share: an actor, a critic ensemble, their targets and optimizers,
exploration noise, and the loop of gradient steps over replay batches.

Functions and one configuration base, not a base class: each algorithm stays one class whose
``update`` reads from top to bottom (see :mod:`ballast.algos.sac`, :mod:`ballast.algos.td3`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ballast.algos import off_policy
from ballast.checkpoint import Checkpoint
from ballast.errors import ConfigurationError
from ballast.extensions import Transitions
from ballast.policies.continuous import target_pairs
from ballast.policies.modes import set_training_mode
from ballast.schedules import Schedule


@dataclass
class ActorCriticConfig:
    """The hyperparameters SAC and TD3 share (see :class:`ballast.SAC` for their meaning)."""

    learning_rate: Schedule
    buffer_size: int
    learning_starts: int
    batch_size: int
    tau: float
    gamma: float
    train_freq: tuple[int, str]
    gradient_steps: int
    action_noise: dict[str, Any] | None
    n_steps: int

    def __post_init__(self) -> None:
        if self.n_steps < 1 or self.batch_size < 1:
            raise ConfigurationError(f"n_steps and batch_size must be at least 1, got {self.n_steps} and "
                                     f"{self.batch_size}")
        if not 0.0 <= self.tau <= 1.0:
            raise ConfigurationError(f"tau must be in [0, 1], got {self.tau}")


def build(model: Any, target_actor: bool) -> None:
    """The actor's and the critics' optimizers (registered as ``actor_optimizer`` and
    ``critic_optimizer``, with the aux modules given to each), the target networks (the critics',
    and the actor's when ``target_actor``), the replay buffer and the action noise."""
    cfg, policy, extensions = model.config, model.policy, model.extensions
    off_policy.check_n_envs_train_freq(cfg.train_freq, model.n_envs)
    lr = cfg.learning_rate(1.0)
    model.actor_params, actor_optimizer = off_policy.make_optimizer(
        [*policy.actor.parameters(), *extensions.shared_parameters("actor")], lr)
    model.critic_params, critic_optimizer = off_policy.make_optimizer(
        [*policy.critic.parameters(), *extensions.shared_parameters("critic")], lr)
    model.actor_optimizer = model.optimizers.register("actor_optimizer", actor_optimizer, model.actor_params,
                                                      cfg.learning_rate)
    model.critic_optimizer = model.optimizers.register("critic_optimizer", critic_optimizer, model.critic_params,
                                                       cfg.learning_rate)
    flats = [model.critic_params, model.actor_params] if target_actor else [model.critic_params]
    model.targets = off_policy.PolyakTargets(target_pairs(policy), flats)
    model.replay_buffer = off_policy.make_replay_buffer(model, cfg.buffer_size)
    model.action_noise = off_policy.vectorize_noise(model.action_noise, model.n_envs)
    if model.action_noise is not None and model.seed is not None:
        model.action_noise.seed(model.seed)


def on_n_envs_changed(model: Any) -> None:
    """A new number of env copies: a replay buffer and noise processes for them."""
    off_policy.check_n_envs_train_freq(model.config.train_freq, model.n_envs)
    model.replay_buffer = off_policy.make_replay_buffer(model, model.config.buffer_size)
    model.action_noise = off_policy.vectorize_noise(model.action_noise, model.n_envs)


def transitions(model: Any, batch: Any) -> Transitions:
    """A replay batch as the networks see it: observations normalised (and, for a residual policy,
    the base's actions for them)."""
    if model.residual_actions is None:
        normalize = model.policy.normalize
        return Transitions(observations=normalize(batch.observations), actions=batch.actions, rewards=batch.rewards,
                           next_observations=normalize(batch.next_observations), discounts=batch.discounts)
    obs, base = model.policy.normalize_with_base(batch.observations)
    next_obs, next_base = model.policy.normalize_with_base(batch.next_observations)
    return Transitions(observations=obs, actions=batch.actions, rewards=batch.rewards, next_observations=next_obs,
                       discounts=batch.discounts, base_actions=base, next_base_actions=next_base)


def train(model: Any, gradient_steps: int, step: Callable[[Transitions], dict[str, torch.Tensor]]) -> None:
    """``gradient_steps`` updates, each ``step(transitions)`` on a fresh replay batch (after the
    ``on_minibatch`` hook and the update count), its statistics logged; stops early when an update
    hook asked to."""
    cfg = model.config
    set_training_mode(model.policy, True)
    lr = model.optimizers.set_learning_rates(model.progress_remaining)
    reward_fn = off_policy.reward_transform(model)
    for _ in range(gradient_steps):
        batch = model.replay_buffer.sample(cfg.batch_size, model.generator, n_steps=cfg.n_steps, gamma=cfg.gamma,
                                           reward_fn=reward_fn)
        model._hook("on_minibatch", batch)
        model.n_updates += 1
        for key, value in step(transitions(model, batch)).items():
            model.logger.record_mean(key, value)
        if model.stop_requested:
            break
    model.logger.record("train/n_updates", model.n_updates)
    model.logger.record("train/learning_rate", lr)


def noise_state(model: Any) -> dict[str, Any]:
    """The action noise's state for the checkpoint (none without noise)."""
    return {} if model.action_noise is None else {"action_noise": model.action_noise.state_dict()}


def load_noise_state(model: Any, checkpoint: Checkpoint) -> None:
    if model.action_noise is not None and "action_noise" in checkpoint.state:
        model.action_noise.load_state_dict(checkpoint.state["action_noise"])
