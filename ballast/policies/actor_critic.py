"""The actor-critic policy used by PPO and A2C.

observation -> [encoder] -> features -> [actor MLP]  -> latent_pi -> [action head] -> distribution
                                     -> [critic MLP] -> latent_vf -> [value head]  -> value

When actor and critic share the encoder and have the same hidden sizes (the default), both
MLPs are one :class:`StackedMLP`. Observation normalisation (running statistics) is a submodule
too, but the algorithm applies it when it collects data, so that a stored observation is the one
the old log-probability was computed from; :meth:`act`, used by ``predict``, applies it itself.

A residual policy (``residual``, see :mod:`ballast.residual.actions`) owns a frozen base: its
networks see the observation with the base's action appended (by default), its distribution is
over the correction, and its action head starts at zero so that it first acts exactly as the base.

Every method that produces a distribution takes optional ``action_masks`` (see
:mod:`ballast.masking`): the distribution is then restricted to the valid actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from ballast.node_spaces import is_per_node_action_space
from ballast.policies.base import BasePolicy
from ballast.policies.config import PolicyConfig
from ballast.policies.heads import ActionAdapter, StateDependentHead, make_action_head, zero_output_layer_
from ballast.policies.mlp import StackedMLP
from ballast.policies.node_heads import NodeActionAdapter, is_node_action_space, make_node_head
from ballast.policies.normalize import ObservationNormalizer
from ballast.policies.sb3_arguments import LrSchedule, given_arguments, policy_config
from ballast.ragged import GraphBatch, SetBatch
from ballast.registry import register_policy

if TYPE_CHECKING:
    from ballast.residual.actions import ResidualActions

Obs = torch.Tensor | GraphBatch | SetBatch | dict[str, torch.Tensor | GraphBatch | SetBatch]


@dataclass
class PolicyOutput:
    """Intermediate outputs of one forward pass, for losses and for extensions."""

    features: torch.Tensor
    latent_pi: torch.Tensor
    latent_vf: torch.Tensor
    distribution: object
    values: torch.Tensor


class LatentNetworks:
    """SB3's ``mlp_extractor`` interface over an :class:`ActorCriticPolicy`'s own hidden layers."""

    def __init__(self, policy: ActorCriticPolicy) -> None:
        self.policy = policy
        trunk = policy.trunk
        self.latent_dim_pi = trunk.output_dim if trunk is not None else policy.actor_mlp.output_dim
        self.latent_dim_vf = trunk.output_dim if trunk is not None else policy.critic_mlp.output_dim

    def __call__(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(latent_pi, latent_vf)`` of features (both from the same features, as SB3's)."""
        if self.policy.trunk is not None:
            latent = self.policy.trunk(features)
            return latent[0], latent[1]
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
        trunk = self.policy.trunk
        return trunk(features)[0] if trunk is not None else self.policy.actor_mlp(features)[0]

    def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
        trunk = self.policy.trunk
        return trunk(features)[1] if trunk is not None else self.policy.critic_mlp(features)[0]


@register_policy
class ActorCriticPolicy(BasePolicy):
    """Actor and critic MLPs over a shared (by default) encoder; see the module docstring."""

    supports_action_masks: ClassVar[bool] = True
    default_optimizer_kwargs: ClassVar[dict[str, Any]] = {"eps": 1e-5}

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: LrSchedule | None = None,
        net_arch: Any = None,
        activation_fn: Any = None,
        ortho_init: bool | None = None,
        use_sde: bool = False,
        log_std_init: float | None = None,
        full_std: bool | None = None,
        use_expln: bool | None = None,
        squash_output: bool | None = None,
        features_extractor_class: Any = None,
        features_extractor_kwargs: dict[str, Any] | None = None,
        share_features_extractor: bool | None = None,
        normalize_images: bool | None = None,
        optimizer_class: Any = None,
        optimizer_kwargs: dict[str, Any] | None = None,
        *,
        policy_name: str | None = None,
        config: PolicyConfig | None = None,
        normalize_observations: bool = False,
        encoder: nn.Module | None = None,
        residual: ResidualActions | None = None,
    ) -> None:
        """SB3's arguments, in SB3's order (None: as ``config`` says, or SB3's default; see
        :mod:`ballast.policies.sb3_arguments`), then Ballast's: the SB3 policy name the encoder
        default follows, the :class:`PolicyConfig` an algorithm passes, running observation
        normalisation, an encoder module to use, a residual policy's base."""
        super().__init__()
        policy_name = policy_name or self.default_policy_name
        self.config = policy_config(config, given_arguments(locals(), "actor_critic"), "actor_critic", policy_name)
        self.policy_name = policy_name
        self.lr_schedule = lr_schedule
        self.observation_space, self.action_space = observation_space, action_space
        self.use_sde = use_sde
        cfg = self.config
        self.normalizer = ObservationNormalizer(observation_space) if normalize_observations else None
        self.residual = residual
        net_space = observation_space if residual is None else residual.network_observation_space
        self.network_observation_space = net_space
        self.encoder = encoder if encoder is not None else cfg.make_features_extractor(net_space, policy_name)
        self.vf_encoder = (
            None if cfg.share_features_extractor else cfg.make_features_extractor(net_space, policy_name)
        )
        self.features_dim = self.encoder.features_dim
        self.trunk: StackedMLP | None = None
        self.actor_mlp: StackedMLP | None = None
        self.critic_mlp: StackedMLP | None = None
        self._build_mlp_extractor()
        own = self._modules.get("mlp_extractor")
        if own is not None:
            latent_pi_dim, latent_vf_dim = int(own.latent_dim_pi), int(own.latent_dim_vf)
        elif self.trunk is not None:
            latent_pi_dim = latent_vf_dim = self.trunk.output_dim
        else:
            latent_pi_dim, latent_vf_dim = self.actor_mlp.output_dim, self.critic_mlp.output_dim
        self.node_level = is_node_action_space(action_space)
        if self.node_level:
            self.action_head = make_node_head(action_space, self.encoder, latent_pi_dim, cfg.log_std_init)
        else:
            self.action_head = make_action_head(
                action_space, latent_pi_dim, use_sde=use_sde, log_std_init=cfg.log_std_init, full_std=cfg.full_std,
                use_expln=cfg.use_expln, squash_output=cfg.squash_output,
            )
        self.value_head = nn.Linear(latent_vf_dim, 1)
        # A squashed gSDE head acts in [-1, 1], mapped onto the Box bounds as SB3's unscale_action.
        self.action_adapter = (NodeActionAdapter(action_space) if is_per_node_action_space(action_space)
                               else ActionAdapter(action_space, squashed=cfg.squash_output))
        if cfg.ortho_init:
            self._orthogonal_init()
        if residual is not None:
            zero_output_layer_(self.action_head.net)

    def _build_mlp_extractor(self) -> None:
        """Build the actor's and the critic's hidden layers on the features (SB3's hook).

        Ballast's: one :class:`StackedMLP` for both when they share the encoder and have the same
        sizes, else one each. A subclass may instead set ``self.mlp_extractor`` to a module with
        SB3's interface (``latent_dim_pi``, ``latent_dim_vf``, ``forward_actor(features)``,
        ``forward_critic(features)``), as SB3's custom-policy guide does; such a policy trains
        with autograd.
        """
        cfg = self.config
        pi_sizes, vf_sizes = list(cfg.net_arch.get("pi", [])), list(cfg.net_arch.get("vf", []))
        if pi_sizes == vf_sizes and self.vf_encoder is None:
            self.trunk = StackedMLP(self.features_dim, pi_sizes, cfg.activation_fn, copies=2)
        else:
            self.actor_mlp = StackedMLP(self.features_dim, pi_sizes, cfg.activation_fn, copies=1)
            self.critic_mlp = StackedMLP(self.features_dim, vf_sizes, cfg.activation_fn, copies=1)

    # --- SB3's names for the parts ------------------------------------------------------------
    @property
    def mlp_extractor(self) -> Any:
        """SB3's ``mlp_extractor``: a subclass's own module, or a view of Ballast's hidden layers
        with SB3's interface (``latent_dim_pi``, ``latent_dim_vf``, ``forward_actor``,
        ``forward_critic``, and called on features, both latents)."""
        own = self._modules.get("mlp_extractor")
        return own if own is not None else LatentNetworks(self)

    def extract_features(self, obs: Obs) -> Any:
        """SB3's ``extract_features``: the encoder's features of (normalised) observations, or the
        pair ``(actor features, critic features)`` when the critic has an encoder of its own."""
        features = self.encoder(obs)
        return features if self.vf_encoder is None else (features, self.vf_encoder(obs))

    @property
    def features_extractor(self) -> nn.Module:
        """The encoder of the observations (SB3's ``features_extractor``; the actor's when not shared)."""
        return self.encoder

    @property
    def pi_features_extractor(self) -> nn.Module:
        return self.encoder

    @property
    def vf_features_extractor(self) -> nn.Module:
        return self.encoder if self.vf_encoder is None else self.vf_encoder

    @property
    def action_net(self) -> nn.Module:
        """The action head's output layer (SB3's ``action_net``)."""
        return self.action_head.net

    @property
    def value_net(self) -> nn.Module:
        """The value head (SB3's ``value_net``)."""
        return self.value_head

    @property
    def log_std(self) -> nn.Parameter:
        """The Gaussian head's log standard deviation (SB3's ``log_std``)."""
        return self.action_head.log_std

    def _orthogonal_init(self) -> None:
        """SB3's initialisation: gain sqrt(2) for hidden layers, 0.01 for actions, 1 for the value."""
        for mlp in (self.trunk, self.actor_mlp, self.critic_mlp):
            if mlp is not None:
                mlp.reset_parameters(gain=np.sqrt(2))
        gains = [(self.encoder, np.sqrt(2)), (self.action_head.net, 0.01), (self.value_head, 1.0)]
        own = self._modules.get("mlp_extractor")
        if own is not None:
            gains.append((own, np.sqrt(2)))
        if self.vf_encoder is not None:
            gains.append((self.vf_encoder, np.sqrt(2)))
        if self.node_level:
            gains.append((self.action_head.mlp, np.sqrt(2)))
        for module, gain in gains:
            for layer in module.modules():
                if isinstance(layer, (nn.Linear, nn.Conv2d)):
                    nn.init.orthogonal_(layer.weight, gain=gain)
                    if layer.bias is not None:
                        layer.bias.data.fill_(0.0)

    def latents(self, obs: Obs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(features, latent_pi, latent_vf)`` for a batch of (already normalised) observations."""
        features = self.encoder(obs)
        return (features, *self._latents_from(features, obs))

    def _latents_from(self, features: torch.Tensor, obs: Obs) -> tuple[torch.Tensor, torch.Tensor]:
        if self.trunk is not None:
            latent = self.trunk(features)
            return latent[0], latent[1]
        vf_features = features if self.vf_encoder is None else self.vf_encoder(obs)
        own = self._modules.get("mlp_extractor")
        if own is not None:
            return own.forward_actor(features), own.forward_critic(vf_features)
        return self.actor_mlp(features)[0], self.critic_mlp(vf_features)[0]

    def outputs(self, obs: Obs, action_masks: Any = None) -> PolicyOutput:
        """Every intermediate output for a batch of (already normalised) observations.

        With ``action_masks`` (one mask per observation, as tensors), the distribution covers the
        valid actions only.
        """
        if self.node_level:
            encoding = self.encoder.encode_nodes(obs)
            features = encoding.features
            latent_pi, latent_vf = self._latents_from(features, obs)
            distribution = self.action_head(latent_pi, encoding)
        else:
            features, latent_pi, latent_vf = self.latents(obs)
            distribution = self.action_head(latent_pi)
        if action_masks is not None:
            distribution = distribution.masked(action_masks)
        return PolicyOutput(
            features=features,
            latent_pi=latent_pi,
            latent_vf=latent_vf,
            distribution=distribution,
            values=self.value_head(latent_vf).squeeze(-1),
        )

    def forward(self, obs: Obs, deterministic: bool = False, action_masks: Any = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample (or take the mode of) actions for (normalised) observations; returns SB3's
        ``(actions, values, log_probs)``, the values of shape ``(batch, 1)``."""
        out = self.outputs(obs, action_masks)
        dist = out.distribution
        actions = dist.mode() if deterministic else dist.sample()
        return actions, out.values.unsqueeze(-1), dist.log_prob(actions)

    def evaluate_actions(self, obs: Obs, actions: torch.Tensor, action_masks: Any = None
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """SB3's ``(values, log_prob(actions), entropy)`` for (normalised) observations and actions:
        values of shape ``(batch, 1)``, the others ``(batch,)`` (entropy None where it has no closed form)."""
        out = self.outputs(obs, action_masks)
        return out.values.unsqueeze(-1), out.distribution.log_prob(actions), out.distribution.entropy()

    def predict_values(self, obs: Obs) -> torch.Tensor:
        """V(obs) for (already normalised) observations, of shape ``(batch, 1)`` as SB3's."""
        _, _, latent_vf = self.latents(obs)
        return self.value_head(latent_vf)

    def env_actions(self, actions: torch.Tensor, base: torch.Tensor | None) -> torch.Tensor:
        """Sampled actions as the env takes them (for a residual policy: ``clip(base + scale * residual)``)."""
        if base is None:
            return self.action_adapter(actions)
        return self.residual.env_actions(base, actions)

    def act(self, obs: Obs, deterministic: bool = False, action_masks: Any = None) -> torch.Tensor:
        """Env actions for raw observations: normalise, act, map into the action space."""
        if self.residual is None:
            actions, _, _ = self(self.normalize(obs), deterministic=deterministic, action_masks=action_masks)
            return self.action_adapter(actions)
        # Residual policies act in Box spaces, which have no action masks.
        return self.act_with_base(obs, self.residual.base_actions(obs), deterministic)

    def act_with_base(self, obs: Obs, base: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """A residual policy's env actions for raw observations and the base's actions for them
        (export feeds the base's actions from a graph of their own)."""
        return self.env_actions(self.residual_output(obs, base, deterministic), base)

    def residual_output(self, obs: Obs, base: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """A residual policy's network output (the correction in [-1, 1] units of ``scale * half_width``)
        for raw observations and the base's actions for them."""
        normalized = obs if self.normalizer is None else self.normalizer(obs)
        actions, _, _ = self(self.residual.with_base(normalized, base), deterministic=deterministic)
        return actions

    def reset_noise(self, n_envs: int = 1) -> None:
        """Draw new gSDE exploration matrices (no-op without gSDE)."""
        if isinstance(self.action_head, StateDependentHead):
            self.action_head.reset_noise(n_envs)


@register_policy
class ActorCriticCnnPolicy(ActorCriticPolicy):
    """SB3's ``ActorCriticCnnPolicy`` (PPO's and A2C's ``CnnPolicy``): the NatureCNN encoder by default."""

    default_policy_name: ClassVar[str] = "CnnPolicy"


@register_policy
class MultiInputActorCriticPolicy(ActorCriticPolicy):
    """SB3's ``MultiInputActorCriticPolicy`` (``MultiInputPolicy``): an encoder per key of a Dict space."""

    default_policy_name: ClassVar[str] = "MultiInputPolicy"
