"""DQN's and QR-DQN's policies: a Q-network ``Q(s, .)`` over discrete actions and its target network.

::

    obs -> [encoder] -> [MLP] -> Q(s, a) for every action a      (q_net, q_net_target)

The encoder comes from the space -> encoder registry: an MLP on flattened vectors
(``MlpPolicy``, SB3's default ``[64, 64]`` ReLU layers), the Nature CNN on images
(``CnnPolicy``, no hidden layer after it), one encoder per key for Dict observations
(``MultiInputPolicy``). The greedy action is ``argmax_a Q(s, a)``; epsilon-greedy exploration
belongs to the algorithm. QR-DQN's :class:`QuantileNetwork` outputs quantiles of the return
per action; its Q-values are their means.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from ballast.encoders.standard import FlattenEncoder
from ballast.errors import UnsupportedSpaceError
from ballast.policies.base import BasePolicy
from ballast.policies.config import PolicyConfig
from ballast.policies.fast_mlp import affine
from ballast.policies.heads import ActionAdapter
from ballast.policies.mlp import activation_function
from ballast.policies.normalize import ObservationNormalizer
from ballast.policies.sb3_arguments import LrSchedule, given_arguments, policy_config
from ballast.registry import register_policy
from ballast.torch_compat import parameter_list_tensors

Obs = torch.Tensor | dict[str, torch.Tensor]


class QNetwork(nn.Module):
    """``Q(s, .)``: encoder, hidden layers and one output per action.

    The layers hold ``(in, out)`` weights and run as ``addmm`` calls: for the small batches of
    DQN, fewer autograd nodes per update matter more than anything else.
    """

    def __init__(self, encoder: nn.Module, n_actions: int, sizes: list[int], activation: str,
                 ortho_init: bool = False) -> None:
        super().__init__()
        self.encoder = encoder
        self.activation_name = activation
        self.activation = activation_function(activation)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        dims = [encoder.features_dim, *sizes, n_actions]
        for i, (n_in, n_out) in enumerate(zip(dims[:-1], dims[1:])):
            layer = nn.Linear(n_in, n_out)  # PyTorch's default initialisation, as SB3
            if ortho_init:
                nn.init.orthogonal_(layer.weight, gain=math.sqrt(2) if i < len(sizes) else 1.0)
                nn.init.zeros_(layer.bias)
            self.weights.append(nn.Parameter(layer.weight.detach().t().contiguous()))
            self.biases.append(nn.Parameter(layer.bias.detach().clone()))

    @property
    def features_extractor(self) -> nn.Module:
        """The encoder (SB3's ``features_extractor``)."""
        return self.encoder

    def forward(self, obs: Obs) -> torch.Tensor:
        """Q-values, shape ``(batch, n_actions)``, of (normalised) observations."""
        return self.q_from_features(self.encoder(obs))

    def q_from_features(self, h: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` on the encoder's output ``self.encoder(obs)`` instead of observations."""
        layers = list(zip(parameter_list_tensors(self.weights), parameter_list_tensors(self.biases)))
        for weight, bias in layers[:-1]:
            h = self.activation(affine(h, weight, bias))
        weight, bias = layers[-1]
        return affine(h, weight, bias)


@register_policy
class DQNPolicy(BasePolicy):
    """Q-network and target network for a Discrete action space; see the module docstring."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space,
                 lr_schedule: LrSchedule | None = None, net_arch: Any = None, activation_fn: Any = None,
                 features_extractor_class: Any = None, features_extractor_kwargs: dict[str, Any] | None = None,
                 normalize_images: bool | None = None, optimizer_class: Any = None,
                 optimizer_kwargs: dict[str, Any] | None = None, *, ortho_init: bool | None = None,
                 use_sde: bool = False, policy_name: str | None = None, config: PolicyConfig | None = None,
                 normalize_observations: bool = False) -> None:
        """SB3's arguments in SB3's order (see :mod:`ballast.policies.sb3_arguments`), then Ballast's."""
        super().__init__()
        if not isinstance(action_space, spaces.Discrete):
            raise UnsupportedSpaceError(f"DQN needs a Discrete action space, got {action_space}")
        if use_sde:
            raise UnsupportedSpaceError("DQN does not support gSDE (use_sde=True)")
        policy_name = policy_name or self.default_policy_name
        self.config = policy_config(config, given_arguments(locals(), "dqn"), "dqn", policy_name)
        self.policy_name = policy_name
        self.lr_schedule = lr_schedule
        self.observation_space, self.action_space = observation_space, action_space
        self.q_net = self.make_q_net(ortho_init=self.config.ortho_init)
        self.q_net_target = self.make_q_net(ortho_init=False)
        self.q_net_target.load_state_dict(self.q_net.state_dict())
        self.q_net_target.requires_grad_(False)
        self.normalizer = ObservationNormalizer(observation_space) if normalize_observations else None
        self.action_adapter = ActionAdapter(action_space)

    def make_q_net(self, ortho_init: bool) -> QNetwork:
        """A new Q-network (with an encoder of its own) as the configuration describes it."""
        cfg = self.config
        sizes = list(cfg.net_arch.get("qf", cfg.net_arch.get("pi", [])))
        return QNetwork(cfg.make_features_extractor(self.observation_space, self.policy_name),
                        int(self.action_space.n), sizes, cfg.activation_fn, ortho_init)

    def optimized_networks(self) -> list[tuple[nn.Module, Any]]:
        """SB3's: the optimizer of a DQN policy steps ``q_net`` (its target follows by copies)."""
        return [(self, self.q_net.parameters())]

    def forward(self, obs: Obs, deterministic: bool = True) -> torch.Tensor:
        """Greedy action indices (0-based) for normalised observations."""
        return self.q_net(obs).argmax(dim=1)

    def act(self, obs: Obs, deterministic: bool = True) -> torch.Tensor:
        """Greedy env actions for raw observations (exploration is the algorithm's, in ``predict``)."""
        return self.action_adapter(self(self.normalize(obs), deterministic))

    def reset_noise(self, n_envs: int = 1) -> None:
        """No gSDE here (kept so that every policy answers it)."""


@register_policy
class DQNCnnPolicy(DQNPolicy):
    """SB3's ``dqn.policies.CnnPolicy``: DQN's policy with the NatureCNN encoder by default."""

    default_policy_name = "CnnPolicy"


@register_policy
class DQNMultiInputPolicy(DQNPolicy):
    """SB3's ``dqn.policies.MultiInputPolicy``: DQN's policy with an encoder per key of a Dict space."""

    default_policy_name = "MultiInputPolicy"


class QuantileNetwork(QNetwork):
    """QR-DQN's network: ``N`` quantiles ``theta_j(s, a)`` of the return for every action.

    One MLP with ``N * n_actions`` outputs, read as ``(N, n_actions)`` (sb3-contrib's layout, so its
    weights load unchanged). ``forward`` gives ``Q(s, .) = mean_j theta_j(s, .)``, as a
    :class:`QNetwork`'s does, so acting, exporting and evaluating treat both alike;
    :meth:`quantiles` gives the quantiles themselves.
    """

    def __init__(self, encoder: nn.Module, n_actions: int, n_quantiles: int, sizes: list[int], activation: str,
                 ortho_init: bool = False) -> None:
        super().__init__(encoder, n_actions * n_quantiles, sizes, activation, ortho_init)
        self.n_actions, self.n_quantiles = n_actions, n_quantiles

    def quantiles(self, obs: Obs) -> torch.Tensor:
        """The quantiles, shape ``(batch, n_quantiles, n_actions)``, of (normalised) observations."""
        return self.quantiles_from_features(self.encoder(obs))

    def quantiles_from_features(self, h: torch.Tensor) -> torch.Tensor:
        """:meth:`quantiles` on the encoder's output instead of observations."""
        return super().q_from_features(h).view(-1, self.n_quantiles, self.n_actions)

    def q_from_features(self, h: torch.Tensor) -> torch.Tensor:
        """``Q(s, .)``, the mean of the quantiles, from the encoder's output."""
        return self.quantiles_from_features(h).mean(dim=1)


@register_policy
class QRDQNPolicy(DQNPolicy):
    """sb3-contrib's ``QRDQNPolicy``: a :class:`QuantileNetwork` and its target network.

    ``q_net`` and ``q_net_target`` hold the quantile networks (sb3-contrib's ``quantile_net`` and
    ``quantile_net_target``); calling one gives Q-values, its ``quantiles`` method the quantiles.
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space,
                 lr_schedule: LrSchedule | None = None, n_quantiles: int | None = None, net_arch: Any = None,
                 activation_fn: Any = None, features_extractor_class: Any = None,
                 features_extractor_kwargs: dict[str, Any] | None = None, normalize_images: bool | None = None,
                 optimizer_class: Any = None, optimizer_kwargs: dict[str, Any] | None = None, *,
                 ortho_init: bool | None = None, use_sde: bool = False, policy_name: str | None = None,
                 config: PolicyConfig | None = None, normalize_observations: bool = False) -> None:
        """sb3-contrib's arguments in its order, then Ballast's (as :class:`DQNPolicy`)."""
        policy_name = policy_name or self.default_policy_name
        config = policy_config(config, given_arguments(locals(), "qrdqn"), "qrdqn", policy_name)
        super().__init__(observation_space, action_space, lr_schedule, use_sde=use_sde, policy_name=policy_name,
                         config=config, normalize_observations=normalize_observations)

    @property
    def n_quantiles(self) -> int:
        """sb3-contrib's ``policy.n_quantiles``: quantiles per action."""
        return self.config.n_quantiles

    def make_q_net(self, ortho_init: bool) -> QuantileNetwork:
        cfg = self.config
        sizes = list(cfg.net_arch.get("qf", []))
        return QuantileNetwork(cfg.make_features_extractor(self.observation_space, self.policy_name),
                               int(self.action_space.n), cfg.n_quantiles, sizes, cfg.activation_fn, ortho_init)


@register_policy
class QRDQNCnnPolicy(QRDQNPolicy):
    """sb3-contrib's ``qrdqn.policies.CnnPolicy``: the NatureCNN encoder by default."""

    default_policy_name = "CnnPolicy"


@register_policy
class QRDQNMultiInputPolicy(QRDQNPolicy):
    """sb3-contrib's ``qrdqn.policies.MultiInputPolicy``: an encoder per key of a Dict space."""

    default_policy_name = "MultiInputPolicy"


class NumpyGreedyActor:
    """``argmax_a Q(s, a)`` computed with NumPy views of the Q-network's parameters (no copies).

    Acting on a few observations per step, PyTorch's per-operation overhead costs more than the
    arithmetic of a small MLP; this path gives the same actions for the common case (vector
    observations, optional normalisation) and sees parameter updates at once.
    """

    def __init__(self, policy: DQNPolicy) -> None:
        q_net = policy.q_net
        view = lambda t: t.detach().numpy()
        self.normalizer = None
        if policy.normalizer is not None:
            normalizer, rms = policy.normalizer, policy.normalizer.stats["obs"]
            self.normalizer = (view(rms.mean), view(rms.var), normalizer.epsilon, normalizer.clip_obs)
        self.scale = q_net.encoder.scale
        layers = [(view(w), view(b)) for w, b in zip(q_net.weights, q_net.biases)]
        self.layers, (self.out_weight, self.out_bias) = layers[:-1], layers[-1]
        self.n_quantiles = getattr(q_net, "n_quantiles", 1)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        x = obs.reshape(obs.shape[0], -1).astype(np.float32, copy=False)
        if self.normalizer is not None:
            mean, var, eps, clip = self.normalizer
            x = np.clip((x - mean) / np.sqrt(var + eps), -clip, clip).astype(np.float32)
        if self.scale != 1.0:
            x = x * np.float32(self.scale)
        for weight, bias in self.layers:
            x = np.maximum(x @ weight + bias, 0.0)
        out = x @ self.out_weight + self.out_bias
        if self.n_quantiles > 1:
            out = out.reshape(out.shape[0], self.n_quantiles, -1).mean(axis=1)
        return out.argmax(axis=1)


def numpy_greedy_actor(policy: DQNPolicy) -> NumpyGreedyActor | None:
    """A :class:`NumpyGreedyActor` when the policy has the supported structure (CPU, float32,
    flattened vector observations, ReLU layers), else None."""
    q_net = policy.q_net
    first = next(q_net.parameters())
    supported = (
        # A subclass that changes how the policy acts (forward, the one override point) acts through it.
        type(policy).forward is DQNPolicy.forward and type(q_net).forward is QNetwork.forward
        and type(q_net).q_from_features in (QNetwork.q_from_features, QuantileNetwork.q_from_features)
        and first.device.type == "cpu" and first.dtype == torch.float32
        and isinstance(q_net.encoder, FlattenEncoder)
        and q_net.activation_name == "ReLU"
        and (policy.normalizer is None or list(policy.normalizer.stats.keys()) == ["obs"])
    )
    return NumpyGreedyActor(policy) if supported else None
