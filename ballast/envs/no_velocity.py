"""rl-baselines3-zoo's ``*NoVel`` envs: classic tasks whose observations hide the velocities.

Without velocities the current observation no longer determines the state, so a policy needs
memory (RecurrentPPO, or frame stacking) to act well: CartPole's cart and pole velocities,
Pendulum's angular velocity, MountainCar's velocity, LunarLander's linear and angular velocities.
The ids are the zoo's (``CartPoleNoVel-v1``, ``PendulumNoVel-v1``, ``MountainCarNoVel-v0``,
``MountainCarContinuousNoVel-v0``, and ``LunarLanderNoVel-v3``, ``LunarLanderContinuousNoVel-v3``
when Box2D is installed), and so is the observation: the velocity entries are set to zero, the
shape unchanged (the zoo's ``MaskVelocityWrapper``), so settings and models of the zoo carry over.
``gym.make("CartPoleNoVel-v1", drop_velocities=True)`` removes the entries instead (a smaller
observation; Ballast's option).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

#: The velocity entries of each base env's observation (the zoo's ``MaskVelocityWrapper.velocity_indices``).
VELOCITY_INDICES: dict[str, tuple[int, ...]] = {
    "CartPole-v1": (1, 3),
    "MountainCar-v0": (1,),
    "MountainCarContinuous-v0": (1,),
    "Pendulum-v1": (2,),
    "LunarLander-v3": (2, 3, 5),
    "LunarLanderContinuous-v3": (2, 3, 5),
}


class NoVelocityWrapper(gym.ObservationWrapper):
    """Hide the velocity entries ``indices`` of a Box observation: zero them (``drop=False``, the
    zoo's way) or remove them (``drop=True``)."""

    def __init__(self, env: gym.Env, indices: tuple[int, ...], drop: bool = False) -> None:
        super().__init__(env)
        space = env.observation_space
        size = int(np.prod(space.shape))
        self.indices = tuple(int(i) for i in indices)
        self.drop = drop
        self.keep = np.array([i for i in range(size) if i not in self.indices], dtype=np.int64)
        self.mask = np.ones(space.shape, dtype=space.dtype)
        self.mask[list(self.indices)] = 0
        if drop:
            self.observation_space = spaces.Box(space.low[self.keep], space.high[self.keep], dtype=space.dtype)
        # Zeroed entries keep the base env's bounds, as in the zoo (zero lies within them).

    def observation(self, observation: np.ndarray) -> np.ndarray:
        if self.drop:
            return observation[self.keep]
        return observation * self.mask


def make_no_velocity_env(base_id: str, drop_velocities: bool = False, **kwargs: Any) -> gym.Env:
    """``base_id`` (e.g. ``"CartPole-v1"``) with its velocity entries hidden (see :class:`NoVelocityWrapper`)."""
    return NoVelocityWrapper(gym.make(base_id, **kwargs), VELOCITY_INDICES[base_id], drop=drop_velocities)


def no_velocity_id(base_id: str) -> str:
    """The zoo's id of the NoVel version of ``base_id``: ``"CartPole-v1"`` -> ``"CartPoleNoVel-v1"``."""
    name, version = base_id.rsplit("-v", 1)
    return f"{name}NoVel-v{version}"


def register_no_velocity_envs() -> None:
    """Register the NoVel envs whose base env can be made (LunarLander needs Box2D; done on ``import ballast``)."""
    for base_id in VELOCITY_INDICES:
        if base_id.startswith("LunarLander") and not _box2d_installed():
            continue
        env_id = no_velocity_id(base_id)
        if base_id in gym.registry and env_id not in gym.registry:
            spec = gym.registry[base_id]
            gym.register(id=env_id, entry_point="ballast.envs.no_velocity:make_no_velocity_env",
                         kwargs={"base_id": base_id}, max_episode_steps=None,
                         reward_threshold=spec.reward_threshold)


def _box2d_installed() -> bool:
    try:
        import Box2D  # noqa: F401
    except ImportError:
        return False
    return True
