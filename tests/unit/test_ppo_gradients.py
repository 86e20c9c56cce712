"""PPO's closed-form gradients equal autograd's on the same loss, and are used only where they apply."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ballast import PPO
from ballast.algos.ppo_gradients import closed_form_gradients
from ballast.envs.controllers import pendulum_swing_up
from ballast.extensions import LossInputs


def _model(env_id: str, **kwargs) -> PPO:
    model = PPO("MlpPolicy", env_id, seed=3, n_steps=64, batch_size=32, n_epochs=1, device="cpu", **kwargs)
    model.learn(64)
    return model


def _batch_with_clipping(model: PPO):
    batch = next(model.rollout_buffer.minibatches(48, torch.Generator().manual_seed(0)))
    # Spread the ratios over [e^-0.5, e^0.5] so that every case of the clipped surrogate occurs.
    shift = torch.linspace(-0.5, 0.5, batch.old_log_prob.shape[0])
    return dataclasses.replace(batch, old_log_prob=batch.old_log_prob + shift,
                               old_values=batch.returns + torch.linspace(-1.0, 1.0, batch.returns.shape[0]))


def _autograd(model: PPO, batch, clip_range: float, clip_range_vf: float | None):
    model.flat_params.zero_grad()
    terms, stats = model.compute_losses(batch, clip_range, clip_range_vf)
    sum(terms.values()).backward()
    return {k: v.detach() for k, v in terms.items()}, stats, model.flat_params.param.grad.clone()


CASES = [
    ("CartPole-v1", {}),
    ("CartPole-v1", {"ent_coef": 0.05, "normalize_advantage": False}),
    ("CartPole-v1", {"policy_kwargs": {"activation_fn": "ReLU", "net_arch": [32, 16, 8]}}),
    ("Pendulum-v1", {}),
    ("Pendulum-v1", {"ent_coef": 0.01, "policy_kwargs": {"net_arch": [16]}}),
]


@pytest.mark.parametrize(("env_id", "kwargs"), CASES)
@pytest.mark.parametrize("clip_range_vf", [None, 0.3])
def test_closed_form_matches_autograd(env_id: str, kwargs: dict, clip_range_vf: float | None) -> None:
    model = _model(env_id, **kwargs)
    batch = _batch_with_clipping(model)
    closed_form = closed_form_gradients(model)
    assert closed_form is not None
    ref_terms, ref_stats, ref_grad = _autograd(model, batch, 0.2, clip_range_vf)
    model.flat_params.param.grad.fill_(123.0)  # every entry must be overwritten
    terms, stats = closed_form(batch, 0.2, clip_range_vf)
    grad = model.flat_params.param.grad
    assert set(terms) == set(ref_terms)
    for name in terms:
        torch.testing.assert_close(terms[name], ref_terms[name], rtol=1e-5, atol=1e-6)
    for name in ref_stats:
        torch.testing.assert_close(stats[name], ref_stats[name].detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-4, atol=1e-6)
    assert ref_grad.abs().max() > 1e-3


def test_a_clipped_sample_contributes_no_policy_gradient() -> None:
    """Hand check of the surrogate's derivative: with A > 0 and rho above 1 + eps the sample is clipped."""
    model = _model("CartPole-v1")
    batch = next(model.rollout_buffer.minibatches(None, torch.Generator().manual_seed(0)))
    one = dataclasses.replace(batch.slice(0, 1), advantages=torch.ones(1))
    grads = closed_form_gradients(PPO("MlpPolicy", "CartPole-v1", seed=0, normalize_advantage=False, vf_coef=0.0,
                                      device="cpu"))
    assert grads is not None
    for shift, expect_zero in ((-1.0, True), (0.0, False)):  # old log-prob lower by 1: rho = e > 1.2
        sample = dataclasses.replace(one, old_log_prob=one.old_log_prob + shift)
        grads(sample, 0.2, None)
        head_grad = grads.head.weight.grad
        assert (head_grad.abs().max() == 0) == expect_zero


def test_falls_back_to_autograd_where_it_does_not_apply() -> None:
    assert closed_form_gradients(PPO("MlpPolicy", "Pendulum-v1", use_sde=True, device="cpu")) is None
    assert closed_form_gradients(PPO("MlpPolicy", "CartPole-v1", device="cpu",
                                     policy_kwargs={"activation_fn": "ELU"})) is None
    assert closed_form_gradients(PPO("MlpPolicy", "CartPole-v1", device="cpu",
                                     policy_kwargs={"net_arch": {"pi": [32], "vf": [16]}})) is None

    def extra(inputs: LossInputs) -> dict[str, tuple[torch.Tensor, float]]:
        return {"zero": (inputs.outputs.values.sum() * 0.0, 1.0)}

    assert closed_form_gradients(PPO("MlpPolicy", "CartPole-v1", device="cpu", extra_losses=[extra])) is None

    class MyPPO(PPO):
        def compute_losses(self, batch, clip_range, clip_range_vf):  # noqa: ANN001, ANN202
            return super().compute_losses(batch, clip_range, clip_range_vf)

    assert closed_form_gradients(MyPPO("MlpPolicy", "CartPole-v1", device="cpu")) is None
    # A residual policy's loss leaves the policy term out during critic warm-up.
    assert closed_form_gradients(PPO("MlpPolicy", "Pendulum-v1", device="cpu", base_policy=pendulum_swing_up,
                                     critic_warmup_steps=64)) is None
    assert closed_form_gradients(PPO("MlpPolicy", "CartPole-v1", device="cpu")) is not None
