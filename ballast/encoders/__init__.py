"""Encoders (SB3: features extractors): how an observation (a tensor, a ragged batch or a dict of
them) becomes a feature vector.

Every encoder is a :class:`BaseFeaturesExtractor` (SB3's contract: ``cls(observation_space, ...)``
and ``features_dim``). Each observation space maps to one of Ballast's encoders through a registry,
so new spaces (e.g. graphs) add an entry instead of a branch in the policy; SB3's own extractors
(:class:`NatureCNN`, :class:`FlattenExtractor`, :class:`CombinedExtractor`) and any user class plug
in through ``policy_kwargs=dict(features_extractor_class=...)``. Encoders of graphs and sets also
have ``node_dim`` and ``encode_nodes(obs)``, which node-level action heads read.
"""

from ballast.encoders.base import BaseFeaturesExtractor
from ballast.encoders.extractors import CombinedExtractor, FlattenExtractor, NatureCNN
from ballast.encoders.graph import GraphEncoder, MessagePassingLayer, NodeEncoding
from ballast.encoders.mlp import MlpExtractor, create_mlp
from ballast.encoders.registry import (
    build_encoder,
    make_features_extractor,
    register_encoder,
    register_features_extractor,
)
from ballast.encoders.sets import AttentionSetEncoder, DeepSetsEncoder
from ballast.encoders.standard import DictEncoder, FlattenEncoder, MlpEncoder, OneHotEncoder

__all__ = ["build_encoder", "make_features_extractor", "register_encoder", "register_features_extractor",
           "AttentionSetEncoder", "BaseFeaturesExtractor", "CombinedExtractor", "DeepSetsEncoder", "DictEncoder",
           "FlattenEncoder", "FlattenExtractor", "GraphEncoder", "MessagePassingLayer", "MlpEncoder",
           "MlpExtractor", "NatureCNN", "NodeEncoding", "OneHotEncoder", "create_mlp"]
