"""Action heads (latent -> distribution) and the adapter from policy actions to env actions."""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from ballast.distributions import (
    Bernoulli,
    Categorical,
    DiagGaussian,
    MultiCategorical,
    StateDependentGaussian,
    TanhSquashed,
    gsde_std,
)
from ballast.errors import ConfigurationError, UnsupportedSpaceError


class CategoricalHead(nn.Module):
    def __init__(self, latent_dim: int, n: int) -> None:
        super().__init__()
        self.net = nn.Linear(latent_dim, n)

    def forward(self, latent: torch.Tensor) -> Categorical:
        return self.distribution(self.net(latent))

    def distribution(self, logits: torch.Tensor) -> Categorical:
        """The distribution for the output of ``self.net``."""
        return Categorical(logits)


class MultiCategoricalHead(nn.Module):
    def __init__(self, latent_dim: int, nvec: list[int]) -> None:
        super().__init__()
        self.nvec = nvec
        self.net = nn.Linear(latent_dim, sum(nvec))

    def forward(self, latent: torch.Tensor) -> MultiCategorical:
        return self.distribution(self.net(latent))

    def distribution(self, logits: torch.Tensor) -> MultiCategorical:
        """The distribution for the output of ``self.net``."""
        return MultiCategorical(logits, self.nvec)


class BernoulliHead(nn.Module):
    def __init__(self, latent_dim: int, n: int) -> None:
        super().__init__()
        self.net = nn.Linear(latent_dim, n)

    def forward(self, latent: torch.Tensor) -> Bernoulli:
        return self.distribution(self.net(latent))

    def distribution(self, logits: torch.Tensor) -> Bernoulli:
        """The distribution for the output of ``self.net``."""
        return Bernoulli(logits)


class GaussianHead(nn.Module):
    """State-independent log-std, as in SB3's ``DiagGaussianDistribution``."""

    def __init__(self, latent_dim: int, action_dim: int, log_std_init: float) -> None:
        super().__init__()
        self.net = nn.Linear(latent_dim, action_dim)
        self.log_std = nn.Parameter(torch.full((action_dim,), float(log_std_init)))

    def forward(self, latent: torch.Tensor) -> DiagGaussian:
        return self.distribution(self.net(latent))

    def distribution(self, mean: torch.Tensor) -> DiagGaussian:
        """The distribution for the output of ``self.net`` (the mean)."""
        return DiagGaussian(mean, self.log_std.exp())


class StateDependentHead(nn.Module):
    """gSDE head: the mean from the latent, noise ``latent.detach() @ W`` with ``W ~ N(0, sigma^2)``.

    ``sigma = exp(log_std)`` (or ``expln(log_std)`` with ``use_expln``, see
    :func:`~ballast.distributions.gsde_std`); ``full_std=False`` shares one ``sigma`` per latent unit
    across action dimensions. With ``squash_output`` the distribution is squashed by ``tanh``
    (:class:`~ballast.distributions.TanhSquashed`) and actions stay in [-1, 1], as SB3's gSDE with
    ``squash_output=True``.
    """

    def __init__(self, latent_dim: int, action_dim: int, log_std_init: float, full_std: bool = True,
                 use_expln: bool = False, squash_output: bool = False) -> None:
        super().__init__()
        self.net = nn.Linear(latent_dim, action_dim)
        self.full_std, self.use_expln, self.squash_output = full_std, use_expln, squash_output
        self.latent_dim, self.action_dim = latent_dim, action_dim
        shape = (latent_dim, action_dim) if full_std else (latent_dim, 1)
        self.log_std = nn.Parameter(torch.full(shape, float(log_std_init)))
        # Saved with the weights, so stochastic actions after loading equal those before saving.
        self.register_buffer("exploration", torch.zeros(1, latent_dim, action_dim))
        self.reset_noise(1)

    def sigma(self) -> torch.Tensor:
        std = gsde_std(self.log_std, self.use_expln)
        return std if self.full_std else std.expand(self.latent_dim, self.action_dim)

    @torch.no_grad()
    def reset_noise(self, n: int = 1) -> None:
        """Draw new exploration matrices, one per env copy."""
        sigma = self.sigma()
        self.exploration = torch.randn((n, *sigma.shape), device=sigma.device) * sigma

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:  # noqa: ANN001
        # The number of exploration matrices follows the number of env copies, which may differ.
        saved = state_dict.get(prefix + "exploration")
        if saved is not None and saved.shape != self.exploration.shape:
            self.exploration = torch.empty_like(saved, device=self.exploration.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, latent: torch.Tensor) -> StateDependentGaussian | TanhSquashed:
        gaussian = StateDependentGaussian(self.net(latent), latent.detach(), self.sigma(), self.exploration)
        return TanhSquashed(gaussian) if self.squash_output else gaussian


def make_action_head(
    action_space: spaces.Space, latent_dim: int, *, use_sde: bool, log_std_init: float, full_std: bool,
    use_expln: bool = False, squash_output: bool = False,
) -> nn.Module:
    """The head that turns the actor latent into a distribution over ``action_space``.

    ``use_expln`` and ``squash_output`` apply to gSDE (``use_sde``); ``squash_output`` without gSDE
    is refused, with SB3's message.
    """
    if squash_output and not use_sde:
        raise ConfigurationError("squash_output=True is only available when using gSDE (use_sde=True)")
    if isinstance(action_space, spaces.Discrete):
        return CategoricalHead(latent_dim, int(action_space.n))
    if isinstance(action_space, spaces.MultiDiscrete):
        return MultiCategoricalHead(latent_dim, action_space.nvec.reshape(-1).tolist())
    if isinstance(action_space, spaces.MultiBinary):
        return BernoulliHead(latent_dim, int(np.prod(action_space.shape)))
    if isinstance(action_space, spaces.Box):
        dim = int(np.prod(action_space.shape))
        if use_sde:
            return StateDependentHead(latent_dim, dim, log_std_init, full_std, use_expln, squash_output)
        return GaussianHead(latent_dim, dim, log_std_init)
    raise UnsupportedSpaceError(f"no action head for the action space {action_space}")


def zero_output_layer_(layer: nn.Linear) -> None:
    """Zero a head's weights and bias: a residual policy's correction then starts at exactly zero."""
    with torch.no_grad():
        layer.weight.zero_()
        if layer.bias is not None:
            layer.bias.zero_()


class ActionAdapter(nn.Module):
    """Maps actions as the policy samples them to actions as the env takes them.

    Box: clipped to the bounds (or, for squashed policies acting in [-1, 1], mapped affinely onto
    the bounds: ``low + (a + 1) / 2 * (high - low)``); Discrete and MultiDiscrete: shifted by the
    space's ``start``; MultiBinary: as 0/1 integers. One mapping shared by predict, rollouts,
    evaluation and export. Its tensors come from the action space, which a checkpoint records, so
    they are not part of the policy's ``state_dict`` (which holds what was learned, as SB3's).
    """

    def __init__(self, action_space: spaces.Space, squashed: bool = False) -> None:
        super().__init__()
        # Subclasses (e.g. NodeChoice, a Discrete) map as their base space does.
        self.kind = next((base.__name__ for base in (spaces.Box, spaces.Discrete, spaces.MultiDiscrete)
                          if isinstance(action_space, base)), type(action_space).__name__)
        self.squashed = squashed
        self.shape = tuple(action_space.shape) if action_space.shape is not None else ()
        if isinstance(action_space, spaces.Box):
            self.register_buffer("low", torch.as_tensor(action_space.low, dtype=torch.float32).reshape(-1),
                                 persistent=False)
            self.register_buffer("high", torch.as_tensor(action_space.high, dtype=torch.float32).reshape(-1),
                                 persistent=False)
        elif isinstance(action_space, (spaces.Discrete, spaces.MultiDiscrete)):
            start = np.asarray(action_space.start).reshape(-1)
            self.register_buffer("start", torch.as_tensor(start, dtype=torch.long), persistent=False)

    def forward(self, actions: torch.Tensor) -> torch.Tensor:
        if self.kind == "Box":
            if self.squashed:
                actions = self.low + (actions.clamp(-1.0, 1.0) + 1.0) * 0.5 * (self.high - self.low)
            actions = torch.maximum(torch.minimum(actions, self.high), self.low)
            return actions.reshape(actions.shape[0], *self.shape)
        if self.kind == "Discrete":
            return actions + self.start[0]
        if self.kind == "MultiDiscrete":
            return (actions + self.start).reshape(actions.shape[0], *self.shape)
        return actions.to(torch.int8).reshape(actions.shape[0], *self.shape)

    def numpy(self, actions: np.ndarray) -> np.ndarray:
        """The same mapping on NumPy arrays (for rollouts that act in NumPy)."""
        if self.kind == "Box":
            low, high = self.low.cpu().numpy(), self.high.cpu().numpy()
            if self.squashed:
                actions = low + (np.clip(actions, -1.0, 1.0) + 1.0) * 0.5 * (high - low)
            return np.clip(actions, low, high).reshape(actions.shape[0], *self.shape)
        if self.kind in ("Discrete", "MultiDiscrete"):
            start = self.start.cpu().numpy()
            return (actions + (start[0] if self.kind == "Discrete" else start)).reshape(actions.shape[0], *self.shape)
        return actions.astype(np.int8).reshape(actions.shape[0], *self.shape)
