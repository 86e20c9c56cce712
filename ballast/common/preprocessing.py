"""SB3's ``stable_baselines3.common.preprocessing``: the space helpers custom features extractors call.

Same signatures and results as SB3's. Ballast's own policies do this preprocessing inside their
encoders (one-hot of discrete entries, images scaled to [0, 1]); these functions are for code written
against SB3, such as an extractor that sizes its layers with :func:`get_flattened_obs_dim`.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces

__all__ = ["check_for_nested_spaces", "get_action_dim", "get_flattened_obs_dim", "get_obs_shape",
           "is_image_space", "is_image_space_channels_first", "maybe_transpose", "preprocess_obs"]


def is_image_space_channels_first(observation_space: spaces.Box) -> bool:
    """Whether a 3-d image space is channels-first: its smallest dimension is the first one."""
    smallest = int(np.argmin(observation_space.shape))
    if smallest == 1:
        warnings.warn("Treating image space as channels-last, while second dimension was smallest of the three.",
                      stacklevel=2)
    return smallest == 0


def is_image_space(observation_space: spaces.Space, check_channels: bool = False,
                   normalized_image: bool = False) -> bool:
    """Whether ``observation_space`` holds images: a 3-d ``Box`` of uint8 in [0, 255] (any 3-d ``Box``
    with ``normalized_image=True``), with 1, 3 or 4 channels when ``check_channels``."""
    if not (isinstance(observation_space, spaces.Box) and len(observation_space.shape) == 3):
        return False
    if not normalized_image and observation_space.dtype != np.uint8:
        return False
    if not normalized_image and (np.any(observation_space.low != 0) or np.any(observation_space.high != 255)):
        return False
    if not check_channels:
        return True
    shape = observation_space.shape
    channels = shape[0] if is_image_space_channels_first(observation_space) else shape[-1]
    return channels in (1, 3, 4)


def _transpose_image(image: np.ndarray) -> np.ndarray:
    return np.transpose(image, (2, 0, 1)) if image.ndim == 3 else np.transpose(image, (0, 3, 1, 2))


def maybe_transpose(observation: np.ndarray, observation_space: spaces.Space) -> np.ndarray:
    """An image observation (one, or a batch) turned channels-first when that makes it fit the space."""
    if not is_image_space(observation_space):
        return observation
    shape = observation_space.shape
    if observation.shape == shape or observation.shape[1:] == shape:
        return observation
    transposed = _transpose_image(observation)
    return transposed if transposed.shape == shape or transposed.shape[1:] == shape else observation


def preprocess_obs(obs: torch.Tensor | dict[str, torch.Tensor], observation_space: spaces.Space,
                   normalize_images: bool = True) -> torch.Tensor | dict[str, torch.Tensor]:
    """A batch of observations as float network inputs: images scaled to [0, 1], ``Discrete`` and
    ``MultiDiscrete`` entries one-hot, ``MultiBinary`` as floats; a ``Dict`` entry by entry."""
    if isinstance(observation_space, spaces.Dict):
        if not isinstance(obs, dict):
            raise TypeError(f"Expected dict, got {type(obs)}")
        return {key: preprocess_obs(obs[key], subspace, normalize_images)
                for key, subspace in observation_space.spaces.items()}
    if not isinstance(obs, torch.Tensor):
        raise TypeError(f"Expected torch.Tensor, got {type(obs)}")
    if isinstance(observation_space, spaces.Box):
        if normalize_images and is_image_space(observation_space):
            return obs.float() / 255.0
        return obs.float()
    if isinstance(observation_space, spaces.Discrete):
        return F.one_hot(obs.long(), num_classes=int(observation_space.n)).float()
    if isinstance(observation_space, spaces.MultiDiscrete):
        columns = torch.split(obs.long(), 1, dim=1)
        one_hots = [F.one_hot(column, num_classes=int(n)).float() for column, n in zip(columns, observation_space.nvec)]
        return torch.cat(one_hots, dim=-1).view(obs.shape[0], int(sum(observation_space.nvec)))
    if isinstance(observation_space, spaces.MultiBinary):
        return obs.float()
    raise NotImplementedError(f"Preprocessing not implemented for {observation_space}")


def get_obs_shape(observation_space: spaces.Space) -> tuple[int, ...] | dict[str, tuple[int, ...]]:
    """The shape one observation is stored with: ``(1,)`` for ``Discrete``, one entry per sub-action
    for ``MultiDiscrete``, a dict of shapes for a ``Dict``."""
    if isinstance(observation_space, spaces.Box):
        return observation_space.shape
    if isinstance(observation_space, spaces.Discrete):
        return (1,)
    if isinstance(observation_space, spaces.MultiDiscrete):
        return (len(observation_space.nvec),)
    if isinstance(observation_space, spaces.MultiBinary):
        return observation_space.shape
    if isinstance(observation_space, spaces.Dict):
        return {key: get_obs_shape(subspace) for key, subspace in observation_space.spaces.items()}
    raise NotImplementedError(f"{observation_space} observation space is not supported")


def get_flattened_obs_dim(observation_space: spaces.Space) -> int:
    """The width of one observation after :func:`preprocess_obs`, flattened (one-hot for discrete ones)."""
    if isinstance(observation_space, spaces.MultiDiscrete):
        return int(sum(observation_space.nvec))
    return int(spaces.utils.flatdim(observation_space))


def get_action_dim(action_space: spaces.Space) -> int:
    """The number of numbers one action is stored with (1 for ``Discrete``)."""
    if isinstance(action_space, spaces.Box):
        return int(np.prod(action_space.shape))
    if isinstance(action_space, spaces.Discrete):
        return 1
    if isinstance(action_space, spaces.MultiDiscrete):
        return len(action_space.nvec)
    if isinstance(action_space, spaces.MultiBinary):
        if not isinstance(action_space.n, int):
            raise ValueError(f"Multi-dimensional MultiBinary({action_space.n}) action space is not supported. "
                             "You can flatten it instead.")
        return int(action_space.n)
    raise NotImplementedError(f"{action_space} action space is not supported")


def check_for_nested_spaces(obs_space: spaces.Space) -> None:
    """Raise ``NotImplementedError`` for a ``Dict`` or ``Tuple`` inside a ``Dict`` or ``Tuple``."""
    if isinstance(obs_space, (spaces.Dict, spaces.Tuple)):
        subspaces = obs_space.spaces.values() if isinstance(obs_space, spaces.Dict) else obs_space.spaces
        if any(isinstance(sub, (spaces.Dict, spaces.Tuple)) for sub in subspaces):
            raise NotImplementedError(
                "Nested observation spaces are not supported (Tuple/Dict space inside Tuple/Dict space).")
