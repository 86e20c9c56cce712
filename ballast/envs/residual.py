"""``ResidualActionWrapper``: the residual form as an env wrapper, for any algorithm (including other libraries').

The wrapped env takes a correction ``r`` in ``[-1, 1]^d`` and executes
``clip(base(obs) + residual_scale * (high - low) / 2 * r, low, high)`` — the same mapping as
``base_policy=`` on a Ballast algorithm (:class:`ballast.residual.ResidualActions`). Its
observations carry the base's action (normalised to [-1, 1]) when ``append_base_action`` is on.

Prefer ``SAC(..., base_policy=B)``: the wrapper cannot give what only the model can (see
docs/residual.md): the learned policy does not start at zero, the critic of SAC/TD3 learns on the
correction rather than on the executed (clipped) action, the base is not saved with the model nor
exported with it, and ``predict`` takes the wrapper's observations, not the env's.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from ballast.residual.actions import BASE_ACTION_KEY, ResidualActions, check_residual_action_space
from ballast.residual.bases import as_base_policy


class ResidualActionWrapper(gym.Wrapper):
    """See the module docstring. ``info`` gains ``"base_action"`` and ``"executed_action"`` at each step."""

    def __init__(self, env: gym.Env, base_policy: Any, residual_scale: float = 1.0,
                 append_base_action: bool = True) -> None:
        super().__init__(env)
        check_residual_action_space(env.action_space)
        base = as_base_policy(base_policy, env.observation_space, env.action_space)
        self.mapping = ResidualActions(base, env.observation_space, env.action_space, scale=residual_scale,
                                       append_base_action=append_base_action)
        self.action_space = spaces.Box(-1.0, 1.0, (self.mapping.action_dim,), np.float32)
        self.observation_space = self.mapping.network_observation_space
        self._base: np.ndarray | None = None

    def _observe(self, obs: Any) -> Any:
        batch = {k: torch.as_tensor(np.asarray(v)[None]) for k, v in obs.items()} if isinstance(obs, dict) \
            else torch.as_tensor(np.asarray(obs)[None])
        base = self.mapping.base_actions(batch)
        self._base = base.numpy()
        if not self.mapping.append_base_action:
            return obs
        extra = self.mapping.normalized(base)[0].numpy().astype(np.float32)
        if isinstance(obs, dict):
            return {**obs, BASE_ACTION_KEY: extra}
        return np.concatenate([np.asarray(obs, dtype=np.float32).reshape(-1), extra])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        obs, info = self.env.reset(seed=seed, options=options)
        return self._observe(obs), info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        if self._base is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        residual = np.asarray(action, dtype=np.float32).reshape(1, -1)
        executed = self.mapping.env_actions_numpy(self._base, residual)[0]
        base = self._base[0].reshape(self.env.action_space.shape)
        obs, reward, terminated, truncated, info = self.env.step(executed)
        info = {**info, "base_action": base, "executed_action": executed}
        return self._observe(obs), reward, terminated, truncated, info
