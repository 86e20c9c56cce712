"""Frame stacking as SB3's ``VecFrameStack`` does it, as a setting of the model.

The stacked observation of a copy is its last ``n_stack`` observations concatenated along one
axis, oldest first: the last axis for channels-last images and for vectors, the first for
channels-first images (SB3's layout, so a ``(84, 84, 1)`` frame stacks to ``(84, 84, 4)`` and a
``(4,)`` vector to ``(16,)``). A new episode starts from zeros with its first observation at the end.
``Dict`` observations (of ``Box``\\ es) are stacked key by key.

:class:`FrameStack` is the setting (``n_stack`` and the resolved channel order): it is saved in the
model's checkpoint and re-applied when the model builds an env itself. :class:`FrameStackVectorEnv`
does the stacking on a Gymnasium vector env, in every autoreset mode; :class:`VecFrameStack` is
SB3's name for it. (A frame stack inside the model's observation path, sharing frames in replay
storage, can later take the same :class:`FrameStack` setting.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper
from gymnasium.vector.utils import batch_space

from ballast.envs.make import autoreset_mode
from ballast.envs.sb3_bridge import vector_env_of
from ballast.envs.sb3_vec_env import GymnasiumVecEnvWrapper, VecEnv
from ballast.envs.vector_infos import reset_mask_of
from ballast.errors import ConfigurationError
from ballast.spaces import is_image_space

ChannelsOrder = str | Mapping[str, str] | None


def channels_first(space: spaces.Box) -> bool:
    """SB3's guess for an image: channels first when the first axis is the smallest one."""
    return int(np.argmin(space.shape)) == 0


def _resolve_order(space: spaces.Space, order: str | None, key: str | None = None) -> str:
    where = f" (key {key!r})" if key is not None else ""
    if not isinstance(space, spaces.Box):
        raise ConfigurationError(f"frame stacking needs Box observations (or a Dict of them); got {space}{where}")
    if order is None:
        return "first" if is_image_space(space) and channels_first(space) else "last"
    if order not in ("first", "last"):
        raise ConfigurationError(f"channels_order must be 'first' or 'last', got {order!r}{where}")
    return order


def _stack_box(space: spaces.Box, n_stack: int, order: str) -> spaces.Box:
    axis = 0 if order == "first" else -1
    low = np.concatenate([space.low] * n_stack, axis=axis)
    high = np.concatenate([space.high] * n_stack, axis=axis)
    return spaces.Box(low=low, high=high, dtype=space.dtype)


@dataclass(frozen=True)
class FrameStack:
    """The frame-stacking setting: ``n_stack`` frames along ``channels_order`` (one per Dict key)."""

    n_stack: int
    channels_order: str | tuple[tuple[str, str], ...]

    name = "frame_stack"

    @classmethod
    def for_space(cls, space: spaces.Space, n_stack: int, channels_order: ChannelsOrder = None) -> FrameStack:
        """The setting for ``space``, with ``channels_order=None`` resolved as SB3 resolves it."""
        if int(n_stack) < 1:
            raise ConfigurationError(f"n_stack must be at least 1, got {n_stack}")
        if isinstance(space, spaces.Dict):
            orders = []
            for key, sub in space.spaces.items():
                given = channels_order.get(key) if isinstance(channels_order, Mapping) else channels_order
                orders.append((key, _resolve_order(sub, given, key)))
            return cls(int(n_stack), tuple(orders))
        if isinstance(channels_order, Mapping):
            raise ConfigurationError("a channels_order per key needs Dict observations")
        return cls(int(n_stack), _resolve_order(space, channels_order))

    def order_of(self, key: str | None) -> str:
        return dict(self.channels_order)[key] if isinstance(self.channels_order, tuple) else self.channels_order

    def output_space(self, space: spaces.Space) -> spaces.Space:
        """The stacked observation space of ``space``."""
        if isinstance(space, spaces.Dict):
            return spaces.Dict({key: _stack_box(sub, self.n_stack, self.order_of(key))
                                for key, sub in space.spaces.items()})
        return _stack_box(space, self.n_stack, self.order_of(None))

    def wrap_vector_env(self, vector_env: VectorEnv) -> VectorEnv:
        return FrameStackVectorEnv(vector_env, self)

    def wrap_vec_env(self, venv: VecEnv) -> VecEnv:
        return VecFrameStack(venv, self.n_stack, self.channels_order_argument())

    def channels_order_argument(self) -> ChannelsOrder:
        return dict(self.channels_order) if isinstance(self.channels_order, tuple) else self.channels_order

    def to_json(self) -> dict[str, Any]:
        return {"n_stack": self.n_stack, "channels_order": self.channels_order_argument()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FrameStack:
        order = data["channels_order"]
        order = tuple((str(k), str(v)) for k, v in order.items()) if isinstance(order, Mapping) else str(order)
        return cls(int(data["n_stack"]), order)

    def describe(self) -> str:
        return f"VecFrameStack(n_stack={self.n_stack}, channels_order={self.channels_order_argument()!r})"


class _Stack:
    """The stacked frames of every copy for one Box (one key of a Dict)."""

    def __init__(self, space: spaces.Box, n_envs: int, n_stack: int, order: str) -> None:
        self.first = order == "first"
        self.frame = space.shape[0] if self.first else space.shape[-1]
        stacked = _stack_box(space, n_stack, order)
        self.frames = np.zeros((n_envs, *stacked.shape), dtype=space.dtype)

    def _tail(self, batch: bool) -> tuple[Any, ...]:
        """Index of the newest frame in a batch of stacks, or (``batch=False``) after a copy index or in one stack."""
        newest = slice(-self.frame, None)
        if self.first:
            return (slice(None), newest) if batch else (newest,)
        return (Ellipsis, newest)

    def restart(self, observations: np.ndarray, copies: np.ndarray) -> None:
        """Start new episodes in ``copies``: zeros, then the first observation at the end."""
        self.frames[copies] = 0
        self.frames[(copies, *self._tail(batch=False))] = np.asarray(observations)[copies]

    def push(self, observations: np.ndarray, finals: Mapping[int, np.ndarray], restarted: np.ndarray
             ) -> dict[int, np.ndarray]:
        """Add one step's observations (``restarted`` copies begin a new stack); returns the stacked final
        observation of each copy in ``finals`` (its last frames, then its final observation)."""
        self.frames = np.roll(self.frames, -self.frame, axis=1 if self.first else -1)
        stacked_finals = {}
        for i, final in finals.items():
            stack = self.frames[i].copy()
            stack[self._tail(batch=False)] = final
            stacked_finals[i] = stack
        self.frames[restarted] = 0
        self.frames[self._tail(batch=True)] = observations
        return stacked_finals


class FrameStackVectorEnv(VectorWrapper):
    """Stacks the last ``n_stack`` observations of each copy of a Gymnasium vector env (see the module docstring)."""

    def __init__(self, env: VectorEnv, frame_stack: FrameStack) -> None:
        super().__init__(env)
        self.frame_stack = frame_stack
        self.mode = autoreset_mode(env)
        space = env.single_observation_space
        self.single_observation_space = frame_stack.output_space(space)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.keys = list(space.spaces) if isinstance(space, spaces.Dict) else [None]
        self.stacks = {key: _Stack(space[key] if key is not None else space, self.num_envs, frame_stack.n_stack,
                                   frame_stack.order_of(key)) for key in self.keys}
        self._resetting = np.zeros(self.num_envs, dtype=bool)

    def _part(self, observations: Any, key: str | None) -> Any:
        return observations if key is None else observations[key]

    def _stacked(self) -> Any:
        if self.keys == [None]:
            return self.stacks[None].frames.copy()
        return {key: stack.frames.copy() for key, stack in self.stacks.items()}

    def reset(self, *, seed: int | list[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        mask = reset_mask_of(options, self.num_envs)
        observations, infos = self.env.reset(seed=seed, options=None if options is None else dict(options))
        copies = np.ones(self.num_envs, dtype=bool) if mask is None else mask
        for key, stack in self.stacks.items():
            stack.restart(self._part(observations, key), copies)
        self._resetting[copies] = False
        return self._stacked(), infos

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        observations, rewards, terminated, truncated, infos = self.env.step(actions)
        ended = np.logical_or(terminated, truncated)
        if self.mode == AutoresetMode.SAME_STEP:
            has_final = np.asarray(infos.get("_final_obs", np.zeros(self.num_envs, dtype=bool)), dtype=bool)
            restarted = ended & has_final
            finals = {int(i): infos["final_obs"][i] for i in np.flatnonzero(restarted)}
        else:
            restarted, finals = self._resetting.copy(), {}
            self._resetting = ended.copy() if self.mode == AutoresetMode.NEXT_STEP else self._resetting
        stacked_finals: dict[int, Any] = {i: {} for i in finals}
        for key, stack in self.stacks.items():
            key_finals = {i: self._part(final, key) for i, final in finals.items()}
            for i, value in stack.push(self._part(observations, key), key_finals, restarted).items():
                if key is None:
                    stacked_finals[i] = value
                else:
                    stacked_finals[i][key] = value
        if finals:
            final_obs = np.array(infos["final_obs"], dtype=object)
            for i, value in stacked_finals.items():
                final_obs[i] = value
            infos = {**infos, "final_obs": final_obs}
        return self._stacked(), rewards, terminated, truncated, infos


class VecFrameStack(GymnasiumVecEnvWrapper):
    """SB3's ``VecFrameStack``: the last ``n_stack`` observations of each copy, stacked (see the module docstring).

    ``channels_order``: ``"last"`` or ``"first"`` (the stacking axis), a dict of them per key for
    Dict observations, or None to stack images along their channel axis and everything else along
    the last axis. Given to a model, the stacking becomes the model's own setting
    (``model.env_settings.frame_stack``): it is saved with the model and re-applied when the model
    builds an env itself, and ``model.predict`` takes stacked observations, as in SB3.
    """

    def __init__(self, venv: VecEnv, n_stack: int, channels_order: ChannelsOrder = None) -> None:
        self.frame_stack = FrameStack.for_space(venv.observation_space, n_stack, channels_order)
        self.n_stack = self.frame_stack.n_stack
        super().__init__(venv, FrameStackVectorEnv(vector_env_of(venv), self.frame_stack))

    @property
    def observation_wrapper(self) -> FrameStack:
        """The setting this wrapper gives a model."""
        return self.frame_stack
