"""The typed, JSON-serialisable policy configuration, and its parsing from SB3's ``policy_kwargs``.

``PolicyConfig.from_policy_kwargs(policy_name, policy_kwargs, algorithm=...)`` accepts the keys
SB3's policy class for that algorithm accepts (:data:`POLICY_KWARGS`), with SB3's meanings, and
turns them into data at once: classes become registered names or import paths, keyword
dictionaries must be JSON data, ``net_arch`` becomes one dict of hidden sizes. Anything that could
not be saved and found again is refused here, when the model is created, not when it is saved.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from numbers import Integral
from typing import Any

import torch
from gymnasium import spaces
from torch import nn

from ballast.encoders.extractors import NatureCNN, is_sb3_image_space
from ballast.encoders.registry import (
    BUILT_IN_OPTIONS,
    ENCODER_DEFAULTS,
    EXTRACTOR,
    REGISTER_WITH,
    import_extractor_class,
    make_features_extractor,
)
from ballast.errors import ConfigurationError
from ballast.import_path import class_reference, import_path, path_of

POLICY_NAMES = ("MlpPolicy", "CnnPolicy", "MultiInputPolicy")

#: SB3's default optimizer.
ADAM = path_of(torch.optim.Adam)

_COMMON = ("net_arch", "activation_fn", "ortho_init", "normalize_images", "features_extractor_class",
           "features_extractor_kwargs", "optimizer_class", "optimizer_kwargs")
#: The ``policy_kwargs`` each kind of policy takes: SB3's, and ``ortho_init`` everywhere (SB3: PPO and
#: A2C only) and ``full_std`` for SAC (SB3: fixed to True), which Ballast's policies implement.
POLICY_KWARGS: dict[str, tuple[str, ...]] = {
    "actor_critic": (*_COMMON, "log_std_init", "full_std", "use_expln", "squash_output", "share_features_extractor"),
    "sac": (*_COMMON, "log_std_init", "full_std", "use_expln", "clip_mean", "n_critics", "share_features_extractor"),
    "td3": (*_COMMON, "n_critics", "share_features_extractor"),
    "dqn": _COMMON,
    "qrdqn": (*_COMMON, "n_quantiles"),
    "tqc": (*_COMMON, "log_std_init", "full_std", "use_expln", "clip_mean", "n_critics", "n_quantiles",
            "share_features_extractor"),
    # sb3-contrib's RecurrentActorCriticPolicy, and Ballast's recurrent_cell ("lstm" or "gru").
    "recurrent": (*_COMMON, "log_std_init", "full_std", "use_expln", "squash_output", "share_features_extractor",
                  "lstm_hidden_size", "n_lstm_layers", "shared_lstm", "enable_critic_lstm", "lstm_kwargs",
                  "recurrent_cell"),
    "crossq": (*_COMMON, "batch_norm", "batch_norm_momentum", "batch_norm_eps", "renorm_warmup_steps",
               "log_std_init", "full_std", "use_expln", "clip_mean", "n_critics", "share_features_extractor"),
}
#: The policy kind of each algorithm (DDPG uses TD3's policy, as in SB3).
POLICY_KIND = {"ppo": "actor_critic", "a2c": "actor_critic", "sac": "sac", "td3": "td3", "ddpg": "td3", "dqn": "dqn",
               "qrdqn": "qrdqn", "tqc": "tqc", "ppo_lstm": "recurrent", "crossq": "crossq"}
#: The ``net_arch`` dict keys of each kind: actor and value function, actor and Q-functions, Q-network.
NET_ARCH_KEYS = {"actor_critic": ("pi", "vf"), "sac": ("pi", "qf"), "td3": ("pi", "qf"), "dqn": ("qf",),
                 "qrdqn": ("qf",), "tqc": ("pi", "qf"), "recurrent": ("pi", "vf"), "crossq": ("pi", "qf")}

# Fields that every saved configuration has: a dict holding them all is a saved config, not SB3 kwargs.
_SAVED_FIELDS = {"net_arch", "activation_fn", "ortho_init", "log_std_init", "full_std", "share_features_extractor",
                 "normalize_images", "n_critics", "use_expln", "clip_mean"}


def activation_name(activation: str | type[nn.Module]) -> str:
    """The ``torch.nn`` class name of an activation given as a class or a (possibly dotted) name."""
    name = activation if isinstance(activation, str) else getattr(activation, "__name__", repr(activation))
    name = name.split(".")[-1]
    cls = getattr(nn, name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ConfigurationError(f"activation_fn={activation!r} is not a torch.nn activation class")
    return name


@dataclass
class PolicyConfig:
    """Everything that decides the architecture of a policy (and the optimizer it asks for).

    ``net_arch`` maps ``"pi"`` (actor) and ``"vf"`` (PPO and A2C's value function) or ``"qf"`` (the
    Q-networks of SAC, TD3, DDPG and DQN) to hidden-layer sizes on top of the encoder features.
    ``features_extractor_class`` is ``None`` (Ballast's encoder for the space, with the built-in
    options ``features_extractor_kwargs``) or a registered name or ``"module:QualName"`` of a class
    built as ``cls(observation_space, **features_extractor_kwargs)``. ``optimizer_class`` (an
    import path of a ``torch.optim.Optimizer``; None: the algorithm's default, as SB3 chooses it) and
    ``optimizer_kwargs`` record SB3's keys of the same names
    (:func:`ballast.algos.optimizers.build_optimizer` builds the optimizer from them).
    ``encoder_defaults`` is the revision of the built-in encoders' defaults the policy was created
    under (:data:`ballast.encoders.registry.ENCODER_DEFAULTS`): a saved policy is rebuilt with the
    defaults it was trained with, whatever the current ones are.
    """

    net_arch: dict[str, list[int]] = field(default_factory=lambda: {"pi": [64, 64], "vf": [64, 64]})
    activation_fn: str = "Tanh"
    ortho_init: bool = True
    log_std_init: float = 0.0
    full_std: bool = True
    use_expln: bool = False
    squash_output: bool = False
    share_features_extractor: bool = True
    normalize_images: bool = True
    features_extractor_class: str | None = None
    features_extractor_kwargs: dict[str, Any] = field(default_factory=dict)
    # Off-policy policies (SAC, TD3, DDPG) only: Q-networks per critic ensemble, and SAC's gSDE mean clip.
    n_critics: int = 2
    clip_mean: float = 2.0
    # QR-DQN: quantiles of the return distribution per action; TQC: quantiles per critic.
    n_quantiles: int = 200
    # RecurrentPPO (sb3-contrib's names and defaults): the recurrent layers between the encoder and the
    # MLPs; ``recurrent_cell`` ("lstm" or "gru") is Ballast's.
    lstm_hidden_size: int = 256
    n_lstm_layers: int = 1
    shared_lstm: bool = False
    enable_critic_lstm: bool = True
    lstm_kwargs: dict[str, Any] = field(default_factory=dict)
    recurrent_cell: str = "lstm"
    # CrossQ only: batch renormalisation in the actor's and critics' hidden layers (sb3-contrib's defaults).
    batch_norm: bool = True
    batch_norm_momentum: float = 0.01
    batch_norm_eps: float = 0.001
    renorm_warmup_steps: int = 100_000
    optimizer_class: str | None = None
    optimizer_kwargs: dict[str, Any] = field(default_factory=dict)
    encoder_defaults: int = ENCODER_DEFAULTS

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PolicyConfig:
        """The configuration :meth:`to_json` wrote (also the older form with ``encoder_options``). One
        without ``encoder_defaults`` was written before it existed, under the first revision."""
        data = {k: v for k, v in data.items() if k in {f.name for f in fields(cls)} | {"encoder_options"}}
        data.setdefault("encoder_defaults", 1)
        if "encoder_options" in data:
            options = dict(data.pop("encoder_options") or {})
            data["features_extractor_class"] = options.pop("encoder_class", None)
            data["features_extractor_kwargs"] = {k: v for k, v in options.items() if k != "normalize_images"}
        return cls(**data)

    def make_features_extractor(self, observation_space: spaces.Space, policy_name: str) -> nn.Module:
        """A new encoder for ``observation_space`` as this configuration describes it."""
        return make_features_extractor(observation_space, policy_name, self.features_extractor_class,
                                       self.features_extractor_kwargs, self.normalize_images, self.encoder_defaults)

    @classmethod
    def from_policy_kwargs(cls, policy_name: str, policy_kwargs: Mapping[str, Any] | None, *,
                           algorithm: str = "ppo", defaults: Mapping[str, Any] | None = None) -> PolicyConfig:
        """Build the config from SB3's ``policy_kwargs`` for ``algorithm``'s policy.

        ``defaults`` (the algorithm's SB3 policy defaults, e.g. ReLU for SAC) apply under the
        user's keys. Keys the algorithm's policy does not take raise :class:`ConfigurationError`
        listing the ones it takes. A saved configuration (:meth:`to_json`) is read back as it is.
        """
        kwargs = dict(policy_kwargs or {})
        if set(kwargs) >= _SAVED_FIELDS or "encoder_options" in kwargs:
            return cls.from_json({**(defaults or {}), **kwargs})
        _check_known(kwargs, algorithm)
        kwargs = {**(defaults or {}), **kwargs}
        config = cls()
        config._apply(kwargs, algorithm)
        if kwargs.get("net_arch") is None:
            kind = POLICY_KIND.get(algorithm, "actor_critic")
            config.net_arch = default_net_arch(kind, uses_nature_cnn(policy_name, config.features_extractor_class))
        return config

    def updated(self, policy_kwargs: Mapping[str, Any], algorithm: str = "ppo") -> PolicyConfig:
        """A copy with the fields SB3's ``policy_kwargs`` name replaced (checked as in
        :meth:`from_policy_kwargs`); the others, ``net_arch`` included, stay as they are."""
        kwargs = dict(policy_kwargs)
        _check_known(kwargs, algorithm)
        config = PolicyConfig.from_json(self.to_json())
        config._apply(kwargs, algorithm)
        return config

    def _apply(self, kwargs: Mapping[str, Any], algorithm: str) -> None:
        """Set the fields the (known) ``policy_kwargs`` name, each turned into data."""
        kwargs = dict(kwargs)
        if "features_extractor_class" in kwargs:
            extractor = kwargs.pop("features_extractor_class")
            self.features_extractor_class = None if extractor is None else extractor_reference(extractor)
        if "features_extractor_kwargs" in kwargs or "features_extractor_class" in kwargs:
            self.features_extractor_kwargs = extractor_kwargs(kwargs.pop("features_extractor_kwargs", None),
                                                              self.features_extractor_class)
        if kwargs.get("net_arch") is not None:
            self.net_arch = parse_net_arch(kwargs.pop("net_arch"), POLICY_KIND.get(algorithm, "actor_critic"),
                                           algorithm)
        if "activation_fn" in kwargs:
            self.activation_fn = activation_name(kwargs.pop("activation_fn"))
        if "optimizer_class" in kwargs:
            optimizer = kwargs.pop("optimizer_class")
            self.optimizer_class = None if optimizer is None else optimizer_reference(optimizer)
        if "optimizer_kwargs" in kwargs or "optimizer_class" in kwargs:
            given = kwargs.pop("optimizer_kwargs", None)
            self.optimizer_kwargs = {} if given is None else optimizer_kwargs(given, self.optimizer_class or ADAM)
        for key in ("ortho_init", "full_std", "use_expln", "squash_output", "share_features_extractor",
                    "normalize_images", "shared_lstm", "enable_critic_lstm", "batch_norm"):
            if key in kwargs:
                setattr(self, key, _flag(key, kwargs.pop(key)))
        for key in ("log_std_init", "clip_mean"):
            if key in kwargs:
                setattr(self, key, _number(key, kwargs.pop(key)))
        for key in ("n_critics", "n_quantiles", "lstm_hidden_size", "n_lstm_layers"):
            if key in kwargs:
                setattr(self, key, _positive_int(key, kwargs.pop(key)))
        if "lstm_kwargs" in kwargs:
            self.lstm_kwargs = recurrent_kwargs(kwargs.pop("lstm_kwargs"))
        if "recurrent_cell" in kwargs:
            self.recurrent_cell = recurrent_cell(kwargs.pop("recurrent_cell"))
        if "batch_norm_momentum" in kwargs:
            self.batch_norm_momentum = _in_range("batch_norm_momentum", kwargs.pop("batch_norm_momentum"), 0.0, 1.0)
        if "batch_norm_eps" in kwargs:
            self.batch_norm_eps = _in_range("batch_norm_eps", kwargs.pop("batch_norm_eps"), 0.0, None)
        if "renorm_warmup_steps" in kwargs:
            value = kwargs.pop("renorm_warmup_steps")
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
                raise ConfigurationError(f"policy_kwargs renorm_warmup_steps must be an int >= 0 (train-mode batches "
                                         f"of plain batch norm before renormalising), got {value!r}")
            self.renorm_warmup_steps = int(value)


def _check_known(kwargs: Mapping[str, Any], algorithm: str) -> None:
    supported = POLICY_KWARGS[POLICY_KIND.get(algorithm, "actor_critic")]
    unknown = sorted(set(kwargs) - set(supported))
    if unknown:
        raise ConfigurationError(
            f"unknown policy_kwargs {unknown} for {algorithm.upper()}; supported: {sorted(supported)}")


def _flag(key: str, value: Any) -> bool:
    if not isinstance(value, (bool, int)) or value not in (0, 1):
        raise ConfigurationError(f"policy_kwargs {key} must be True or False, got {value!r}")
    return bool(value)


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"policy_kwargs {key} must be a number, got {value!r}")
    return float(value)


def _in_range(key: str, value: Any, low: float, high: float | None) -> float:
    """A number in ``(low, high]`` (``high=None``: no upper bound)."""
    number = _number(key, value)
    if not (low < number and (high is None or number <= high)):
        bound = f"> {low}" if high is None else f"in ({low}, {high}]"
        raise ConfigurationError(f"policy_kwargs {key} must be a number {bound}, got {value!r}")
    return number


def _positive_int(what: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ConfigurationError(f"{what} must be a positive int, got {value!r}")
    return int(value)


#: What ``lstm_kwargs`` may set: the layers' own options. The sizes are ``lstm_hidden_size`` and
#: ``n_lstm_layers``; the layout (time first, one direction) is the policy's.
RECURRENT_KWARGS = ("bias", "dropout")
RECURRENT_CELLS = ("lstm", "gru")


def recurrent_kwargs(kwargs: Any) -> dict[str, Any]:
    """``lstm_kwargs`` (passed to ``torch.nn.LSTM`` or ``GRU``) as JSON data, with the keys the policy allows."""
    if kwargs is None:
        return {}
    if not isinstance(kwargs, Mapping):
        raise ConfigurationError(f"lstm_kwargs must be a dict of torch.nn.LSTM options, got {kwargs!r}")
    refused = sorted(set(kwargs) - set(RECURRENT_KWARGS))
    if refused:
        raise ConfigurationError(
            f"lstm_kwargs {refused} cannot be set: the recurrent policy takes {list(RECURRENT_KWARGS)}; sizes come "
            "from lstm_hidden_size and n_lstm_layers, and the layers run time-first in one direction")
    return json_data(dict(kwargs), "lstm_kwargs", "pass numbers and booleans")


def recurrent_cell(value: Any) -> str:
    """``recurrent_cell``: ``"lstm"`` (sb3-contrib's) or ``"gru"`` (Ballast's addition)."""
    if not isinstance(value, str) or value.lower() not in RECURRENT_CELLS:
        raise ConfigurationError(f"recurrent_cell must be one of {list(RECURRENT_CELLS)}, got {value!r}")
    return value.lower()


def json_data(value: Any, what: str, advice: str) -> Any:
    """``value`` after a JSON round trip (tuples become lists), so that a model built now and one
    loaded from its file are built from the same data; refuses what is not JSON data."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as err:
        raise ConfigurationError(f"{what} must be JSON data (it is saved with the model): {err}; {advice}") from None


def extractor_reference(extractor: Any) -> str:
    """How the configuration names ``features_extractor_class`` (a class, a registered name or an
    import path): refused now when loading could not find it again."""
    if isinstance(extractor, str):
        import_extractor_class(extractor)  # refuses a name that loading could not find either
        return extractor
    if not (isinstance(extractor, type) and issubclass(extractor, nn.Module)):
        raise ConfigurationError(
            f"features_extractor_class must be an nn.Module class (e.g. a BaseFeaturesExtractor subclass), "
            f"got {extractor!r}")
    return class_reference(extractor, EXTRACTOR, REGISTER_WITH)


def extractor_kwargs(kwargs: Mapping[str, Any] | None, extractor: str | None) -> dict[str, Any]:
    """``features_extractor_kwargs`` as JSON data.

    For a user class they are its constructor's keyword arguments, as given. For Ballast's encoders
    (no class) they are the options of :data:`ballast.encoders.registry.BUILT_IN_OPTIONS`; SB3's
    ``features_dim`` of the CNN is accepted as ``cnn_output_dim``, and ``activation_fn`` may be a class.
    """
    kwargs = dict(kwargs or {})
    if not all(isinstance(k, str) for k in kwargs):
        raise ConfigurationError(f"features_extractor_kwargs must have str keys, got {sorted(map(repr, kwargs))}")
    if extractor is not None:
        return json_data(kwargs, f"features_extractor_kwargs of {extractor}",
                         "pass numbers, strings, lists or dicts, and build objects (layers, activation classes) "
                         "inside the extractor, e.g. from a name with getattr(torch.nn, name)")
    if "features_dim" in kwargs:
        kwargs["cnn_output_dim"] = kwargs.pop("features_dim")
    if "activation_fn" in kwargs:
        kwargs["activation_fn"] = activation_name(kwargs["activation_fn"])
    unknown = sorted(set(kwargs) - set(BUILT_IN_OPTIONS))
    if unknown:
        raise ConfigurationError(
            f"unknown features_extractor_kwargs {unknown} for Ballast's encoders; supported: "
            f"{sorted({*BUILT_IN_OPTIONS, 'features_dim'})} (or give features_extractor_class)")
    return json_data(kwargs, "features_extractor_kwargs", "pass numbers, strings and lists")


def optimizer_reference(optimizer: Any) -> str:
    """The import path of ``optimizer_class`` (a ``torch.optim.Optimizer`` class or such a path)."""
    cls = optimizer
    if isinstance(optimizer, str):
        try:
            cls = import_path(optimizer)
        except (ImportError, AttributeError) as err:
            raise ConfigurationError(f"optimizer_class {optimizer!r} cannot be imported ({err})") from None
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise ConfigurationError(
            f"optimizer_class must be a torch.optim.Optimizer class such as torch.optim.Adam or "
            f"ballast.common.sb2_compat.rmsprop_tf_like.RMSpropTFLike, got {optimizer!r}")
    return class_reference(cls, "optimizer class", "an importable module")


def optimizer_kwargs(kwargs: Mapping[str, Any] | None, optimizer: str) -> dict[str, Any]:
    """``optimizer_kwargs`` as JSON data, checked by building the optimizer once on a dummy parameter."""
    kwargs = json_data(dict(kwargs or {}), "optimizer_kwargs", "pass numbers, booleans and lists")
    if "lr" in kwargs:
        raise ConfigurationError(
            "optimizer_kwargs must not hold lr: the algorithm's learning_rate (and its schedule) sets it, as in SB3")
    try:
        import_path(optimizer)([nn.Parameter(torch.zeros(1))], lr=1e-3, **kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigurationError(f"optimizer_kwargs {kwargs} do not fit {optimizer}: {err}") from None
    return kwargs


def uses_nature_cnn(policy_name: str, extractor: str | None) -> bool:
    """True when the encoder is SB3's NatureCNN: ``CnnPolicy``'s default, or the class named."""
    if extractor is None:
        return policy_name == "CnnPolicy"
    return import_extractor_class(extractor) is NatureCNN


def default_net_arch(kind: str, nature_cnn: bool) -> dict[str, list[int]]:
    """SB3's default hidden sizes for a kind of policy (see :data:`POLICY_KIND`).

    PPO and A2C: ``[64, 64]`` each for actor and value function, none after the NatureCNN; SAC:
    ``[256, 256]``; TD3 and DDPG: ``[400, 300]``, ``[256, 256]`` after the NatureCNN; DQN:
    ``[64, 64]``, none after the NatureCNN, and so QR-DQN; TQC: ``[256, 256]``, as SAC; CrossQ:
    ``[256, 256]`` for the actor and ``[1024, 1024]`` for the critics (sb3-contrib's wider critics).
    """
    if kind == "crossq":
        return {"pi": [256, 256], "qf": [1024, 1024]}
    sizes = {"actor_critic": [] if nature_cnn else [64, 64], "sac": [256, 256],
             "td3": [256, 256] if nature_cnn else [400, 300], "dqn": [] if nature_cnn else [64, 64],
             "qrdqn": [] if nature_cnn else [64, 64], "tqc": [256, 256],
             "recurrent": [] if nature_cnn else [64, 64]}[kind]
    return {key: list(sizes) for key in NET_ARCH_KEYS[kind]}


def _sizes(value: Any, where: str) -> list[int]:
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(x, Integral) and not isinstance(x, bool) and x > 0 for x in value):
        raise ConfigurationError(f"{where} must be a list of positive layer sizes, got {value!r}")
    return [int(x) for x in value]


def parse_net_arch(net_arch: Any, kind: str = "actor_critic", algorithm: str = "ppo") -> dict[str, list[int]]:
    """SB3's forms of ``net_arch`` as a dict of hidden sizes with :data:`NET_ARCH_KEYS` ``[kind]``.

    - a list of sizes: the same layers for each network;
    - a dict: ``dict(pi=[...], vf=[...])`` for PPO and A2C (a missing key means no hidden layer),
      ``dict(pi=[...], qf=[...])`` for SAC, TD3 and DDPG (both keys needed, as in SB3); DQN and
      QR-DQN take a list only;
    - a list holding one such dict: taken as the dict, with SB3's (>= 1.8) warning;
    - the pre-1.8 form with shared layers, ``[64, dict(pi=..., vf=...)]``, is refused (SB3 2.x has
      no shared layers either), with the dict form in the message.
    """
    keys = NET_ARCH_KEYS[kind]
    name = algorithm.upper()
    if isinstance(net_arch, (list, tuple)) and net_arch and isinstance(net_arch[0], Mapping) and len(net_arch) == 1:
        warnings.warn(
            "As shared layers in the mlp_extractor are removed since SB3 v1.8.0, you should now pass directly a "
            f"dictionary and not a list (net_arch=dict({', '.join(f'{k}=...' for k in keys)}) instead of "
            f"net_arch=[dict({', '.join(f'{k}=...' for k in keys)})])", UserWarning, stacklevel=4)
        net_arch = net_arch[0]
    if isinstance(net_arch, (list, tuple)):
        if any(isinstance(x, Mapping) for x in net_arch):
            raise ConfigurationError(_shared_layers_message(net_arch, keys))
        sizes = _sizes(net_arch, "net_arch")
        return {key: list(sizes) for key in keys}
    if not isinstance(net_arch, Mapping):
        raise ConfigurationError(f"net_arch must be a list of layer sizes or a dict, got {net_arch!r}")
    if kind in ("dqn", "qrdqn"):
        raise ConfigurationError(
            f"{name}'s net_arch is a list of layer sizes of the Q-network (as in SB3), got {net_arch!r}")
    extra = sorted(set(net_arch) - set(keys))
    if extra:
        raise ConfigurationError(f"{name}'s net_arch dict takes the keys {list(keys)}, got {extra} in {net_arch!r}")
    if kind not in ("actor_critic", "recurrent") and set(net_arch) != set(keys):
        raise ConfigurationError(f"{name}'s net_arch dict needs both keys 'pi' (actor) and 'qf' (critics), "
                                 f"got {net_arch!r}")
    return {key: _sizes(net_arch.get(key, []), f"net_arch[{key!r}]") for key in keys}


def _shared_layers_message(net_arch: Any, keys: tuple[str, ...]) -> str:
    shared = [x for x in net_arch if not isinstance(x, Mapping)]
    split = next((x for x in net_arch if isinstance(x, Mapping)), {})
    translated = ", ".join(f"{k}={[*shared, *split.get(k, [])]}" for k in keys)
    return (f"net_arch={net_arch!r} uses the old form with layers shared by actor and critic, which SB3 removed in "
            f"1.8 and Ballast does not have; give each network its own layers: net_arch=dict({translated})")


def check_policy_fits_space(policy_name: str, observation_space: spaces.Space, config: PolicyConfig) -> None:
    """Refuse ``MultiInputPolicy`` without a Dict space and ``CnnPolicy`` without images, unless a
    ``features_extractor_class`` is given (SB3's policy names only choose the default extractor)."""
    if config.features_extractor_class is not None:
        return
    if policy_name == "MultiInputPolicy" and not isinstance(observation_space, spaces.Dict):
        raise ConfigurationError(
            f"MultiInputPolicy is for Dict observations, but the env has {observation_space}")
    normalized = bool(config.features_extractor_kwargs.get("normalized_image", False))
    if policy_name == "CnnPolicy" and not is_sb3_image_space(observation_space, normalized):
        raise ConfigurationError(
            f"CnnPolicy needs uint8 image observations (a Box of rank 3 in [0, 255]), got {observation_space}; for "
            "images already scaled pass policy_kwargs=dict(normalize_images=False, "
            "features_extractor_kwargs=dict(normalized_image=True))"
        )
