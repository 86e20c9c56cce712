"""SAC's closed-form gradient step equals the autograd update, and is used only where it applies."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from ballast import SAC, BaseCallback
from ballast.algos.sac_gradients import closed_form_gradients
from ballast.callbacks import CallbackList, has_gradient_hooks
from ballast.envs.controllers import pendulum_swing_up
from ballast.extensions import AuxModule, LossInputs

BATCH = 48


def _model(obs_dim: int, action_dim: int, device: str = "cpu", **kwargs) -> SAC:
    net_arch = kwargs.pop("net_arch", [32, 24])
    activation = kwargs.pop("activation", "ReLU")
    policy_kwargs = dict(net_arch=net_arch, activation_fn=activation, n_critics=kwargs.pop("n_critics", 2),
                         share_features_extractor=kwargs.pop("share", False))
    return SAC("MlpPolicy", None, observation_space=spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32),
               action_space=spaces.Box(-2.0, 2.0, (action_dim,), np.float32), seed=0, device=device,
               learning_rate=1e-3, tau=0.05, policy_kwargs=policy_kwargs, **kwargs)


def _spread_log_std(model: SAC) -> None:
    """Biases that put some of the actor's raw log-stds beyond the clamp range [-20, 2], so that its
    zero gradient there is exercised; and larger output weights, so that tanh saturates for some."""
    with torch.no_grad():
        layer = model.policy.actor.log_std
        layer.bias[0] = 2.0
        if layer.bias.shape[0] > 1:
            layer.bias[1] = -20.0
            layer.weight[1].mul_(30.0)
        layer.weight[0].mul_(30.0)
        model.policy.actor.mu.weight.mul_(3.0)


def _batches(obs_dim: int, action_dim: int, steps: int, seed: int) -> list[tuple[torch.Tensor, ...]]:
    """Transitions with terminations (discount 0), truncations and ordinary steps (discount gamma)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(steps):
        obs = torch.randn(BATCH, obs_dim, generator=g)
        actions = torch.rand(BATCH, action_dim, generator=g) * 2 - 1
        rewards = torch.randn(BATCH, generator=g)
        next_obs = torch.randn(BATCH, obs_dim, generator=g)
        discounts = torch.full((BATCH,), 0.99)
        discounts[::5] = 0.0  # terminated: no bootstrap
        discounts[1::7] = 0.99  # truncated: bootstraps from the final observation like any step
        out.append((obs, actions, rewards, next_obs, discounts))
    return out


def _state(model: SAC) -> dict[str, torch.Tensor]:
    state = {f"policy.{k}": v.detach().clone() for k, v in model.policy.state_dict().items()}
    for group, tensors in model._extra_tensors().items():
        state.update({f"{group}.{k}": v.detach().clone() for k, v in tensors.items()})
    state["grad.actor"] = model.actor_params.param.grad.clone()
    state["grad.critic"] = model.critic_params.param.grad.clone()
    if model.log_ent_coef is not None:
        state["grad.log_ent_coef"] = model.log_ent_coef.grad.clone()
    return state


def _assert_same(closed: dict[str, torch.Tensor], reference: dict[str, torch.Tensor], rtol: float,
                 atol: float) -> None:
    assert closed.keys() == reference.keys()
    for key in reference:
        torch.testing.assert_close(closed[key], reference[key], rtol=rtol, atol=atol, msg=lambda m, k=key: f"{k}: {m}")


CASES = [
    dict(obs_dim=3, action_dim=1, activation="ReLU", n_critics=2, ent_coef="auto", target_update_interval=1),
    dict(obs_dim=3, action_dim=1, activation="Tanh", n_critics=1, ent_coef=0.1, target_update_interval=2),
    dict(obs_dim=17, action_dim=6, activation="ReLU", n_critics=3, ent_coef=0.1, target_update_interval=1),
    dict(obs_dim=17, action_dim=6, activation="Tanh", n_critics=2, ent_coef="auto_0.5", target_update_interval=2),
    dict(obs_dim=17, action_dim=6, activation="ReLU", n_critics=2, ent_coef="auto", target_update_interval=1,
         net_arch=[40]),
    dict(obs_dim=3, action_dim=2, activation="ReLU", n_critics=2, ent_coef="auto", target_update_interval=1,
         net_arch=[]),
    dict(obs_dim=17, action_dim=1, activation="Tanh", n_critics=2, ent_coef="auto", target_update_interval=1,
         share=True),
]


DEVICES = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{v}" for v in c.values()))
def test_closed_form_step_matches_autograd(case: dict, device: str) -> None:
    case = dict(case)
    obs_dim, action_dim = case.pop("obs_dim"), case.pop("action_dim")
    reference, fast = _model(obs_dim, action_dim, device, **case), _model(obs_dim, action_dim, device, **case)
    for model in (reference, fast):
        _spread_log_std(model)
    _assert_same(_state(fast), _state(reference), rtol=0, atol=0)
    closed_form = closed_form_gradients(fast)
    assert closed_form is not None
    interval = case["target_update_interval"]
    for step, batch in enumerate(_batches(obs_dim, action_dim, steps=6, seed=obs_dim + action_dim), start=1):
        batch = tuple(t.to(device) for t in batch)
        fast.actor_params.param.grad.fill_(123.0)  # every gradient must be written
        fast.critic_params.param.grad.fill_(123.0)
        update_target = step % interval == 0
        torch.manual_seed(step)
        ref_stats = reference.update(*batch, update_target)
        torch.manual_seed(step)
        stats = closed_form.step(*batch, update_target)
        assert stats.keys() == ref_stats.keys()
        for key, value in ref_stats.items():
            torch.testing.assert_close(stats[key], value.detach(), rtol=1e-5, atol=1e-6, msg=key)
        _assert_same(_state(fast), _state(reference), rtol=1e-4, atol=1e-6)
    # The test has teeth: the gradients and the step are far from zero, and the targets moved.
    assert reference.actor_params.param.grad.abs().max() > 1e-3
    assert reference.critic_params.param.grad.abs().max() > 1e-3
    critic_target = dict(reference.policy.critic_target.named_parameters())
    assert any(not torch.equal(p, critic_target[k]) for k, p in reference.policy.critic.named_parameters())


@pytest.mark.parametrize("n_critics", [2, 3])
def test_the_minimum_backpropagates_through_each_samples_chosen_critic_only(n_critics: int) -> None:
    """On CPU each critic backpropagates only the rows where it is the minimum; the result equals
    backpropagating ``-1/B`` into the chosen critic and zeros into the others."""
    model = _model(17, 6, n_critics=n_critics, activation="Tanh")
    critic = closed_form_gradients(model).critic
    x = torch.randn(BATCH, 23, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        q, hidden = critic.forward(x)
        chosen = q.min(dim=0).indices
        assert len(set(chosen.tolist())) > 1
        d_q = torch.zeros_like(q).scatter_(0, chosen.unsqueeze(0), -1.0 / BATCH)
        expected = critic.input_grad(critic.backward(hidden, d_q, weight_grads=False), slice(17, None))
        torch.testing.assert_close(critic.min_input_grad(hidden, chosen, -1.0 / BATCH, slice(17, None)), expected,
                                   rtol=1e-5, atol=1e-7)
        # and by autograd, through Q's minimum
        actions = x[:, 17:].clone().requires_grad_(True)
    with torch.enable_grad():
        q_min = model.policy.critic.q_from_features(x[:, :17], actions, detach_params=True).min(dim=0).values
        (-q_min.mean()).backward()
    torch.testing.assert_close(expected, actions.grad, rtol=1e-5, atol=1e-7)


def test_the_clamped_log_std_gets_no_gradient_and_an_unclamped_one_does() -> None:
    model = _model(3, 2, activation="ReLU", ent_coef=0.1)
    with torch.no_grad():
        layer = model.policy.actor.log_std
        layer.weight.zero_()
        layer.bias.copy_(torch.tensor([2.5, -1.0]))  # the first beyond LOG_STD_MAX for every sample
    closed_form = closed_form_gradients(model)
    closed_form.step(*_batches(3, 2, steps=1, seed=0)[0], update_target=True)
    assert model.policy.actor.log_std.bias.grad[0] == 0
    assert model.policy.actor.log_std.bias.grad[1] != 0


def test_train_uses_the_closed_form_and_learning_still_logs_the_same_keys() -> None:
    model = SAC("MlpPolicy", "Pendulum-v1", seed=0, device="cpu", learning_starts=32, batch_size=16,
                policy_kwargs=dict(net_arch=[16, 16]))

    def autograd_update(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("the closed form should have been used")

    model.update = autograd_update
    model.learn(64)
    row = model.logger.history[-1]
    expected = {"train/critic_loss", "train/actor_loss", "train/ent_coef", "train/ent_coef_loss", "train/loss",
                "loss/critic", "loss/actor", "loss/alpha"}
    assert expected <= set(row)
    assert np.isfinite([row[k] for k in expected]).all()


class _Hooked(BaseCallback):
    def before_gradient_step(self, terms: dict) -> bool:
        return True


def _zero_extra(inputs: LossInputs) -> dict[str, torch.Tensor]:
    return {"zero": inputs.outputs.actor.log_prob.sum() * 0.0}


def test_falls_back_to_autograd_where_it_does_not_apply() -> None:
    small = dict(device="cpu", policy_kwargs=dict(net_arch=[8]))
    assert closed_form_gradients(SAC("MlpPolicy", "Pendulum-v1", **small)) is not None
    assert closed_form_gradients(SAC("MlpPolicy", "Pendulum-v1", normalize_observations=True, **small)) is not None
    assert closed_form_gradients(SAC("MlpPolicy", "Pendulum-v1", use_sde=True, **small)) is None
    assert closed_form_gradients(SAC("MlpPolicy", "Pendulum-v1", device="cpu",
                                     policy_kwargs=dict(net_arch=[8], activation_fn="ELU"))) is None
    assert closed_form_gradients(SAC("MlpPolicy", "Pendulum-v1", device="cpu", policy_kwargs=dict(
        net_arch=[8], features_extractor_kwargs=dict(net_arch=[8])))) is None
    assert closed_form_gradients(SAC("MlpPolicy", "Pendulum-v1", extra_losses=[_zero_extra], **small)) is None
    aux = {"head": AuxModule(torch.nn.Linear, {"in_features": 3, "out_features": 1})}
    assert closed_form_gradients(SAC("MlpPolicy", "Pendulum-v1", aux_modules=aux, **small)) is None
    assert closed_form_gradients(SAC("MlpPolicy", "Pendulum-v1", base_policy=pendulum_swing_up, **small)) is None

    class MySAC(SAC):
        def compute_actor_losses(self, batch, pi, ent_coef):  # noqa: ANN001, ANN202
            return super().compute_actor_losses(batch, pi, ent_coef)

    assert closed_form_gradients(MySAC("MlpPolicy", "Pendulum-v1", **small)) is None
    hooked = SAC("MlpPolicy", "Pendulum-v1", **small)
    hooked._callback = CallbackList([BaseCallback(), _Hooked()])
    assert closed_form_gradients(hooked) is None
    hooked._callback = CallbackList([BaseCallback()])
    assert closed_form_gradients(hooked) is not None
    assert has_gradient_hooks(_Hooked()) and not has_gradient_hooks(None)


def test_update_hooks_see_the_autograd_update() -> None:
    calls = []

    class Recorder(BaseCallback):
        def after_gradient_step(self, terms: dict) -> bool:
            calls.append(sorted(terms))
            return True

    model = SAC("MlpPolicy", "Pendulum-v1", seed=0, device="cpu", learning_starts=16, batch_size=8,
                policy_kwargs=dict(net_arch=[8]))
    model.learn(20, callback=Recorder())
    assert calls and calls[-1] == ["actor", "alpha", "critic"]


def test_training_with_the_closed_form_follows_the_autograd_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seeded runs through SAC.train (replay sampling, target update interval, logging) with and
    without the closed form end with the same weights, up to rounding grown over the steps."""
    import ballast.algos.sac as sac_module

    def run() -> SAC:
        model = SAC("MlpPolicy", "Pendulum-v1", seed=0, device="cpu", learning_starts=32, batch_size=32,
                    target_update_interval=2, policy_kwargs=dict(net_arch=[32, 32]))
        return model.learn(96)

    fast = run()
    monkeypatch.setattr(sac_module, "closed_form_gradients", lambda model: None)
    reference = run()
    state, reference_state = fast.policy.state_dict(), reference.policy.state_dict()
    for key, value in reference_state.items():
        torch.testing.assert_close(state[key], value, rtol=1e-3, atol=1e-5, msg=key)
    assert reference.logger.history[-1].keys() == fast.logger.history[-1].keys()
    assert reference._n_updates == fast._n_updates == 64
    initial = SAC("MlpPolicy", "Pendulum-v1", seed=0, device="cpu", policy_kwargs=dict(net_arch=[32, 32]))
    for key in ("actor.mu.weight", "critic.mlp.weights.1", "critic_target.mlp.weights.1"):
        assert (reference_state[key] - initial.policy.state_dict()[key]).abs().max() > 1e-3, key
