"""SB3's ``VecCheckNan``: find where a NaN or an infinity first came from (the model's actions or the env)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import VectorEnv, VectorWrapper

from ballast.envs.sb3_bridge import vector_env_of
from ballast.envs.sb3_vec_env import GymnasiumVecEnvWrapper, VecEnv
from ballast.errors import ConfigurationError, NonFiniteValueError


class CheckNanVectorEnv(VectorWrapper):
    """Checks actions, observations and rewards of a Gymnasium vector env for NaN (and, optionally, inf).

    A finding raises :class:`ballast.errors.NonFiniteValueError` (``raise_exception=True``; an
    ``EnvError`` and a ``ValueError``) or warns (once, with ``warn_once=True``), naming what held the
    bad value and the last action or observation.
    """

    def __init__(self, env: VectorEnv, raise_exception: bool = False, warn_once: bool = True,
                 check_inf: bool = True) -> None:
        super().__init__(env)
        if isinstance(env.single_action_space, spaces.Dict):
            raise ConfigurationError("VecCheckNan does not support Dict action spaces")
        self.raise_exception, self.warn_once, self.check_inf = raise_exception, warn_once, check_inf
        self._user_warned = False
        self._actions: Any = None
        self._observations: Any = None

    def reset(self, *, seed: int | list[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        observations, infos = self.env.reset(seed=seed, options=options)
        self._check("reset", observations=observations)
        self._observations = observations
        return observations, infos

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        self._check("step_async", actions=actions)
        self._actions = actions
        observations, rewards, terminated, truncated, infos = self.env.step(actions)
        self._check("step_wait", observations=observations, rewards=rewards)
        self._observations = observations
        return observations, rewards, terminated, truncated, infos

    def _findings(self, name: str, value: Any) -> list[str]:
        if isinstance(value, dict):
            return [f for key, sub in value.items() for f in self._findings(f"{name}.{key}", sub)]
        if isinstance(value, tuple):
            return [f for i, sub in enumerate(value) for f in self._findings(f"{name}.{i}", sub)]
        array = np.asarray(value)
        if array.dtype.kind not in "fc":
            return []
        found = []
        if self.check_inf and np.isinf(array).any():
            found.append(f"inf in {name}")
        if np.isnan(array).any():
            found.append(f"nan in {name}")
        return found

    def _check(self, event: str, **values: Any) -> None:
        if not self.raise_exception and self.warn_once and self._user_warned:
            return
        found = [f for name, value in values.items() for f in self._findings(name, value)]
        if not found:
            return
        self._user_warned = True
        origin = {
            "reset": "the environment's observation at reset",
            "step_wait": f"the environment; the last action was {self._actions}",
            "step_async": f"the model's action; the last observation was {self._observations}",
        }[event]
        message = f"found {', '.join(found)}; it came from {origin}"
        if self.raise_exception:
            raise NonFiniteValueError(message)
        warnings.warn(message, UserWarning, stacklevel=3)


class VecCheckNan(GymnasiumVecEnvWrapper):
    """SB3's ``VecCheckNan(venv, raise_exception=False, warn_once=True, check_inf=True)``.

    ``raise_exception=True`` raises :class:`ballast.errors.NonFiniteValueError`: a ``ValueError`` as in
    SB3, and a :class:`ballast.EnvError`. A model given this wrapper checks its own steps too.
    """

    def __init__(self, venv: VecEnv, raise_exception: bool = False, warn_once: bool = True,
                 check_inf: bool = True) -> None:
        self.raise_exception, self.warn_once, self.check_inf = raise_exception, warn_once, check_inf
        super().__init__(venv, CheckNanVectorEnv(vector_env_of(venv), raise_exception, warn_once, check_inf))
