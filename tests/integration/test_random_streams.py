"""Each model draws from random streams of its own: seeded from ``seed``, saved with the model, and
never taken from or written to the process's global generators (torch, NumPy, Python's ``random``)."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from graph_envs import HotNodeEnv
from torch import nn

from ballast import A2C, DDPG, DQN, PPO, SAC, TD3
from ballast.extensions import AuxModule, LossInputs


class DropoutHead(nn.Module):
    """An aux head whose dropout draws from torch's generator at every training step."""

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Dropout(0.5), nn.Linear(in_dim, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).squeeze(-1)


def head_loss(inputs: LossInputs) -> dict[str, torch.Tensor]:
    """PPO/A2C: the head regresses the returns from the shared features."""
    return {"head": nn.functional.mse_loss(inputs.aux["head"](inputs.outputs.features), inputs.batch.returns)}


def q_head_loss(inputs: LossInputs) -> dict[str, torch.Tensor]:
    """SAC/TD3 critic: the head regresses the rewards from the observations."""
    return {"head": nn.functional.mse_loss(inputs.aux["head"](inputs.batch.observations), inputs.batch.rewards)}


def zero_base(obs: np.ndarray) -> np.ndarray:
    """A residual base that always says 0 (module level, so a checkpoint finds it again)."""
    return np.zeros((len(obs), 1), np.float32)


ON_POLICY = dict(n_steps=32, batch_size=32, n_epochs=2, device="cpu")
OFF_POLICY = dict(learning_starts=32, batch_size=32, buffer_size=1_000, device="cpu",
                  policy_kwargs={"net_arch": [16]})
ON_EXTENSIONS = dict(policy_kwargs=dict(features_extractor_kwargs=dict(net_arch=[16]), net_arch=[16]),
                     aux_modules={"head": AuxModule(DropoutHead, {"in_dim": 16})}, extra_losses=[head_loss])
OFF_EXTENSIONS = dict(aux_modules={"head": AuxModule(DropoutHead, {"in_dim": 3})}, extra_losses=[q_head_loss])

#: Every algorithm and every kind of policy: name -> (builder taking a seed, steps to learn).
CASES: dict[str, tuple[Callable[[int | None], Any], int]] = {
    "ppo-discrete": (lambda s: PPO("MlpPolicy", "CartPole-v1", seed=s, **ON_POLICY), 64),
    "ppo-box": (lambda s: PPO("MlpPolicy", "Pendulum-v1", seed=s, **ON_POLICY), 64),
    "ppo-gsde": (lambda s: PPO("MlpPolicy", "Pendulum-v1", seed=s, use_sde=True, sde_sample_freq=4,
                               **ON_POLICY), 64),
    "ppo-graph": (lambda s: PPO("MlpPolicy", HotNodeEnv(node_choice=True), seed=s, **ON_POLICY), 64),
    "ppo-residual": (lambda s: PPO("MlpPolicy", "Pendulum-v1", seed=s, base_policy=zero_base, **ON_POLICY), 64),
    "ppo-extensions": (lambda s: PPO("MlpPolicy", "CartPole-v1", seed=s, **ON_POLICY, **ON_EXTENSIONS), 64),
    "a2c-box": (lambda s: A2C("MlpPolicy", "Pendulum-v1", seed=s, n_steps=8, device="cpu"), 64),
    "a2c-gsde": (lambda s: A2C("MlpPolicy", "Pendulum-v1", seed=s, n_steps=8, use_sde=True, device="cpu"), 64),
    "sac": (lambda s: SAC("MlpPolicy", "Pendulum-v1", seed=s, **OFF_POLICY), 64),
    "sac-gsde": (lambda s: SAC("MlpPolicy", "Pendulum-v1", seed=s, use_sde=True, **OFF_POLICY), 64),
    "sac-residual": (lambda s: SAC("MlpPolicy", "Pendulum-v1", seed=s, base_policy=zero_base, **OFF_POLICY), 64),
    "sac-extensions": (lambda s: SAC("MlpPolicy", "Pendulum-v1", seed=s, **OFF_POLICY, **OFF_EXTENSIONS), 64),
    "td3": (lambda s: TD3("MlpPolicy", "Pendulum-v1", seed=s, **OFF_POLICY), 64),
    "td3-extensions": (lambda s: TD3("MlpPolicy", "Pendulum-v1", seed=s, **OFF_POLICY, **OFF_EXTENSIONS), 64),
    "ddpg": (lambda s: DDPG("MlpPolicy", "Pendulum-v1", seed=s, **OFF_POLICY), 64),
    "dqn": (lambda s: DQN("MlpPolicy", "CartPole-v1", seed=s, **OFF_POLICY), 64),
    "dqn-graph": (lambda s: DQN("MlpPolicy", HotNodeEnv(), seed=s, learning_starts=32, batch_size=16,
                                buffer_size=500, device="cpu"), 64),
}


def global_states() -> tuple[torch.Tensor, Any, Any]:
    return torch.get_rng_state(), np.random.get_state(), random.getstate()


def assert_global_states_equal(before: tuple[torch.Tensor, Any, Any]) -> None:
    torch_state, numpy_state, python_state = global_states()
    assert torch.equal(torch_state, before[0]), "torch's global generator moved"
    assert numpy_state[0] == before[1][0] and np.array_equal(numpy_state[1], before[1][1]) \
        and numpy_state[2:] == before[1][2:], "NumPy's global generator moved"
    assert python_state == before[2], "Python's random moved"


def unrelated_draws() -> None:
    """What other code in the process might draw between building a model and training it."""
    torch.rand(1000)
    np.random.rand(1000)
    random.random()


def weights(model: Any) -> dict[str, torch.Tensor]:
    out = {f"policy.{k}": v.detach().clone() for k, v in model.policy.state_dict().items()}
    for name, module in model.aux_modules.items():
        out.update({f"aux.{name}.{k}": v.detach().clone() for k, v in module.state_dict().items()})
    return out


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"tensors differ: {different}"


def stochastic_actions(model: Any) -> np.ndarray:
    """Three stochastic predictions for the env's current observations."""
    return np.stack([np.asarray(model.predict(model.collection.observations)[0]) for _ in range(3)])


@pytest.mark.parametrize("case", list(CASES))
def test_an_unrelated_global_draw_between_construction_and_learn_changes_nothing(case: str) -> None:
    build, steps = CASES[case]
    plain = build(0).learn(steps)
    disturbed = build(0)
    unrelated_draws()
    disturbed.learn(steps // 2)
    unrelated_draws()
    disturbed.learn(steps - steps // 2, reset_num_timesteps=False)
    assert disturbed.num_timesteps == plain.num_timesteps
    assert_same_weights(weights(plain), weights(disturbed))
    unrelated_draws()
    np.testing.assert_array_equal(stochastic_actions(plain), stochastic_actions(disturbed))


@pytest.mark.parametrize("case", ["ppo-gsde", "ppo-graph", "ppo-residual", "ppo-extensions", "sac-gsde",
                                  "td3", "dqn"])
def test_construction_learn_and_predict_leave_the_global_generators_alone(case: str) -> None:
    build, steps = CASES[case]
    torch.manual_seed(11)
    np.random.seed(11)
    random.seed(11)
    before = global_states()
    model = build(0)
    model.learn(steps)
    stochastic_actions(model)
    assert_global_states_equal(before)


@pytest.mark.parametrize("case", ["ppo-gsde", "ppo-residual", "sac-extensions", "dqn"])
@pytest.mark.parametrize("seed", [0, None])
def test_load_leaves_the_global_generators_alone(tmp_path: Path, case: str, seed: int | None) -> None:
    build, steps = CASES[case]
    path = build(seed).learn(steps).save(tmp_path / "model")
    torch.manual_seed(5)
    before = global_states()
    loaded = type(build(0)).load(path, device="cpu")
    assert_global_states_equal(before)
    assert loaded.num_timesteps == steps


def test_an_unseeded_model_follows_a_global_seed_set_before_it_is_built() -> None:
    """SB3's habit: ``torch.manual_seed(s)`` before building a model with ``seed=None`` fixes its weights."""
    torch.manual_seed(3)
    first = weights(PPO("MlpPolicy", "Pendulum-v1", device="cpu"))
    torch.manual_seed(3)
    second = weights(PPO("MlpPolicy", "Pendulum-v1", device="cpu"))
    assert_same_weights(first, second)
    third = weights(PPO("MlpPolicy", "Pendulum-v1", device="cpu"))
    assert any(not torch.equal(first[k], third[k]) for k in first)


def test_seeded_initial_weights_do_not_depend_on_the_global_generator() -> None:
    torch.manual_seed(1)
    first = weights(SAC("MlpPolicy", "Pendulum-v1", seed=4, device="cpu", policy_kwargs={"net_arch": [16]}))
    unrelated_draws()
    second = weights(SAC("MlpPolicy", "Pendulum-v1", seed=4, device="cpu", policy_kwargs={"net_arch": [16]}))
    assert_same_weights(first, second)


@pytest.mark.parametrize("case", ["ppo-gsde", "ppo-graph", "sac", "td3-extensions", "a2c-box"])
def test_save_load_continues_the_model_stream(tmp_path: Path, case: str) -> None:
    """A loaded model continues the saved stream: training it on goes as the saved model's training
    goes on, whatever was drawn from the global generators in between."""
    build, steps = CASES[case]
    model = build(0).learn(steps)
    loaded = type(model).load(model.save(tmp_path / "model", include_replay_buffer=hasattr(model, "replay_buffer")),
                              env=model.env, device="cpu")
    model.collection.observations = None  # the loaded model resets the env first; so does this one
    unrelated_draws()
    model.learn(steps, reset_num_timesteps=False)
    unrelated_draws()
    loaded.learn(steps, reset_num_timesteps=False)
    assert_same_weights(weights(model), weights(loaded))
