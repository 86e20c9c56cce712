"""Stable-Baselines3's features extractors under SB3's names and constructor signatures.

They receive observations preprocessed as SB3 preprocesses them (see
:mod:`ballast.encoders.preprocessing`): float32, images channels first (and in [0, 1] when
``normalize_images=True``), Discrete and MultiDiscrete one-hot. ``CnnPolicy`` and
``MultiInputPolicy`` use :class:`NatureCNN` for images by default; the other classes are there for
scripts that name them (``features_extractor_class=CombinedExtractor``, subclasses, or a user's
extractor that builds a ``NatureCNN`` for one key).
"""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from ballast.encoders.base import BaseFeaturesExtractor
from ballast.errors import UnsupportedSpaceError


def flattened_dim(space: spaces.Space) -> int:
    """Width of a preprocessed observation of ``space`` once flattened (SB3's ``get_flattened_obs_dim``).

    Discrete: ``n``; MultiDiscrete: ``sum(nvec)`` (one-hot); Box and MultiBinary: the number of entries.
    """
    if isinstance(space, spaces.Discrete):
        return int(space.n)
    if isinstance(space, spaces.MultiDiscrete):
        return int(np.sum(space.nvec))
    if isinstance(space, (spaces.Box, spaces.MultiBinary)):
        return int(np.prod(space.shape))
    raise UnsupportedSpaceError(
        f"{space} ({type(space).__name__}) cannot be flattened to a fixed width; for Graph and Sequence "
        "observations use Ballast's default encoder (leave features_extractor_class out) or an extractor "
        "that reads the ragged batch (see docs/custom-policies.md)"
    )


def is_sb3_image_space(space: spaces.Space, normalized_image: bool = False) -> bool:
    """SB3's ``is_image_space(space, check_channels=False, normalized_image=...)``: a rank-3 Box, and
    unless ``normalized_image``, uint8 with bounds [0, 255]."""
    if not (isinstance(space, spaces.Box) and len(space.shape) == 3):
        return False
    if normalized_image:
        return True
    return space.dtype == np.uint8 and bool(np.all(space.low == 0) and np.all(space.high == 255))


class FlattenExtractor(BaseFeaturesExtractor):
    """Flattens the preprocessed observation: ``(B, ...) -> (B, flattened_dim(space))``."""

    def __init__(self, observation_space: spaces.Space) -> None:
        super().__init__(observation_space, flattened_dim(observation_space))
        self.flatten = nn.Flatten()

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.flatten(observations)


class NatureCNN(BaseFeaturesExtractor):
    """The CNN of Mnih et al. (2015, "Human-level control through deep reinforcement learning", Nature 518).

    Three convolutions (32 8x8 stride 4, 64 4x4 stride 2, 64 3x3 stride 1, ReLU), flattened, then
    ``Linear(., features_dim)`` and ReLU. Takes channels-first float images ``(B, C, H, W)``, as SB3's.
    ``normalized_image=True`` accepts a rank-3 Box of any dtype and bounds (images already scaled);
    otherwise the space must be a uint8 image in [0, 255].
    """

    def __init__(self, observation_space: spaces.Space, features_dim: int = 512, normalized_image: bool = False
                 ) -> None:
        if not is_sb3_image_space(observation_space, normalized_image):
            raise UnsupportedSpaceError(
                f"NatureCNN needs channels-first images, got {observation_space}: use it with uint8 images in "
                "[0, 255] (CnnPolicy, MultiInputPolicy), MlpPolicy for other observations, or "
                "normalized_image=True (with normalize_images=False) for images already scaled"
            )
        if min(observation_space.shape[1:]) < 36:
            raise UnsupportedSpaceError(
                f"NatureCNN needs images of at least 36x36 pixels (its three convolutions shrink them), got "
                f"{observation_space.shape[1:]} (channels first); use a CNN of your own as features_extractor_class")
        super().__init__(observation_space, features_dim)
        self.cnn = nn.Sequential(
            nn.Conv2d(observation_space.shape[0], 32, kernel_size=8, stride=4, padding=0),
            nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=4, stride=2, padding=0),
            nn.ReLU(),
            nn.Conv2d(64, 64, kernel_size=3, stride=1, padding=0),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():  # zeros rather than a sample: building draws no random numbers but the weights'
            n_flat = self.cnn(torch.zeros((1, *observation_space.shape))).shape[1]
        self.linear = nn.Sequential(nn.Linear(n_flat, features_dim), nn.ReLU())

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        if observations.device.type == "cpu":
            # On a CPU, channels-last images let the convolutions run without reordering their data:
            # about 1.5x faster forward and backward on a batch of 256 channels-first 84x84 images
            # (frames stacked from channels-last ones, as Atari's, are laid out so already). The same
            # values; the flattening restores the channels-first order the linear layer expects.
            observations = observations.contiguous(memory_format=torch.channels_last)
        return self.linear(self.cnn(observations))


class CombinedExtractor(BaseFeaturesExtractor):
    """SB3's extractor for Dict observations: a :class:`NatureCNN` per image key (``cnn_output_dim``
    features each), the other keys flattened, all concatenated in the space's key order."""

    def __init__(self, observation_space: spaces.Dict, cnn_output_dim: int = 256, normalized_image: bool = False
                 ) -> None:
        if not isinstance(observation_space, spaces.Dict):
            raise UnsupportedSpaceError(f"CombinedExtractor needs a Dict observation space, got {observation_space}")
        super().__init__(observation_space, features_dim=1)  # the width is known once every key has its extractor
        extractors: dict[str, nn.Module] = {}
        width = 0
        for key, subspace in observation_space.spaces.items():
            if is_sb3_image_space(subspace, normalized_image):
                extractors[key] = NatureCNN(subspace, features_dim=cnn_output_dim, normalized_image=normalized_image)
                width += cnn_output_dim
            else:
                extractors[key] = nn.Flatten()
                width += flattened_dim(subspace)
        self.extractors = nn.ModuleDict(extractors)
        self._features_dim = width

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([extractor(observations[key]) for key, extractor in self.extractors.items()], dim=1)
