"""The typed, JSON-serialisable policy configuration, and its parsing from SB3's ``policy_kwargs``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from torch import nn

from ballast.errors import ConfigurationError

POLICY_NAMES = ("MlpPolicy", "CnnPolicy", "MultiInputPolicy")


def activation_name(activation: str | type[nn.Module]) -> str:
    """The ``torch.nn`` class name of an activation given as a class or a (possibly dotted) name."""
    name = activation if isinstance(activation, str) else activation.__name__
    name = name.split(".")[-1]
    if not isinstance(getattr(nn, name, None), type):
        raise ConfigurationError(f"activation_fn={activation!r} is not a torch.nn activation class")
    return name


@dataclass
class PolicyConfig:
    """Everything that decides the architecture of an actor-critic policy.

    ``net_arch`` maps ``"pi"`` and ``"vf"`` to hidden-layer sizes of the separate actor and
    critic MLPs on top of the (shared) encoder features.
    """

    net_arch: dict[str, list[int]] = field(default_factory=lambda: {"pi": [64, 64], "vf": [64, 64]})
    activation_fn: str = "Tanh"
    ortho_init: bool = True
    log_std_init: float = 0.0
    full_std: bool = True
    share_features_extractor: bool = True
    normalize_images: bool = True
    encoder_options: dict[str, Any] = field(default_factory=dict)
    # Off-policy policies (SAC, TD3, DDPG) only: Q-networks per critic ensemble, and SAC's gSDE options.
    n_critics: int = 2
    use_expln: bool = False
    clip_mean: float = 2.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PolicyConfig:
        return cls(**data)

    @classmethod
    def from_policy_kwargs(cls, policy_name: str, policy_kwargs: dict[str, Any] | None) -> PolicyConfig:
        """Build the config from SB3-style ``policy_kwargs``; unknown keys raise a clear error."""
        kwargs = dict(policy_kwargs or {})
        config = cls(net_arch=default_net_arch(policy_name))
        known = {f.name for f in fields(cls)}
        encoder_keys = {"features_extractor_kwargs", "features_extractor_class"}
        unknown = set(kwargs) - known - encoder_keys - {"net_arch", "activation_fn"}
        if unknown:
            raise ConfigurationError(
                f"unknown policy_kwargs {sorted(unknown)}; supported: "
                f"{sorted(known | encoder_keys)}"
            )
        if "net_arch" in kwargs:
            config.net_arch = parse_net_arch(kwargs.pop("net_arch"))
        if "activation_fn" in kwargs:
            config.activation_fn = activation_name(kwargs.pop("activation_fn"))
        if "features_extractor_kwargs" in kwargs:
            config.encoder_options = dict(kwargs.pop("features_extractor_kwargs") or {})
            if "activation_fn" in config.encoder_options:
                config.encoder_options["activation_fn"] = activation_name(config.encoder_options["activation_fn"])
            if "features_dim" in config.encoder_options and kwargs.get("features_extractor_class") is None:
                config.encoder_options["cnn_output_dim"] = config.encoder_options.pop("features_dim")
        if kwargs.get("features_extractor_class") is not None:
            config.encoder_options["encoder_class"] = encoder_class_path(kwargs.pop("features_extractor_class"))
        kwargs.pop("features_extractor_class", None)
        for key, value in kwargs.items():
            setattr(config, key, value)
        return config


def encoder_class_path(encoder_class: Any) -> str:
    """The ``"module:QualName"`` saved for ``policy_kwargs["features_extractor_class"]`` (a class or that string)."""
    from ballast.encoders.registry import import_encoder_class
    from ballast.import_path import path_of

    path = encoder_class if isinstance(encoder_class, str) else path_of(encoder_class)
    found = import_encoder_class(path)
    if not isinstance(encoder_class, str) and found is not encoder_class:
        raise ConfigurationError(
            f"features_extractor_class {encoder_class!r} cannot be found again by its path {path!r}; "
            "define it at the top level of an importable module")
    return path


def default_net_arch(policy_name: str) -> dict[str, list[int]]:
    """SB3's defaults: two 64-unit layers for MLP policies, none on top of a CNN."""
    if policy_name == "CnnPolicy":
        return {"pi": [], "vf": []}
    return {"pi": [64, 64], "vf": [64, 64]}


def parse_net_arch(net_arch: Any) -> dict[str, list[int]]:
    """Accept SB3's forms: a list (same sizes for actor and critic) or ``dict(pi=[...], vf=[...])``."""
    if isinstance(net_arch, dict):
        extra = set(net_arch) - {"pi", "vf", "qf"}
        if extra:
            raise ConfigurationError(f"net_arch keys must be 'pi' and 'vf' (or 'qf'), got {sorted(extra)}")
        return {k: [int(x) for x in v] for k, v in net_arch.items()}
    if isinstance(net_arch, (list, tuple)):
        if any(isinstance(x, dict) for x in net_arch):
            raise ConfigurationError(
                "the old SB3 net_arch form with shared layers ([64, dict(pi=..., vf=...)]) is not supported; "
                "use dict(pi=[...], vf=[...])"
            )
        sizes = [int(x) for x in net_arch]
        return {"pi": list(sizes), "vf": list(sizes)}
    raise ConfigurationError(f"net_arch must be a list of sizes or dict(pi=..., vf=...), got {net_arch!r}")
