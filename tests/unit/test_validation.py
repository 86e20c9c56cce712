"""Configurations that cannot work are refused when the model is built, with a message naming the
parameter, the value given and the accepted values; what SB3 accepts with a warning is warned about."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch

from ballast import A2C, DDPG, DQN, PPO, SAC, TD3, ConfigurationError

ALGOS = {"ppo": (PPO, "CartPole-v1"), "a2c": (A2C, "CartPole-v1"), "sac": (SAC, "Pendulum-v1"),
         "td3": (TD3, "Pendulum-v1"), "ddpg": (DDPG, "Pendulum-v1"), "dqn": (DQN, "CartPole-v1")}


def build(algo: str, policy: str = "MlpPolicy", env: str | None = None, **kwargs: Any) -> Any:
    cls, default_env = ALGOS[algo]
    return cls(policy, env or default_env, device="cpu", **kwargs)


#: (algorithm, keyword arguments, what the message must contain: the parameter and the accepted values).
REFUSED = [
    ("ppo", {"n_steps": 0}, r"n_steps=0 cannot work: expected an integer >= 1"),
    ("a2c", {"n_steps": -5}, r"n_steps=-5 cannot work: expected an integer >= 1"),
    ("ppo", {"batch_size": 0, "normalize_advantage": False}, r"batch_size=0 cannot work: expected an integer >= 1"),
    ("sac", {"batch_size": 0}, r"batch_size=0 cannot work: expected an integer >= 1"),
    ("ppo", {"n_epochs": 0}, r"n_epochs=0 cannot work: expected an integer >= 1"),
    ("ppo", {"gamma": 1.5}, r"gamma=1.5 cannot work: expected a discount factor in \[0, 1\]"),
    ("dqn", {"gamma": -0.1}, r"gamma=-0.1 cannot work: expected a discount factor in \[0, 1\]"),
    ("ppo", {"gae_lambda": 1.2}, r"gae_lambda=1.2 cannot work: expected a number in \[0, 1\]"),
    ("a2c", {"gae_lambda": -0.5}, r"gae_lambda=-0.5 cannot work: expected a number in \[0, 1\]"),
    ("ppo", {"clip_range": -0.2}, r"clip_range=-0.2 cannot work: expected a number > 0"),
    ("sac", {"learning_rate": -3e-4}, r"learning_rate=-0.0003 cannot work: expected a number >= 0"),
    ("a2c", {"learning_rate": "lin_-0.1"}, r"learning_rate=-0.1 cannot work: expected a number >= 0"),
    ("ppo", {"learning_rate": [3e-4]}, r"learning_rate must be a number, a schedule or a callable, got list"),
    ("ppo", {"max_grad_norm": 0}, r"max_grad_norm=0.0 cannot work: expected a number > 0"),
    ("a2c", {"max_grad_norm": -1}, r"max_grad_norm=-1.0 cannot work: expected a number > 0"),
    ("dqn", {"max_grad_norm": 0}, r"max_grad_norm=0.0 cannot work: expected a number > 0"),
    ("ppo", {"env": "Pendulum-v1", "use_sde": True, "sde_sample_freq": -2},
     r"sde_sample_freq=-2 cannot work: expected an integer >= -1"),
    ("sac", {"buffer_size": 0}, r"buffer_size=0 cannot work: expected an integer >= 1"),
    ("td3", {"learning_starts": -1}, r"learning_starts=-1 cannot work: expected an integer >= 0"),
    ("sac", {"train_freq": (1, "epoch")}, r"train_freq must be an int or \(n, 'step' \| 'episode'\)"),
    ("dqn", {"train_freq": 0}, r"train_freq's frequency must be a positive integer"),
    ("dqn", {"gradient_steps": -2}, r"gradient_steps=-2 cannot work: expected an integer >= 0, or -1"),
    ("sac", {"target_update_interval": 0}, r"target_update_interval=0 cannot work: expected an integer >= 1"),
    ("dqn", {"target_update_interval": 0}, r"target_update_interval=0 cannot work: expected an integer >= 1"),
    ("sac", {"tau": 1.5}, r"tau=1.5 cannot work: expected a number in \[0, 1\]"),
    ("ddpg", {"tau": -0.1}, r"tau=-0.1 cannot work: expected a number in \[0, 1\]"),
    ("td3", {"policy_delay": 0}, r"policy_delay=0 cannot work: expected an integer >= 1"),
    ("dqn", {"exploration_fraction": 1.5}, r"exploration_fraction=1.5 cannot work: expected a number in \[0, 1\]"),
    ("sac", {"ent_coef": "automatic"}, r"ent_coef='automatic' cannot work: expected a number, 'auto' or 'auto_<"),
    ("sac", {"ent_coef": "auto_-1"}, r"ent_coef='auto_-1' cannot work: expected a number, 'auto' or 'auto_<"),
    ("sac", {"ent_coef": "auto_x"}, r"ent_coef='auto_x' cannot work"),
    ("sac", {"target_entropy": "high"}, r"target_entropy='high' cannot work: expected a number or 'auto'"),
    ("sac", {"target_entropy": [1.0]}, r"target_entropy=\[1.0\] cannot work: expected a number or 'auto'"),
    ("ppo", {"n_envs": 0}, r"n_envs=0 cannot work: expected an integer >= 1"),
    ("sac", {"n_envs": -1}, r"n_envs=-1 cannot work: expected an integer >= 1"),
    ("ppo", {"use_sde": True}, r"use_sde=True cannot work with the action space Discrete\(2\): expected a Box"),
    ("a2c", {"policy": "MLPPolicy"}, r"unknown policy 'MLPPolicy'; use one of \['MlpPolicy'"),
    ("ppo", {"policy_kwargs": {"nett_arch": [8]}}, r"unknown policy_kwargs \['nett_arch'\] for PPO; supported: "),
    ("sac", {"policy_kwargs": {"n_critic": 3}}, r"unknown policy_kwargs \['n_critic'\] for SAC; supported: "),
]


@pytest.mark.parametrize(("algo", "kwargs", "message"), REFUSED,
                         ids=[f"{a}-{'-'.join(map(str, k))}" for a, k, _ in REFUSED])
def test_a_configuration_that_cannot_work_is_refused_at_construction(algo: str, kwargs: dict[str, Any],
                                                                     message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        build(algo, **kwargs)


def test_each_refusal_says_what_to_change() -> None:
    with pytest.raises(ConfigurationError) as error:
        build("sac", gradient_steps=-3)
    assert "-1 makes as many gradient steps as env steps were collected" in str(error.value)


def test_gradient_steps_0_collects_without_updating_as_sb3() -> None:
    model = build("sac", gradient_steps=0, learning_starts=10)
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(64)
    assert model.replay_buffer.size() == 64
    assert all(torch.equal(a, b) for a, b in zip(before, model.policy.parameters(), strict=True))


@pytest.mark.parametrize(("algo", "name", "value", "message"), [
    ("ppo", "gamma", 2.0, r"gamma=2.0 cannot work: expected a discount factor in \[0, 1\]"),
    ("dqn", "exploration_fraction", -0.5, r"exploration_fraction=-0.5 cannot work"),
    ("td3", "policy_delay", 0, r"policy_delay=0 cannot work"),
])
def test_setting_a_hyperparameter_of_a_built_model_runs_the_same_checks(algo: str, name: str, value: Any,
                                                                        message: str) -> None:
    model = build(algo)
    with pytest.raises(ConfigurationError, match=message):
        setattr(model, name, value)


#: What SB3 accepts with a warning, and the warning's words.
WARNED = [
    # rl-baselines3-zoo's MountainCarContinuous-v0 PPO settings: a batch larger than the rollout.
    ("ppo", {"env": "MountainCarContinuous-v0", "n_steps": 8, "batch_size": 256}, "truncated mini-batch of size 8"),
    ("ppo", {"n_steps": 100, "batch_size": 64}, "truncated mini-batch of size 36"),
    ("dqn", {"n_envs": 4, "target_update_interval": 2}, r"greater than the target network update interval \(4 > 2\)"),
    ("sac", {"buffer_size": 16, "batch_size": 32}, "buffer_size=16 is smaller than batch_size=32"),
    ("ppo", {"learning_rate": 0}, "learning_rate=0: the updates will not change the weights"),
]


@pytest.mark.parametrize(("algo", "kwargs", "message"), WARNED, ids=[f"{a}-{i}" for i, (a, _, _) in enumerate(WARNED)])
def test_what_sb3_accepts_with_a_warning_is_warned_about_and_built(algo: str, kwargs: dict[str, Any],
                                                                   message: str) -> None:
    with pytest.warns(UserWarning, match=message):
        model = build(algo, **kwargs)
    assert model.policy is not None


@pytest.mark.parametrize(("algo", "kwargs", "check"), [
    ("sac", {"gradient_steps": -1}, lambda m: m.gradient_steps == -1),
    ("sac", {"ent_coef": "0.1"}, lambda m: m.config.ent_coef == 0.1 and m.log_ent_coef is None),
    ("sac", {"ent_coef": "auto_0.5"}, lambda m: m.log_ent_coef is not None),
    ("sac", {"target_entropy": "-2.5"}, lambda m: m.target_entropy == -2.5),
    ("ppo", {"gamma": 1.0, "gae_lambda": 0.0, "clip_range_vf": None}, lambda m: m.gamma == 1.0),
    ("ppo", {"env": "Pendulum-v1", "use_sde": True, "sde_sample_freq": -1}, lambda m: m.sde_sample_freq == -1),
    ("a2c", {"learning_rate": lambda progress: 1e-3 * progress}, lambda m: m.lr_schedule(0.5) == 5e-4),
    ("dqn", {"tau": 0.0, "learning_starts": 0, "exploration_fraction": 0.0}, lambda m: m.tau == 0.0),
])
def test_what_sb3_accepts_is_built_without_a_warning(algo: str, kwargs: dict[str, Any], check: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model = build(algo, **kwargs)
    assert check(model)


@pytest.mark.parametrize("algo", [PPO, A2C])
def test_on_policy_max_grad_norm_none_is_refused_clearly(algo):
    """PPO and A2C always clip (SB3 fails in its first update with None): refused when built."""
    with pytest.raises(ConfigurationError, match="max_grad_norm=None"):
        algo("MlpPolicy", "CartPole-v1", max_grad_norm=None)


def test_dqn_max_grad_norm_none_means_no_clipping():
    assert DQN("MlpPolicy", "CartPole-v1", max_grad_norm=None).max_grad_norm is None
