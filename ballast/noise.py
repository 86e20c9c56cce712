"""Action noise for the exploration of deterministic policies (TD3, DDPG) and, optionally, SAC.

The constructors are Stable-Baselines3's, so ``action_noise=NormalActionNoise(mean=np.zeros(n),
sigma=0.1 * np.ones(n))`` carries over. A noise sample is added to the policy's action in the
policy's own [-1, 1] space (before the mapping onto the env's bounds) and clipped there.

Unlike SB3, each noise owns its NumPy generator (seeded by the algorithm), and its whole state,
constructor arguments and generator included, is JSON data: :meth:`ActionNoise.to_json` and
:meth:`ActionNoise.state_dict` go into checkpoints, :func:`noise_from_json` rebuilds the object.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import numpy as np

from ballast.errors import ConfigurationError


def _array(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


class ActionNoise:
    """Base class: ``noise()`` returns one sample, ``reset()`` is called at episode ends."""

    def __init__(self) -> None:
        self.rng = np.random.default_rng()

    def __call__(self) -> np.ndarray:
        raise NotImplementedError

    def reset(self) -> None:
        """Return to the initial state (at the end of an episode)."""

    def seed(self, seed: int | np.random.SeedSequence | None) -> None:
        """Seed the noise's generator."""
        self.rng = np.random.default_rng(seed)

    def to_json(self) -> dict[str, Any]:
        """The constructor arguments as JSON data (what :func:`noise_from_json` reads)."""
        raise ConfigurationError(
            f"{type(self).__name__} cannot be described as data; it is not saved in checkpoints")

    def state_dict(self) -> dict[str, Any]:
        """The changing state (generator, and the process value for correlated noise) as JSON data."""
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]


class NormalActionNoise(ActionNoise):
    """Independent Gaussian noise ``N(mean, sigma^2)`` at every step."""

    def __init__(self, mean: np.ndarray, sigma: np.ndarray, dtype: Any = np.float32) -> None:
        super().__init__()
        self._mu = _array(mean)
        self._sigma = _array(sigma)
        self._dtype = np.dtype(dtype)

    def __call__(self) -> np.ndarray:
        return self.rng.normal(self._mu, self._sigma).astype(self._dtype)

    def to_json(self) -> dict[str, Any]:
        return {"type": "NormalActionNoise", "mean": self._mu.tolist(), "sigma": self._sigma.tolist(),
                "dtype": self._dtype.name}

    def __repr__(self) -> str:
        return f"NormalActionNoise(mu={self._mu}, sigma={self._sigma})"


class OrnsteinUhlenbeckActionNoise(ActionNoise):
    """Temporally correlated noise (Uhlenbeck & Ornstein, 1930), as used by DDPG (Lillicrap et al., 2016).

    ``x_{t+1} = x_t + theta * (mean - x_t) * dt + sigma * sqrt(dt) * N(0, 1)``, restarting from
    ``initial_noise`` (zeros by default) at every episode end.
    """

    def __init__(self, mean: np.ndarray, sigma: np.ndarray, theta: float = 0.15, dt: float = 1e-2,
                 initial_noise: np.ndarray | None = None, dtype: Any = np.float32) -> None:
        super().__init__()
        self._theta = float(theta)
        self._mu = _array(mean)
        self._sigma = _array(sigma)
        self._dt = float(dt)
        self._dtype = np.dtype(dtype)
        self.initial_noise = None if initial_noise is None else _array(initial_noise)
        self.noise_prev = np.zeros_like(self._mu)
        self.reset()

    def __call__(self) -> np.ndarray:
        noise = (self.noise_prev + self._theta * (self._mu - self.noise_prev) * self._dt
                 + self._sigma * np.sqrt(self._dt) * self.rng.normal(size=self._mu.shape))
        self.noise_prev = noise
        return noise.astype(self._dtype)

    def reset(self) -> None:
        initial = self.initial_noise
        self.noise_prev = initial.copy() if initial is not None else np.zeros_like(self._mu)

    def to_json(self) -> dict[str, Any]:
        return {"type": "OrnsteinUhlenbeckActionNoise", "mean": self._mu.tolist(),
                "sigma": self._sigma.tolist(), "theta": self._theta, "dt": self._dt,
                "dtype": self._dtype.name,
                "initial_noise": None if self.initial_noise is None else self.initial_noise.tolist()}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "noise_prev": np.asarray(self.noise_prev).tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.noise_prev = _array(state["noise_prev"])

    def __repr__(self) -> str:
        return f"OrnsteinUhlenbeckActionNoise(mu={self._mu}, sigma={self._sigma})"


class VectorizedActionNoise(ActionNoise):
    """One independent copy of ``base_noise`` per env copy; ``noise()`` has shape ``(n_envs, *shape)``."""

    def __init__(self, base_noise: ActionNoise, n_envs: int) -> None:
        super().__init__()
        if not isinstance(base_noise, ActionNoise):
            raise ConfigurationError(f"base_noise must be an ActionNoise, got {type(base_noise).__name__}")
        if isinstance(n_envs, bool) or not isinstance(n_envs, (int, np.integer)) or n_envs < 1:
            raise ConfigurationError(f"n_envs must be a positive integer, got {n_envs!r}")
        self.base_noise = base_noise
        self.n_envs = int(n_envs)
        self.noises = [copy.deepcopy(base_noise) for _ in range(self.n_envs)]
        for noise in self.noises:
            noise.reset()
        self.seed(int(base_noise.rng.integers(2**63)))

    def __call__(self) -> np.ndarray:
        return np.stack([noise() for noise in self.noises])

    def reset(self, indices: Iterable[int] | None = None) -> None:
        """Reset all copies, or those in ``indices``."""
        for index in range(self.n_envs) if indices is None else indices:
            self.noises[index].reset()

    def seed(self, seed: int | np.random.SeedSequence | None) -> None:
        sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        for noise, child in zip(self.noises, sequence.spawn(self.n_envs)):
            noise.seed(child)

    def to_json(self) -> dict[str, Any]:
        return self.base_noise.to_json()

    def state_dict(self) -> dict[str, Any]:
        return {"noises": [noise.state_dict() for noise in self.noises]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for noise, saved in zip(self.noises, state["noises"]):
            noise.load_state_dict(saved)

    def __repr__(self) -> str:
        return f"VectorizedActionNoise({self.base_noise!r}, n_envs={self.n_envs})"


_NOISES = {"NormalActionNoise": NormalActionNoise,
           "OrnsteinUhlenbeckActionNoise": OrnsteinUhlenbeckActionNoise}


def noise_from_json(data: dict[str, Any]) -> ActionNoise:
    """Rebuild a noise from :meth:`ActionNoise.to_json` data (fresh state, unseeded)."""
    kwargs = dict(data)
    kind = kwargs.pop("type", None)
    if kind not in _NOISES:
        raise ConfigurationError(f"unknown action noise {kind!r}; known: {sorted(_NOISES)}")
    for key in ("mean", "sigma", "initial_noise"):
        if kwargs.get(key) is not None:
            kwargs[key] = _array(kwargs[key])
    return _NOISES[kind](**kwargs)


def as_action_noise(noise: ActionNoise | dict[str, Any] | None) -> ActionNoise | None:
    """Accept a noise object, its JSON description (from a checkpoint), or None."""
    if noise is None or isinstance(noise, ActionNoise):
        return noise
    if isinstance(noise, dict):
        return noise_from_json(noise)
    raise ConfigurationError(f"action_noise must be an ActionNoise or None, got {type(noise).__name__}")


def noise_to_json(noise: ActionNoise | None) -> dict[str, Any] | None:
    """The JSON description of ``noise`` for the saved hyperparameters; None when it has none."""
    if noise is None:
        return None
    try:
        return noise.to_json()
    except ConfigurationError:
        return None
