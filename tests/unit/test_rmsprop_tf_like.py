"""``RMSpropTFLike``: TensorFlow's RMSprop (square average from 1, epsilon inside the square root)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ballast.checkpoint import optimizer_from_tensors, optimizer_to_tensors
from ballast.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike


def step_with(optimizer: torch.optim.Optimizer, param: torch.nn.Parameter, grad: torch.Tensor) -> None:
    param.grad = grad.clone()
    optimizer.step()


def test_two_steps_by_hand():
    p = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    optimizer = RMSpropTFLike([p], lr=0.1, alpha=0.9, eps=1e-8)
    step_with(optimizer, p, torch.tensor([0.5], dtype=torch.float64))
    # s = 0.9 * 1 + 0.1 * 0.5^2 = 0.925; p = 1 - 0.1 * 0.5 / sqrt(0.925 + 1e-8)
    assert optimizer.state[p]["square_avg"].item() == pytest.approx(0.925, abs=1e-15)
    assert p.item() == pytest.approx(0.94801247579001, abs=1e-12)
    step_with(optimizer, p, torch.tensor([0.5], dtype=torch.float64))
    # s = 0.9 * 0.925 + 0.025 = 0.8575; p = 0.948012... - 0.05 / sqrt(0.8575 + 1e-8)
    assert optimizer.state[p]["square_avg"].item() == pytest.approx(0.8575, abs=1e-15)
    assert p.item() == pytest.approx(0.8940175513892453, abs=1e-12)
    assert optimizer.state[p]["step"].item() == 2


def test_the_first_step_is_much_smaller_than_torch_rmsprops():
    ours = torch.nn.Parameter(torch.tensor([1.0]))
    theirs = torch.nn.Parameter(torch.tensor([1.0]))
    step_with(RMSpropTFLike([ours], lr=0.1, alpha=0.9), ours, torch.tensor([0.5]))
    step_with(torch.optim.RMSprop([theirs], lr=0.1, alpha=0.9), theirs, torch.tensor([0.5]))
    # torch: s = 0.025 (from 0), p = 1 - 0.1 * 0.5 / (sqrt(0.025) + 1e-8) = 0.68377...
    assert theirs.item() == pytest.approx(0.6837722539831608, abs=1e-6)
    assert ours.item() == pytest.approx(0.94801247579001, abs=1e-6)


def sb3_reference(p: np.ndarray, grads: list[np.ndarray], lr: float, alpha: float, eps: float, weight_decay: float,
                  momentum: float, centered: bool) -> np.ndarray:
    """SB3's RMSpropTFLike update, written out in NumPy (float64)."""
    square_avg, grad_avg, buffer = np.ones_like(p), np.zeros_like(p), np.zeros_like(p)
    for grad in grads:
        grad = grad + weight_decay * p
        square_avg = alpha * square_avg + (1 - alpha) * grad * grad
        if centered:
            grad_avg = alpha * grad_avg + (1 - alpha) * grad
            avg = np.sqrt(square_avg - grad_avg * grad_avg + eps)
        else:
            avg = np.sqrt(square_avg + eps)
        if momentum > 0:
            buffer = momentum * buffer + grad / avg
            p = p - lr * buffer
        else:
            p = p - lr * grad / avg
    return p


@pytest.mark.parametrize("settings", [
    dict(),
    dict(momentum=0.9),
    dict(centered=True),
    dict(weight_decay=0.01, momentum=0.5, centered=True),
])
def test_matches_sb3s_formula_over_several_steps(settings):
    rng = np.random.default_rng(0)
    start = rng.normal(size=(3, 4))
    grads = [rng.normal(size=(3, 4)) for _ in range(5)]
    options = {**dict(lr=0.01, alpha=0.99, eps=1e-5, weight_decay=0.0, momentum=0.0, centered=False), **settings}
    p = torch.nn.Parameter(torch.tensor(start))
    optimizer = RMSpropTFLike([p], **options)
    for grad in grads:
        step_with(optimizer, p, torch.tensor(grad))
    np.testing.assert_allclose(p.detach().numpy(), sb3_reference(start, grads, **options), rtol=0, atol=1e-12)


def test_state_saves_as_tensors_and_resumes_identically():
    torch.manual_seed(0)
    grads = [torch.randn(5) for _ in range(4)]
    p = torch.nn.Parameter(torch.zeros(5))
    optimizer = RMSpropTFLike([p], lr=0.01, momentum=0.9, centered=True)
    for grad in grads[:2]:
        step_with(optimizer, p, grad)
    tensors, data = optimizer_to_tensors(optimizer)
    assert set(tensors) == {"0/step", "0/square_avg", "0/momentum_buffer", "0/grad_avg"}
    copy = torch.nn.Parameter(p.detach().clone())
    resumed = RMSpropTFLike([copy], lr=0.01, momentum=0.9, centered=True)
    optimizer_from_tensors(resumed, {k: v.clone() for k, v in tensors.items()}, data)  # as read from a file
    for grad in grads[2:]:
        step_with(optimizer, p, grad)
        step_with(resumed, copy, grad)
    assert torch.equal(p, copy)


@pytest.mark.parametrize("bad", [dict(lr=-1.0), dict(eps=-1e-8), dict(alpha=-0.5), dict(momentum=-0.1),
                                 dict(weight_decay=-1.0)])
def test_invalid_hyperparameters_are_refused(bad):
    with pytest.raises(ValueError, match="Invalid"):
        RMSpropTFLike([torch.nn.Parameter(torch.zeros(1))], **bad)
