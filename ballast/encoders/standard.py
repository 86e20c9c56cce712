"""Ballast's encoders for the fixed-shape spaces: Box, Discrete, MultiDiscrete, MultiBinary, and
Dict of these, and :class:`MlpEncoder`, trainable layers on top of any encoder.

They take observations as the buffers hold them (``takes_raw_observations = True``, see
:mod:`ballast.encoders.base`) and convert them themselves. Written with plain tensor operations and
standard layers so they export. Images under ``CnnPolicy`` go to SB3's
:class:`~ballast.encoders.extractors.NatureCNN`."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from ballast.encoders.base import BaseFeaturesExtractor
from ballast.encoders.mlp import create_mlp
from ballast.spaces import is_image_space


class FlattenEncoder(BaseFeaturesExtractor):
    """Flattens a Box or MultiBinary observation to float; uint8 images are scaled to [0, 1]."""

    takes_raw_observations = True

    def __init__(self, space: spaces.Box | spaces.MultiBinary, normalize_images: bool = True) -> None:
        super().__init__(space, int(np.prod(space.shape)))
        self.scale = 1.0 / 255.0 if (normalize_images and is_image_space(space)) else 1.0

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.reshape(obs.shape[0], -1).to(torch.float32)
        return x * self.scale if self.scale != 1.0 else x


class OneHotEncoder(BaseFeaturesExtractor):
    """One-hot encoding of a Discrete or MultiDiscrete observation (concatenated per dimension)."""

    takes_raw_observations = True

    def __init__(self, space: spaces.Discrete | spaces.MultiDiscrete) -> None:
        if isinstance(space, spaces.Discrete):
            nvec, start = [int(space.n)], [int(space.start)]
        else:
            nvec = space.nvec.reshape(-1).tolist()
            start = np.broadcast_to(space.start, space.nvec.shape).reshape(-1).tolist()
        super().__init__(space, int(sum(nvec)))
        # Each output column c is 1 where input dimension dim_of[c] equals value_of[c].
        dim_of = np.repeat(np.arange(len(nvec)), nvec)
        value_of = np.concatenate([np.arange(n) + s for n, s in zip(nvec, start)])
        self.register_buffer("dim_of", torch.as_tensor(dim_of, dtype=torch.long), persistent=False)
        self.register_buffer("value_of", torch.as_tensor(value_of, dtype=torch.float32), persistent=False)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.reshape(obs.shape[0], -1).to(torch.float32)
        return (x[:, self.dim_of] == self.value_of).to(torch.float32)


class DictEncoder(BaseFeaturesExtractor):
    """Encodes each key of a Dict observation with its own encoder (``encoders``, in ``space``'s key
    order) and concatenates the features. Each encoder gets its key's observation as stored."""

    takes_raw_observations = True

    def __init__(self, space: spaces.Dict, encoders: dict[str, nn.Module]) -> None:
        super().__init__(space, sum(e.features_dim for e in encoders.values()))
        self.encoders = nn.ModuleDict(encoders)

        node_keys = [key for key, enc in encoders.items() if hasattr(enc, "node_dim")]
        # Node-level action heads read the nodes of the one graph (or set) key, when there is one.
        self.node_key = node_keys[0] if len(node_keys) == 1 else None
        if self.node_key is not None:
            self.node_dim = encoders[self.node_key].node_dim
            self.node_readout = bool(getattr(encoders[self.node_key], "node_readout", True))

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([enc(obs[key]) for key, enc in self.encoders.items()], dim=1)

    def encode_nodes(self, obs: dict[str, Any]) -> Any:
        """The node encoding of the graph key, with the features of all keys concatenated."""
        if self.node_key is None:
            raise TypeError("node-level encodings need exactly one Graph, Sequence or set key in the Dict")
        parts, encoding = [], None
        for key, enc in self.encoders.items():
            if key == self.node_key:
                encoding = enc.encode_nodes(obs[key])
                parts.append(encoding.features)
            else:
                parts.append(enc(obs[key]))
        return encoding._replace(features=torch.cat(parts, dim=1))


class MlpEncoder(BaseFeaturesExtractor):
    """Fully connected layers on top of another encoder: ``act(W_k ... act(W_1 inner(obs) + b_1) ... + b_k)``.

    The encoders of vector observations (:class:`FlattenEncoder`, :class:`OneHotEncoder`) have no
    parameters, so actor, critic and auxiliary heads that read the features share nothing
    trainable. Wrapping the encoder in an ``MlpEncoder``
    (``policy_kwargs=dict(features_extractor_kwargs=dict(net_arch=[64]))``) gives them shared
    layers. A class of its own, rather than layers inside :class:`FlattenEncoder`, so that code
    which recognises a parameter-free ``FlattenEncoder`` keeps recognising exactly that.
    """

    takes_raw_observations = True

    def __init__(self, inner: nn.Module, net_arch: list[int], activation_fn: str = "Tanh") -> None:
        sizes = [int(size) for size in net_arch]
        super().__init__(getattr(inner, "_observation_space", None), sizes[-1] if sizes else int(inner.features_dim))
        self.inner = inner
        self.mlp = nn.Sequential(*create_mlp(int(inner.features_dim), 0, sizes, getattr(nn, activation_fn)))
        self.activation_fn = activation_fn
        if hasattr(inner, "node_dim"):
            self.node_dim = inner.node_dim
            self.node_readout = bool(getattr(inner, "node_readout", True))

    def forward(self, obs: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        return self.mlp(self.inner(obs))

    def encode_nodes(self, obs: Any) -> Any:
        """The inner encoder's node encoding, its pooled features passed through the MLP."""
        encoding = self.inner.encode_nodes(obs)
        return encoding._replace(features=self.mlp(encoding.features))
