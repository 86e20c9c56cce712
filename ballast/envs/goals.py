"""Goal-conditioned envs: finding ``compute_reward`` (and ``compute_terminated``) behind a vector env.

A goal-conditioned env follows SB3's and Gymnasium-Robotics' convention: a ``Dict`` observation of
``"observation"``, ``"achieved_goal"`` and ``"desired_goal"``, and a vectorised
``compute_reward(achieved_goal, desired_goal, info)`` that gives the rewards of a batch of goal
pairs (``compute_terminated`` too, where the env has one). Hindsight relabelling calls them once
per sampled batch, on one copy of the env: a copy in this process for synchronous vector envs,
the first subprocess's copy (``call``) for asynchronous ones.
"""

from __future__ import annotations

from typing import Any

from gymnasium.vector import SyncVectorEnv, VectorEnv

from ballast.buffers.her import GoalFunctions
from ballast.errors import ConfigurationError

GOAL_METHODS = ("compute_reward", "compute_terminated")


def _local_method(env: Any, name: str) -> Any:
    """``env``'s method ``name`` through its wrappers (Gymnasium's ``get_wrapper_attr``), or None."""
    try:
        method = env.get_wrapper_attr(name) if hasattr(env, "get_wrapper_attr") else getattr(env, name)
    except AttributeError:
        return None
    return method if callable(method) else None


def _remote_method(vector_env: VectorEnv, name: str) -> Any:
    """``name`` called on the first copy of an asynchronous vector env, or None when it lacks it."""
    # Asked with has_wrapper_attr: the async env's get_attr calls a method it finds, here without arguments.
    if not all(vector_env.call("has_wrapper_attr", name)):
        return None

    def call(achieved_goal: Any, desired_goal: Any, info: Any) -> Any:
        return vector_env.call(name, achieved_goal, desired_goal, info)[0]

    return call


def goal_functions(vector_env: VectorEnv) -> GoalFunctions:
    """The env's ``compute_reward`` and ``compute_terminated`` (None where it has none), for
    :class:`ballast.buffers.her.HerReplayBuffer`; a :class:`ConfigurationError` names what is missing."""
    inner = vector_env.unwrapped
    if isinstance(inner, SyncVectorEnv):
        methods = {name: _local_method(inner.envs[0], name) for name in GOAL_METHODS}
    else:
        methods = {name: _remote_method(inner, name) for name in GOAL_METHODS}
    if methods["compute_reward"] is None:
        env_name = type(inner.envs[0].unwrapped).__name__ if isinstance(inner, SyncVectorEnv) else type(inner).__name__
        raise ConfigurationError(
            f"HerReplayBuffer needs a goal-conditioned env with a vectorised compute_reward(achieved_goal, "
            f"desired_goal, info) method (Gymnasium-Robotics' GoalEnv convention); {env_name} has none")
    return GoalFunctions(**methods)
