"""SB3's ``make_vec_env``: ``n_envs`` monitored copies of an env in an SB3-API VecEnv."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import gymnasium as gym
from gymnasium.vector import AsyncVectorEnv, SyncVectorEnv

from ballast.envs.atari_wrappers import AtariWrapper
from ballast.envs.make import ensure_registered
from ballast.envs.monitor import Monitor
from ballast.envs.sb3_vec_env import DummyVecEnv, GymnasiumVecEnv, VecEnv


def make_vec_env(
    env_id: str | Callable[..., gym.Env],
    n_envs: int = 1,
    seed: int | None = None,
    start_index: int = 0,
    monitor_dir: str | None = None,
    wrapper_class: Callable[..., gym.Env] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    vec_env_cls: type | None = None,
    vec_env_kwargs: dict[str, Any] | None = None,
    monitor_kwargs: dict[str, Any] | None = None,
    wrapper_kwargs: dict[str, Any] | None = None,
) -> VecEnv:
    """SB3's ``make_vec_env``: a ``DummyVecEnv`` (or ``vec_env_cls``) of ``n_envs`` monitored copies.

    Copy ``rank = start_index + i`` is made by ``gym.make(env_id, render_mode="rgb_array", **env_kwargs)``
    (without ``render_mode`` when the env does not take it) or ``env_id(**env_kwargs)``; with ``seed``,
    its action space is seeded with ``seed + rank``; it is wrapped in ``Monitor`` (writing
    ``monitor_dir/{rank}.monitor.csv`` when ``monitor_dir`` is given), then in
    ``wrapper_class(env, **wrapper_kwargs)``. ``vec_env.seed(seed)`` then gives copy ``i`` the seed
    ``seed + i`` for the first reset, as SB3 does (a random base when ``seed`` is None).

    ``vec_env_cls`` is ``DummyVecEnv`` (the default), ``SubprocVecEnv``, or Gymnasium's
    ``SyncVectorEnv`` / ``AsyncVectorEnv`` (then seen through SB3's API); ``vec_env_kwargs`` go to it.
    This is not Ballast's earlier ``make_vec_env(env, n_envs, ...)``, which returned a Gymnasium vector
    env: that one is :func:`ballast.envs.make_vector_env`.
    """
    env_kwargs = dict(env_kwargs or {})
    vec_env_kwargs = dict(vec_env_kwargs or {})
    monitor_kwargs = dict(monitor_kwargs or {})
    wrapper_kwargs = dict(wrapper_kwargs or {})

    def make_env(rank: int) -> Callable[[], gym.Env]:
        def _init() -> gym.Env:
            if isinstance(env_id, str):
                ensure_registered(env_id)
                try:
                    env = gym.make(env_id, **{"render_mode": "rgb_array", **env_kwargs})
                except TypeError:
                    env = gym.make(env_id, **env_kwargs)
            else:
                env = env_id(**env_kwargs)
            if seed is not None:
                env.action_space.seed(seed + rank)
            monitor_path = os.path.join(monitor_dir, str(rank)) if monitor_dir is not None else None
            if monitor_dir is not None:
                os.makedirs(monitor_dir, exist_ok=True)
            env = Monitor(env, filename=monitor_path, **monitor_kwargs)
            if wrapper_class is not None:
                env = wrapper_class(env, **wrapper_kwargs)
            return env

        return _init

    env_fns = [make_env(start_index + i) for i in range(n_envs)]
    vec_env_cls = vec_env_cls or DummyVecEnv
    if isinstance(vec_env_cls, type) and issubclass(vec_env_cls, (SyncVectorEnv, AsyncVectorEnv)):
        vec_env: VecEnv = GymnasiumVecEnv(vec_env_cls(env_fns, **vec_env_kwargs))
    else:
        vec_env = vec_env_cls(env_fns, **vec_env_kwargs)
    vec_env.seed(seed)
    return vec_env


def make_atari_env(
    env_id: str | Callable[..., gym.Env],
    n_envs: int = 1,
    seed: int | None = None,
    start_index: int = 0,
    monitor_dir: str | None = None,
    wrapper_kwargs: dict[str, Any] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    vec_env_cls: type | None = None,
    vec_env_kwargs: dict[str, Any] | None = None,
    monitor_kwargs: dict[str, Any] | None = None,
) -> VecEnv:
    """SB3's ``make_atari_env``: :func:`make_vec_env` with :class:`~ballast.envs.atari_wrappers.AtariWrapper`
    (``wrapper_kwargs`` go to it) around each monitored copy.

    The ``Monitor`` sits inside the Atari preprocessing, so the episode returns it reports (and that
    :func:`ballast.evaluate_policy` uses) are whole games with unclipped scores. Stack frames with
    ``VecFrameStack(env, 4)``: the model records it and re-applies it when it builds envs itself.
    """
    return make_vec_env(env_id, n_envs=n_envs, seed=seed, start_index=start_index, monitor_dir=monitor_dir,
                        wrapper_class=AtariWrapper, env_kwargs=env_kwargs, vec_env_cls=vec_env_cls,
                        vec_env_kwargs=vec_env_kwargs, monitor_kwargs=monitor_kwargs, wrapper_kwargs=wrapper_kwargs)
