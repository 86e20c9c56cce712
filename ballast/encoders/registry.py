"""The space -> encoder registry.

``build_encoder(space, policy)`` picks an encoder by the space's type (walking its class
hierarchy), and by the policy name for images ("CnnPolicy"/"MultiInputPolicy" use a CNN,
"MlpPolicy" flattens). ``register_encoder`` adds or replaces the builder for a space type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gymnasium import spaces
from torch import nn

from ballast.encoders.standard import DictEncoder, FlattenEncoder, NatureCNN, OneHotEncoder
from ballast.errors import UnsupportedSpaceError
from ballast.spaces import is_image_space

EncoderBuilder = Callable[[spaces.Space, str, dict[str, Any]], nn.Module]
_REGISTRY: dict[type, EncoderBuilder] = {}


def register_encoder(space_type: type, builder: EncoderBuilder) -> None:
    """Use ``builder(space, policy_name, options)`` for observation spaces of ``space_type``."""
    _REGISTRY[space_type] = builder


def build_encoder(space: spaces.Space, policy: str = "MlpPolicy", options: dict[str, Any] | None = None) -> nn.Module:
    """The encoder for ``space`` under the policy named ``policy``; see the module docstring."""
    options = dict(options or {})
    for cls in type(space).__mro__:
        if cls in _REGISTRY:
            return _REGISTRY[cls](space, policy, options)
    raise UnsupportedSpaceError(
        f"no encoder is registered for the observation space {space} ({type(space).__name__}); "
        "register one with ballast.encoders.register_encoder"
    )


def _box(space: spaces.Box, policy: str, options: dict[str, Any]) -> nn.Module:
    normalize_images = options.get("normalize_images", True)
    if is_image_space(space) and policy in ("CnnPolicy", "MultiInputPolicy"):
        dim = options.get("cnn_output_dim", 256 if policy == "MultiInputPolicy" else 512)
        return NatureCNN(space, features_dim=dim, normalize_images=normalize_images)
    return FlattenEncoder(space, normalize_images=normalize_images)


def _dict(space: spaces.Dict, policy: str, options: dict[str, Any]) -> nn.Module:
    sub_policy = "MultiInputPolicy" if policy in ("MultiInputPolicy", "CnnPolicy") else policy
    return DictEncoder({key: build_encoder(sub, sub_policy, options) for key, sub in space.spaces.items()})


register_encoder(spaces.Box, _box)
register_encoder(spaces.MultiBinary, lambda space, policy, options: FlattenEncoder(space))
register_encoder(spaces.Discrete, lambda space, policy, options: OneHotEncoder(space))
register_encoder(spaces.MultiDiscrete, lambda space, policy, options: OneHotEncoder(space))
register_encoder(spaces.Dict, _dict)
