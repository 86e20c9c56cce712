"""SB3's VecEnv API (``stable_baselines3.common.vec_env``), translated onto Gymnasium vector envs.

Ballast steps Gymnasium (>= 1.0) vector envs. SB3 scripts build and step ``VecEnv``\\ s; this
module gives them SB3's API over a Gymnasium vector env:

* :class:`VecEnv` is SB3's abstract base (``num_envs``, spaces of one copy, ``reset() -> obs``,
  ``step(actions) -> (obs, rewards, dones, infos)``, ``seed``, ``set_options``, ``get_attr``, ...),
  so custom SB3-style VecEnvs and wrappers can be written against it;
* :class:`GymnasiumVecEnv` is that API over any Gymnasium vector env (``model.get_env()`` returns
  one over the model's env); :class:`DummyVecEnv` runs Gymnasium's ``SyncVectorEnv`` and
  :class:`SubprocVecEnv` its ``AsyncVectorEnv``, both in same-step autoreset mode;
* :class:`VecEnvWrapper` is SB3's wrapper base; :class:`GymnasiumVecEnvWrapper` is the base of
  Ballast's own wrappers (``VecFrameStack``, ``VecNormalize``, ...), each a Gymnasium vector wrapper
  seen through the same API, so that a model given one steps exactly what the wrapper returns.

SB3's semantics are kept: ``dones = terminated | truncated``; an ended copy is reset in the same
step, its last observation in ``infos[i]["terminal_observation"]``; ``infos[i]["TimeLimit.truncated"]``
is ``truncated and not terminated``; rewards are float32; reset infos are in ``reset_infos``;
``seed``/``set_options`` apply to the next ``reset()``. A next-step-autoreset env is translated by
resetting ended copies at once (``reset(options={"reset_mask": dones})``, which Gymnasium's
``SyncVectorEnv`` and ``AsyncVectorEnv`` support).
"""

from __future__ import annotations

import inspect
import multiprocessing
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from copy import deepcopy
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv, VectorEnv

from ballast.envs.make import autoreset_mode
from ballast.envs.reset_arguments import NextResetArguments
from ballast.envs.reset_signature import with_reset_options
from ballast.envs.shared_stepping import SharedStepping
from ballast.envs.sync_vector import LeanSyncVectorEnv
from ballast.envs.vector_infos import (
    FINAL_KEYS,
    info_of_copy,
    infos_of_copies,
    observation_rows,
    supports_partial_reset,
)
from ballast.errors import ConfigurationError, EnvError

VecEnvIndices = None | int | Iterable[int]
VecEnvObs = np.ndarray | dict[str, np.ndarray] | tuple[Any, ...]
VecEnvStepReturn = tuple[VecEnvObs, np.ndarray, np.ndarray, list[dict[str, Any]]]


def tile_images(images_nhwc: Sequence[np.ndarray]) -> np.ndarray:
    """Tile N images of shape (H, W, C) into one image of about sqrt(N) x sqrt(N) tiles (blank tiles pad it)."""
    images = np.asarray(images_nhwc)
    n_images, height, width, n_channels = images.shape
    rows = int(np.ceil(np.sqrt(n_images)))
    cols = int(np.ceil(n_images / rows))
    padded = np.concatenate([images, np.zeros((rows * cols - n_images, height, width, n_channels), images.dtype)])
    grid = padded.reshape(rows, cols, height, width, n_channels).transpose(0, 2, 1, 3, 4)
    return grid.reshape(rows * height, cols * width, n_channels)


def is_wrapped(env: gym.Env, wrapper_class: type[gym.Wrapper]) -> bool:
    """True when ``env`` or one of the wrappers inside it is a ``wrapper_class`` (SB3's ``env_util.is_wrapped``)."""
    return unwrap_wrapper(env, wrapper_class) is not None


def unwrap_wrapper(env: gym.Env, wrapper_class: type[gym.Wrapper]) -> gym.Wrapper | None:
    """The outermost ``wrapper_class`` wrapper around ``env``, or None (SB3's ``env_util.unwrap_wrapper``)."""
    current: Any = env
    while isinstance(current, gym.Wrapper):
        if isinstance(current, wrapper_class):
            return current
        current = current.env
    return None


class VecEnv(ABC):
    """SB3's abstract vectorized environment: ``num_envs`` copies stepped together.

    ``observation_space`` and ``action_space`` are those of one copy. Subclasses implement
    ``reset``, ``step_async``, ``step_wait``, ``close``, ``get_attr``, ``set_attr``, ``env_method``
    and ``env_is_wrapped``, as in SB3; Ballast models take any such object.
    """

    def __init__(self, num_envs: int, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        self.num_envs = num_envs
        self.observation_space = observation_space
        self.action_space = action_space
        self.reset_infos: list[dict[str, Any]] = [{} for _ in range(num_envs)]
        self._seeds: list[int | None] = [None] * num_envs
        self._options: list[dict[str, Any]] = [{} for _ in range(num_envs)]
        self.render_mode = self._first_render_mode()
        modes = ["human", "rgb_array"] if self.render_mode == "rgb_array" else [self.render_mode]
        self.metadata = {"render_modes": modes if self.render_mode is not None else []}

    def _first_render_mode(self) -> str | None:
        try:
            modes = self.get_attr("render_mode")
        except (AttributeError, EnvError):
            return None
        if any(mode != modes[0] for mode in modes):
            raise ConfigurationError(f"every env copy must have the same render_mode, got {modes}")
        return modes[0]

    def _reset_seeds(self) -> None:
        self._seeds = [None] * self.num_envs

    def _reset_options(self) -> None:
        self._options = [{} for _ in range(self.num_envs)]

    @abstractmethod
    def reset(self) -> VecEnvObs:
        """Reset every copy and return the batch of first observations (infos go to ``reset_infos``)."""

    @abstractmethod
    def step_async(self, actions: np.ndarray) -> None:
        """Start a step of every copy with ``actions`` (one per copy)."""

    @abstractmethod
    def step_wait(self) -> VecEnvStepReturn:
        """Finish the step started by :meth:`step_async`: ``(obs, rewards, dones, infos)``."""

    @abstractmethod
    def close(self) -> None:
        """Release the copies' resources."""

    @abstractmethod
    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """The attribute ``attr_name`` of each copy in ``indices`` (all when None)."""

    @abstractmethod
    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set the attribute ``attr_name`` of each copy in ``indices``."""

    @abstractmethod
    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
                   **method_kwargs: Any) -> list[Any]:
        """Call ``method_name(*method_args, **method_kwargs)`` on each copy in ``indices``; the results."""

    @abstractmethod
    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        """Whether each copy in ``indices`` is wrapped in a ``wrapper_class``."""

    def step(self, actions: np.ndarray) -> VecEnvStepReturn:
        """Step every copy: ``(obs, rewards, dones, infos)`` with SB3's same-step autoreset."""
        self.step_async(actions)
        return self.step_wait()

    def has_attr(self, attr_name: str) -> bool:
        """Whether the copies have the attribute ``attr_name``."""
        try:
            self.get_attr(attr_name, indices=0)
        except AttributeError:
            return False
        return True

    def get_images(self) -> Sequence[np.ndarray | None]:
        """The RGB image of each copy (``render_mode="rgb_array"``)."""
        raise NotImplementedError

    def render(self, mode: str | None = None) -> np.ndarray | None:
        """Render as SB3 does: the copies' ``rgb_array`` images tiled into one (shown with OpenCV for ``"human"``)."""
        if mode == "human" and self.render_mode not in ("human", "rgb_array"):
            warnings.warn(f"render(mode='human') needs render_mode 'human' or 'rgb_array', not {self.render_mode!r}",
                          stacklevel=2)
            return None
        if mode not in (None, "human") and mode != self.render_mode:
            warnings.warn(f"render mode {mode!r} differs from the env's render_mode {self.render_mode!r}; "
                          "Gymnasium sets it when the env is made", stacklevel=2)
            return None
        mode = mode or self.render_mode
        if mode is None:
            warnings.warn("render() was called but the envs were made without a render_mode", stacklevel=2)
            return None
        if self.render_mode != "rgb_array":
            self.env_method("render")
            return None
        image = tile_images(self.get_images())
        if mode == "rgb_array":
            return image
        try:
            import cv2
        except ImportError as err:
            raise ConfigurationError("render(mode='human') of an rgb_array env shows the image with OpenCV: "
                                     "pip install opencv-python") from err
        cv2.imshow("vecenv", image[:, :, ::-1])
        cv2.waitKey(1)
        return None

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Seeds ``seed, seed + 1, ...`` for the copies' next reset (a random base when None); returns them."""
        if seed is None:
            seed = int(np.random.randint(0, 2**32 - 1, dtype=np.int64))
        self._seeds = [seed + index for index in range(self.num_envs)]
        return self._seeds

    def set_options(self, options: list[dict[str, Any]] | dict[str, Any] | None = None) -> None:
        """Options for the copies' next reset: one dict for all, or one per copy."""
        options = {} if options is None else options
        self._options = deepcopy([options] * self.num_envs if isinstance(options, dict) else list(options))

    @property
    def unwrapped(self) -> VecEnv:
        """The innermost VecEnv under any VecEnv wrappers."""
        return self.venv.unwrapped if isinstance(self, VecEnvWrapper) else self

    def getattr_depth_check(self, name: str, already_found: bool) -> str | None:
        """SB3's check for an attribute hidden by a wrapper: the class that hides it, or None."""
        if already_found and hasattr(self, name):
            return f"{type(self).__module__}.{type(self).__name__}"
        return None

    def _get_indices(self, indices: VecEnvIndices) -> Iterable[int]:
        if indices is None:
            return range(self.num_envs)
        if isinstance(indices, (int, np.integer)):
            return [int(indices)]
        return indices


class VecEnvWrapper(VecEnv):
    """SB3's base of VecEnv wrappers: everything goes to ``venv`` unless the subclass changes it.

    A subclass implements ``reset`` and ``step_wait`` (and ``step_async`` if it changes actions),
    as in SB3. Attributes it does not have are looked up in ``venv``.
    """

    def __init__(self, venv: VecEnv, observation_space: spaces.Space | None = None,
                 action_space: spaces.Space | None = None) -> None:
        self.venv = venv
        super().__init__(venv.num_envs, observation_space or venv.observation_space,
                         action_space or venv.action_space)
        self.class_attributes = dict(inspect.getmembers(type(self)))

    def step_async(self, actions: np.ndarray) -> None:
        self.venv.step_async(actions)

    @abstractmethod
    def reset(self) -> VecEnvObs: ...

    @abstractmethod
    def step_wait(self) -> VecEnvStepReturn: ...

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        return self.venv.seed(seed)

    def set_options(self, options: list[dict[str, Any]] | dict[str, Any] | None = None) -> None:
        self.venv.set_options(options)

    def close(self) -> None:
        self.venv.close()

    def render(self, mode: str | None = None) -> np.ndarray | None:
        return self.venv.render(mode=mode)

    def get_images(self) -> Sequence[np.ndarray | None]:
        return self.venv.get_images()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return self.venv.get_attr(attr_name, indices)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        self.venv.set_attr(attr_name, value, indices)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
                   **method_kwargs: Any) -> list[Any]:
        return self.venv.env_method(method_name, *method_args, indices=indices, **method_kwargs)

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return self.venv.env_is_wrapped(wrapper_class, indices=indices)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("venv", "class_attributes"):
            raise AttributeError(name)
        return getattr(self.venv, name)

    def getattr_recursive(self, name: str) -> Any:
        """The attribute ``name`` of this wrapper or, when it has none, of the first VecEnv inside that has it."""
        return getattr(self, name)

    def getattr_depth_check(self, name: str, already_found: bool) -> str | None:
        own = name in self.__dict__ or name in self.class_attributes
        if own and already_found:
            return f"{type(self).__module__}.{type(self).__name__}"
        return self.venv.getattr_depth_check(name, already_found or own)


class VecEnvTranslation:
    """SB3's ``reset``/``step`` over a Gymnasium vector env (see the module docstring)."""

    def __init__(self, vector_env: VectorEnv) -> None:
        self.vector_env = vector_env
        self.num_envs = vector_env.num_envs
        self.mode = autoreset_mode(vector_env)
        self.sharing = SharedStepping()
        self.reset_infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        self.needs_reset = True

    def reset(self) -> VecEnvObs:
        self.sharing.take_over()
        observations, infos = self.vector_env.reset()
        self.reset_infos = infos_of_copies(infos, self.num_envs)
        self.needs_reset = False
        return observations

    def step(self, actions: Any) -> VecEnvStepReturn:
        if self.sharing.take_over() or self.needs_reset:
            self.reset()
        if self.mode != AutoresetMode.SAME_STEP and not supports_partial_reset(self.vector_env):
            raise EnvError(
                f"SB3's VecEnv API resets an ended copy in the same step, which needs a vector env that can reset "
                f"one copy; {type(self.vector_env.unwrapped).__name__} resets all copies at once. Step the "
                "Gymnasium vector env itself (model.env), or build the env with vectorization='sync' or a DummyVecEnv")
        observations, rewards, terminated, truncated, infos = self.vector_env.step(actions)
        terminated, truncated = np.asarray(terminated, dtype=bool), np.asarray(truncated, dtype=bool)
        dones = terminated | truncated
        if self.mode == AutoresetMode.SAME_STEP:
            step_infos = self._same_step_infos(infos, dones)
        else:
            observations, step_infos = self._reset_ended_copies(observations, infos, dones)
        for info, term, trunc in zip(step_infos, terminated, truncated):
            info["TimeLimit.truncated"] = bool(trunc and not term)
        return observations, np.asarray(rewards, dtype=np.float32), dones, step_infos

    def _same_step_infos(self, infos: dict[str, Any], dones: np.ndarray) -> list[dict[str, Any]]:
        step_infos = infos_of_copies(infos, self.num_envs, skip=FINAL_KEYS)
        ended = np.asarray(infos.get("_final_obs", np.zeros(self.num_envs, dtype=bool)), dtype=bool) & dones
        for i in np.flatnonzero(ended):
            self.reset_infos[i] = step_infos[i]
            step_infos[i] = info_of_copy(infos.get("final_info", {}), int(i), self.num_envs)
            step_infos[i]["terminal_observation"] = infos["final_obs"][i]
        return step_infos

    def _reset_ended_copies(self, observations: Any, infos: dict[str, Any], dones: np.ndarray
                            ) -> tuple[Any, list[dict[str, Any]]]:
        step_infos = infos_of_copies(infos, self.num_envs)
        if not dones.any():
            return observations, step_infos
        rows = observation_rows(self.vector_env, observations)
        for i in np.flatnonzero(dones):
            step_infos[i]["terminal_observation"] = deepcopy(rows[i])
        observations, reset_infos = self.vector_env.reset(options={"reset_mask": dones})
        for i in np.flatnonzero(dones):
            self.reset_infos[i] = info_of_copy(reset_infos, int(i), self.num_envs)
        return observations, step_infos



class TranslatedStepping:
    """What the SB3-API classes over a Gymnasium vector env share: stepping it through their
    :class:`VecEnvTranslation` (``self._translation``), and its reset infos."""

    vector_env: VectorEnv
    _translation: VecEnvTranslation
    _actions: Any

    @property
    def reset_infos(self) -> list[dict[str, Any]]:
        return self._translation.reset_infos

    @reset_infos.setter
    def reset_infos(self, value: list[dict[str, Any]]) -> None:
        if "_translation" in self.__dict__:  # VecEnv's constructor sets it before the translation exists
            self._translation.reset_infos = value

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        return self._translation.step(self._actions)

    def close(self) -> None:
        self.vector_env.close()


class GymnasiumVecEnvWrapper(TranslatedStepping, VecEnvWrapper):
    """Base of Ballast's own VecEnv wrappers: a Gymnasium vector wrapper of ``venv``'s env, seen through SB3's API.

    ``vector_env`` wraps the Gymnasium env behind ``venv``; stepping this wrapper steps it, and a
    model given this wrapper steps the same ``vector_env``, so both see what the wrapper returns.
    Seeds and options go down to ``venv`` and are used by the next reset, as in SB3.
    """

    def __init__(self, venv: VecEnv, vector_env: VectorEnv, observation_space: spaces.Space | None = None,
                 action_space: spaces.Space | None = None) -> None:
        self.vector_env = vector_env
        self._translation = VecEnvTranslation(vector_env)
        self._actions: Any = None
        super().__init__(venv, observation_space or vector_env.single_observation_space,
                         action_space or vector_env.single_action_space)

    def reset(self) -> VecEnvObs:
        return self._translation.reset()

def _sub_envs(vector_env: VectorEnv) -> list[gym.Env]:
    unwrapped = vector_env.unwrapped
    if isinstance(unwrapped, SyncVectorEnv):
        return list(unwrapped.envs)
    raise EnvError(f"{type(unwrapped).__name__} has no separate copies whose attributes can be read or set; "
                   "use a DummyVecEnv or SubprocVecEnv to reach each copy")


class WrapperChain(gym.Wrapper):
    """Wraps each copy of a :class:`SubprocVecEnv` so that ``env_is_wrapped`` can ask the subprocess."""

    def ballast_wrapper_classes(self) -> list[type]:
        classes, current = [], self.env
        while True:
            classes.append(type(current))
            if not isinstance(current, gym.Wrapper):
                return classes
            current = current.env


class _MakeWithWrapperChain:
    def __init__(self, env_fn: Callable[[], gym.Env]) -> None:
        self.env_fn = env_fn

    def __call__(self) -> gym.Env:
        return WrapperChain(with_reset_options(self.env_fn()))


class GymnasiumVecEnv(TranslatedStepping, VecEnv):
    """SB3's VecEnv API over a Gymnasium vector env (``model.get_env()`` returns one over ``model.env``)."""

    def __init__(self, vector_env: VectorEnv) -> None:
        if not isinstance(vector_env, NextResetArguments):
            vector_env = NextResetArguments(vector_env)
        self.vector_env = vector_env
        self._translation = VecEnvTranslation(vector_env)
        self._actions: Any = None
        super().__init__(vector_env.num_envs, vector_env.single_observation_space, vector_env.single_action_space)

    def _first_render_mode(self) -> str | None:
        return self.vector_env.render_mode

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        seeds = super().seed(seed)
        self.vector_env.set_seeds(seeds)
        return seeds

    def set_options(self, options: list[dict[str, Any]] | dict[str, Any] | None = None) -> None:
        super().set_options(options)
        self.vector_env.set_options(self._options)

    def reset(self) -> VecEnvObs:
        observations = self._translation.reset()
        self._reset_seeds()
        self._reset_options()
        return observations

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self.render_mode != "rgb_array":
            warnings.warn(f"get_images() needs render_mode='rgb_array', not {self.render_mode!r}", stacklevel=2)
            return [None] * self.num_envs
        return list(self.vector_env.render())

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [env.get_wrapper_attr(attr_name) for env in self._targets(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        for env in self._targets(indices):
            env.set_wrapper_attr(attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
                   **method_kwargs: Any) -> list[Any]:
        return [env.get_wrapper_attr(method_name)(*method_args, **method_kwargs) for env in self._targets(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [is_wrapped(env, wrapper_class) for env in self._targets(indices)]

    def _targets(self, indices: VecEnvIndices) -> list[gym.Env]:
        envs = _sub_envs(self.vector_env)
        return [envs[i] for i in self._get_indices(indices)]


class DummyVecEnv(GymnasiumVecEnv):
    """SB3's ``DummyVecEnv``: the copies made by ``env_fns`` stepped one after another in this process.

    Inside is Gymnasium's ``SyncVectorEnv`` (:class:`~ballast.envs.sync_vector.LeanSyncVectorEnv`) in
    same-step autoreset mode; ``envs`` lists the copies.
    """

    def __init__(self, env_fns: list[Callable[[], gym.Env]]) -> None:
        vector_env = LeanSyncVectorEnv(env_fns, autoreset_mode=AutoresetMode.SAME_STEP)
        if len({id(env) for env in vector_env.envs}) != len(vector_env.envs):
            raise ConfigurationError(
                "the env functions returned the same env instance more than once; each must create a new env "
                "(e.g. lambda: gym.make('CartPole-v1'), not lambda: env)")
        super().__init__(vector_env)
        self.envs = vector_env.envs
        self.actions: Any = None

    def step_async(self, actions: np.ndarray) -> None:
        self.actions = self._actions = actions


class SubprocVecEnv(GymnasiumVecEnv):
    """SB3's ``SubprocVecEnv``: one subprocess per copy, through Gymnasium's ``AsyncVectorEnv``.

    ``start_method`` is the multiprocessing start method; None means ``"forkserver"`` where it exists,
    else ``"spawn"``, as in SB3. Guard the script with ``if __name__ == "__main__":`` for those.
    """

    def __init__(self, env_fns: list[Callable[[], gym.Env]], start_method: str | None = None) -> None:
        if start_method is None:
            start_method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        vector_env = AsyncVectorEnv([_MakeWithWrapperChain(fn) for fn in env_fns], context=start_method,
                                    autoreset_mode=AutoresetMode.SAME_STEP)
        super().__init__(vector_env)

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return self._call(self._get_indices(indices), "get_wrapper_attr", (attr_name,), {})

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        self._call(self._get_indices(indices), "set_wrapper_attr", (attr_name, value), {})

    def has_attr(self, attr_name: str) -> bool:
        # Asked in the subprocess: an AttributeError raised there would shut its worker down.
        return bool(self._call([0], "has_wrapper_attr", (attr_name,), {})[0])

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
                   **method_kwargs: Any) -> list[Any]:
        return self._call(self._get_indices(indices), method_name, method_args, method_kwargs)

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        chains = self._call(self._get_indices(indices), "ballast_wrapper_classes", (), {})
        return [any(issubclass(cls, wrapper_class) for cls in chain) for chain in chains]

    def _call(self, indices: Iterable[int], name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
        """Call ``name`` in the subprocesses of ``indices`` only (Gymnasium's ``call`` reaches all of them)."""
        async_env: AsyncVectorEnv = self.vector_env.unwrapped
        indices = list(indices)
        for i in indices:
            async_env.parent_pipes[i].send(("_call", (name, args, kwargs)))
        results, successes = [], [True] * self.num_envs
        for i in indices:
            result, success = async_env.parent_pipes[i].recv()
            results.append(result)
            successes[i] = success
        async_env._raise_if_errors(successes)
        return results


def unwrap_vec_wrapper(env: Any, vec_wrapper_class: type[VecEnvWrapper]) -> VecEnvWrapper | None:
    """The outermost ``vec_wrapper_class`` among ``env``'s VecEnv wrappers, or None (SB3's name)."""
    current = env
    while isinstance(current, VecEnvWrapper):
        if isinstance(current, vec_wrapper_class):
            return current
        current = current.venv
    return None


def is_vecenv_wrapped(env: Any, vec_wrapper_class: type[VecEnvWrapper]) -> bool:
    """True when one of ``env``'s VecEnv wrappers is a ``vec_wrapper_class`` (SB3's name)."""
    return unwrap_vec_wrapper(env, vec_wrapper_class) is not None
