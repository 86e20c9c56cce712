"""Quantile Regression DQN (QR-DQN; Dabney et al., 2018, "Distributional Reinforcement Learning with
Quantile Regression", arXiv:1710.10044).

QR-DQN is DQN (:mod:`ballast.algos.dqn`) with a distribution in place of each Q-value: the network
outputs ``N`` quantiles ``theta_j(s, a)`` of the return at the midpoints ``tau_j = (2j + 1) / (2N)``
(:class:`~ballast.policies.q_network.QuantileNetwork`), and ``Q(s, a)`` is their mean. Each
gradient step minimises the quantile Huber loss (:func:`ballast.losses.quantile_huber_loss`)
between the quantiles of the replayed action and the target quantiles
``r + discount * theta'_j(s', argmax_a mean_j theta'_j(s', a))`` of the target network
(:func:`ballast.returns.quantile_q_learning_target`). Acting (epsilon-greedy on the mean), the
target updates, n-step returns, extensions and checkpoints are DQN's code; only the network, the
target and the loss differ.

Hyperparameter names and defaults are sb3-contrib's (tuned for Atari, as in the paper): a smaller
learning rate (5e-5), a shorter exploration (``exploration_fraction=0.005``,
``exploration_final_eps=0.01``), no gradient clipping (``max_grad_norm=None``) and, unless
``policy_kwargs`` name an optimizer, Adam with ``eps = 0.01 / batch_size``. ``double_q=True``
(the online network picks ``a*``) is an option beyond sb3-contrib.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from gymnasium import spaces
from torch import nn

from ballast import losses, returns
from ballast.algos.dqn import DQN, DQNFastUpdate
from ballast.envs.make import EnvLike
from ballast.errors import ConfigurationError
from ballast.extensions import AuxModule, ExtraLoss, QOutputs
from ballast.policies.q_network import QRDQNPolicy, QuantileNetwork
from ballast.schedules import ScheduleLike


class QRDQN(DQN):
    """QR-DQN with sb3-contrib's interface: ``QRDQN("MlpPolicy", "CartPole-v1", seed=0).learn(50_000)``.

    Arguments and their meanings as :class:`ballast.DQN`, with sb3-contrib's defaults;
    ``policy_kwargs=dict(n_quantiles=...)`` sets the number of quantiles (200 by default).
    """

    algorithm_name = "qrdqn"
    default_policy_class = QRDQNPolicy
    policy_kind = "qrdqn"
    q_network_class = QuantileNetwork

    def __init__(
        self,
        policy: str | nn.Module | type[nn.Module],
        env: EnvLike | None,
        *,
        learning_rate: ScheduleLike = 5e-5,
        buffer_size: int = 1_000_000,
        learning_starts: int = 100,
        batch_size: int = 32,
        tau: float = 1.0,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 4,
        gradient_steps: int = 1,
        n_steps: int = 1,
        target_update_interval: int = 10_000,
        exploration_fraction: float = 0.005,
        exploration_initial_eps: float = 1.0,
        exploration_final_eps: float = 0.01,
        max_grad_norm: float | None = None,
        double_q: bool = False,
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
    ) -> None:
        super().__init__(
            policy, env, learning_rate=learning_rate, buffer_size=buffer_size, learning_starts=learning_starts,
            batch_size=batch_size, tau=tau, gamma=gamma, train_freq=train_freq, gradient_steps=gradient_steps,
            n_steps=n_steps, target_update_interval=target_update_interval,
            exploration_fraction=exploration_fraction, exploration_initial_eps=exploration_initial_eps,
            exploration_final_eps=exploration_final_eps, max_grad_norm=max_grad_norm, double_q=double_q,
            prioritized_replay=prioritized_replay, replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=optimize_memory_usage,
            stats_window_size=stats_window_size, aux_modules=aux_modules, extra_losses=extra_losses,
            normalize_observations=normalize_observations, normalize_rewards=normalize_rewards,
            policy_kwargs=policy_kwargs, n_envs=n_envs, vectorization=vectorization, env_kwargs=env_kwargs,
            frame_stack=frame_stack,
            seed=seed, device=device, verbose=verbose, tensorboard_log=tensorboard_log,
            observation_space=observation_space, action_space=action_space,
        )

    def _build(self) -> None:
        if not isinstance(self.policy.q_net, QuantileNetwork):
            raise ConfigurationError(
                f"QRDQN needs a policy whose q_net is a QuantileNetwork (QRDQNPolicy or a subclass), got "
                f"{type(self.policy).__name__} with a {type(self.policy.q_net).__name__}; pass 'MlpPolicy', "
                "'CnnPolicy', 'MultiInputPolicy' or a QRDQNPolicy subclass")
        super()._build()

    @property
    def n_quantiles(self) -> int:
        """sb3-contrib's ``model.n_quantiles``."""
        return self.policy.q_net.n_quantiles

    def _default_optimizer_options(self) -> dict[str, Any]:
        """Adam with ``eps = 0.01 / batch_size``, as in the paper (for ``batch_size=32``) and sb3-contrib."""
        return {"eps": 0.01 / self.config.batch_size}

    def td_targets(self, rewards: torch.Tensor, discounts: torch.Tensor, next_obs: Any) -> torch.Tensor:
        """The target quantiles, shape ``(batch, n_quantiles)``
        (:func:`ballast.returns.quantile_q_learning_target`)."""
        policy = self.policy
        next_online = policy.q_net.quantiles(next_obs) if self.config.double_q else None
        return returns.quantile_q_learning_target(rewards, discounts, policy.q_net_target.quantiles(next_obs),
                                                  next_online)

    def q_loss(self, features: torch.Tensor, actions: torch.Tensor, target: torch.Tensor,
               weights: torch.Tensor | None = None) -> tuple[torch.Tensor, QOutputs]:
        """The quantile Huber loss between the replayed actions' quantiles and the target quantiles
        (each sample's weighted by ``weights`` when given)."""
        all_quantiles = self.policy.q_net.quantiles_from_features(features)
        index = actions.long().view(-1, 1, 1).expand(-1, all_quantiles.shape[1], 1)
        quantiles = all_quantiles.gather(2, index).squeeze(2)
        outputs = QOutputs(features=features, q_values=all_quantiles.mean(dim=1), q_taken=quantiles.mean(dim=1),
                           target_q=target.mean(dim=1), quantiles=quantiles, target_quantiles=target)
        return losses.quantile_huber_loss(quantiles, target, weights), outputs

    def td_errors(self, outputs: QOutputs) -> torch.Tensor:
        """The prioritized replay's per-sample priorities: each sample's quantile Huber loss
        (:func:`ballast.losses.quantile_huber_losses`; why this and not a difference of means, there)."""
        return losses.quantile_huber_losses(outputs.quantiles.detach(), outputs.target_quantiles)

    def _build_fast_update(self) -> QRDQNFastUpdate:
        return QRDQNFastUpdate(self.policy, double_q=self.config.double_q)


class QRDQNFastUpdate(DQNFastUpdate):
    """QR-DQN's gradient for the default MLP quantile network without autograd: DQN's fast update
    with the target quantiles and the derivative :func:`ballast.losses.quantile_huber_loss_grad`,
    placed at the outputs of the action taken."""

    def __init__(self, policy: QRDQNPolicy, *, double_q: bool) -> None:
        super().__init__(policy, double_q=double_q)
        self.n_quantiles = policy.q_net.n_quantiles

    def _quantiles(self, layers: Any, obs: torch.Tensor) -> torch.Tensor:
        return layers.forward(obs)[0].view(obs.shape[0], self.n_quantiles, -1)

    @torch.no_grad()
    def targets(self, rewards: torch.Tensor, discounts: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        """The target quantiles (as :meth:`QRDQN.td_targets`)."""
        next_online = self._quantiles(self.online, next_obs) if self.double_q else None
        return returns.quantile_q_learning_target(rewards, discounts, self._quantiles(self.target, next_obs),
                                                  next_online)

    def loss_and_grad(self, q_all: torch.Tensor, actions: torch.Tensor, target: torch.Tensor,
                      weights: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The quantile Huber loss, its derivative with respect to the ``N * n_actions`` outputs
        and, with importance ``weights``, the per-sample losses as priorities (else None)."""
        all_quantiles = q_all.view(q_all.shape[0], self.n_quantiles, -1)
        index = actions.view(-1, 1, 1).expand(-1, self.n_quantiles, 1)
        quantiles = all_quantiles.gather(2, index).squeeze(2)
        grad = losses.quantile_huber_loss_grad(quantiles, target, weights).unsqueeze(2)
        d_out = torch.zeros_like(all_quantiles).scatter_(2, index, grad)
        per_sample = losses.quantile_huber_losses(quantiles, target)
        errors = None if weights is None else per_sample
        return losses.weighted_mean(per_sample, weights), d_out.view_as(q_all), errors
