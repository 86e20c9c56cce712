"""The space -> encoder registry.

``build_encoder(space, policy)`` picks an encoder by the space's type (walking its class
hierarchy), and by the policy name for images ("CnnPolicy"/"MultiInputPolicy" use a CNN,
"MlpPolicy" flattens). ``register_encoder`` adds or replaces the builder for a space type.

Options (``policy_kwargs=dict(features_extractor_kwargs=...)``) of the built-in builders:
``normalize_images``; ``cnn_output_dim`` (SB3's ``features_dim``) for the CNN; ``net_arch``, a
list of layer sizes of a shared MLP (:class:`MlpEncoder`) on top of the encoder, with
``activation_fn`` (the name of a ``torch.nn`` class, ``"Tanh"`` by default). For a Dict space the
MLP reads the concatenated features of all keys. Without ``net_arch`` the encoders have no
layers beyond SB3's.

Graph and set observations (``Graph``, ``Sequence``, ``set_axis``): ``hidden_dim`` (64),
``n_layers`` (3 for graphs, 2 for sets), ``pooling`` (``"mean"``, ``"sum"``, ``"max"`` or a list of them;
``["mean", "max"]`` by default: both stay on the same scale whatever the size),
for graphs ``aggregation`` (``"sum"``) and ``add_reverse_edges`` (False), for sets ``set_encoder``
(``"deepsets"`` or ``"attention"``) and ``n_heads`` (4). See :mod:`ballast.encoders.graph` and
:mod:`ballast.encoders.sets`. ``pyg_model`` (``"GraphSAGE"``, ``"GCN"``, ``"GIN"``, ``"GAT"``,
``"EdgeCNN"``) uses a PyTorch Geometric model instead of the built-in GNN (:mod:`ballast.encoders.pyg`).

Any module replaces the built-in encoder with ``policy_kwargs=dict(features_extractor_class=MyEncoder,
features_extractor_kwargs=dict(...))``, as in SB3: it is built as ``MyEncoder(observation_space,
**features_extractor_kwargs)`` and must have ``features_dim`` (and, for node-level actions,
``node_dim`` and ``encode_nodes``). The class is saved by its import path (``"module:QualName"``) and
imported again when the model loads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gymnasium import spaces
from torch import nn

from ballast.encoders.graph import GraphEncoder
from ballast.encoders.sets import AttentionSetEncoder, DeepSetsEncoder
from ballast.encoders.standard import DictEncoder, FlattenEncoder, MlpEncoder, NatureCNN, OneHotEncoder
from ballast.errors import ConfigurationError, UnsupportedSpaceError
from ballast.import_path import import_path
from ballast.spaces import is_image_space

EncoderBuilder = Callable[[spaces.Space, str, dict[str, Any]], nn.Module]
_REGISTRY: dict[type, EncoderBuilder] = {}


def register_encoder(space_type: type, builder: EncoderBuilder) -> None:
    """Use ``builder(space, policy_name, options)`` for observation spaces of ``space_type``."""
    _REGISTRY[space_type] = builder


# Options of the built-in encoders, never passed to a user's encoder class.
_BUILT_IN_OPTIONS = ("normalize_images", "net_arch", "activation_fn", "encoder_class")


def import_encoder_class(path: str) -> type[nn.Module]:
    """Import the encoder class saved as ``"module:QualName"``; a clear error when it cannot be found."""
    try:
        obj = import_path(path)
    except (ImportError, AttributeError) as err:
        raise ConfigurationError(
            f"cannot import the encoder class {path!r} ({err}); define it in an importable module "
            "(not a script's __main__) and import that module before loading"
        ) from None
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        raise ConfigurationError(f"the encoder class {path!r} is not a torch.nn.Module subclass")
    return obj


def _user_encoder(space: spaces.Space, path: str, options: dict[str, Any]) -> nn.Module:
    cls = import_encoder_class(path)
    encoder = cls(space, **{k: v for k, v in options.items() if k not in _BUILT_IN_OPTIONS})
    if not isinstance(getattr(encoder, "features_dim", None), int):
        raise ConfigurationError(
            f"the encoder {path} must set an int attribute features_dim (the width of its output)")
    return with_shared_mlp(encoder, options)


def build_encoder(space: spaces.Space, policy: str = "MlpPolicy", options: dict[str, Any] | None = None) -> nn.Module:
    """The encoder for ``space`` under the policy named ``policy``; see the module docstring."""
    options = dict(options or {})
    if options.get("encoder_class"):
        return _user_encoder(space, options["encoder_class"], options)
    for cls in type(space).__mro__:
        if cls in _REGISTRY:
            return _REGISTRY[cls](space, policy, options)
    raise UnsupportedSpaceError(
        f"no encoder is registered for the observation space {space} ({type(space).__name__}); "
        "register one with ballast.encoders.register_encoder"
    )


def with_shared_mlp(encoder: nn.Module, options: dict[str, Any]) -> nn.Module:
    """``encoder`` wrapped in an :class:`MlpEncoder` when ``options`` has a non-empty ``net_arch``, else itself."""
    net_arch = options.get("net_arch")
    if not net_arch:
        return encoder
    if not (isinstance(net_arch, (list, tuple)) and all(isinstance(x, int) and x > 0 for x in net_arch)):
        raise ConfigurationError(
            f"features_extractor_kwargs net_arch must be a list of positive layer sizes, got {net_arch!r}"
        )
    return MlpEncoder(encoder, list(net_arch), _activation_name(options.get("activation_fn", "Tanh")))


def _activation_name(activation: Any) -> str:
    # A name, not a class: the options are saved in the checkpoint's JSON.
    if not isinstance(activation, str):
        raise ConfigurationError(
            f"features_extractor_kwargs activation_fn must be a torch.nn class name such as 'ReLU' (it is saved "
            f"with the model as JSON), got {activation!r}"
        )
    name = activation.split(".")[-1]
    cls = getattr(nn, name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ConfigurationError(f"features_extractor_kwargs activation_fn={activation!r} is not a torch.nn class")
    return name


def _box(space: spaces.Box, policy: str, options: dict[str, Any]) -> nn.Module:
    normalize_images = options.get("normalize_images", True)
    if is_image_space(space) and policy in ("CnnPolicy", "MultiInputPolicy"):
        dim = options.get("cnn_output_dim", 256 if policy == "MultiInputPolicy" else 512)
        return with_shared_mlp(NatureCNN(space, features_dim=dim, normalize_images=normalize_images), options)
    return with_shared_mlp(FlattenEncoder(space, normalize_images=normalize_images), options)


def _dict(space: spaces.Dict, policy: str, options: dict[str, Any]) -> nn.Module:
    sub_policy = "MultiInputPolicy" if policy in ("MultiInputPolicy", "CnnPolicy") else policy
    # One shared MLP over the concatenation of all keys, not one per key.
    sub_options = {k: v for k, v in options.items() if k not in ("net_arch", "activation_fn")}
    encoders = {key: build_encoder(sub, sub_policy, sub_options) for key, sub in space.spaces.items()}
    return with_shared_mlp(DictEncoder(encoders), options)


def _option(options: dict[str, Any], name: str, default: Any, check: Callable[[Any], bool], expected: str) -> Any:
    value = options.get(name, default)
    if not check(value):
        raise ConfigurationError(f"features_extractor_kwargs {name} must be {expected}, got {value!r}")
    return value


def _positive_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x > 0


def _pooling(x: Any) -> bool:
    modes = [x] if isinstance(x, str) else x
    return isinstance(modes, (list, tuple)) and len(modes) > 0 and all(m in ("mean", "sum", "max") for m in modes)


def _graph(space: spaces.Graph, policy: str, options: dict[str, Any]) -> nn.Module:
    if "pyg_model" in options:
        from ballast.encoders.pyg import PygGraphEncoder

        return with_shared_mlp(PygGraphEncoder(
            space, model=options["pyg_model"],
            hidden_dim=_option(options, "hidden_dim", 64, _positive_int, "a positive int"),
            n_layers=_option(options, "n_layers", 3, _positive_int, "a positive int"),
            pooling=_option(options, "pooling", ["mean", "max"], _pooling, "'mean', 'sum', 'max' or a list of them"),
        ), options)
    encoder = GraphEncoder(
        space,
        hidden_dim=_option(options, "hidden_dim", 64, _positive_int, "a positive int"),
        n_layers=_option(options, "n_layers", 3, lambda x: isinstance(x, int) and x >= 0, "an int >= 0"),
        aggregation=_option(options, "aggregation", "sum", lambda x: x in ("sum", "mean", "max"),
                            "'sum', 'mean' or 'max'"),
        pooling=_option(options, "pooling", ["mean", "max"], _pooling, "'mean', 'sum', 'max' or a list of them"),
        add_reverse_edges=_option(options, "add_reverse_edges", False, lambda x: isinstance(x, bool), "a bool"),
    )
    return with_shared_mlp(encoder, options)


def _sequence(space: spaces.Sequence, policy: str, options: dict[str, Any]) -> nn.Module:
    kind = _option(options, "set_encoder", "deepsets", lambda x: x in ("deepsets", "attention"),
                   "'deepsets' or 'attention'")
    hidden_dim = _option(options, "hidden_dim", 64, _positive_int, "a positive int")
    n_layers = _option(options, "n_layers", 2, _positive_int, "a positive int")
    pooling = _option(options, "pooling", ["mean", "max"], _pooling, "'mean', 'sum', 'max' or a list of them")
    if kind == "attention":
        n_heads = _option(options, "n_heads", 4, lambda x: _positive_int(x) and hidden_dim % x == 0,
                          f"a positive divisor of hidden_dim ({hidden_dim})")
        encoder: nn.Module = AttentionSetEncoder(space, hidden_dim, n_layers, n_heads, pooling)
    else:
        encoder = DeepSetsEncoder(space, hidden_dim, n_layers, pooling)
    return with_shared_mlp(encoder, options)


register_encoder(spaces.Box, _box)
register_encoder(spaces.Graph, _graph)
register_encoder(spaces.Sequence, _sequence)
register_encoder(spaces.MultiBinary, lambda space, policy, options: with_shared_mlp(FlattenEncoder(space), options))
register_encoder(spaces.Discrete, lambda space, policy, options: with_shared_mlp(OneHotEncoder(space), options))
register_encoder(spaces.MultiDiscrete, lambda space, policy, options: with_shared_mlp(OneHotEncoder(space), options))
register_encoder(spaces.Dict, _dict)
