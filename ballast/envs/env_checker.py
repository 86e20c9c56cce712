"""SB3's ``check_env``: Gymnasium's env checker plus the question "can Ballast train on these spaces?"."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env as gymnasium_check_env

from ballast.node_spaces import NodeBox, NodeChoice, NodeMultiBinary
from ballast.spaces import ACTION_SPACES, check_action_space, check_observation_space, is_image_space

#: Every action space some Ballast algorithm takes.
SUPPORTED_ACTION_SPACES = (*ACTION_SPACES, NodeChoice, NodeMultiBinary, NodeBox)


def _space_warnings(env: gym.Env) -> list[str]:
    found = []
    observation_spaces = (env.observation_space.spaces.items() if isinstance(env.observation_space, spaces.Dict)
                          else [(None, env.observation_space)])
    for key, space in observation_spaces:
        where = "the observation space" if key is None else f"the observation {key!r}"
        if isinstance(space, spaces.Box) and len(space.shape) == 3 and not is_image_space(space):
            found.append(f"{where} {space} has the rank of an image but is not a uint8 Box with bounds 0 and 255, so "
                         "it is not treated as an image (no CNN, no scaling to [0, 1])")
    action = env.action_space
    if isinstance(action, spaces.Box) and (np.any(np.abs(action.low) != np.abs(action.high))
                                           or np.any(np.abs(action.high) > 1)):
        found.append(f"the action space {action} is not symmetric and normalised to [-1, 1]; Gaussian policies "
                     "learn best there (rescale it, e.g. with gymnasium.wrappers.RescaleAction)")
    return found


def check_env(env: gym.Env, warn: bool = True, skip_render_check: bool = True) -> None:
    """Check that ``env`` follows Gymnasium's API and that Ballast supports its spaces (SB3's ``check_env``).

    Runs Gymnasium's checker (``reset``, ``step``, spaces, seeding; ``render`` unless
    ``skip_render_check``), then raises :class:`ballast.UnsupportedSpaceError` for an observation or
    action space no Ballast algorithm takes, before any training. With ``warn``, also warns about
    spaces that work but learn badly (as SB3's checker does).
    """
    if not isinstance(env, gym.Env):
        raise TypeError(f"check_env checks a gymnasium.Env, got {type(env).__name__}; for a vector env, check one "
                        "of its copies")
    check_observation_space(env.observation_space)
    check_action_space(env.action_space, SUPPORTED_ACTION_SPACES)
    gymnasium_check_env(env, skip_render_check=skip_render_check)
    if warn:
        for message in _space_warnings(env):
            warnings.warn(message, UserWarning, stacklevel=2)
