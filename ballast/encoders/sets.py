"""Encoders for sets and sequences of vectors (``Sequence`` of Box, Box with a set axis).

Input: a :class:`~ballast.ragged.SetBatch`. Two encoders, both permutation invariant (a sequence is
read as the set of its elements) and free of any size-dependent weight:

- :class:`DeepSetsEncoder` (Zaheer et al., 2017, "Deep Sets", arXiv:1703.06114):
  ``f(X) = POOL_{x in X} phi(x)`` with ``phi`` an MLP, POOL a sum, mean or max (or several).
- :class:`AttentionSetEncoder` (Lee et al., 2019, "Set Transformer", arXiv:1810.00825, without
  inducing points): elements embedded, then pre-norm blocks
  ``H = H + MHA(LN(H)); H = H + FF(LN(H))`` where each element attends to the elements of its own
  set only, then pooled. Attention runs on the batch padded to its largest set (the storage itself
  never pads), with padded keys masked out.
"""

from __future__ import annotations

import torch
from gymnasium import spaces
from torch import nn

from ballast.encoders.base import BaseFeaturesExtractor
from ballast.encoders.graph import NodeEncoding, as_features, input_dim, pool, pooling_modes
from ballast.ragged import SetBatch


class DeepSetsEncoder(BaseFeaturesExtractor):
    """``POOL_{x in X} phi(x)``; see the module docstring."""

    takes_raw_observations = True

    def __init__(self, space: spaces.Sequence, hidden_dim: int = 64, n_layers: int = 2,
                 pooling: str | list[str] | tuple[str, ...] = ("mean", "max")) -> None:
        super().__init__(space, hidden_dim * len(pooling_modes(pooling)))
        self.feature_space = space.feature_space
        layers: list[nn.Module] = []
        last = input_dim(space.feature_space)
        for _ in range(max(1, n_layers)):
            layers += [nn.Linear(last, hidden_dim), nn.ReLU()]
            last = hidden_dim
        self.phi = nn.Sequential(*layers)
        self.pooling = pooling_modes(pooling)
        self.node_dim = hidden_dim

    def encode_nodes(self, sets: SetBatch) -> NodeEncoding:
        h = self.phi(as_features(sets.values, self.feature_space))
        return NodeEncoding(pool(h, sets.index, sets.num_sets, self.pooling), h, sets.index, sets.offsets)

    def forward(self, sets: SetBatch) -> torch.Tensor:
        return self.encode_nodes(sets).features


class SetAttentionBlock(nn.Module):
    """``H = H + MHA(LN(H)); H = H + FF(LN(H))`` on padded sets ``(B, L, H)``."""

    def __init__(self, hidden_dim: int, n_heads: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(hidden_dim), nn.LayerNorm(hidden_dim)
        self.attention = nn.MultiheadAttention(hidden_dim, n_heads, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(hidden_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, hidden_dim))

    def forward(self, h: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        x = self.norm1(h)
        h = h + self.attention(x, x, x, key_padding_mask=padding, need_weights=False)[0]
        return h + self.ff(self.norm2(h))


class AttentionSetEncoder(BaseFeaturesExtractor):
    """Self-attention within each set, then pooling; see the module docstring."""

    takes_raw_observations = True

    def __init__(self, space: spaces.Sequence, hidden_dim: int = 64, n_layers: int = 2, n_heads: int = 4,
                 pooling: str | list[str] | tuple[str, ...] = ("mean", "max")) -> None:
        super().__init__(space, hidden_dim * len(pooling_modes(pooling)))
        if hidden_dim % n_heads:
            raise ValueError(f"hidden_dim ({hidden_dim}) must be a multiple of n_heads ({n_heads})")
        self.feature_space = space.feature_space
        self.embed = nn.Linear(input_dim(space.feature_space), hidden_dim)
        self.blocks = nn.ModuleList(SetAttentionBlock(hidden_dim, n_heads) for _ in range(n_layers))
        self.pooling = pooling_modes(pooling)
        self.node_dim = hidden_dim

    def encode_nodes(self, sets: SetBatch) -> NodeEncoding:
        h = self.embed(as_features(sets.values, self.feature_space))
        n_sets = sets.num_sets
        lengths = sets.lengths
        width = max(int(lengths.max()) if n_sets else 0, 1)
        position = torch.arange(h.shape[0], device=h.device) - sets.offsets[sets.index]
        padded = h.new_zeros((n_sets, width, h.shape[1])).index_put((sets.index, position), h)
        # Position 0 of an empty set stays unmasked so that its attention row is defined; it is never read.
        padding = torch.arange(width, device=h.device).unsqueeze(0) >= lengths.clamp(min=1).unsqueeze(1)
        for block in self.blocks:
            padded = block(padded, padding)
        h = padded[sets.index, position]
        return NodeEncoding(pool(h, sets.index, n_sets, self.pooling), h, sets.index, sets.offsets)

    def forward(self, sets: SetBatch) -> torch.Tensor:
        return self.encode_nodes(sets).features
