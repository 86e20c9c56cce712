"""Encoders: how an observation (a tensor or a dict of tensors) becomes a feature vector.

Each observation space maps to an encoder through a registry, so new spaces (e.g. graphs) add an
entry instead of a branch in the policy. Every encoder has a ``features_dim`` attribute.
"""

from ballast.encoders.registry import build_encoder, register_encoder
from ballast.encoders.standard import DictEncoder, FlattenEncoder, MlpEncoder, NatureCNN, OneHotEncoder

__all__ = ["build_encoder", "register_encoder", "DictEncoder", "FlattenEncoder", "MlpEncoder", "NatureCNN",
           "OneHotEncoder"]
