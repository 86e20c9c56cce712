"""Policies for continuous actions learned off-policy: SAC's and TD3's (and DDPG's).

::

    SACPolicy: obs -> [encoder] -> [MLP] -> mean, log_std -> a = tanh(mean + std * eps)  (actor)
    TD3Policy: obs -> [encoder] -> [MLP] -> a = tanh(mu)                         (actor, actor_target)
    all:       (obs, a) -> [encoder] -> concat -> n_critics MLPs in one StackedMLP -> Q_1..Q_n
               (critic, critic_target)
    TQCPolicy: SACPolicy whose critics output n_quantiles quantiles each: Z_1..Z_n

The actors act in [-1, 1]; ``ActionAdapter(action_space, squashed=True)`` maps those actions
onto the Box bounds, once, for predict, rollouts, evaluation and export. The replay buffer and
the critics see the [-1, 1] actions. Each critic ensemble is one :class:`StackedMLP`, so twin
critics cost one batched matrix product per layer, forward and backward.

Defaults follow SB3 (set by the algorithms): ReLU, ``[256, 256]`` (SAC) or ``[400, 300]``
(TD3) hidden units, PyTorch's default initialisation, and separate encoders for actor and
critic (``share_features_extractor=False``). With a shared encoder the critics read its
features without gradient, so only the actor loss trains it, as in SB3.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from ballast.distributions import SQUASH_EPS, SquashedGaussian, StateDependentGaussian, gsde_std
from ballast.errors import ConfigurationError, UnsupportedSpaceError
from ballast.policies.base import BasePolicy
from ballast.policies.config import PolicyConfig
from ballast.policies.fast_mlp import column_forward, column_input_grad, column_weight_grad
from ballast.policies.heads import ActionAdapter, zero_output_layer_
from ballast.policies.mlp import StackedMLP
from ballast.policies.normalize import ObservationNormalizer
from ballast.policies.optimizer_handle import OptimizerHandle, link_to_policy
from ballast.policies.sb3_arguments import LrSchedule, given_arguments, policy_config
from ballast.registry import register_policy
from ballast.torch_compat import parameter_list_tensors

if TYPE_CHECKING:
    from ballast.residual.actions import ResidualActions

Obs = torch.Tensor | dict[str, torch.Tensor]

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


@dataclass
class ActorOutput:
    """An actor's intermediate outputs for a batch of (normalised) observations.

    ``features``: the encoder's output; ``latent``: the actor MLP's; ``actions``: in [-1, 1]
    (SAC: the reparameterised sample ``tanh(u)``; TD3 and DDPG: ``mu(s)``). SAC only (None
    otherwise): ``mean``, the Gaussian mean of ``u`` before the squash; ``log_std``, its
    state-dependent log standard deviation (None with gSDE, whose noise is ``latent @ W``);
    ``log_prob``, ``log pi(actions | s)``.
    """

    features: torch.Tensor
    latent: torch.Tensor
    actions: torch.Tensor
    mean: torch.Tensor | None = None
    log_std: torch.Tensor | None = None
    log_prob: torch.Tensor | None = None

    def detached(self) -> ActorOutput:
        """The same outputs without gradient (views, no copies)."""
        return ActorOutput(**{f.name: None if getattr(self, f.name) is None else getattr(self, f.name).detach()
                              for f in fields(self)})


def actor_critic_sizes(config: PolicyConfig) -> tuple[list[int], list[int]]:
    """Hidden sizes of the actor (``pi``) and of each critic (``qf``, or ``vf`` when given as a list)."""
    arch = config.net_arch
    pi = list(arch.get("pi", []))
    return pi, list(arch.get("qf", arch.get("vf", pi)))


def scale_action(adapter: ActionAdapter, env_actions: np.ndarray) -> np.ndarray:
    """The inverse of a squashed :class:`ActionAdapter`: env actions in ``[low, high]`` to [-1, 1].

    ``a_policy = 2 * (a_env - low) / (high - low) - 1`` (used to put actions that were not chosen
    by the policy, e.g. demonstrations, into the replay buffer's space).
    """
    low, high = adapter.low.cpu().numpy(), adapter.high.cpu().numpy()
    flat = np.asarray(env_actions, dtype=np.float32).reshape(-1, low.shape[0])
    return np.clip(2.0 * (flat - low) / (high - low) - 1.0, -1.0, 1.0).astype(np.float32)


def squashed_box(action_space: spaces.Space, who: str) -> int:
    if not isinstance(action_space, spaces.Box):
        raise UnsupportedSpaceError(f"{who} needs a Box action space, got {action_space}")
    return int(np.prod(action_space.shape))


def _init_mlp(mlp: StackedMLP, ortho_init: bool) -> None:
    mlp.reset_parameters(gain=math.sqrt(2) if ortho_init else None)


class StackedOutput(torch.autograd.Function):
    """``q[g, b] = h[g, b, :] @ w[g, :, 0] + bias[g, 0, 0]``: one output per stacked copy, with the
    forward and backward passes of :func:`ballast.policies.fast_mlp.column_forward` (row-vector
    products and an outer product: batched matrix products with one output column are several
    times slower on CPU, and they were the costliest part of a small critic's update)."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(h, weight)
        return column_forward(h, weight, bias)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        h, weight = ctx.saved_tensors
        needs_h, needs_weight, needs_bias = ctx.needs_input_grad
        grad_h = column_input_grad(grad, weight) if needs_h else None
        grad_weight = column_weight_grad(h, grad) if needs_weight else None
        grad_bias = grad.sum(1).view(-1, 1, 1) if needs_bias else None
        return grad_h, grad_weight, grad_bias


class ContinuousCritic(OptimizerHandle, nn.Module):
    """``n_critics`` Q-networks ``Q_i(s, a)`` over one encoder, computed as one stacked MLP.

    ``forward`` returns a ``(n_critics, batch)`` tensor. With ``encoder=None`` it takes features
    instead of observations (the encoder is the actor's, shared). With ``n_quantiles`` (TQC's
    quantile critics) each network outputs that many quantiles ``Z_i(s, a)`` of the return
    instead of one value, and ``forward`` returns ``(n_critics, batch, n_quantiles)``. ``mlp`` replaces
    the hidden layers (CrossQ's, with batch renormalisation; built with ``sizes`` and ``activation``).
    """

    def __init__(self, encoder: nn.Module | None, features_dim: int, action_dim: int, sizes: list[int],
                 activation: str, n_critics: int, ortho_init: bool = False, n_quantiles: int | None = None,
                 mlp: StackedMLP | None = None) -> None:
        super().__init__()
        if n_critics < 1:
            raise ValueError(f"n_critics must be at least 1, got {n_critics}")
        self.encoder = encoder
        self.n_critics = n_critics
        self.n_quantiles = n_quantiles
        if mlp is None:
            mlp = StackedMLP(features_dim + action_dim, sizes, activation, copies=n_critics)
        self.mlp = mlp
        _init_mlp(self.mlp, ortho_init)
        hidden, outputs = self.mlp.output_dim, n_quantiles or 1
        bound = 1.0 / math.sqrt(hidden)
        self.out_weight = nn.Parameter(torch.empty(n_critics, hidden, outputs).uniform_(-bound, bound))
        self.out_bias = nn.Parameter(torch.empty(n_critics, 1, outputs).uniform_(-bound, bound))

    @property
    def features_extractor(self) -> nn.Module | None:
        """The encoder (SB3's ``features_extractor``; a critic sharing the actor's has none of its own)."""
        return self.encoder

    def features(self, obs: Obs) -> torch.Tensor:
        return obs if self.encoder is None else self.encoder(obs)

    def forward(self, obs: Obs, actions: torch.Tensor, *, detach_params: bool = False,
                first_only: bool = False) -> torch.Tensor:
        """Q-values of ``(obs, actions)``, shape ``(n_critics, batch)`` (``(1, batch)`` with ``first_only``;
        quantile critics: ``(n_critics, batch, n_quantiles)``).

        ``detach_params`` computes with the weights detached: gradients then reach the actions
        (for the actor loss) but no critic weight, which saves their computation.
        """
        return self.q_from_features(self.features(obs), actions, detach_params=detach_params,
                                    first_only=first_only)

    def q_from_features(self, features: torch.Tensor, actions: torch.Tensor, *, detach_params: bool = False,
                        first_only: bool = False) -> torch.Tensor:
        """:meth:`forward` on the encoder's ``features`` (see :meth:`features`) instead of observations."""
        x = torch.cat([features, actions], dim=1)
        weights = [*parameter_list_tensors(self.mlp.weights), self.out_weight]
        biases = [*parameter_list_tensors(self.mlp.biases), self.out_bias]
        copies = 1 if first_only else self.n_critics
        if first_only:
            weights, biases = [w[:1] for w in weights], [b[:1] for b in biases]
        if detach_params:
            weights, biases = [w.detach() for w in weights], [b.detach() for b in biases]
        h = x.unsqueeze(0).expand(copies, *x.shape)
        activation = self.mlp.activation
        for weight, bias in zip(weights[:-1], biases[:-1]):
            h = activation(torch.baddbmm(bias, h, weight))
        if self.n_quantiles is not None:
            return torch.baddbmm(biases[-1], h, weights[-1])
        return StackedOutput.apply(h, weights[-1], biases[-1])


class SquashedGaussianActor(OptimizerHandle, nn.Module):
    """SAC's actor: a tanh-squashed Gaussian (Haarnoja et al., 2018), optionally with gSDE.

    Without gSDE the state-dependent ``log_std`` is clipped to ``[-20, 2]``. With gSDE
    (Raffin et al., 2021) the noise is ``latent @ W`` with ``W = eps * sigma`` and ``eps``
    redrawn every ``sde_sample_freq`` steps; the mean is clipped to ``[-clip_mean, clip_mean]``.
    ``mlp`` replaces the hidden layers (CrossQ's, with batch renormalisation).
    """

    def __init__(self, encoder: nn.Module, action_dim: int, sizes: list[int], activation: str, *,
                 use_sde: bool, log_std_init: float, full_std: bool, use_expln: bool, clip_mean: float,
                 ortho_init: bool, mlp: StackedMLP | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.mlp = mlp if mlp is not None else StackedMLP(encoder.features_dim, sizes, activation, copies=1)
        _init_mlp(self.mlp, ortho_init)
        latent_dim = self.mlp.output_dim
        self.action_dim, self.latent_dim = action_dim, latent_dim
        self.mu = nn.Linear(latent_dim, action_dim)
        self.use_sde, self.full_std, self.use_expln, self.clip_mean = use_sde, full_std, use_expln, clip_mean
        if use_sde:
            shape = (latent_dim, action_dim) if full_std else (latent_dim, 1)
            self.log_std = nn.Parameter(torch.full(shape, float(log_std_init)))
            # Saved with the weights, so that stochastic actions after loading equal those before saving.
            self.register_buffer("sde_noise", torch.randn(1, latent_dim, action_dim))
        else:
            self.log_std = nn.Linear(latent_dim, action_dim)

    @property
    def features_extractor(self) -> nn.Module | None:
        """The encoder (SB3's ``features_extractor``; a critic sharing the actor's has none of its own)."""
        return self.encoder

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:  # noqa: ANN001
        # The number of gSDE noise matrices follows the number of env copies, which may differ.
        saved = state_dict.get(prefix + "sde_noise")
        if self.use_sde and saved is not None and saved.shape != self.sde_noise.shape:
            self.sde_noise = torch.empty_like(saved, device=self.sde_noise.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def latent(self, obs: Obs) -> torch.Tensor:
        return self.mlp(self.encoder(obs))[0]

    def sde_std(self) -> torch.Tensor:
        """gSDE's ``sigma`` (latent_dim x action_dim): ``exp(log_std)``, or ``expln`` (gSDE paper)."""
        std = gsde_std(self.log_std, self.use_expln, SQUASH_EPS)
        return std if self.full_std else std.expand(self.latent_dim, self.action_dim)

    def get_std(self) -> torch.Tensor:
        """SB3's ``actor.get_std()``: gSDE's standard deviations (:meth:`sde_std`); only with gSDE."""
        if not self.use_sde:
            raise ConfigurationError("get_std() needs gSDE (use_sde=True), as in SB3; without it the standard "
                                     "deviation depends on the observation: actor.outputs(obs) gives it")
        return self.sde_std()

    @torch.no_grad()
    def reset_noise(self, n: int = 1) -> None:
        """Draw new gSDE noise matrices, one per env copy (no-op without gSDE)."""
        if self.use_sde:
            self.sde_noise = torch.randn(n, self.latent_dim, self.action_dim, device=self.mu.weight.device)

    def _mean(self, latent: torch.Tensor) -> torch.Tensor:
        mean = self.mu(latent)
        if self.use_sde and self.clip_mean > 0:
            mean = mean.clamp(-self.clip_mean, self.clip_mean)
        return mean

    def deterministic(self, obs: Obs) -> torch.Tensor:
        """``tanh(mean)``: the action of ``predict(deterministic=True)``."""
        return torch.tanh(self._mean(self.latent(obs)))

    def action_log_prob(self, obs: Obs, noise: torch.Tensor | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised sample ``a = tanh(u)`` and ``log pi(a|s)`` (see :meth:`outputs`)."""
        out = self.outputs(obs, noise)
        return out.actions, out.log_prob

    def outputs(self, obs: Obs, noise: torch.Tensor | None = None) -> ActorOutput:
        """A reparameterised sample ``a = tanh(u)``, ``log pi(a|s)`` and the outputs on the way.

        ``log pi(a|s) = log N(u; mean, std) - sum_i log(1 - tanh(u_i)^2 + 1e-6)`` (change of
        variables through tanh, with SB3's epsilon). ``noise`` is gSDE's ``eps`` matrices; by
        default they are the ones drawn by :meth:`reset_noise`.
        """
        features = self.encoder(obs)
        latent = self.mlp(features)[0]
        mean = self._mean(latent)
        log_std = None
        if self.use_sde:
            eps = self.sde_noise if noise is None else noise
            dist = StateDependentGaussian(mean, latent, self.sde_std(), eps * self.sde_std())
            u = dist.sample()
            actions = torch.tanh(u)
            log_prob = dist.log_prob(u) - torch.log(1.0 - actions.square() + SQUASH_EPS).sum(-1)
        else:
            log_std = self.log_std(latent).clamp(LOG_STD_MIN, LOG_STD_MAX)
            squashed = SquashedGaussian(mean, log_std, torch.randn_like(mean))
            actions, log_prob = squashed.actions, squashed.log_prob
        return ActorOutput(features=features, latent=latent, actions=actions, mean=mean, log_std=log_std,
                           log_prob=log_prob)

    def forward(self, obs: Obs, deterministic: bool = False) -> torch.Tensor:
        """Actions in [-1, 1] for (normalised) observations (for acting: no log-probability)."""
        latent = self.latent(obs)
        mean = self._mean(latent)
        if deterministic:
            return torch.tanh(mean)
        if self.use_sde:
            sigma = self.sde_std()
            return torch.tanh(StateDependentGaussian(mean, latent, sigma, self.sde_noise * sigma).sample())
        log_std = self.log_std(latent).clamp(LOG_STD_MIN, LOG_STD_MAX)
        return torch.tanh(mean + log_std.exp() * torch.randn_like(mean))


class DeterministicActor(OptimizerHandle, nn.Module):
    """TD3's and DDPG's actor ``mu(s) = tanh(MLP(s))`` (Lillicrap et al., 2016; Fujimoto et al., 2018)."""

    def __init__(self, encoder: nn.Module, action_dim: int, sizes: list[int], activation: str,
                 ortho_init: bool) -> None:
        super().__init__()
        self.encoder = encoder
        self.mlp = StackedMLP(encoder.features_dim, sizes, activation, copies=1)
        _init_mlp(self.mlp, ortho_init)
        self.mu = nn.Linear(self.mlp.output_dim, action_dim)

    @property
    def features_extractor(self) -> nn.Module | None:
        """The encoder (SB3's ``features_extractor``; a critic sharing the actor's has none of its own)."""
        return self.encoder

    def forward(self, obs: Obs, deterministic: bool = True) -> torch.Tensor:
        return torch.tanh(self.mu(self.mlp(self.encoder(obs))[0]))

    def outputs(self, obs: Obs) -> ActorOutput:
        """``mu(s)`` with the encoder's features and the MLP's latent on the way."""
        features = self.encoder(obs)
        latent = self.mlp(features)[0]
        return ActorOutput(features=features, latent=latent, actions=torch.tanh(self.mu(latent)))


def _encoder(observation_space: spaces.Space, policy_name: str, config: PolicyConfig) -> nn.Module:
    return config.make_features_extractor(observation_space, policy_name)


def _frozen_copy(module: nn.Module) -> nn.Module:
    target = copy.deepcopy(module)
    target.requires_grad_(False)
    return target


class OffPolicyActorCritic(BasePolicy):
    """What SAC's and TD3's policies share: the normaliser, the action adapter, the critic ensemble
    and its target, and acting on raw observations; the subclasses build their actors.

    ``network_observation_space`` is what the encoders take: the observation space, or for a
    residual policy (``residual``, see :mod:`ballast.residual.actions`) that space with the base
    action appended; the actor's output is then the correction added to the base's action, and its
    output layer starts at zero so that the policy first acts exactly as the base.
    """

    #: The ``deterministic`` default of :meth:`forward` and :meth:`act`.
    deterministic_default: bool = False

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, lr_schedule: LrSchedule | None,
                 *, policy_name: str, config: PolicyConfig, normalize_observations: bool,
                 residual: ResidualActions | None) -> None:
        super().__init__()
        self.config = config
        self.policy_name = policy_name
        self.lr_schedule = lr_schedule
        self.observation_space, self.action_space = observation_space, action_space
        self.residual = residual
        self.network_observation_space = (observation_space if residual is None
                                          else residual.network_observation_space)
        self.normalizer = ObservationNormalizer(observation_space) if normalize_observations else None
        self.action_adapter = ActionAdapter(action_space, squashed=True)

    def _build_critics(self, actor: nn.Module) -> None:
        """The critic ensemble and its target, after the actor (whose encoder a shared critic reads)."""
        cfg = self.config
        if self.residual is not None:
            zero_output_layer_(actor.mu)
        action_dim = squashed_box(self.action_space, type(self).__name__)
        _, qf_sizes = actor_critic_sizes(cfg)
        shared = cfg.share_features_extractor
        critic_encoder = None if shared else _encoder(self.network_observation_space, self.policy_name, cfg)
        features_dim = actor.encoder.features_dim
        quantiles = self.critic_quantiles()
        self.critic = ContinuousCritic(critic_encoder, features_dim, action_dim, qf_sizes, cfg.activation_fn,
                                       cfg.n_critics, cfg.ortho_init, quantiles)
        # The target has an encoder of its own even when the online critic borrows the actor's (as in SB3).
        target_encoder = copy.deepcopy(actor.encoder if shared else critic_encoder)
        target = ContinuousCritic(target_encoder, features_dim, action_dim, qf_sizes, cfg.activation_fn,
                                  cfg.n_critics, n_quantiles=quantiles)
        target.load_state_dict(self.critic.state_dict(), strict=False)
        self.critic_target = target.requires_grad_(False)
        link_to_policy(actor, self)
        link_to_policy(self.critic, self)

    def critic_quantiles(self) -> int | None:
        """The number of quantiles each critic outputs (None: one Q-value; TQC's policy: its ``n_quantiles``)."""
        return None

    def optimized_networks(self) -> list[tuple[nn.Module, Any]]:
        """SB3's: one optimizer for the actor, one for the critic (not the actor's encoder it may share)."""
        return [(self.actor, self.actor.parameters()), (self.critic, self.critic.parameters())]

    def critic_features(self, obs: Obs, *, target: bool = False) -> torch.Tensor:
        """What the critics (or their targets) read: their encoder's output, or the shared actor
        encoder's without gradient; :meth:`ContinuousCritic.q_from_features` takes it."""
        critic = self.critic_target if target else self.critic
        if critic.encoder is None:
            with torch.no_grad():
                return self.actor.encoder(obs)
        return critic.encoder(obs)

    def q_values(self, obs: Obs, actions: torch.Tensor, *, target: bool = False, detach_params: bool = False,
                 first_only: bool = False) -> torch.Tensor:
        """Q-values ``(n_critics, batch)`` of the critics (or their targets) for normalised observations
        (quantile critics: ``(n_critics, batch, n_quantiles)``)."""
        critic = self.critic_target if target else self.critic
        return critic.q_from_features(self.critic_features(obs, target=target), actions,
                                      detach_params=detach_params, first_only=first_only)

    def forward(self, obs: Obs, deterministic: bool | None = None) -> torch.Tensor:
        """Actions in [-1, 1] for normalised observations."""
        return self.actor(obs, self.deterministic_default if deterministic is None else deterministic)

    def act(self, obs: Obs, deterministic: bool | None = None) -> torch.Tensor:
        """Env actions for raw observations: normalise, act, map onto the Box bounds."""
        if self.residual is None:
            return self.action_adapter(self(self.normalize(obs), deterministic))
        return self.act_with_base(obs, self.residual.base_actions(obs), deterministic)

    def act_with_base(self, obs: Obs, base: torch.Tensor, deterministic: bool | None = None) -> torch.Tensor:
        """A residual policy's env actions for raw observations and the base's actions for them
        (export feeds the base's actions from a graph of their own): ``clip(base + scale * actor(.))``."""
        return self.residual.env_actions(base, self.residual_output(obs, base, deterministic))

    def residual_output(self, obs: Obs, base: torch.Tensor, deterministic: bool | None = None) -> torch.Tensor:
        """A residual policy's actor output (the correction in [-1, 1] units of ``scale * half_width``)
        for raw observations and the base's actions for them."""
        normalized = obs if self.normalizer is None else self.normalizer(obs)
        return self(self.residual.with_base(normalized, base), deterministic)

    def reset_noise(self, n_envs: int = 1) -> None:
        """Draw new gSDE exploration matrices (no-op without gSDE)."""


@register_policy
class SACPolicy(OffPolicyActorCritic):
    """Squashed Gaussian actor, critic ensemble and its target; see the module docstring."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space,
                 lr_schedule: LrSchedule | None = None, net_arch: Any = None, activation_fn: Any = None,
                 use_sde: bool = False, log_std_init: float | None = None, use_expln: bool | None = None,
                 clip_mean: float | None = None, features_extractor_class: Any = None,
                 features_extractor_kwargs: dict[str, Any] | None = None, normalize_images: bool | None = None,
                 optimizer_class: Any = None, optimizer_kwargs: dict[str, Any] | None = None,
                 n_critics: int | None = None, share_features_extractor: bool | None = None, *,
                 ortho_init: bool | None = None, full_std: bool | None = None, policy_name: str | None = None,
                 config: PolicyConfig | None = None, normalize_observations: bool = False,
                 residual: ResidualActions | None = None) -> None:
        """SB3's arguments in SB3's order (see :mod:`ballast.policies.sb3_arguments`), then Ballast's."""
        policy_name = policy_name or self.default_policy_name
        super().__init__(observation_space, action_space, lr_schedule, policy_name=policy_name,
                         config=policy_config(config, given_arguments(locals(), "sac"), "sac", policy_name),
                         normalize_observations=normalize_observations, residual=residual)
        self.use_sde = use_sde
        cfg = self.config
        pi_sizes, _ = actor_critic_sizes(cfg)
        self.actor = SquashedGaussianActor(
            _encoder(self.network_observation_space, policy_name, cfg), squashed_box(action_space, "SAC"),
            pi_sizes, cfg.activation_fn, use_sde=use_sde, log_std_init=cfg.log_std_init, full_std=cfg.full_std,
            use_expln=cfg.use_expln, clip_mean=cfg.clip_mean, ortho_init=cfg.ortho_init,
        )
        self._build_critics(self.actor)

    def reset_noise(self, n_envs: int = 1) -> None:
        self.actor.reset_noise(n_envs)


@register_policy
class TQCPolicy(SACPolicy):
    """sb3-contrib's ``TQCPolicy``: SAC's squashed Gaussian actor and ``n_critics`` quantile critics
    (each ``(s, a) -> n_quantiles`` quantiles of the return, :class:`ContinuousCritic`) with their target."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space,
                 lr_schedule: LrSchedule | None = None, net_arch: Any = None, activation_fn: Any = None,
                 use_sde: bool = False, log_std_init: float | None = None, use_expln: bool | None = None,
                 clip_mean: float | None = None, features_extractor_class: Any = None,
                 features_extractor_kwargs: dict[str, Any] | None = None, normalize_images: bool | None = None,
                 optimizer_class: Any = None, optimizer_kwargs: dict[str, Any] | None = None,
                 n_quantiles: int | None = None, n_critics: int | None = None,
                 share_features_extractor: bool | None = None, *,
                 ortho_init: bool | None = None, full_std: bool | None = None, policy_name: str | None = None,
                 config: PolicyConfig | None = None, normalize_observations: bool = False,
                 residual: ResidualActions | None = None) -> None:
        """sb3-contrib's arguments in its order (see :mod:`ballast.policies.sb3_arguments`), then Ballast's."""
        policy_name = policy_name or self.default_policy_name
        config = policy_config(config, given_arguments(locals(), "tqc"), "tqc", policy_name)
        super().__init__(observation_space, action_space, lr_schedule, use_sde=use_sde, policy_name=policy_name,
                         config=config, normalize_observations=normalize_observations, residual=residual)

    def critic_quantiles(self) -> int:
        return self.config.n_quantiles


@register_policy
class TD3Policy(OffPolicyActorCritic):
    """Deterministic actor and its target, critic ensemble and its target; see the module docstring.
    It always acts deterministically (exploration is the algorithm's action noise)."""

    deterministic_default = True

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space,
                 lr_schedule: LrSchedule | None = None, net_arch: Any = None, activation_fn: Any = None,
                 features_extractor_class: Any = None, features_extractor_kwargs: dict[str, Any] | None = None,
                 normalize_images: bool | None = None, optimizer_class: Any = None,
                 optimizer_kwargs: dict[str, Any] | None = None, n_critics: int | None = None,
                 share_features_extractor: bool | None = None, *, ortho_init: bool | None = None,
                 use_sde: bool = False, policy_name: str | None = None, config: PolicyConfig | None = None,
                 normalize_observations: bool = False, residual: ResidualActions | None = None) -> None:
        """SB3's arguments in SB3's order (see :mod:`ballast.policies.sb3_arguments`), then Ballast's."""
        if use_sde:
            raise UnsupportedSpaceError("TD3 and DDPG do not support gSDE (use_sde=True)")
        policy_name = policy_name or self.default_policy_name
        super().__init__(observation_space, action_space, lr_schedule, policy_name=policy_name,
                         config=policy_config(config, given_arguments(locals(), "td3"), "td3", policy_name),
                         normalize_observations=normalize_observations, residual=residual)
        cfg = self.config
        pi_sizes, _ = actor_critic_sizes(cfg)
        self.actor = DeterministicActor(_encoder(self.network_observation_space, policy_name, cfg),
                                        squashed_box(action_space, "TD3"), pi_sizes, cfg.activation_fn,
                                        cfg.ortho_init)
        self._build_critics(self.actor)
        self.actor_target = _frozen_copy(self.actor)


@register_policy
class SACCnnPolicy(SACPolicy):
    """SB3's ``sac.policies.CnnPolicy``: SAC's policy with the NatureCNN encoder by default."""

    default_policy_name = "CnnPolicy"


@register_policy
class SACMultiInputPolicy(SACPolicy):
    """SB3's ``sac.policies.MultiInputPolicy``: SAC's policy with an encoder per key of a Dict space."""

    default_policy_name = "MultiInputPolicy"


@register_policy
class TQCCnnPolicy(TQCPolicy):
    """sb3-contrib's ``tqc.policies.CnnPolicy``: TQC's policy with the NatureCNN encoder by default."""

    default_policy_name = "CnnPolicy"


@register_policy
class TQCMultiInputPolicy(TQCPolicy):
    """sb3-contrib's ``tqc.policies.MultiInputPolicy``: TQC's policy with an encoder per key of a Dict space."""

    default_policy_name = "MultiInputPolicy"


@register_policy
class TD3CnnPolicy(TD3Policy):
    """SB3's ``td3.policies.CnnPolicy`` (also DDPG's): the NatureCNN encoder by default."""

    default_policy_name = "CnnPolicy"


@register_policy
class TD3MultiInputPolicy(TD3Policy):
    """SB3's ``td3.policies.MultiInputPolicy`` (also DDPG's): an encoder per key of a Dict space."""

    default_policy_name = "MultiInputPolicy"


def target_pairs(policy: nn.Module) -> list[tuple[nn.Module, list[nn.Parameter]]]:
    """``(target module, the online parameters it follows, in the target's parameter order)`` pairs."""
    online = dict(policy.critic.named_parameters())
    if policy.critic.encoder is None:
        online.update({f"encoder.{k}": v for k, v in policy.actor.encoder.named_parameters()})
    pairs = [(policy.critic_target, [online[name] for name, _ in policy.critic_target.named_parameters()])]
    if hasattr(policy, "actor_target"):
        pairs.append((policy.actor_target, list(policy.actor.parameters())))
    return pairs


def running_statistics_pairs(target: nn.Module, online: dict[str, torch.Tensor]
                             ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(target buffer, online buffer of the same name)`` for the batch-norm running statistics of
    ``target`` (buffers named ``running_...``), which each target update copies, as SB3's."""
    return [(buffer, online[name]) for name, buffer in target.named_buffers() if "running_" in name]


def target_statistics_pairs(policy: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """:func:`running_statistics_pairs` of an actor-critic's target critics (and target actor)."""
    online = dict(policy.critic.named_buffers())
    if policy.critic.encoder is None:
        online.update({f"encoder.{k}": v for k, v in policy.actor.encoder.named_buffers()})
    pairs = running_statistics_pairs(policy.critic_target, online)
    if hasattr(policy, "actor_target"):
        pairs += running_statistics_pairs(policy.actor_target, dict(policy.actor.named_buffers()))
    return pairs
