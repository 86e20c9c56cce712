"""SB3's ``check_env``: Gymnasium's env checker plus the question "can Ballast train on these spaces?"."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env as gymnasium_check_env

from ballast.errors import EnvCheckError
from ballast.node_spaces import NodeBox, NodeChoice, NodeMultiBinary
from ballast.spaces import ACTION_SPACES, check_action_space, check_observation_space, is_image_space

#: Every action space some Ballast algorithm takes.
SUPPORTED_ACTION_SPACES = (*ACTION_SPACES, NodeChoice, NodeMultiBinary, NodeBox)


def _space_warnings(env: gym.Env) -> list[str]:
    """What SB3's checker warns about and Ballast also trains on, but not well (or not with its defaults)."""
    found = []
    observation_spaces = (env.observation_space.spaces.items() if isinstance(env.observation_space, spaces.Dict)
                          else [(None, env.observation_space)])
    for key, space in observation_spaces:
        where = "the observation space" if key is None else f"the observation {key!r}"
        if not isinstance(space, spaces.Box):
            continue
        if len(space.shape) == 3 and not is_image_space(space):
            found.append(f"{where} {space} has the rank of an image but is not a uint8 Box with bounds 0 and 255, so "
                         "it is not treated as an image (no CNN, no scaling to [0, 1])")
        elif len(space.shape) == 3 and min(space.shape[1:] if np.argmin(space.shape) == 0 else space.shape[:2]) < 36:
            found.append(f"{where} {space} is an image smaller than the 36 x 36 pixels of the default CNN (NatureCNN): "
                         "pass a features_extractor_class of your own")
        elif len(space.shape) not in (1, 3):
            found.append(f"{where} {space} has rank {len(space.shape)}: MlpPolicy flattens it; a 1-D vector or an "
                         "image (height, width, channels) is what the default encoders expect")
    action = env.action_space
    if isinstance(action, spaces.Box) and (np.any(action.low != -1) or np.any(action.high != 1)):
        found.append(f"the action space {action} is not [-1, 1] in every dimension; Gaussian policies learn best "
                     "there (rescale it, e.g. with gymnasium.wrappers.RescaleAction)")
    return found


#: At most this many out-of-bounds entries are listed in a message (an image can have thousands).
LISTED_ENTRIES = 20


def observation_mismatch(observation: object, space: spaces.Space) -> str | None:
    """How ``observation`` fails to be in ``space`` (shape, dtype, the entries out of bounds, the Dict key),
    or None when it is in it; SB3's checker's wording ("Expected: ..., actual ...")."""
    if isinstance(space, spaces.Dict) and isinstance(observation, dict):
        for key, subspace in space.spaces.items():
            if key not in observation:
                return f"the key {key!r} is missing (keys: {sorted(observation)})"
            found = observation_mismatch(observation[key], subspace)
            if found is not None:
                return f"Error while checking key={key}: {found}"
        return None
    if space.contains(observation):
        return None
    if not isinstance(space, (spaces.Box, spaces.MultiDiscrete, spaces.MultiBinary)):
        return f"{observation!r} is not in {space}"
    if not isinstance(observation, np.ndarray):
        return f"expected a NumPy array, got {type(observation).__name__}"
    if observation.shape != space.shape:
        return f"the shape differs from the space's. Expected: {space.shape}, actual shape: {observation.shape}"
    if not isinstance(space, spaces.Box):
        return f"some entries are outside the space {space}: {observation}"
    if not np.can_cast(observation.dtype, space.dtype):
        return f"the dtype cannot be cast to the space's. Expected: {space.dtype}, actual dtype: {observation.dtype}"
    outside = np.argwhere(~((observation >= space.low) & (observation <= space.high)))
    lines = [f"Expected: {space.low[tuple(i)]} <= obs[{','.join(map(str, i))}] <= {space.high[tuple(i)]}, "
             f"actual value: {observation[tuple(i)]}" for i in outside[:LISTED_ENTRIES]]
    more = [f"... and {len(outside) - LISTED_ENTRIES} more"] if len(outside) > LISTED_ENTRIES else []
    return f"{len(outside)} invalid indices:\n" + "\n".join([*lines, *more])


def _check_observations(env: gym.Env) -> None:
    """Raise :class:`EnvCheckError` naming what is wrong when ``reset`` or one ``step`` returns an
    observation outside the observation space (Gymnasium's checker says only that it is outside). A
    ``reset`` or ``step`` that breaks the API otherwise is left to Gymnasium's checker, which names it."""
    try:
        returned = env.reset(seed=0)
    except TypeError:  # e.g. a reset without a seed argument
        return
    for method, length in (("reset", 2), ("step", 5)):
        if not isinstance(returned, tuple) or len(returned) != length:
            return
        found = observation_mismatch(returned[0], env.observation_space)
        if found is not None:
            raise EnvCheckError(f"The observation returned by the `{method}()` method is not within the "
                                f"observation space {env.observation_space}: {found}")
        if method == "reset":
            returned = env.step(env.action_space.sample())


def check_env(env: gym.Env, warn: bool = True, skip_render_check: bool = True) -> None:
    """Check that ``env`` follows Gymnasium's API and that Ballast supports its spaces (SB3's ``check_env``).

    Checks the observations of a ``reset`` and a ``step`` against the observation space (an
    :class:`ballast.errors.EnvCheckError`, an ``AssertionError``, that names the shape, dtype or
    entries that differ), runs Gymnasium's checker (``reset``, ``step``, spaces, seeding; ``render``
    unless ``skip_render_check``), then raises :class:`ballast.UnsupportedSpaceError` for an observation or
    action space no Ballast algorithm takes, before any training. With ``warn``, also warns about
    spaces that work but learn badly (as SB3's checker does).
    """
    if not isinstance(env, gym.Env):
        raise TypeError(f"check_env checks a gymnasium.Env, got {type(env).__name__}; for a vector env, check one "
                        "of its copies")
    check_observation_space(env.observation_space)
    check_action_space(env.action_space, SUPPORTED_ACTION_SPACES)
    _check_observations(env)
    gymnasium_check_env(env, skip_render_check=skip_render_check)
    if warn:
        for message in _space_warnings(env):
            warnings.warn(message, UserWarning, stacklevel=2)
