"""SB3's ``stable_baselines3.common.torch_layers`` path; the classes are in :mod:`ballast.encoders`.

A custom extractor written for SB3 runs with its import changed to
``from ballast.common.torch_layers import BaseFeaturesExtractor``; see docs/custom-policies.md.
"""

from ballast.encoders import (
    BaseFeaturesExtractor,
    CombinedExtractor,
    FlattenExtractor,
    MlpExtractor,
    NatureCNN,
    create_mlp,
)

__all__ = ["BaseFeaturesExtractor", "CombinedExtractor", "FlattenExtractor", "MlpExtractor", "NatureCNN",
           "create_mlp"]
