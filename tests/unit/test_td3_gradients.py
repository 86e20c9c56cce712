"""TD3's and DDPG's closed-form gradient step equals the autograd update, and is used only where it applies."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from ballast import DDPG, TD3, BaseCallback
from ballast.algos.td3_gradients import closed_form_gradients
from ballast.envs.controllers import pendulum_swing_up

BATCH = 48
DEVICES = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def _model(algo: type, obs_dim: int, action_dim: int, device: str, **kwargs) -> TD3:
    policy_kwargs = dict(net_arch=kwargs.pop("net_arch", [32, 24]), activation_fn=kwargs.pop("activation", "ReLU"))
    if algo is TD3:
        policy_kwargs["n_critics"] = kwargs.pop("n_critics", 2)
    model = algo("MlpPolicy", None, observation_space=spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32),
                 action_space=spaces.Box(-2.0, 2.0, (action_dim,), np.float32), seed=0, device=device,
                 learning_rate=1e-3, tau=0.05, policy_kwargs=policy_kwargs, **kwargs)
    with torch.no_grad():  # some actions near the tanh's saturation
        model.policy.actor.mu.weight.mul_(5.0)
        model.policy.actor_target.mu.weight.mul_(5.0)
    return model


def _batches(obs_dim: int, action_dim: int, steps: int, seed: int, device: str) -> list[tuple[torch.Tensor, ...]]:
    """Transitions with terminations (discount 0) and bootstrapped steps (discount gamma)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(steps):
        discounts = torch.full((BATCH,), 0.99)
        discounts[::5] = 0.0
        batch = (torch.randn(BATCH, obs_dim, generator=g), torch.rand(BATCH, action_dim, generator=g) * 2 - 1,
                 torch.randn(BATCH, generator=g), torch.randn(BATCH, obs_dim, generator=g), discounts)
        out.append(tuple(t.to(device) for t in batch))
    return out


def _state(model: TD3) -> dict[str, torch.Tensor]:
    state = {f"policy.{k}": v.detach().clone() for k, v in model.policy.state_dict().items()}
    for group, tensors in model._extra_tensors().items():
        state.update({f"{group}.{k}": v.detach().clone() for k, v in tensors.items()})
    state["grad.critic"] = model.critic_params.param.grad.clone()
    state["grad.actor"] = model.actor_params.param.grad.clone()
    return state


CASES = [
    (TD3, dict(obs_dim=3, action_dim=1, activation="ReLU", n_critics=2)),
    (TD3, dict(obs_dim=17, action_dim=6, activation="Tanh", n_critics=3, target_policy_noise=0.0)),
    (TD3, dict(obs_dim=17, action_dim=6, activation="ReLU", n_critics=1, policy_delay=1, net_arch=[40])),
    (DDPG, dict(obs_dim=3, action_dim=2, activation="Tanh")),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("algo", "case"), CASES, ids=lambda c: "-".join(map(str, c.values()))
                         if isinstance(c, dict) else c.__name__)
def test_closed_form_step_matches_autograd(algo: type, case: dict, device: str) -> None:
    case = dict(case)
    obs_dim, action_dim = case.pop("obs_dim"), case.pop("action_dim")
    reference, fast = _model(algo, obs_dim, action_dim, device, **case), _model(algo, obs_dim, action_dim, device,
                                                                                 **case)
    closed_form = closed_form_gradients(fast)
    assert closed_form is not None
    delay = reference.config.policy_delay
    for step, batch in enumerate(_batches(obs_dim, action_dim, 6, obs_dim + action_dim, device), start=1):
        update_actor = step % delay == 0
        fast.critic_params.param.grad.fill_(123.0)  # every gradient must be written
        if update_actor:
            fast.actor_params.param.grad.fill_(123.0)
        torch.manual_seed(step)
        ref_stats = reference.update(*batch, update_actor)
        torch.manual_seed(step)
        stats = closed_form.step(*batch, update_actor)
        assert stats.keys() == ref_stats.keys()
        for key, value in ref_stats.items():
            torch.testing.assert_close(stats[key], value.detach(), rtol=1e-5, atol=1e-6, msg=key)
        state, ref_state = _state(fast), _state(reference)
        for key, value in ref_state.items():
            torch.testing.assert_close(state[key], value, rtol=1e-4, atol=1e-6, msg=key)
    assert reference.actor_params.param.grad.abs().max() > 1e-3
    assert reference.critic_params.param.grad.abs().max() > 1e-3


def test_training_with_the_closed_form_follows_the_autograd_run(monkeypatch: pytest.MonkeyPatch) -> None:
    import ballast.algos.td3 as td3_module

    def run() -> TD3:
        return TD3("MlpPolicy", "Pendulum-v1", seed=0, device="cpu", learning_starts=32, batch_size=32,
                   policy_kwargs=dict(net_arch=[32, 32])).learn(96)

    fast = run()
    monkeypatch.setattr(td3_module, "closed_form_gradients", lambda model: None)
    reference = run()
    state = fast.policy.state_dict()
    for key, value in reference.policy.state_dict().items():
        torch.testing.assert_close(state[key], value, rtol=1e-3, atol=1e-5, msg=key)
    initial = TD3("MlpPolicy", "Pendulum-v1", seed=0, device="cpu", policy_kwargs=dict(net_arch=[32, 32]))
    assert (state["actor.mu.weight"] - initial.policy.state_dict()["actor.mu.weight"]).abs().max() > 1e-3
    assert reference.logger.history[-1].keys() == fast.logger.history[-1].keys()


def test_falls_back_to_autograd_where_it_does_not_apply() -> None:
    small = dict(device="cpu", buffer_size=1_000, policy_kwargs=dict(net_arch=[8]))
    assert closed_form_gradients(TD3("MlpPolicy", "Pendulum-v1", **small)) is not None
    assert closed_form_gradients(DDPG("MlpPolicy", "Pendulum-v1", **small)) is not None
    assert closed_form_gradients(TD3("MlpPolicy", "Pendulum-v1", device="cpu", buffer_size=1_000,
                                     policy_kwargs=dict(net_arch=[8], activation_fn="ELU"))) is None
    assert closed_form_gradients(TD3("MlpPolicy", "Pendulum-v1", base_policy=pendulum_swing_up, **small)) is None

    class MyTD3(TD3):
        def compute_critic_losses(self, batch):  # noqa: ANN001, ANN202
            return super().compute_critic_losses(batch)

    assert closed_form_gradients(MyTD3("MlpPolicy", "Pendulum-v1", **small)) is None

    class Hooked(BaseCallback):
        def after_gradient_step(self, terms: dict) -> bool:
            return True

    hooked = TD3("MlpPolicy", "Pendulum-v1", **small)
    hooked._callback = Hooked()
    assert closed_form_gradients(hooked) is None
