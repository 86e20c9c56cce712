"""Batch renormalisation (ballast.policies.batch_renorm) against hand-computed values: the pure
functions, the layer in train mode (warm-up, then renormalising), its running statistics and step
counter, eval mode, stacked copies, and the mode switch of its layers only."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ballast.policies.batch_renorm import (
    BatchRenorm,
    BatchRenormMLP,
    BatchRenormOptions,
    batch_statistics,
    normalize,
    normalizing_statistics,
    renorm_correction,
    set_batch_renorm_training,
    updated_running_statistics,
)
from ballast.policies.modes import set_training_mode


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values)


def test_batch_statistics_are_the_mean_and_the_unbiased_variance():
    x = torch.tensor([[0.0, 2.0], [2.0, 4.0], [4.0, 0.0]])
    mean, var = batch_statistics(x)
    torch.testing.assert_close(mean, t(2.0, 2.0))
    torch.testing.assert_close(var, t(4.0, 4.0))  # (4 + 0 + 4) / (3 - 1)
    torch.testing.assert_close(var, x.var(dim=0))


def test_correction_is_clipped_and_carries_no_gradient():
    # sigma_B = sqrt(16) = 4 and 1, sigma = sqrt(1) = 1 and sqrt(4) = 2 (eps = 0):
    # r = 4 / 1 -> clipped to r_max = 3 and 1 / 2; d = (1 - 0) / 1 and (30 - 0) / 2 = 15 -> clipped to d_max = 5
    batch_mean = t(1.0, 30.0).requires_grad_()
    batch_var = t(16.0, 1.0).requires_grad_()
    r, d = renorm_correction(batch_mean, batch_var, t(0.0, 0.0), t(1.0, 4.0), eps=0.0)
    torch.testing.assert_close(r, t(3.0, 0.5))
    torch.testing.assert_close(d, t(1.0, 5.0))
    assert not r.requires_grad and not d.requires_grad
    # r below 1 / r_max and d below -d_max: sigma_B = 0.1, sigma = 1, mu_B - mu = -7
    r, d = renorm_correction(t(-7.0), t(0.01), t(0.0), t(1.0), eps=0.0)
    torch.testing.assert_close(r, t(1 / 3))
    torch.testing.assert_close(d, t(-5.0))


def test_normalizing_statistics_before_and_after_the_warmup():
    batch_mean, batch_var, running_mean, running_var = t(1.0, 30.0), t(16.0, 1.0), t(0.0, 0.0), t(1.0, 4.0)
    mean, var = normalizing_statistics(batch_mean, batch_var, running_mean, running_var, 0.0, renorm=False)
    assert mean is batch_mean and var is batch_var  # plain batch norm during the warm-up
    # r = (3, 0.5), d = (1, 5): mean = mu_B - d * sqrt(var_B) / r = (1 - 4/3, 30 - 5 / 0.5), var = var_B / r^2
    mean, var = normalizing_statistics(batch_mean, batch_var, running_mean, running_var, 0.0, renorm=True)
    torch.testing.assert_close(mean, t(-1 / 3, 20.0))
    torch.testing.assert_close(var, t(16 / 9, 4.0))


def test_running_statistics_move_by_the_momentum():
    mean, var = updated_running_statistics(t(0.0, 0.0), t(1.0, 4.0), t(1.0, 30.0), t(16.0, 1.0), momentum=0.1)
    torch.testing.assert_close(mean, t(0.1, 3.0))
    torch.testing.assert_close(var, t(2.5, 3.7))  # 1 + 0.1 * 15, 4 + 0.1 * (1 - 4)


def test_normalize_is_the_affine_map_of_the_statistics():
    # (2 + 1/3) / sqrt(16/9) * 2 + 0 = 3.5; (24 - 20) / sqrt(4) * 1 + 1 = 3
    x = torch.tensor([[2.0, 24.0]])
    out = normalize(x, t(-1 / 3, 20.0), t(16 / 9, 4.0), 0.0, t(2.0, 1.0), t(0.0, 1.0))
    torch.testing.assert_close(out, torch.tensor([[3.5, 3.0]]))
    torch.testing.assert_close(normalize(x, t(0.0, 0.0), t(3.0, 0.0), 1.0, None, None), torch.tensor([[1.0, 24.0]]))


def test_layer_in_train_mode_warms_up_then_renormalises():
    layer = BatchRenorm(2, BatchRenormOptions(momentum=0.5, eps=0.0, warmup_steps=1))
    x = torch.tensor([[0.0, 2.0], [2.0, 4.0], [4.0, 0.0]])  # mu_B = 2, var_B = 4 in both columns
    plain = torch.tensor([[-1.0, 0.0], [0.0, 1.0], [1.0, -1.0]])  # (x - 2) / 2
    torch.testing.assert_close(layer(x), plain)  # steps 0: batch norm
    torch.testing.assert_close(layer.ra_mean, t(1.0, 1.0))  # 0 + 0.5 * (2 - 0)
    torch.testing.assert_close(layer.ra_var, t(2.5, 2.5))  # 1 + 0.5 * (4 - 1)
    assert layer.steps.item() == 1
    torch.testing.assert_close(layer(x), plain)  # steps 1 is not more than warmup_steps 1: still batch norm
    torch.testing.assert_close(layer.ra_mean, t(1.5, 1.5))
    torch.testing.assert_close(layer.ra_var, t(3.25, 3.25))
    # steps 2 > 1: r = 2 / sqrt(3.25) = 4 / sqrt(13), d = (2 - 1.5) / sqrt(3.25) = 1 / sqrt(13),
    # output r (x - 2) / 2 + d: x = 0 -> -3 / sqrt(13), 2 -> 1 / sqrt(13), 4 -> 5 / sqrt(13)
    s = math.sqrt(13.0)
    torch.testing.assert_close(layer(x), torch.tensor([[-3 / s, 1 / s], [1 / s, 5 / s], [5 / s, -3 / s]]))
    assert layer.steps.item() == 3


def test_gradients_flow_through_the_batch_statistics_not_the_correction():
    torch.manual_seed(0)
    layer = BatchRenorm(3, BatchRenormOptions(eps=0.0, warmup_steps=0))
    layer.steps.fill_(5)
    layer.ra_mean.copy_(t(0.5, -0.5, 0.0))
    layer.ra_var.copy_(t(2.0, 0.5, 1.0))
    x = torch.randn(8, 3, dtype=torch.float64).float().requires_grad_()
    layer(x).square().sum().backward()
    mean, var = batch_statistics(x.detach())
    r, d = renorm_correction(mean, var, layer.ra_mean.clone(), layer.ra_var.clone(), 0.0)  # stats before the call
    y = x.detach().clone().requires_grad_()
    m, v = batch_statistics(y)
    expected = ((y - (m - d * v.sqrt() / r)) / (v / r**2).sqrt()).square().sum()
    expected.backward()
    torch.testing.assert_close(x.grad, y.grad)
    assert layer.scale.grad is not None and layer.bias.grad is not None


def test_eval_mode_uses_the_running_statistics_and_changes_nothing():
    layer = BatchRenorm(2, BatchRenormOptions(eps=0.5, warmup_steps=0))
    with torch.no_grad():
        layer.ra_mean.copy_(t(1.0, -1.0))
        layer.ra_var.copy_(t(3.5, 0.5))
        layer.scale.copy_(t(2.0, 3.0))
        layer.bias.copy_(t(0.5, 0.0))
    layer.eval()
    # (3 - 1) / sqrt(4) * 2 + 0.5 = 2.5; (0 + 1) / sqrt(1) * 3 + 0 = 3
    out = layer(torch.tensor([[3.0, 0.0], [1.0, -1.0]]))
    torch.testing.assert_close(out, torch.tensor([[2.5, 3.0], [0.5, 0.0]]))
    torch.testing.assert_close(layer(torch.tensor([[5.0, 7.0]])), torch.tensor([[4.5, 24.0]]))  # one row works too
    assert layer.steps.item() == 0 and torch.equal(layer.ra_mean, t(1.0, -1.0))


def test_stacked_copies_have_their_own_statistics():
    layer = BatchRenorm(1, BatchRenormOptions(momentum=1.0, eps=0.0), copies=2)
    x = torch.tensor([[[0.0], [2.0]], [[10.0], [30.0]]])  # copy 0: mean 1, var 2; copy 1: mean 20, var 200
    out = layer(x)
    torch.testing.assert_close(layer.ra_mean, torch.tensor([[1.0], [20.0]]))
    torch.testing.assert_close(layer.ra_var, torch.tensor([[2.0], [200.0]]))
    torch.testing.assert_close(out, torch.tensor([[[-1 / math.sqrt(2)], [1 / math.sqrt(2)]]] * 2))


def test_mlp_layout_and_the_mode_switch_of_its_batch_renorm_layers_only():
    mlp = BatchRenormMLP(3, [4, 5], "ReLU", copies=2, final_norm=True, options=BatchRenormOptions())
    assert [n.num_features for n in mlp.norms] == [3, 4, 5] and mlp(torch.zeros(6, 3)).shape == (2, 6, 5)
    assert [n.num_features for n in BatchRenormMLP(3, [4], "ReLU", 1, final_norm=False,
                                                   options=BatchRenormOptions()).norms] == [3]
    assert len(BatchRenormMLP(3, [4], "ReLU", 1, final_norm=True, options=None).norms) == 0  # batch_norm=False
    owner = nn.Sequential(mlp, nn.Dropout(0.5))
    owner.train()
    set_batch_renorm_training(owner, False)
    assert not any(n.training for n in mlp.norms) and owner[1].training and owner.training
    set_training_mode(owner, False)  # the policy-wide switch sees the layers' mode dependence
    set_training_mode(owner, True)
    assert all(n.training for n in mlp.norms)
    state = mlp.state_dict()
    assert {"norms.0.ra_mean", "norms.0.ra_var", "norms.0.steps", "norms.0.scale", "norms.0.bias"} <= set(state)



def warmup_reference(x: torch.Tensor, layer: BatchRenorm) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The warm-up's train-mode output and new running statistics, from the pure functions."""
    mean, var = batch_statistics(x)
    out = normalize(x, mean, var, layer.eps, layer.scale, layer.bias)
    new_mean, new_var = updated_running_statistics(layer.ra_mean, layer.ra_var, mean, var, layer.momentum)
    return out, new_mean, new_var


@pytest.mark.parametrize(("copies", "affine"), [(None, True), (2, True), (3, False)])
def test_warmup_by_the_batch_norm_kernel_is_the_pure_functions(copies: int | None, affine: bool):
    # With eps > 0 the warm-up runs on PyTorch's batch-norm kernel (biased variance, its own eps and
    # scale), which must give the output, gradients and running statistics of the unbiased formulas.
    torch.manual_seed(0)
    layer = BatchRenorm(5, BatchRenormOptions(momentum=0.1, eps=0.01), copies=copies, affine=affine)
    with torch.no_grad():
        layer.ra_mean.uniform_(-1.0, 1.0)
        layer.ra_var.uniform_(0.5, 2.0)
        if affine:
            layer.scale.uniform_(0.5, 2.0)
            layer.bias.uniform_(-1.0, 1.0)
    shape = (7, 5) if copies is None else (copies, 7, 5)
    x = (3.0 * torch.randn(shape) + 2.0).requires_grad_()
    y = x.detach().clone().requires_grad_()
    weights = torch.randn(shape)
    reference = BatchRenorm(5, BatchRenormOptions(momentum=0.1, eps=0.01), copies=copies, affine=affine)
    reference.load_state_dict(layer.state_dict())
    expected, new_mean, new_var = warmup_reference(y, reference)
    (expected * weights).sum().backward()
    assert layer._fused_batch_norm_applies(x)
    out = layer(x)
    (out * weights).sum().backward()
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(x.grad, y.grad)
    if affine:
        torch.testing.assert_close(layer.scale.grad, reference.scale.grad)
        torch.testing.assert_close(layer.bias.grad, reference.bias.grad)
    torch.testing.assert_close(layer.ra_mean, new_mean)
    torch.testing.assert_close(layer.ra_var, new_var)
    assert layer.steps.item() == 1


def test_the_kernel_is_not_used_where_it_cannot_compute_the_layer():
    layer = BatchRenorm(2, BatchRenormOptions(eps=0.01), copies=2)
    assert layer._fused_batch_norm_applies(torch.zeros(2, 4, 2))
    assert not layer._fused_batch_norm_applies(torch.zeros(2, 1, 2))  # one row: no variance
    assert not BatchRenorm(2, BatchRenormOptions(eps=0.0))._fused_batch_norm_applies(torch.zeros(4, 2))
