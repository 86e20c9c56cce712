"""How a residual policy's learned output becomes the executed action, and what its networks see.

With a frozen base ``b(s)`` (env units) and a learned residual ``r`` (in normalised units, where 1
is half the width of the action Box), the env executes

    a = clip(b(s) + residual_scale * (high - low) / 2 * r, low, high)

through the model's :class:`~ballast.policies.heads.ActionAdapter` (the clip of every Box policy).
Measuring ``r`` in normalised units lets one ``residual_scale`` mean the same on every env: with
``residual_scale=0.5`` the correction reaches at most a quarter of the Box's width either way.

The learned distribution is over ``r``: PPO stores the sampled ``r`` and computes its
log-probabilities, entropy and ratio on it; SAC's entropy is that of ``r``. SAC and TD3 train the
critic on the executed action, in the policy's normalised space ``[-1, 1]``.

The networks see the (normalised) observation with, by default, the base's action appended in
normalised units ``2 (b(s) - low) / (high - low) - 1`` clipped to ``[-1, 1]``: a vector observation
gains ``action_dim`` entries, a Dict observation gains the key ``"base_action"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from ballast.errors import ConfigurationError, UnsupportedSpaceError
from ballast.policies.heads import ActionAdapter
from ballast.ragged import is_ragged_space
from ballast.residual.bases import BaseController

BASE_ACTION_KEY = "base_action"


@dataclass
class ResidualOptions:
    """A residual agent's settings, as given to the algorithm (see :func:`residual_options`)."""

    base_policy: Any
    residual_scale: float = 1.0
    append_base_action: bool = True
    critic_warmup_steps: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"residual_scale": self.residual_scale, "append_base_action": self.append_base_action,
                "critic_warmup_steps": self.critic_warmup_steps}


def residual_options(base_policy: Any, residual_scale: float, append_base_action: bool,
                     critic_warmup_steps: int) -> ResidualOptions | None:
    """Validate the residual arguments of an algorithm; None when there is no base policy."""
    if base_policy is None:
        if residual_scale != 1.0 or critic_warmup_steps != 0:
            raise ConfigurationError(
                "residual_scale and critic_warmup_steps only apply to residual agents: give base_policy= too")
        return None
    if not float(residual_scale) > 0:
        raise ConfigurationError(f"residual_scale must be positive, got {residual_scale}")
    if int(critic_warmup_steps) < 0:
        raise ConfigurationError(f"critic_warmup_steps must be >= 0, got {critic_warmup_steps}")
    return ResidualOptions(base_policy, float(residual_scale), bool(append_base_action), int(critic_warmup_steps))


def check_residual_action_space(action_space: spaces.Space) -> None:
    """Residual policies add a correction to a continuous action; other spaces have no such sum."""
    if not isinstance(action_space, spaces.Box):
        raise UnsupportedSpaceError(
            f"residual policies (base_policy=) need a Box action space, but the env's is {action_space}: "
            "a base action plus a correction is only defined for continuous actions. For discrete actions, "
            "feed the base's choice to the policy as an observation instead (see docs/residual.md)")


def check_residual_observation_space(observation_space: spaces.Space) -> None:
    """Residual policies take fixed-size observations: a base acts on one array (or dict of arrays)
    per observation, and a variable-size (Graph, Sequence, set) observation has no such form."""
    leaves = observation_space.spaces.values() if isinstance(observation_space, spaces.Dict) else [observation_space]
    if any(is_ragged_space(space) for space in leaves):
        raise UnsupportedSpaceError(
            f"residual policies (base_policy=) need fixed-size observations, but the env's are {observation_space}: "
            "Graph, Sequence and set observations vary in size, and the base policies Ballast runs take "
            "fixed-size arrays")


def network_observation_space(observation_space: spaces.Space, action_dim: int, append: bool) -> spaces.Space:
    """The observation space the residual policy's networks take (see the module docstring)."""
    if not append:
        return observation_space
    extra = spaces.Box(-1.0, 1.0, (action_dim,), np.float32)
    if isinstance(observation_space, spaces.Dict):
        if BASE_ACTION_KEY in observation_space.spaces:
            raise ConfigurationError(
                f"the observation already has a key {BASE_ACTION_KEY!r}; rename it or use append_base_action=False")
        return spaces.Dict({**observation_space.spaces, BASE_ACTION_KEY: extra})
    if isinstance(observation_space, spaces.Box) and len(observation_space.shape) == 1:
        low = np.concatenate([observation_space.low.astype(np.float32), extra.low])
        high = np.concatenate([observation_space.high.astype(np.float32), extra.high])
        return spaces.Box(low, high, dtype=np.float32)
    raise UnsupportedSpaceError(
        f"the base action can be appended to vector (rank-1 Box) and Dict observations, not to {observation_space}; "
        "use append_base_action=False, or a Dict observation")


class ResidualActions(nn.Module):
    """The frozen base and the composition ``clip(base + scale * half_width * residual)``; a module of the policy."""

    def __init__(self, base: BaseController, observation_space: spaces.Space, action_space: spaces.Box, *,
                 scale: float, append_base_action: bool) -> None:
        super().__init__()
        check_residual_action_space(action_space)
        check_residual_observation_space(observation_space)
        self.base = base
        self.scale = float(scale)
        self.append_base_action = bool(append_base_action)
        self.action_dim = int(np.prod(action_space.shape))
        self.network_observation_space = network_observation_space(observation_space, self.action_dim,
                                                                   self.append_base_action)
        self.adapter = ActionAdapter(action_space)
        low = torch.as_tensor(action_space.low, dtype=torch.float32).reshape(-1)
        high = torch.as_tensor(action_space.high, dtype=torch.float32).reshape(-1)
        self.register_buffer("center", (high + low) / 2)
        self.register_buffer("half_width", (high - low) / 2)

    # --- base and observations ---------------------------------------------------------------
    def base_actions(self, raw_obs: Any) -> torch.Tensor:
        """The base's env actions ``(batch, action_dim)`` for raw (unnormalised) observations."""
        with torch.no_grad():
            return self.base(raw_obs)

    def normalized(self, env_actions: torch.Tensor) -> torch.Tensor:
        """Env actions in the normalised units ``[-1, 1]`` (clipped to the Box first)."""
        return ((env_actions - self.center) / self.half_width).clamp(-1.0, 1.0)

    def prepare(self, raw_obs: Any, normalized_obs: Any) -> tuple[Any, torch.Tensor]:
        """``(network observation, base env actions)`` for one batch of observations."""
        base = self.base_actions(raw_obs)
        return self.with_base(normalized_obs, base), base

    def with_base(self, normalized_obs: Any, base: torch.Tensor) -> Any:
        """The network observation: the normalised observation with (by default) the base action appended."""
        if not self.append_base_action:
            return normalized_obs
        extra = self.normalized(base)
        if isinstance(normalized_obs, dict):
            return {**normalized_obs, BASE_ACTION_KEY: extra}
        flat = normalized_obs.reshape(normalized_obs.shape[0], -1).to(torch.float32)
        return torch.cat([flat, extra], dim=1)

    # --- actions ---------------------------------------------------------------------------------
    def correction(self, residual: torch.Tensor) -> torch.Tensor:
        """The learned correction in env units, ``scale * half_width * residual``, before the sum is clipped."""
        return (self.scale * self.half_width) * residual

    def env_actions(self, base: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """The executed env action ``clip(base + scale * half_width * residual)``; a zero residual gives ``base``."""
        return self.adapter(base + self.correction(residual))

    def env_actions_numpy(self, base: np.ndarray, residual: np.ndarray) -> np.ndarray:
        """:meth:`env_actions` on NumPy arrays (off-policy collection acts in NumPy)."""
        scale = self.scale * self.half_width.cpu().numpy()
        return self.adapter.numpy(base + scale * residual)

    def stored_actions_numpy(self, env_actions: np.ndarray) -> np.ndarray:
        """Executed env actions in the policy's normalised space, as the replay buffer stores them."""
        center, half = self.center.cpu().numpy(), self.half_width.cpu().numpy()
        flat = env_actions.reshape(env_actions.shape[0], -1)
        return np.clip((flat - center) / half, -1.0, 1.0).astype(np.float32)

    def critic_actions(self, base: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """The executed action in normalised units, as the critic takes it, differentiable in ``residual``.

        The forward value is ``clip(normalized(base) + scale * residual, -1, 1)``: exactly what was
        executed, so the critic is evaluated where its training data lie. The clip is
        straight-through (its gradient is taken as 1): a hard clip would give the actor no gradient
        once the sum reaches a bound, and a correction that pushes into the bound could never learn
        to come back. The residual itself is tanh-bounded, so passing the gradient through cannot
        make it grow without bound.
        """
        summed = self.normalized(base) + self.scale * residual
        return summed + (summed.clamp(-1.0, 1.0) - summed).detach()

