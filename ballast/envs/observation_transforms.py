"""Stateless observation transforms of SB3's VecEnv wrappers: ``VecTransposeImage`` and ``VecExtractDictObs``.

Each is a Gymnasium vector wrapper (applied to the observations of every autoreset mode, the final
observations of same-step autoreset included) seen through SB3's API, and a setting the model
keeps: like frame stacking, it is saved with the model and re-applied when the model builds an env.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import VectorEnv, VectorWrapper
from gymnasium.vector.utils import batch_space

from ballast.envs.frame_stack import channels_first
from ballast.envs.sb3_bridge import vector_env_of
from ballast.envs.sb3_vec_env import GymnasiumVecEnvWrapper, VecEnv
from ballast.errors import ConfigurationError
from ballast.spaces import is_image_space


class ObservationTransformVectorEnv(VectorWrapper):
    """Applies ``transform`` (one observation -> one observation) to every copy's observations."""

    def __init__(self, env: VectorEnv, single_observation_space: spaces.Space,
                 transform_batch: Callable[[Any], Any], transform_one: Callable[[Any], Any]) -> None:
        super().__init__(env)
        self.single_observation_space = single_observation_space
        self.observation_space = batch_space(single_observation_space, self.num_envs)
        self.transform_batch, self.transform_one = transform_batch, transform_one

    def reset(self, *, seed: int | list[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        observations, infos = self.env.reset(seed=seed, options=options)
        return self.transform_batch(observations), infos

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        observations, rewards, terminated, truncated, infos = self.env.step(actions)
        if "final_obs" in infos:
            final_obs = np.array(infos["final_obs"], dtype=object)
            for i in np.flatnonzero(infos.get("_final_obs", np.zeros(self.num_envs, dtype=bool))):
                final_obs[i] = self.transform_one(final_obs[i])
            infos = {**infos, "final_obs": final_obs}
        return self.transform_batch(observations), rewards, terminated, truncated, infos


# --- VecTransposeImage ------------------------------------------------------------------------
def _transposed_box(space: spaces.Box, key: str | None = None) -> spaces.Box:
    if channels_first(space):
        where = f" {key!r}" if key is not None else ""
        raise ConfigurationError(f"VecTransposeImage turns channels-last images into channels-first ones, but the "
                                 f"observation{where} {space} is channels-first already")
    height, width, channels = space.shape
    return spaces.Box(low=0, high=255, shape=(channels, height, width), dtype=space.dtype)


@dataclass(frozen=True)
class TransposeImage:
    """The setting of ``VecTransposeImage``: HWC images (every image key of a Dict) become CHW."""

    keys: tuple[str, ...] | None = None

    name = "transpose_image"

    @classmethod
    def for_space(cls, space: spaces.Space) -> TransposeImage:
        if isinstance(space, spaces.Dict):
            return cls(tuple(key for key, sub in space.spaces.items() if is_image_space(sub)))
        if not is_image_space(space):
            raise ConfigurationError(f"VecTransposeImage needs image observations (uint8 Box of rank 3), got {space}")
        return cls(None)

    def output_space(self, space: spaces.Space) -> spaces.Space:
        if self.keys is None:
            return _transposed_box(space)
        return spaces.Dict({key: _transposed_box(sub, key) if key in self.keys else sub
                            for key, sub in space.spaces.items()})

    def transform_batch(self, observations: Any) -> Any:
        if self.keys is None:
            return np.transpose(observations, (0, 3, 1, 2))
        return {k: np.transpose(v, (0, 3, 1, 2)) if k in self.keys else v for k, v in observations.items()}

    def transform_one(self, observation: Any) -> Any:
        if self.keys is None:
            return np.transpose(observation, (2, 0, 1))
        return {k: np.transpose(v, (2, 0, 1)) if k in self.keys else v for k, v in observation.items()}

    def wrap_vector_env(self, vector_env: VectorEnv) -> VectorEnv:
        return ObservationTransformVectorEnv(vector_env, self.output_space(vector_env.single_observation_space),
                                             self.transform_batch, self.transform_one)

    def wrap_vec_env(self, venv: VecEnv) -> VecEnv:
        return VecTransposeImage(venv)

    def to_json(self) -> dict[str, Any]:
        return {"keys": None if self.keys is None else list(self.keys)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TransposeImage:
        keys = data.get("keys")
        return cls(None if keys is None else tuple(str(k) for k in keys))

    def describe(self) -> str:
        return "VecTransposeImage()"


class VecTransposeImage(GymnasiumVecEnvWrapper):
    """SB3's ``VecTransposeImage``: channels-last images (HWC) become channels-first (CHW).

    Ballast's encoders take both layouts, so a model given this wrapper is simply built for the
    CHW images it returns (and keeps the transposition as its setting). ``skip=True`` leaves the
    observations as they are, as in SB3.
    """

    def __init__(self, venv: VecEnv, skip: bool = False) -> None:
        self.skip = skip
        if not (is_image_space(venv.observation_space) or isinstance(venv.observation_space, spaces.Dict)):
            raise ConfigurationError(
                f"VecTransposeImage needs image observations or a Dict of them, got {venv.observation_space}")
        inner = vector_env_of(venv)
        self.transpose = None if skip else TransposeImage.for_space(venv.observation_space)
        super().__init__(venv, inner if self.transpose is None else self.transpose.wrap_vector_env(inner))

    @property
    def observation_wrapper(self) -> TransposeImage | None:
        return self.transpose

    @staticmethod
    def transpose_space(observation_space: spaces.Box, key: str = "") -> spaces.Box:
        """The CHW space of a HWC image space."""
        return _transposed_box(observation_space, key or None)

    @staticmethod
    def transpose_image(image: np.ndarray) -> np.ndarray:
        """One HWC image as CHW, or a batch of them."""
        return np.transpose(image, (2, 0, 1)) if image.ndim == 3 else np.transpose(image, (0, 3, 1, 2))

    def transpose_observations(self, observations: Any) -> Any:
        """A batch of observations as this wrapper returns them."""
        return observations if self.transpose is None else self.transpose.transform_batch(observations)


# --- VecExtractDictObs ------------------------------------------------------------------------
@dataclass(frozen=True)
class ExtractDictObs:
    """The setting of ``VecExtractDictObs``: one key of a Dict observation."""

    key: str

    name = "extract_dict_obs"

    def output_space(self, space: spaces.Space) -> spaces.Space:
        if not isinstance(space, spaces.Dict) or self.key not in space.spaces:
            raise ConfigurationError(f"VecExtractDictObs(key={self.key!r}) needs a Dict observation space with that "
                                     f"key, got {space}")
        return space[self.key]

    def wrap_vector_env(self, vector_env: VectorEnv) -> VectorEnv:
        return ObservationTransformVectorEnv(vector_env, self.output_space(vector_env.single_observation_space),
                                             lambda obs: obs[self.key], lambda obs: obs[self.key])

    def wrap_vec_env(self, venv: VecEnv) -> VecEnv:
        return VecExtractDictObs(venv, self.key)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExtractDictObs:
        return cls(str(data["key"]))

    def describe(self) -> str:
        return f"VecExtractDictObs(key={self.key!r})"


class VecExtractDictObs(GymnasiumVecEnvWrapper):
    """SB3's ``VecExtractDictObs``: the observation under ``key`` of a Dict observation."""

    def __init__(self, venv: VecEnv, key: str) -> None:
        self.key = key
        self.extract = ExtractDictObs(key)
        self.extract.output_space(venv.observation_space)
        super().__init__(venv, self.extract.wrap_vector_env(vector_env_of(venv)))

    @property
    def observation_wrapper(self) -> ExtractDictObs:
        return self.extract
