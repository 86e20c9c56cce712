"""Hyperparameters that cannot work are refused when a model is built, not deep inside ``learn``.

Each rule says what was given, what is accepted and what to change, in a
:class:`~ballast.errors.ConfigurationError`. A value SB3 accepts and trains with is never refused:
where SB3 warns (a rollout that does not split into whole minibatches, more env copies than DQN's
target update interval) Ballast gives the same warning. The rules are looked up by field name, so
every algorithm's configuration dataclass runs them all from its ``__post_init__`` with
:func:`check_config`, and again when a hyperparameter of a built model changes
(``model.gamma = ...``). The checks that need the env are :func:`check_env_settings`.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import warnings
from collections.abc import Callable
from typing import Any

from gymnasium import spaces

from ballast.errors import ConfigurationError
from ballast.schedules import CallableSchedule


@dataclasses.dataclass(frozen=True)
class Rule:
    """What one hyperparameter accepts: ``expected`` in words, ``accepts`` as a test, ``advice`` on what to pass."""

    expected: str
    accepts: Callable[[Any], bool]
    advice: str


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)


def _at_least(low: int) -> Callable[[Any], bool]:
    return lambda value: _is_int(value) and value >= low


def _in_unit_interval(value: Any) -> bool:
    return _is_number(value) and 0.0 <= value <= 1.0


def _positive(value: Any) -> bool:
    return _is_number(value) and value > 0


def _schedule_start(value: Any) -> Any:
    """A schedule's first value (a callable the user wrote is not called: SB3 does not check it either)."""
    if value is None or isinstance(value, CallableSchedule):
        return None
    return value(1.0) if callable(value) else value


def _positive_schedule(value: Any) -> bool:
    start = _schedule_start(value)
    return start is None or _positive(start)


def _learning_rate(value: Any) -> bool:
    start = _schedule_start(value)
    return start is None or (_is_number(start) and start >= 0)


def _auto_ent_coef(value: Any) -> bool:
    if not isinstance(value, str):
        return _is_number(value)
    if value == "auto":
        return True
    head, _, init = value.partition("_")
    try:
        return head == "auto" and float(init) > 0
    except ValueError:
        return False


def _target_entropy(value: Any) -> bool:
    return value == "auto" or _is_number(value)


RULES: dict[str, Rule] = {
    "n_steps": Rule("an integer >= 1", _at_least(1), "it counts env steps (per env copy for a rollout)"),
    "batch_size": Rule("an integer >= 1", _at_least(1), "it is the number of samples per gradient step"),
    "n_epochs": Rule("an integer >= 1", _at_least(1), "it is the number of passes over each rollout"),
    "gamma": Rule("a discount factor in [0, 1]", _in_unit_interval, "SB3's default is 0.99"),
    "gae_lambda": Rule("a number in [0, 1]", _in_unit_interval, "1.0 is the plain advantage, 0.95 is PPO's default"),
    "learning_rate": Rule("a number >= 0, a 'lin_<start>' string or a callable of the remaining progress",
                          _learning_rate, "e.g. 3e-4 (0 keeps the weights as they are)"),
    "clip_range": Rule("a number > 0 or a schedule", _positive_schedule, "PPO's default is 0.2"),
    "clip_range_vf": Rule("a number > 0, a schedule, or None", _positive_schedule,
                          "pass None to turn value clipping off"),
    "max_grad_norm": Rule("a number > 0 (DQN and QR-DQN: or None, no clipping)",
                          lambda value: value is None or _positive(value),
                          "gradients are rescaled to this norm; 0 would stop learning, a negative value reverse it"),
    "sde_sample_freq": Rule("an integer >= -1", _at_least(-1),
                            "-1 (or 0) draws the gSDE noise once per rollout, n > 0 every n steps"),
    "buffer_size": Rule("an integer >= 1", _at_least(1), "it is the replay buffer's capacity in transitions"),
    "learning_starts": Rule("an integer >= 0", _at_least(0), "it is the number of steps before the first update"),
    "gradient_steps": Rule("an integer >= 0, or -1", lambda v: _is_int(v) and v >= -1,
                           "-1 makes as many gradient steps as env steps were collected; 0 collects without "
                           "updating (as SB3's)"),
    "tau": Rule("a number in [0, 1]", _in_unit_interval, "1.0 copies the networks into the targets (DQN's default)"),
    "target_update_interval": Rule("an integer >= 1", _at_least(1), "it counts steps between target updates"),
    "policy_delay": Rule("an integer >= 1", _at_least(1),
                         "TD3 and CrossQ update the actor every policy_delay critic updates"),
    "exploration_fraction": Rule("a number in [0, 1]", _in_unit_interval,
                                 "it is the fraction of training over which epsilon decreases"),
    "ent_coef": Rule("a number, 'auto' or 'auto_<initial value > 0>'", _auto_ent_coef,
                     "e.g. 'auto_0.1' to learn it from 0.1, or 0.01 to fix it"),
    "top_quantiles_to_drop_per_net": Rule("an integer >= 0", _at_least(0),
                                          "it is the number of target quantiles TQC drops per critic (sb3-contrib's "
                                          "default: 2)"),
    "target_entropy": Rule("a number or 'auto'", _target_entropy, "'auto' is minus the action dimension"),
}


def refusal(name: str, given: Any, rule: Rule) -> ConfigurationError:
    """The error for a value ``rule`` does not accept."""
    return ConfigurationError(f"{name}={given!r} cannot work: expected {rule.expected}; {rule.advice}")


def number_or_none(value: Any) -> Any:
    """``float(value)`` for a number, anything else as it is (for :func:`check_config` to judge)."""
    return float(value) if _is_number(value) else value


def check_config(config: Any) -> None:
    """Refuse each field of an algorithm's configuration dataclass that cannot work; warn where SB3 warns."""
    fields = {f.name: f for f in dataclasses.fields(config)}
    names = set(fields)
    for name in sorted(names & RULES.keys()):
        value = getattr(config, name)
        # None passes a rule only where the field is declared optional (DQN's max_grad_norm: no clipping).
        if not RULES[name].accepts(value) or (value is None and "None" not in str(fields[name].type)):
            given = _schedule_start(value) if callable(value) else value
            raise refusal(name, given, RULES[name])
    if getattr(config, "normalize_advantage", False) and "n_epochs" in names and (config.batch_size or 2) < 2:
        raise ConfigurationError(
            f"batch_size must be > 1 when normalize_advantage=True (a std needs two samples), got "
            f"batch_size={config.batch_size}; pass batch_size=64 or normalize_advantage=False")
    if _schedule_start(config.learning_rate) == 0:
        warnings.warn("learning_rate=0: the updates will not change the weights (SB3 trains the same way); pass a "
                      "learning_rate > 0 to learn", UserWarning, stacklevel=5)
    if "buffer_size" in names and config.buffer_size < config.batch_size:
        warnings.warn(
            f"buffer_size={config.buffer_size} is smaller than batch_size={config.batch_size}: every batch repeats "
            "transitions; a buffer_size of at least batch_size is expected", UserWarning, stacklevel=5)


def check_n_envs(n_envs: Any) -> None:
    """Refuse a number of env copies below one."""
    if not (_is_int(n_envs) and n_envs >= 1):
        raise ConfigurationError(f"n_envs={n_envs!r} cannot work: expected an integer >= 1, the number of env copies "
                                 "stepped together; pass n_envs=1 for one")


def check_env_settings(config: Any, algorithm: str, n_envs: int, action_space: spaces.Space) -> None:
    """The checks that need the env: gSDE's action space, and SB3's warning about DQN's number of copies
    (PPO's rollout size is :func:`check_rollout_size`, run when its rollout buffer is built)."""
    if getattr(config, "use_sde", False) and not isinstance(action_space, spaces.Box):
        raise ConfigurationError(
            f"use_sde=True cannot work with the action space {action_space}: expected a Box action space "
            "(gSDE perturbs continuous actions); pass use_sde=False for this env")
    if algorithm == "dqn" and n_envs > config.target_update_interval:
        warnings.warn(
            f"The number of environments used is greater than the target network update interval ({n_envs} > "
            f"{config.target_update_interval}), therefore the target network will be updated after each vector "
            f"step, which corresponds to {n_envs} steps", UserWarning, stacklevel=4)


def check_rollout_size(config: Any, n_envs: int) -> None:
    """SB3's checks of a rollout's size against the minibatch size: more than one sample when
    advantages are normalised, and a warning when the last minibatch of each epoch is truncated
    (zoo settings rely on it, e.g. a ``batch_size`` larger than ``n_steps * n_envs``)."""
    size = config.n_steps * n_envs
    if config.normalize_advantage and size <= 1:
        raise ConfigurationError(f"n_steps * n_envs must be greater than 1 when normalize_advantage=True; "
                                 f"currently n_steps={config.n_steps} and n_envs={n_envs}")
    if config.batch_size is None:  # RecurrentPPO: one minibatch of the whole rollout
        return
    if size % config.batch_size:
        warnings.warn(
            f"mini-batches of {config.batch_size} from a rollout of n_steps * n_envs = {size}: after every "
            f"{size // config.batch_size} full mini-batches there will be a truncated mini-batch of size "
            f"{size % config.batch_size}; a batch_size that divides {size} avoids it", UserWarning, stacklevel=4)


def number_or_keyword(value: Any, keyword: str) -> Any:
    """SAC's ``ent_coef`` and ``target_entropy`` as SB3 reads them: a string that is a number
    (``"0.1"``) as that number; other strings (``"auto"``, ``"auto_0.1"``) as given, for the rules."""
    if isinstance(value, str) and not value.startswith(keyword):
        try:
            return float(value)
        except ValueError:
            return value
    return float(value) if _is_number(value) else value
