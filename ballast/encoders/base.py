"""``BaseFeaturesExtractor``: the base class of every encoder, with Stable-Baselines3's contract.

An encoder (SB3: a features extractor) maps a batch of observations to a ``(batch, features_dim)``
tensor. Its constructor takes the observation space first, ``cls(observation_space, **kwargs)``, and
``features_dim`` tells the layers after it how wide its output is.

What ``forward`` receives depends on the class attribute ``takes_raw_observations``:

- ``False`` (the default, and SB3's contract; :class:`~ballast.encoders.extractors.NatureCNN`,
  :class:`~ballast.encoders.extractors.FlattenExtractor`,
  :class:`~ballast.encoders.extractors.CombinedExtractor` and any user class): observations
  preprocessed as SB3 preprocesses them (:mod:`ballast.encoders.preprocessing`): float32, images
  channels first and divided by 255 when ``normalize_images=True``, Discrete and MultiDiscrete
  one-hot encoded. The encoder is also built for the space as SB3 would show it (image spaces
  channels first).
- ``True`` (Ballast's own encoders: :class:`~ballast.encoders.standard.FlattenEncoder`,
  :class:`~ballast.encoders.graph.GraphEncoder`, ...): observations as the buffers hold them
  (uint8 images, integer indices); the encoder converts them itself, which lets the
  closed-form gradient paths and the exporters recognise it.

Graph and set observations reach both kinds as Ballast's ragged batches
(:class:`~ballast.ragged.GraphBatch`, :class:`~ballast.ragged.SetBatch`), which SB3 has no
counterpart for.
"""

from __future__ import annotations

from numbers import Integral
from typing import ClassVar

from gymnasium import spaces
from torch import nn

from ballast.errors import ConfigurationError


class BaseFeaturesExtractor(nn.Module):
    """SB3's ``BaseFeaturesExtractor``: ``__init__(observation_space, features_dim=0)`` and ``features_dim``.

    Subclasses call ``super().__init__(observation_space, features_dim)`` before creating layers
    and implement ``forward(observations)``. ``features_dim`` must be positive (as in SB3); a
    subclass that knows its width only after building its layers may pass a placeholder and set
    ``self._features_dim`` afterwards, as SB3's ``CombinedExtractor`` does.
    """

    #: See the module docstring: False means "receives SB3-preprocessed observations".
    takes_raw_observations: ClassVar[bool] = False

    def __init__(self, observation_space: spaces.Space, features_dim: int = 0) -> None:
        super().__init__()
        if isinstance(features_dim, bool) or not isinstance(features_dim, Integral) or features_dim <= 0:
            raise ConfigurationError(
                f"{type(self).__name__}: features_dim must be a positive int (the width of the features), "
                f"got {features_dim!r}; pass it to BaseFeaturesExtractor.__init__(observation_space, features_dim)"
            )
        self._observation_space = observation_space
        self._features_dim = int(features_dim)

    @property
    def features_dim(self) -> int:
        """The number of features ``forward`` returns per observation."""
        return int(self._features_dim)
