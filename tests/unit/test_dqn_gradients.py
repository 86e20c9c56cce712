"""DQN's closed-form gradient equals autograd's, and is used only where it applies."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from ballast import DQN
from ballast.algos.dqn_gradients import closed_form_gradients
from ballast.callbacks import BaseCallback
from ballast.extensions import AuxModule


def make_batch(model: DQN, n: int, seed: int) -> tuple[torch.Tensor, ...]:
    rng = np.random.default_rng(seed)
    obs_dim = model.observation_space.shape[0]
    obs = torch.as_tensor(rng.normal(0, 2, (n, obs_dim)), dtype=torch.float32)
    next_obs = torch.as_tensor(rng.normal(0, 2, (n, obs_dim)), dtype=torch.float32)
    actions = torch.as_tensor(rng.integers(0, model.action_space.n, n))
    # Rewards large enough that some TD errors fall on each side of the Huber loss's kink.
    rewards = torch.as_tensor(rng.normal(0, 3, n), dtype=torch.float32)
    discounts = torch.as_tensor(np.where(rng.random(n) < 0.3, 0.0, 0.99 ** rng.integers(1, 4, n)),
                                dtype=torch.float32)  # terminations and n-step discounts
    return obs, actions, rewards, next_obs, discounts


@pytest.mark.parametrize(("activation", "net_arch", "double_q"), [
    ("ReLU", [64, 64], False),
    ("ReLU", [32], True),
    ("Tanh", [16, 24, 8], False),
    ("Tanh", [], True),
])
def test_closed_form_steps_equal_autograd_steps(activation, net_arch, double_q) -> None:
    def build() -> DQN:  # Acrobot: 6 observations, 3 actions
        return DQN("MlpPolicy", "Acrobot-v1", seed=0, learning_rate=1e-3, double_q=double_q, max_grad_norm=10.0,
                   policy_kwargs={"net_arch": net_arch, "activation_fn": activation})

    model, reference = build(), build()
    torch.testing.assert_close(model.q_params.param, reference.q_params.param, rtol=0, atol=0)
    closed_form = closed_form_gradients(model)
    assert closed_form is not None
    for step in range(3):
        batch = make_batch(model, 48, seed=step)
        fast = model.update(*batch, closed_form=closed_form)
        slow = reference.update(*batch)
        error = (fast["loss/q"] - slow["loss/q"]).abs().item()
        assert error <= 1e-5 * max(1.0, slow["loss/q"].abs().item())
        torch.testing.assert_close(model.q_params.param.grad, reference.q_params.param.grad, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(model.q_params.param, reference.q_params.param, rtol=1e-5, atol=1e-6)


def test_both_sides_of_the_huber_kink_are_exercised() -> None:
    model = DQN("MlpPolicy", "Acrobot-v1", seed=0, policy_kwargs={"net_arch": [8]})
    obs, actions, rewards, next_obs, discounts = make_batch(model, 48, seed=0)
    with torch.no_grad():
        q = model.policy.q_net(obs).gather(1, actions.unsqueeze(1)).squeeze(1)
        target = rewards + discounts * model.policy.q_net_target(next_obs).max(1).values
    error = (q - target).abs()
    assert (error < 1).any() and (error > 1).any()


def test_the_learning_loop_uses_it_for_the_default_q_network(monkeypatch) -> None:
    model = DQN("MlpPolicy", "CartPole-v1", seed=0, learning_starts=32, batch_size=16, train_freq=4,
                policy_kwargs={"net_arch": [16]})
    calls = []
    original = DQN.update

    def spy(self, *args, **kwargs):
        calls.append(kwargs.get("closed_form"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DQN, "update", spy)
    model.learn(64)
    assert calls and all(c is not None for c in calls)


class Probe(torch.nn.Module):
    def __init__(self, in_dim: int = 4) -> None:
        super().__init__()
        self.net = torch.nn.Linear(in_dim, 1)


class CustomLoss(DQN):
    def compute_losses(self, batch):
        return super().compute_losses(batch)


def test_it_steps_aside_where_it_does_not_apply() -> None:
    small = {"net_arch": [8]}
    assert closed_form_gradients(CustomLoss("MlpPolicy", "CartPole-v1", policy_kwargs=small)) is None
    assert closed_form_gradients(DQN("MlpPolicy", "CartPole-v1",
                                     policy_kwargs={**small, "activation_fn": "ELU"})) is None
    aux = AuxModule(Probe, {"in_dim": 4}, optimizer="shared")
    assert closed_form_gradients(DQN("MlpPolicy", "CartPole-v1", policy_kwargs=small, aux_modules={"aux": aux})) is None
    dict_env = gym.wrappers.TransformObservation(
        gym.make("CartPole-v1"), lambda o: {"x": o},
        gym.spaces.Dict({"x": gym.make("CartPole-v1").observation_space}))
    assert closed_form_gradients(DQN("MultiInputPolicy", dict_env, policy_kwargs=small)) is None
    assert closed_form_gradients(DQN("MlpPolicy", "CartPole-v1", policy_kwargs=small)) is not None


class ObservingCallback(BaseCallback):
    """Overrides on_minibatch (so a batch could change before its update) without changing anything."""

    def on_minibatch(self, batch) -> bool:
        return True


def test_targets_of_a_chunk_at_once_equal_targets_per_step(monkeypatch) -> None:
    def build() -> DQN:
        return DQN("MlpPolicy", "CartPole-v1", seed=3, learning_starts=100, batch_size=32, train_freq=16,
                   gradient_steps=8, target_update_interval=50, policy_kwargs={"net_arch": [32, 32]})

    given = []
    original = DQN.update

    def spy(self, *args, **kwargs):
        given.append(kwargs.get("target") is not None)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DQN, "update", spy)
    chunked, per_step = build(), build()
    chunked.learn(600)
    assert given and all(given)
    given.clear()
    per_step.learn(600, callback=ObservingCallback())
    assert given and not any(given)
    assert chunked._n_updates == per_step._n_updates > 200
    torch.testing.assert_close(chunked.q_params.param, per_step.q_params.param, rtol=1e-4, atol=1e-5)


def test_precomputed_targets_need_the_closed_form() -> None:
    from ballast.errors import ConfigurationError

    model = DQN("MlpPolicy", "Acrobot-v1", seed=0, policy_kwargs={"net_arch": [8]})
    obs, actions, rewards, next_obs, discounts = make_batch(model, 16, seed=0)
    with pytest.raises(ConfigurationError, match="closed_form"):
        model.update(obs, actions, rewards, next_obs, discounts, target=rewards)
