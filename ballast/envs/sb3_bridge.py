"""From SB3's VecEnv API back to a Gymnasium vector env: what a model steps when given an SB3-API env.

Ballast's own SB3-API envs (``DummyVecEnv``, ``VecFrameStack``, ...) are translations of a
Gymnasium vector env, which the model steps directly. Any other SB3-API VecEnv (a custom
``VecEnvWrapper`` subclass, or a VecEnv written against SB3's API) is stepped through
:class:`SB3VecEnvAsVectorEnv`, which turns its ``(obs, rewards, dones, infos)`` into Gymnasium's
same-step-autoreset results: ``terminated = dones and not TimeLimit.truncated``, the terminal
observation as ``infos["final_obs"]`` and the step's info as ``infos["final_info"]``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from ballast.envs.sb3_vec_env import GymnasiumVecEnv, GymnasiumVecEnvWrapper, VecEnv
from ballast.envs.vector_infos import add_copy_info, batch_infos, reset_mask_of
from ballast.errors import EnvError


def is_sb3_vec_env(env: Any) -> bool:
    """True for an object with SB3's VecEnv API (Ballast's or any other), False for Gymnasium envs."""
    if isinstance(env, VecEnv):
        return True
    if isinstance(env, (VectorEnv, gym.Env)):
        return False
    return all(hasattr(env, name) for name in ("num_envs", "step_async", "step_wait", "reset", "observation_space"))


class SB3VecEnvAsVectorEnv(VectorEnv):
    """A Gymnasium vector env, in same-step autoreset mode, over an SB3-API VecEnv (see the module docstring)."""

    def __init__(self, venv: Any) -> None:
        self.venv = venv
        self.num_envs = venv.num_envs
        self.single_observation_space = venv.observation_space
        self.single_action_space = venv.action_space
        self.observation_space = batch_space(venv.observation_space, self.num_envs)
        self.action_space = batch_space(venv.action_space, self.num_envs)
        self.render_mode = getattr(venv, "render_mode", None)
        self.metadata = {"autoreset_mode": AutoresetMode.SAME_STEP,
                         "render_modes": list(getattr(venv, "metadata", {}).get("render_modes", []))}

    def reset(self, *, seed: int | list[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        if reset_mask_of(options, self.num_envs) is not None:
            raise EnvError(f"{type(self.venv).__name__} (SB3's VecEnv API) resets all its copies together; it cannot "
                           "reset some of them only")
        if isinstance(seed, int):
            self.venv.seed(seed)
        elif seed is not None:
            self.venv._seeds = list(seed)
        if options is not None:
            self.venv.set_options(options)
        observations = self.venv.reset()
        return observations, batch_infos(getattr(self.venv, "reset_infos", [{}] * self.num_envs))

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        observations, rewards, dones, step_infos = self.venv.step(actions)
        dones = np.asarray(dones, dtype=bool)
        truncated = np.array([bool(done and info.get("TimeLimit.truncated", False))
                              for done, info in zip(dones, step_infos)])
        reset_infos = getattr(self.venv, "reset_infos", [{}] * self.num_envs)
        infos: dict[str, Any] = {}
        for i, info in enumerate(step_infos):
            if dones[i] and "terminal_observation" in info:
                final_info = {k: v for k, v in info.items() if k != "terminal_observation"}
                info = {**reset_infos[i], "final_obs": info["terminal_observation"], "final_info": final_info}
            add_copy_info(infos, info, i, self.num_envs)
        return observations, np.asarray(rewards, dtype=np.float64), dones & ~truncated, truncated, infos

    def render(self) -> tuple[Any, ...] | None:
        return tuple(self.venv.get_images())

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call the method ``name`` of every copy (SB3's ``env_method``)."""
        return tuple(self.venv.env_method(name, *args, **kwargs))

    def get_attr(self, name: str) -> tuple[Any, ...]:
        return tuple(self.venv.get_attr(name))

    def set_attr(self, name: str, values: Any) -> None:
        if isinstance(values, (list, tuple)):
            for i, value in enumerate(values):
                self.venv.set_attr(name, value, indices=i)
        else:
            self.venv.set_attr(name, values)

    def close_extras(self, **kwargs: Any) -> None:
        self.venv.close()


def vector_env_of(env: Any) -> VectorEnv:
    """The Gymnasium vector env that produces what the SB3-API ``env`` produces (see the module docstring)."""
    if isinstance(env, (GymnasiumVecEnv, GymnasiumVecEnvWrapper)):
        return env.vector_env
    cached = env.__dict__.get("_ballast_vector_env") if hasattr(env, "__dict__") else None
    if cached is None:
        cached = SB3VecEnvAsVectorEnv(env)
        if hasattr(env, "__dict__"):
            env.__dict__["_ballast_vector_env"] = cached
    return cached

