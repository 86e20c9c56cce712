"""What an SB3-style features extractor receives: observations preprocessed as Stable-Baselines3 does.

SB3 transposes channels-last images to channels first in the env (``VecTransposeImage``) and, in
the policy, applies ``preprocess_obs`` before the features extractor. Ballast keeps observations
as the env gives them (uint8 images, channels first or last, integer indices) and lets its own
encoders convert them; an extractor with SB3's contract
(``BaseFeaturesExtractor.takes_raw_observations = False``) gets SB3's conversion instead, per
leaf space:

=====================  =============================================================================
Box image (uint8,      float32, channels first (``(B, C, H, W)``); divided by 255 when
rank 3, in [0, 255])   ``normalize_images=True``
other Box              float32, shape kept
Discrete               float32 one-hot ``(B, n)`` (of ``obs - start``)
MultiDiscrete          float32 one-hot of each entry, concatenated: ``(B, sum(nvec))``
MultiBinary            float32, shape kept
Dict                   a dict of the above, key by key
Graph, Sequence, set   Ballast's ragged batch (``GraphBatch``, ``SetBatch``), unchanged
=====================  =============================================================================

Images count as channels last, and are transposed, when their first axis is not the smallest
(SB3's ``is_image_space_channels_first``). :func:`sb3_space` is the space SB3 would build the
extractor for (image spaces transposed). The conversion runs as a forward pre-hook on the
extractor (:func:`attach_sb3_preprocessing`), so the extractor stays the policy's ``encoder``
module with its own parameter names, and the conversion is part of the model wherever it runs
(``predict``, training, export).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces
from torch import nn

from ballast.spaces import is_image_space


def is_channels_last_image(space: spaces.Space) -> bool:
    """True for an image space whose first axis is not the smallest (SB3 transposes those)."""
    return is_image_space(space) and int(np.argmin(space.shape)) != 0


def sb3_space(space: spaces.Space) -> spaces.Space:
    """``space`` as SB3's policy sees it: channels-last image spaces transposed to channels first."""
    if isinstance(space, spaces.Dict):
        return spaces.Dict({key: sb3_space(sub) for key, sub in space.spaces.items()})
    if is_channels_last_image(space):
        return spaces.Box(np.transpose(space.low, (2, 0, 1)), np.transpose(space.high, (2, 0, 1)),
                          dtype=space.dtype)
    return space


def preprocess(obs: Any, space: spaces.Space, normalize_images: bool) -> Any:
    """SB3's ``preprocess_obs`` (with ``VecTransposeImage`` for channels-last images); see the module docstring."""
    if isinstance(space, spaces.Dict):
        return {key: preprocess(obs[key], sub, normalize_images) for key, sub in space.spaces.items()}
    if isinstance(space, spaces.Box):
        x = obs.permute(0, 3, 1, 2) if is_channels_last_image(space) else obs
        if normalize_images and is_image_space(space):
            # uint8 pixels: the float copy is scaled in place (one allocation, the values of x.float() / 255).
            return x.float().div_(255.0) if x.dtype != torch.float32 else x / 255.0
        return x.float()
    if isinstance(space, spaces.Discrete):
        return F.one_hot(obs.long().reshape(-1) - int(space.start), int(space.n)).float()
    if isinstance(space, spaces.MultiDiscrete):
        nvec = space.nvec.reshape(-1).tolist()
        start = np.broadcast_to(space.start, space.nvec.shape).reshape(-1).tolist()
        columns = obs.long().reshape(obs.shape[0], -1)
        return torch.cat([F.one_hot(columns[:, i] - s, n) for i, (n, s) in enumerate(zip(nvec, start))], 1).float()
    if isinstance(space, spaces.MultiBinary):
        return obs.float()
    return obs


class SB3Preprocessing:
    """A forward pre-hook that applies :func:`preprocess` to an extractor's first argument.

    A plain object rather than a module: it has no state to save, and ``copy.deepcopy`` of the
    extractor (target networks) copies it along.
    """

    def __init__(self, space: spaces.Space, normalize_images: bool) -> None:
        self.space = space
        self.normalize_images = bool(normalize_images)

    def __call__(self, module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return (preprocess(args[0], self.space, self.normalize_images), *args[1:])


def attach_sb3_preprocessing(extractor: nn.Module, space: spaces.Space, normalize_images: bool) -> nn.Module:
    """Make ``extractor`` (built for :func:`sb3_space` of ``space``) receive SB3-preprocessed
    observations of ``space``; returns it."""
    extractor.register_forward_pre_hook(SB3Preprocessing(space, normalize_images))
    return extractor
