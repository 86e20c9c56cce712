"""SB3's policy constructor arguments: ``Policy(observation_space, action_space, lr_schedule, net_arch=..., ...)``.

SB3 builds a policy as ``policy_class(observation_space, action_space, lr_schedule, use_sde=...,
**policy_kwargs)``, so SB3 code creates policies directly (behaviour cloning, tests) and subclasses
them with those arguments (``kwargs["ortho_init"] = False; super().__init__(...)``). Ballast's
policies take the same arguments, in SB3's order, beside Ballast's own ``config`` (the
:class:`~ballast.policies.config.PolicyConfig` an algorithm passes): the SB3 arguments given
replace the fields of the config they name, and with no config the policy kind's SB3 defaults
apply (a SAC policy built alone has SB3's ReLU layers of 256 units and ``log_std_init=-3``).

``lr_schedule`` gives a policy built alone an optimizer of its own, SB3's ``policy.optimizer``
(:mod:`ballast.policies.optimizer_handle`); a policy an algorithm trains answers the algorithm's.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

from ballast.errors import ConfigurationError
from ballast.policies.config import POLICY_KIND, POLICY_KWARGS, PolicyConfig, json_data

#: The learning rate as a function of the remaining progress (1 -> 0), SB3's ``lr_schedule``.
LrSchedule = Callable[[float], float]

#: SB3's policy defaults of each kind of policy, under the user's keys (``net_arch`` comes from
#: :func:`ballast.policies.config.default_net_arch`). Actor-critic (PPO, A2C): the config's own.
KIND_DEFAULTS: dict[str, dict[str, Any]] = {
    "actor_critic": {},
    "sac": {"activation_fn": "ReLU", "ortho_init": False, "log_std_init": -3.0, "share_features_extractor": False,
            "n_critics": 2},
    "td3": {"activation_fn": "ReLU", "ortho_init": False, "share_features_extractor": False, "n_critics": 2},
    "dqn": {"activation_fn": "ReLU", "ortho_init": False},
    "qrdqn": {"activation_fn": "ReLU", "ortho_init": False, "n_quantiles": 200},
    "tqc": {"activation_fn": "ReLU", "ortho_init": False, "log_std_init": -3.0, "share_features_extractor": False,
            "n_critics": 2, "n_quantiles": 25},
    "recurrent": {},
    "crossq": {"activation_fn": "ReLU", "ortho_init": False, "log_std_init": -3.0, "share_features_extractor": False,
               "n_critics": 2},
}

#: The algorithm whose policy keys (:data:`ballast.policies.config.POLICY_KWARGS`) each kind takes.
KIND_ALGORITHM = {"actor_critic": "ppo", "sac": "sac", "td3": "td3", "dqn": "dqn", "qrdqn": "qrdqn", "tqc": "tqc",
                  "recurrent": "ppo_lstm", "crossq": "crossq"}


def given_arguments(values: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The SB3 policy arguments of ``kind`` given (not None) among ``values`` (a constructor's ``locals()``)."""
    return {key: values[key] for key in POLICY_KWARGS[kind] if values.get(key) is not None}


def policy_config(config: PolicyConfig | None, given: Mapping[str, Any], kind: str, policy_name: str
                  ) -> PolicyConfig:
    """The configuration a policy is built from: ``config`` with the SB3 arguments ``given`` in
    place of its fields, or, with no config, SB3's defaults for ``kind`` under them."""
    algorithm = KIND_ALGORITHM[kind]
    if config is None:
        return PolicyConfig.from_policy_kwargs(policy_name, given, algorithm=algorithm, defaults=KIND_DEFAULTS[kind])
    return config.updated(given, algorithm) if given else config


def is_ballast_policy_class(cls: type) -> bool:
    """Whether ``cls`` is one of Ballast's own policy classes (not a user's subclass)."""
    return cls.__module__.split(".")[0] == "ballast"


def split_policy_kwargs(policy_kwargs: Mapping[str, Any], algorithm: str, policy_class: type,
                        ballast_class: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(the keys the configuration takes, the keyword arguments of a user's policy class)``.

    SB3 passes every ``policy_kwargs`` key to the policy class, so a user's class may take keys of
    its own (``policy_kwargs=dict(n_heads=4)``). Keys the configuration does not know go to such a
    class when its constructor names them (or takes ``**kwargs``); they must be JSON data, since the
    model's file records them. For Ballast's own classes (``ballast_class``) nothing is split off:
    the configuration refuses unknown keys, listing the ones it takes.
    """
    known = {*POLICY_KWARGS[POLICY_KIND.get(algorithm, "actor_critic")], *(f.name for f in fields(PolicyConfig)),
             "encoder_options"}
    extra = {key: value for key, value in policy_kwargs.items() if key not in known}
    if not extra or ballast_class:
        return dict(policy_kwargs), {}
    parameters = inspect.signature(policy_class.__init__).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    not_taken = sorted(key for key in extra if key not in parameters and not takes_any)
    if not_taken:
        raise ConfigurationError(
            f"policy_kwargs {not_taken} are neither {algorithm.upper()}'s policy settings "
            f"({sorted(POLICY_KWARGS[POLICY_KIND.get(algorithm, 'actor_critic')])}) nor arguments of "
            f"{policy_class.__name__}.__init__")
    config_kwargs = {key: value for key, value in policy_kwargs.items() if key in known}
    return config_kwargs, json_data(extra, f"the policy_kwargs {sorted(extra)} of {policy_class.__name__}",
                                    "pass numbers, strings, lists or dicts, and build objects in the policy")
