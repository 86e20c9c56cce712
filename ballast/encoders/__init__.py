"""Encoders: how an observation (a tensor, a ragged batch or a dict of them) becomes a feature vector.

Each observation space maps to an encoder through a registry, so new spaces (e.g. graphs) add an
entry instead of a branch in the policy. Every encoder has a ``features_dim`` attribute. Encoders
of graphs and sets also have ``node_dim`` and ``encode_nodes(obs)``, which node-level action heads read.
"""

from ballast.encoders.graph import GraphEncoder, MessagePassingLayer, NodeEncoding
from ballast.encoders.registry import build_encoder, register_encoder
from ballast.encoders.sets import AttentionSetEncoder, DeepSetsEncoder
from ballast.encoders.standard import DictEncoder, FlattenEncoder, MlpEncoder, NatureCNN, OneHotEncoder

__all__ = ["build_encoder", "register_encoder", "AttentionSetEncoder", "DeepSetsEncoder", "DictEncoder",
           "FlattenEncoder", "GraphEncoder", "MessagePassingLayer", "MlpEncoder", "NatureCNN", "NodeEncoding",
           "OneHotEncoder"]
