"""The space -> encoder registry, and :func:`make_features_extractor`, which every policy calls.

``build_encoder(space, policy)`` picks one of Ballast's encoders by the space's type (walking its
class hierarchy), and by the policy name for images ("CnnPolicy"/"MultiInputPolicy" use SB3's
:class:`~ballast.encoders.extractors.NatureCNN`, "MlpPolicy" flattens). ``register_encoder`` adds
or replaces the builder for a space type.

Options (``policy_kwargs=dict(features_extractor_kwargs=...)``) of the built-in builders
(:data:`BUILT_IN_OPTIONS`): ``cnn_output_dim`` (SB3's ``features_dim`` of ``NatureCNN``) and
``normalized_image`` for the CNN; ``net_arch``, a list of layer sizes of a shared MLP
(:class:`MlpEncoder`) on top of the encoder, with ``activation_fn`` (the name of a ``torch.nn``
class, ``"Tanh"`` by default). For a Dict space the MLP reads the concatenated features of all
keys. Without ``net_arch`` the encoders have no layers beyond SB3's.

Graph and set observations (``Graph``, ``Sequence``, ``set_axis``): ``hidden_dim`` (64),
``n_layers`` (3 for graphs, 2 for sets), ``pooling`` (``"mean"``, ``"sum"``, ``"max"`` or a list of them;
``["mean", "max"]`` by default: both stay on the same scale whatever the size),
for graphs ``aggregation`` (``"mean"``), ``message_norm`` (``"none"``), ``node_outputs`` (``"input"``),
``node_readout`` (True) and ``add_reverse_edges`` (False) (policies created before the current
defaults keep theirs: :data:`GRAPH_DEFAULTS`), for sets ``set_encoder``
(``"deepsets"`` or ``"attention"``) and ``n_heads`` (4). See :mod:`ballast.encoders.graph` and
:mod:`ballast.encoders.sets`. ``pyg_model`` (``"GraphSAGE"``, ``"GCN"``, ``"GIN"``, ``"GAT"``,
``"EdgeCNN"``) uses a PyTorch Geometric model instead of the built-in GNN (:mod:`ballast.encoders.pyg`).

Any class replaces the built-in encoder with ``policy_kwargs=dict(features_extractor_class=MyExtractor,
features_extractor_kwargs=dict(...))``, as in SB3: it is built as ``MyExtractor(observation_space,
**features_extractor_kwargs)`` and must have ``features_dim`` (and, for node-level actions,
``node_dim`` and ``encode_nodes``). What it receives is described in :mod:`ballast.encoders.base`.
The class is saved by its registered name (:func:`register_features_extractor`) or its import
path, and found again when the model loads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gymnasium import spaces
from torch import nn

from ballast.encoders.extractors import NatureCNN, is_sb3_image_space
from ballast.encoders.graph import MESSAGE_NORMS, NODE_OUTPUTS, GraphEncoder
from ballast.encoders.preprocessing import attach_sb3_preprocessing, sb3_space
from ballast.encoders.sets import AttentionSetEncoder, DeepSetsEncoder
from ballast.encoders.standard import DictEncoder, FlattenEncoder, MlpEncoder, OneHotEncoder
from ballast.errors import ConfigurationError, UnsupportedSpaceError
from ballast.import_path import register_module_class, resolve_class

EncoderBuilder = Callable[[spaces.Space, str, dict[str, Any]], nn.Module]
_REGISTRY: dict[type, EncoderBuilder] = {}

#: The ``features_extractor_kwargs`` the built-in encoders read (see the module docstring).
BUILT_IN_OPTIONS = ("cnn_output_dim", "normalized_image", "net_arch", "activation_fn", "hidden_dim", "n_layers",
                    "pooling", "aggregation", "add_reverse_edges", "message_norm", "node_outputs", "node_readout",
                    "set_encoder",
                    "n_heads", "pyg_model")
#: The revision of the built-in encoders' defaults that new policies are created under, and the graph
#: encoder's defaults of each revision. A policy's configuration records its revision, so a saved
#: model is rebuilt as it was trained. Revision 2 comes from the study in docs/graphs.md ("What makes
#: a graph policy generalise").
ENCODER_DEFAULTS = 2
GRAPH_DEFAULTS: dict[int, dict[str, Any]] = {
    1: {"aggregation": "sum", "node_outputs": "final"},
    2: {"aggregation": "mean", "node_outputs": "input"},
}
EXTRACTOR = "features extractor class"
REGISTER_WITH = "ballast.encoders.register_features_extractor"


def register_encoder(space_type: type, builder: EncoderBuilder) -> None:
    """Use ``builder(space, policy_name, options)`` for observation spaces of ``space_type``."""
    _REGISTRY[space_type] = builder


def register_features_extractor(name: str, cls: type[nn.Module] | None = None) -> Any:
    """Register a features extractor class under ``name``, so a saved model names it by ``name``.

    Needed for a class defined in a script (``__main__``) or in a function, which cannot be imported
    back when the model loads; the registering code must have run again before loading. Returns
    ``cls``, or without it a class decorator (``@register_features_extractor("my_cnn")``).
    Registering a name again replaces its class. Names share one table with
    :func:`ballast.extensions.register_aux_module`.
    """
    if cls is None:
        return lambda decorated: register_features_extractor(name, decorated)
    return register_module_class(name, cls, "register_features_extractor")


def import_extractor_class(reference: str) -> type[nn.Module]:
    """The extractor class a checkpoint or ``policy_kwargs`` names (registered name or ``"module:QualName"``)."""
    return resolve_class(reference, EXTRACTOR, REGISTER_WITH)


def make_features_extractor(space: spaces.Space, policy_name: str, extractor_class: str | None,
                            extractor_kwargs: dict[str, Any], normalize_images: bool,
                            defaults: int = ENCODER_DEFAULTS) -> nn.Module:
    """The encoder a policy puts in front of its networks for observations of ``space``.

    Without ``extractor_class``, Ballast's encoder for the space (:func:`build_encoder`, with the
    built-in options ``extractor_kwargs`` and the defaults of revision ``defaults`` for the options
    not given, see :data:`GRAPH_DEFAULTS`). With it, ``cls(space, **extractor_kwargs)``; a class with
    SB3's contract (``takes_raw_observations`` False, see :mod:`ballast.encoders.base`) is built for
    :func:`~ballast.encoders.preprocessing.sb3_space` and receives SB3-preprocessed observations.
    """
    if extractor_class is None:
        return build_encoder(space, policy_name, {"normalize_images": normalize_images, "defaults": defaults,
                                                  **extractor_kwargs})
    cls = import_extractor_class(extractor_class)
    raw = bool(getattr(cls, "takes_raw_observations", False))
    extractor = cls(space if raw else sb3_space(space), **extractor_kwargs)
    width = getattr(extractor, "features_dim", None)
    if isinstance(width, bool) or not isinstance(width, int) or width <= 0:
        raise ConfigurationError(
            f"the features extractor {extractor_class} must have a positive int features_dim (the width of its "
            f"output), got {width!r}; subclass ballast.common.torch_layers.BaseFeaturesExtractor and call "
            "super().__init__(observation_space, features_dim)")
    return extractor if raw else attach_sb3_preprocessing(extractor, space, normalize_images)


def build_encoder(space: spaces.Space, policy: str = "MlpPolicy", options: dict[str, Any] | None = None) -> nn.Module:
    """Ballast's encoder for ``space`` under the policy named ``policy``; see the module docstring."""
    options = dict(options or {})
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
    normalized_image = _option(options, "normalized_image", False, lambda x: isinstance(x, bool), "a bool")
    if policy in ("CnnPolicy", "MultiInputPolicy") and is_sb3_image_space(space, normalized_image):
        dim = _option(options, "cnn_output_dim", 256 if policy == "MultiInputPolicy" else 512, _positive_int,
                      "a positive int")
        cnn = NatureCNN(sb3_space(space), features_dim=dim, normalized_image=normalized_image)
        return with_shared_mlp(attach_sb3_preprocessing(cnn, space, normalize_images), options)
    return with_shared_mlp(FlattenEncoder(space, normalize_images=normalize_images), options)


def _dict(space: spaces.Dict, policy: str, options: dict[str, Any]) -> nn.Module:
    sub_policy = "MultiInputPolicy" if policy in ("MultiInputPolicy", "CnnPolicy") else policy
    # One shared MLP over the concatenation of all keys, not one per key.
    sub_options = {k: v for k, v in options.items() if k not in ("net_arch", "activation_fn")}
    encoders = {key: build_encoder(sub, sub_policy, sub_options) for key, sub in space.spaces.items()}
    return with_shared_mlp(DictEncoder(space, encoders), options)


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


def _node_outputs(x: Any) -> bool:
    modes = [x] if isinstance(x, str) else x
    return (isinstance(modes, (list, tuple)) and len(modes) > 0 and len(set(modes)) == len(modes)
            and all(m in NODE_OUTPUTS for m in modes))


def _graph(space: spaces.Graph, policy: str, options: dict[str, Any]) -> nn.Module:
    if "pyg_model" in options:
        from ballast.encoders.pyg import PygGraphEncoder

        return with_shared_mlp(PygGraphEncoder(
            space, model=options["pyg_model"],
            hidden_dim=_option(options, "hidden_dim", 64, _positive_int, "a positive int"),
            n_layers=_option(options, "n_layers", 3, _positive_int, "a positive int"),
            pooling=_option(options, "pooling", ["mean", "max"], _pooling, "'mean', 'sum', 'max' or a list of them"),
        ), options)
    revision = options.get("defaults", ENCODER_DEFAULTS)
    if revision not in GRAPH_DEFAULTS:
        raise ConfigurationError(f"this policy was created under encoder defaults revision {revision!r}, which "
                                 f"this version of Ballast does not know ({sorted(GRAPH_DEFAULTS)}); upgrade Ballast")
    defaults = GRAPH_DEFAULTS[revision]
    encoder = GraphEncoder(
        space,
        hidden_dim=_option(options, "hidden_dim", 64, _positive_int, "a positive int"),
        n_layers=_option(options, "n_layers", 3, lambda x: isinstance(x, int) and x >= 0, "an int >= 0"),
        aggregation=_option(options, "aggregation", defaults["aggregation"], lambda x: x in ("sum", "mean", "max"),
                            "'sum', 'mean' or 'max'"),
        pooling=_option(options, "pooling", ["mean", "max"], _pooling, "'mean', 'sum', 'max' or a list of them"),
        add_reverse_edges=_option(options, "add_reverse_edges", False, lambda x: isinstance(x, bool), "a bool"),
        message_norm=_option(options, "message_norm", "none", lambda x: x in MESSAGE_NORMS,
                             "'none', 'sqrt_degree' or 'layer'"),
        node_outputs=_option(options, "node_outputs", defaults["node_outputs"], _node_outputs,
                             "'final', 'input', 'relative' or a list of distinct ones"),
        node_readout=_option(options, "node_readout", True, lambda x: isinstance(x, bool), "a bool"),
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
