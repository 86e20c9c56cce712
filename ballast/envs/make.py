"""Building a Gymnasium vector env from an env id, an Env, a factory or a vector env.

Accepted: an env id (``"CartPole-v1"``), a ``gymnasium.Env`` instance, a factory (a callable
returning an Env), or a ``gymnasium.vector.VectorEnv``. With ``vectorization="auto"``, ids use
Gymnasium's NumPy-batched ``vector_entry_point`` when the env has one and at least
``BATCHED_FROM`` copies are asked for (below that, stepping copies one by one is faster:
CartPole-v1 steps 1 copy in about a third of the batched implementation's time), else sync.

The vector envs built here reset a finished copy in the same step (Gymnasium's ``SAME_STEP``
autoreset, the final observation in ``info["final_obs"]``), as SB3's ``VecEnv`` classes do: every
step is a transition, so ``num_timesteps`` counts env transitions and ``learn(N)`` ends as many
episodes as in SB3. Gymnasium's NumPy-batched envs (``vector_entry_point``) only have ``NEXT_STEP``,
whose reset steps count as timesteps; a vector env given by the user keeps its own mode. Sync vector
envs are :class:`~ballast.envs.sync_vector.LeanSyncVectorEnv` (Gymnasium's, with a cheaper ``step``).

Models do not call this directly: :func:`ballast.envs.adopt.adopt_env` does, and also takes SB3-API
``VecEnv`` objects and their wrappers. (``ballast.make_vec_env`` is SB3's function; this one was called
``make_vec_env`` before.)
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any, Literal

import gymnasium as gym
from gymnasium.vector import AutoresetMode, VectorEnv

from ballast.envs.reset_signature import accepting_reset_options
from ballast.envs.sync_vector import LeanSyncVectorEnv
from ballast.errors import ConfigurationError

EnvLike = str | gym.Env | Callable[[], gym.Env] | VectorEnv
BATCHED_FROM = 8
#: The autoreset of the vector envs built here (see the module docstring).
SAME_STEP = AutoresetMode.SAME_STEP
Vectorization = Literal["auto", "sync", "async", "vector_entry_point"]


#: Env ids that ale-py and Gymnasium-Robotics register when imported (Gymnasium 1.x loads no plugins by
#: itself): the ids to import the plugin for, the ids that can only be the plugin's (an error without
#: it; other ids are left to Gymnasium's own "not found"), the module and the extra that installs it.
_PLUGINS: tuple[tuple[re.Pattern[str], re.Pattern[str], str, str], ...] = (
    (re.compile(r"^(ALE/.+|[A-Za-z]+(-ram)?(NoFrameskip|Deterministic)?-v[04])$"), re.compile(r"^ALE/"),
     "ale_py", "atari"),
    (_ROBOTICS := re.compile(r"^(Fetch|HandManipulate|HandReach|AdroitHand|AntMaze_|PointMaze_|FrankaKitchen)"
                             r"[A-Za-z_0-9]*-v\d+$"), _ROBOTICS, "gymnasium_robotics", "robotics"),
)


def ensure_registered(env_id: str) -> None:
    """Register the envs of ale-py or Gymnasium-Robotics when ``env_id`` is one of theirs and not registered
    yet (importing the plugin does it); an id that can only be the plugin's, without the plugin installed,
    is an error saying what to install."""
    for pattern, certain, module, extra in _PLUGINS:
        if env_id in gym.registry or not pattern.match(env_id):
            continue
        try:
            importlib.import_module(module)
        except ImportError:
            if certain.match(env_id):
                raise ConfigurationError(f"{env_id!r} is an env of {module}, which is not installed: "
                                         f'pip install "ballast-rl[{extra}]"') from None


def autoreset_mode(env: VectorEnv) -> AutoresetMode:
    """The vector env's autoreset mode (NEXT_STEP when it does not say)."""
    mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
    return AutoresetMode(mode) if not isinstance(mode, AutoresetMode) else mode


def env_id_of(env: Any) -> str | None:
    """The registered id behind ``env`` (an id, an Env, a vector env or an SB3-API VecEnv) when it can be known."""
    if isinstance(env, str):
        return env
    spec = getattr(env, "spec", None)
    if spec is None:
        copies = getattr(getattr(env, "unwrapped", None), "envs", None)
        if copies:
            spec = copies[0].spec
        elif hasattr(env, "step_wait") and hasattr(env, "get_attr"):
            try:
                spec = env.get_attr("spec", indices=0)[0]
            except Exception:  # an SB3-API env that cannot reach its copies has no id to give
                spec = None
    return getattr(spec, "id", None)


def copies_for(env: EnvLike, n_envs: int) -> int:
    """How many copies to build from ``env``: ``n_envs`` for ids and factories, 1 for an instance or vector env."""
    return 1 if isinstance(env, (VectorEnv, gym.Env)) else n_envs


def make_vector_env(
    env: EnvLike,
    n_envs: int = 1,
    *,
    seed: int | None = None,
    vectorization: Vectorization = "auto",
    env_kwargs: dict[str, Any] | None = None,
) -> VectorEnv:
    """Build a vector env with ``n_envs`` copies of ``env`` (see the module docstring)."""
    env_kwargs = dict(env_kwargs or {})
    if n_envs < 1:
        raise ConfigurationError(f"n_envs must be at least 1, got {n_envs}")
    if isinstance(env, VectorEnv):
        if env_kwargs:
            raise ConfigurationError("env_kwargs cannot be applied to an already built vector env")
        vec = env
    elif isinstance(env, str):
        ensure_registered(env)
        mode = vectorization
        if mode == "auto":
            spec = gym.spec(env)
            batched = spec.vector_entry_point is not None and n_envs >= BATCHED_FROM
            mode = "vector_entry_point" if batched else "sync"
        vector_kwargs = None if mode == "vector_entry_point" else {"autoreset_mode": SAME_STEP}
        vec = gym.make_vec(env, num_envs=n_envs, vectorization_mode=mode, vector_kwargs=vector_kwargs, **env_kwargs)
        if mode == "sync":
            vec = LeanSyncVectorEnv.of(vec)
    elif isinstance(env, gym.Env):
        if n_envs != 1:
            raise ConfigurationError(
                f"a gymnasium.Env instance is one environment but n_envs={n_envs} copies were asked for; "
                "pass an env id or a factory (a function returning a new Env) to run several copies"
            )
        vec = LeanSyncVectorEnv([lambda: env], autoreset_mode=SAME_STEP)
    elif callable(env):
        fns = [lambda: env(**env_kwargs)] * n_envs
        if vectorization == "async":  # LeanSyncVectorEnv adapts the envs' reset itself
            vec = gym.vector.AsyncVectorEnv([accepting_reset_options(fn) for fn in fns], autoreset_mode=SAME_STEP)
        else:
            vec = LeanSyncVectorEnv(fns, autoreset_mode=SAME_STEP)
    else:
        raise ConfigurationError(
            f"env must be an env id, a gymnasium.Env, a factory or a gymnasium VectorEnv; got {type(env).__name__}"
        )
    if autoreset_mode(vec) == AutoresetMode.DISABLED:
        raise ConfigurationError(
            "the vector env has autoreset disabled; Ballast needs NEXT_STEP (Gymnasium's default) or SAME_STEP"
        )
    if seed is not None:
        vec.action_space.seed(seed)
        vec.single_action_space.seed(seed)
    return vec
