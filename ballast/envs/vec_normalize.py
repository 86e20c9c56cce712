"""SB3's ``VecNormalize``, whose settings and statistics become the model's own normalisation.

In SB3, ``VecNormalize`` normalises observations and rewards on their way to the model and keeps
the running statistics in the wrapper, which must be saved next to the model and restored before
evaluating. In Ballast the normalisation is part of the model (design principle 2):

* given to an algorithm, ``VecNormalize(venv, norm_obs, norm_reward, clip_obs, clip_reward, gamma,
  epsilon, norm_obs_keys)`` becomes ``normalize_observations`` / ``normalize_rewards`` with those
  clip values, discount and epsilon; the statistics live in the model, are updated by ``learn``
  only, and are saved in the model's checkpoint;
* the wrapper then reads and writes the model's statistics: ``obs_rms``, ``ret_rms``,
  ``normalize_obs``, ``save`` and ``load`` see what the model uses;
* the observations the wrapper returns are the env's raw ones, because ``model.predict`` normalises
  them itself (SB3's would be normalised); ``normalize_obs(obs)`` gives the normalised ones. Rewards
  are returned normalised when ``norm_reward`` is True, as in SB3;
* ``training`` does not decide anything in the model: the model updates its statistics while
  ``learn`` collects data and never while predicting or evaluating, so ``training = False`` for
  evaluation (SB3's advice) is harmless and ``training = True`` outside ``learn`` updates nothing.

``save(path)`` writes the statistics and settings as JSON + safetensors (atomically; no pickle);
``VecNormalize.load(path, venv)`` reads them back. An SB3 ``VecNormalize`` pickle is refused without
being unpickled.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from copy import deepcopy
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from ballast.checkpoint import Checkpoint, atomic_write_bytes, checkpoint_to_bytes, read_checkpoint
from ballast.envs.sb3_bridge import vector_env_of
from ballast.envs.sb3_vec_env import (
    GymnasiumVecEnvWrapper,
    VecEnv,
    VecEnvObs,
    VecEnvStepReturn,
    VecEnvWrapper,
    unwrap_vec_wrapper,
)
from ballast.errors import CheckpointError, ConfigurationError
from ballast.policies.normalize import ObservationNormalizer, RewardNormalizer, RunningMeanStd
from ballast.spaces import is_image_space

FILE_KIND = "vec_normalize"


@dataclass(frozen=True)
class NormalizationSettings:
    """The parameters a ``VecNormalize`` gives the model's normalisation (SB3's names and meanings).

    ``gamma`` discounts the returns whose running std scales the rewards (SB3's VecNormalize keeps
    its own, 0.99 by default, apart from the algorithm's); ``norm_obs_keys`` restricts the normalised
    keys of a Dict observation.
    """

    clip_obs: float = 10.0
    clip_reward: float = 10.0
    gamma: float = 0.99
    epsilon: float = 1e-8
    norm_obs_keys: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["norm_obs_keys"] = None if self.norm_obs_keys is None else list(self.norm_obs_keys)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NormalizationSettings:
        keys = data.get("norm_obs_keys")
        return cls(float(data["clip_obs"]), float(data["clip_reward"]), float(data["gamma"]), float(data["epsilon"]),
                   None if keys is None else tuple(str(k) for k in keys))

    def apply(self, observation_normalizer: ObservationNormalizer | None,
              reward_normalizer: RewardNormalizer | None) -> None:
        """Give a model's normalisation modules these settings."""
        if observation_normalizer is not None:
            observation_normalizer.clip_obs, observation_normalizer.epsilon = self.clip_obs, self.epsilon
            if self.norm_obs_keys is not None:
                for key in [k for k in observation_normalizer.stats if k not in self.norm_obs_keys]:
                    del observation_normalizer.stats[key]
        if reward_normalizer is not None:
            reward_normalizer.clip_reward, reward_normalizer.epsilon = self.clip_reward, self.epsilon
            reward_normalizer.gamma = self.gamma


class RunningMeanStdView:
    """SB3's ``RunningMeanStd`` (``mean``, ``var``, ``count`` as NumPy) over one of the model's statistics modules.

    Reading gives copies; assigning ``mean``, ``var`` or ``count`` writes into the module.
    """

    def __init__(self, module: RunningMeanStd) -> None:
        self.module = module

    @property
    def mean(self) -> np.ndarray:
        return self.module.mean.detach().cpu().numpy().copy()

    @mean.setter
    def mean(self, value: Any) -> None:
        self.module.mean.copy_(torch.as_tensor(np.asarray(value), dtype=torch.float64))

    @property
    def var(self) -> np.ndarray:
        return self.module.var.detach().cpu().numpy().copy()

    @var.setter
    def var(self, value: Any) -> None:
        self.module.var.copy_(torch.as_tensor(np.asarray(value), dtype=torch.float64))

    @property
    def count(self) -> float:
        return float(self.module.count.item())

    @count.setter
    def count(self, value: float) -> None:
        self.module.count.fill_(float(value))

    def update(self, batch: np.ndarray) -> None:
        """Merge a batch (first axis: samples) into the statistics."""
        self.module.update(torch.as_tensor(np.asarray(batch), device=self.module.mean.device))

    def copy(self) -> RunningMeanStdView:
        return RunningMeanStdView(deepcopy(self.module))

    def assign(self, other: Any) -> None:
        """Take the ``mean``, ``var`` and ``count`` of ``other`` (a view, or SB3-like statistics)."""
        self.mean, self.var, self.count = other.mean, other.var, other.count


def normalizable_keys(space: spaces.Space) -> list[str]:
    """The keys Ballast normalises by default: the non-image Box parts (``"obs"`` for a non-Dict space)."""
    if isinstance(space, spaces.Dict):
        return [key for key, sub in space.spaces.items() if isinstance(sub, spaces.Box) and not is_image_space(sub)]
    return ["obs"] if isinstance(space, spaces.Box) and not is_image_space(space) else []


def _check_norm_obs_keys(space: spaces.Space, keys: Any) -> tuple[str, ...] | None:
    if keys is None:
        return None
    if not isinstance(space, spaces.Dict):
        raise ConfigurationError("norm_obs_keys applies to Dict observation spaces only")
    keys = tuple(keys)
    for key in keys:
        if key not in space.spaces or not isinstance(space[key], spaces.Box):
            raise ConfigurationError(f"norm_obs_keys names {key!r}, which is not a Box key of {space}")
    return keys


class VecNormalize(GymnasiumVecEnvWrapper):
    """SB3's ``VecNormalize``, as a setting of the model (see the module docstring for what differs)."""

    def __init__(self, venv: VecEnv, training: bool = True, norm_obs: bool = True, norm_reward: bool = True,
                 clip_obs: float = 10.0, clip_reward: float = 10.0, gamma: float = 0.99, epsilon: float = 1e-8,
                 norm_obs_keys: list[str] | None = None) -> None:
        super().__init__(venv, vector_env_of(venv))
        self.training, self.norm_obs, self.norm_reward = training, norm_obs, norm_reward
        self.clip_obs, self.clip_reward, self.gamma, self.epsilon = clip_obs, clip_reward, gamma, epsilon
        keys = _check_norm_obs_keys(self.observation_space, norm_obs_keys) if norm_obs else None
        if norm_obs and not isinstance(self.observation_space, (spaces.Box, spaces.Dict)):
            raise ConfigurationError(
                f"VecNormalize normalises Box and Dict observations, not {self.observation_space}; pass norm_obs=False")
        self.norm_obs_keys = None if keys is None else list(keys)
        self._own_obs = ObservationNormalizer(self.observation_space, clip_obs, epsilon) if norm_obs else None
        self._own_reward = RewardNormalizer(self.num_envs, gamma, clip_reward, epsilon)
        self.settings.apply(self._own_obs, None)
        self._model: weakref.ReferenceType[Any] | None = None
        self.old_obs: VecEnvObs | None = None
        self.old_reward = np.array([])

    @property
    def settings(self) -> NormalizationSettings:
        keys = None if self.norm_obs_keys is None else tuple(self.norm_obs_keys)
        return NormalizationSettings(float(self.clip_obs), float(self.clip_reward), float(self.gamma),
                                     float(self.epsilon), keys)

    # --- the statistics: the model's once it took this wrapper, else the wrapper's own ----------
    @property
    def model(self) -> Any:
        """The model whose statistics this wrapper reads and writes (None before one took it)."""
        return None if self._model is None else self._model()

    def _observation_normalizer(self) -> ObservationNormalizer | None:
        model = self.model
        return self._own_obs if model is None else getattr(model.policy, "normalizer", None)

    def _reward_normalizer(self) -> RewardNormalizer:
        model = self.model
        if model is None or model.reward_normalizer is None:
            return self._own_reward
        return model.reward_normalizer

    def has_own_statistics(self) -> bool:
        """True when the wrapper holds statistics a model has not made (e.g. read by :meth:`load`)."""
        modules = [self._own_reward.return_rms]
        if self._own_obs is not None:
            modules += list(self._own_obs.stats.values())
        return any(float(m.count) > 1e-4 for m in modules)

    def bind(self, model: Any, take_statistics: bool) -> None:
        """Make the model's normalisation this wrapper's statistics; with ``take_statistics`` the model first
        takes the wrapper's own (when it has any), e.g. those read by :meth:`load`."""
        normalizer = getattr(model.policy, "normalizer", None)
        if take_statistics and self.has_own_statistics():
            if normalizer is not None and self._own_obs is not None:
                try:
                    normalizer.load_state_dict(self._own_obs.state_dict())
                except RuntimeError as err:
                    raise ConfigurationError(
                        "the VecNormalize's statistics do not fit the observations the model sees (a wrapper outside "
                        f"it changes them: {err}); put VecNormalize outermost, as SB3's examples do") from None
            if model.reward_normalizer is not None:
                model.reward_normalizer.return_rms.load_state_dict(self._own_reward.return_rms.state_dict())
        self._model = weakref.ref(model)
        if normalizer is not None:
            self.clip_obs, self.epsilon = normalizer.clip_obs, normalizer.epsilon
        if model.reward_normalizer is not None:
            self.clip_reward, self.gamma = model.reward_normalizer.clip_reward, model.reward_normalizer.gamma

    @property
    def obs_rms(self) -> RunningMeanStdView | dict[str, RunningMeanStdView]:
        """The observation statistics (a dict per key for Dict observations), as SB3's ``obs_rms``."""
        normalizer = self._observation_normalizer()
        if not self.norm_obs or normalizer is None:
            raise AttributeError("obs_rms: this VecNormalize does not normalise observations (norm_obs=False)")
        views = {key: RunningMeanStdView(module) for key, module in normalizer.stats.items()}
        return views if normalizer.is_dict else views["obs"]

    @obs_rms.setter
    def obs_rms(self, value: Any) -> None:
        current = self.obs_rms
        if isinstance(current, dict):
            for key, view in current.items():
                view.assign(value[key])
        else:
            current.assign(value)

    @property
    def ret_rms(self) -> RunningMeanStdView:
        """The statistics of the discounted returns that scale the rewards, as SB3's ``ret_rms``."""
        return RunningMeanStdView(self._reward_normalizer().return_rms)

    @ret_rms.setter
    def ret_rms(self, value: Any) -> None:
        self.ret_rms.assign(value)

    # --- SB3's methods ----------------------------------------------------------------------
    def reset(self) -> VecEnvObs:
        self.old_obs = super().reset()
        return self.old_obs

    def step_wait(self) -> VecEnvStepReturn:
        observations, rewards, dones, infos = super().step_wait()
        self.old_obs, self.old_reward = observations, rewards
        return observations, self.normalize_reward(rewards), dones, infos

    def _normalize_array(self, array: np.ndarray, module: RunningMeanStd) -> np.ndarray:
        mean, std = module.mean.cpu().numpy(), np.sqrt(module.var.cpu().numpy() + self.epsilon)
        return np.clip((array - mean) / std, -self.clip_obs, self.clip_obs)

    def normalize_obs(self, obs: VecEnvObs) -> VecEnvObs:
        """Observations normalised with the current statistics (which this does not change), as the model sees them."""
        normalizer = self._observation_normalizer()
        if not self.norm_obs or normalizer is None:
            return deepcopy(obs)
        if normalizer.is_dict:
            return {k: self._normalize_array(v, normalizer.stats[k]).astype(np.float32) if k in normalizer.stats
                    else deepcopy(v) for k, v in obs.items()}
        if "obs" not in normalizer.stats:
            return deepcopy(obs)
        return self._normalize_array(np.asarray(obs), normalizer.stats["obs"]).astype(np.float32)

    def unnormalize_obs(self, obs: VecEnvObs) -> VecEnvObs:
        """The inverse of :meth:`normalize_obs` (for values inside the clip range)."""
        normalizer = self._observation_normalizer()
        if not self.norm_obs or normalizer is None:
            return deepcopy(obs)

        def undo(array: Any, module: RunningMeanStd) -> np.ndarray:
            return np.asarray(array) * np.sqrt(module.var.cpu().numpy() + self.epsilon) + module.mean.cpu().numpy()

        if normalizer.is_dict:
            return {k: undo(v, normalizer.stats[k]) if k in normalizer.stats else deepcopy(v) for k, v in obs.items()}
        return undo(obs, normalizer.stats["obs"]) if "obs" in normalizer.stats else deepcopy(obs)

    def normalize_reward(self, reward: np.ndarray) -> np.ndarray:
        """Rewards scaled by the std of the discounted return and clipped, when ``norm_reward`` (SB3's formula)."""
        if not self.norm_reward:
            return reward
        std = np.sqrt(self._reward_normalizer().return_rms.var.item() + self.epsilon)
        return np.clip(np.asarray(reward) / std, -self.clip_reward, self.clip_reward)

    def unnormalize_reward(self, reward: np.ndarray) -> np.ndarray:
        if not self.norm_reward:
            return reward
        return np.asarray(reward) * np.sqrt(self._reward_normalizer().return_rms.var.item() + self.epsilon)

    def get_original_obs(self) -> VecEnvObs:
        """The observations of the last reset or step (the env's own; those this wrapper returns too)."""
        return deepcopy(self.old_obs)

    def get_original_reward(self) -> np.ndarray:
        """The env's rewards of the last step, before :meth:`normalize_reward`."""
        return np.array(self.old_reward, copy=True)

    # --- files ------------------------------------------------------------------------------
    def save(self, save_path: str | Path) -> None:
        """Write the settings and the statistics (the model's, once a model took this wrapper) to ``save_path``.

        The file is a zip of JSON and safetensors written atomically, whatever its name (SB3 scripts
        often call it ``vec_normalize.pkl``; it holds no pickle).
        """
        returns = self._reward_normalizer().return_rms
        tensors: dict[str, dict[str, torch.Tensor]] = {"ret_rms": dict(returns.state_dict())}
        normalizer = self._observation_normalizer()
        if self.norm_obs and normalizer is not None:
            tensors["obs_rms"] = {f"{key}/{name}": value for key, module in normalizer.stats.items()
                                  for name, value in module.state_dict().items()}
        config = {"training": self.training, "norm_obs": self.norm_obs, "norm_reward": self.norm_reward,
                  **self.settings.to_json()}
        checkpoint = Checkpoint(meta={"kind": FILE_KIND}, config=config, state={}, tensors=tensors)
        atomic_write_bytes(save_path, checkpoint_to_bytes(checkpoint))

    @staticmethod
    def load(load_path: str | Path, venv: VecEnv) -> VecNormalize:
        """A ``VecNormalize`` around ``venv`` with the settings and statistics that :meth:`save` wrote."""
        checkpoint = _read_statistics_file(Path(load_path))
        config = checkpoint.config
        settings = NormalizationSettings.from_json(config)
        env = VecNormalize(venv, training=bool(config["training"]), norm_obs=bool(config["norm_obs"]),
                           norm_reward=bool(config["norm_reward"]), clip_obs=settings.clip_obs,
                           clip_reward=settings.clip_reward, gamma=settings.gamma, epsilon=settings.epsilon,
                           norm_obs_keys=None if settings.norm_obs_keys is None else list(settings.norm_obs_keys))
        env._own_reward.return_rms.load_state_dict(checkpoint.tensors["ret_rms"])
        if env._own_obs is not None:
            saved = checkpoint.tensors.get("obs_rms", {})
            for key, module in env._own_obs.stats.items():
                try:
                    module.load_state_dict({name: saved[f"{key}/{name}"] for name in ("mean", "var", "count")})
                except (KeyError, RuntimeError) as err:
                    raise CheckpointError(
                        f"{load_path} holds no statistics of the shape the env's observation {key!r} needs ({err}); "
                        "it was saved for another env") from None
        return env


def _read_statistics_file(path: Path) -> Checkpoint:
    if path.is_file():
        with open(path, "rb") as handle:
            start = handle.read(2)
        if start[:1] == b"\x80":
            raise CheckpointError(
                f"{path} is a pickle, as Stable-Baselines3's VecNormalize.save writes; Ballast never unpickles a "
                "file (loading a pickle can run any code in it). Its statistics cannot be read safely: bring the "
                "model over with ballast.import_sb3(model_path, env=...) and let the model estimate its statistics "
                "again (normalize_observations=True, or a VecNormalize around the env)")
    checkpoint = read_checkpoint(path)
    if checkpoint.meta.get("kind") != FILE_KIND:
        what = "a Ballast model" if "algorithm" in checkpoint.meta else "not VecNormalize statistics"
        raise CheckpointError(f"{path} is {what}; VecNormalize.load reads what VecNormalize.save wrote (a model's "
                              "statistics load with the model)")
    return checkpoint


def unwrap_vec_normalize(env: Any) -> VecNormalize | None:
    """The ``VecNormalize`` among ``env``'s VecEnv wrappers, or None (SB3's name)."""
    return unwrap_vec_wrapper(env, VecNormalize)


def sync_envs_normalization(env: Any, eval_env: Any) -> None:
    """Copy the statistics of each ``VecNormalize`` of ``env`` to the one at the same place in ``eval_env`` (SB3).

    In Ballast the statistics are the model's: a ``VecNormalize`` a model took reads the model's,
    and evaluation (``evaluate_policy``, ``EvalCallback``) normalises with the model's own, so there
    is nothing to synchronise for them. This copies the statistics into ``eval_env``'s wrappers, for
    code that reads them there (``eval_env.normalize_obs``, ``eval_env.save``); wrappers that a model
    took share its statistics already.
    """
    train, evaluation = env, eval_env
    while isinstance(train, VecEnvWrapper) and isinstance(evaluation, VecEnvWrapper):
        if isinstance(train, VecNormalize) and isinstance(evaluation, VecNormalize):
            if train.norm_obs and evaluation.norm_obs:
                evaluation.obs_rms = train.obs_rms
            evaluation.ret_rms = train.ret_rms
        train, evaluation = train.venv, evaluation.venv
