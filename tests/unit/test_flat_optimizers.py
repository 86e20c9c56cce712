"""The flat-parameter optimizers against PyTorch's own, step by step."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ballast.optim import FlatAdam, FlatParameters, FlatRMSprop, _flushing_denormals, denormals_flushed


def _twin_networks(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))
    twin = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))
    twin.load_state_dict(net.state_dict())
    return net, twin


def _loss(net: nn.Module, step: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(100 + step)
    x = torch.randn(8, 5, generator=generator)
    y = torch.randn(8, 3, generator=generator)
    return ((net(x) - y) ** 2).mean()


def _step(optimizer, net: nn.Module, step: int) -> None:
    optimizer.zero_grad(set_to_none=False)  # in place: a flat gradient's views stay its views
    _loss(net, step).backward()
    optimizer.step()


def _train_side_by_side(flat_optimizer, torch_optimizer, net: nn.Module, twin: nn.Module, steps: int = 6) -> None:
    for step in range(steps):
        if step == 3:  # a learning-rate change, as the schedules make between train calls
            flat_optimizer.param_groups[0]["lr"] *= 0.5
            torch_optimizer.param_groups[0]["lr"] *= 0.5
        _step(flat_optimizer, net, step)
        _step(torch_optimizer, twin, step)
        for mine, theirs in zip(net.parameters(), twin.parameters()):
            torch.testing.assert_close(mine, theirs, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("fused", [False, True])
def test_flat_adam_matches_torch_adam(fused):
    net, twin = _twin_networks()
    flat = FlatParameters(net.parameters())
    _train_side_by_side(FlatAdam(flat, lr=0.05), torch.optim.Adam(twin.parameters(), lr=0.05, fused=fused), net, twin)


def test_flat_adam_loads_a_state_with_a_float64_step():
    """The state torch.optim.Adam (not fused) keeps, and earlier Ballast checkpoints hold."""
    net, _ = _twin_networks()
    adam = FlatAdam(FlatParameters(net.parameters()), lr=0.05)
    _step(adam, net, 0)
    saved = adam.state_dict()
    saved["state"][0]["step"] = saved["state"][0]["step"].to(torch.float64)
    adam.load_state_dict(saved)
    assert adam.state["step"].dtype == torch.float32 and int(adam.state["step"]) == 1
    _step(adam, net, 1)
    assert int(adam.state["step"]) == 2


def test_flat_rmsprop_matches_torch_rmsprop():
    net, twin = _twin_networks()
    flat = FlatParameters(net.parameters())
    _train_side_by_side(FlatRMSprop(flat, lr=0.01, alpha=0.9, eps=1e-5),
                        torch.optim.RMSprop(twin.parameters(), lr=0.01, alpha=0.9, eps=1e-5), net, twin)


def test_fused_flat_adam_state_loads_into_torch_fused_adam_and_back():
    net, twin = _twin_networks()
    flat = FlatParameters(net.parameters())
    flat_twin = FlatParameters(twin.parameters())
    mine = FlatAdam(flat, lr=0.05)
    for step in range(3):
        _step(mine, net, step)
    flat_twin.param.data.copy_(flat.param.data)
    theirs = torch.optim.Adam([flat_twin.param], lr=0.05, fused=True)
    state = mine.state_dict()
    theirs.load_state_dict({"state": {0: {k: v.clone() for k, v in state["state"][0].items()}},
                            "param_groups": [{**theirs.param_groups[0], "lr": 0.05, "params": [0]}]})
    for step in range(3, 6):
        _step(mine, net, step)
        _step(theirs, twin, step)
    torch.testing.assert_close(flat.param, flat_twin.param, rtol=0, atol=0)
    reloaded = FlatAdam(flat_twin, lr=0.05)
    reloaded.load_state_dict(theirs.state_dict())
    assert reloaded.state["step"].dtype == torch.float32
    assert int(reloaded.state["step"]) == 6
    torch.testing.assert_close(reloaded.state["exp_avg"], mine.state["exp_avg"], rtol=0, atol=0)


def test_flat_clip_grad_norm_matches_torch():
    net, twin = _twin_networks()
    flat = FlatParameters(net.parameters())
    _loss(net, 0).backward()
    _loss(twin, 0).backward()
    for max_norm in (1e-3, 1e3):
        norm = flat.clip_grad_norm_(max_norm)
        expected = torch.nn.utils.clip_grad_norm_(twin.parameters(), max_norm)
        torch.testing.assert_close(norm, expected)
        for mine, theirs in zip(net.parameters(), twin.parameters()):
            torch.testing.assert_close(mine.grad, theirs.grad)


def _subnormal_count(t: torch.Tensor) -> int:
    return int(((t != 0) & (t.abs() < torch.finfo(t.dtype).tiny)).sum())


@pytest.mark.parametrize("mode_before", [False, True])
def test_denormals_flushed_restores_the_thread_s_mode(mode_before):
    if not torch.set_flush_denormal(mode_before):
        pytest.skip("this CPU has no flush-to-zero mode")
    try:
        with denormals_flushed():
            assert _flushing_denormals()
            assert float(torch.tensor(torch.finfo(torch.float32).tiny) * 0.25) == 0.0
        assert _flushing_denormals() == mode_before
    finally:
        torch.set_flush_denormal(False)


def test_flat_adam_keeps_no_subnormal_moments_and_matches_torch_adam():
    """A weight whose gradient turns zero (a dead ReLU unit): its first moment decays by beta1 a step
    into the subnormal range, where torch's Adam keeps it and FlatAdam flushes it to zero; the
    parameters stay equal."""
    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU has no flush-to-zero mode")
    mine, theirs = nn.Parameter(torch.linspace(-1.0, 1.0, 64)), nn.Parameter(torch.linspace(-1.0, 1.0, 64))
    flat = FlatParameters([mine])
    flat_adam, torch_adam = FlatAdam(flat, lr=0.01), torch.optim.Adam([theirs], lr=0.01, fused=True)
    for step in range(800):  # beta1^800 * 1e-4 is about 2e-41: subnormal
        grad = torch.full((64,), 1e-3) if step == 0 else torch.zeros(64)
        grad[:8] = 0.1 * (step % 3 - 1)  # weights that keep learning
        flat.param.grad.copy_(grad)
        theirs.grad = grad.clone()
        flat_adam.step()
        torch_adam.step()
    assert _subnormal_count(torch_adam.state[theirs]["exp_avg"]) > 0  # the case the flush is for
    assert _subnormal_count(flat_adam.state["exp_avg"]) == 0
    torch.testing.assert_close(mine.detach(), theirs.detach(), rtol=1e-6, atol=1e-7)
    assert not _flushing_denormals()


def test_a_torch_optimizer_from_policy_kwargs_steps_with_subnormals_flushed():
    from ballast.algos.optimizers import build_optimizer
    from ballast.import_path import path_of

    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU has no flush-to-zero mode")
    flat = FlatParameters([nn.Parameter(torch.linspace(-1.0, 1.0, 16))])
    optimizer = build_optimizer(flat, 0.01, path_of(torch.optim.AdamW), {"weight_decay": 0.01})
    assert isinstance(optimizer, torch.optim.AdamW)
    flat.param.grad.fill_(1e-3)
    optimizer.step()
    exp_avg = optimizer.state[flat.param]["exp_avg"]
    exp_avg.fill_(torch.finfo(torch.float32).tiny)  # the next step's 0.9 * m is subnormal
    flat.param.grad.zero_()
    optimizer.step()
    assert _subnormal_count(exp_avg) == 0 and not bool((exp_avg != 0).any())
    assert not _flushing_denormals()


def test_a_parameter_given_a_new_tensor_is_brought_back_into_the_flat_storage() -> None:
    net, twin = _twin_networks(seed=3)
    flat = FlatParameters(net.parameters())
    optimizer, reference = FlatAdam(flat, lr=1e-2), torch.optim.Adam(twin.parameters(), lr=1e-2)
    new_values = torch.nn.utils.parameters_to_vector(net.parameters()).detach() * 0.5 + 0.1
    for target in (net, twin):
        torch.nn.utils.vector_to_parameters(new_values.clone(), target.parameters())  # assigns param.data
    assert flat.param.data[0] != new_values[0], "torch gave the parameters new tensors, outside the flat one"
    assert flat.rehome() == 4
    assert flat.rehome() == 0
    torch.testing.assert_close(flat.param.data, new_values)
    _train_side_by_side(optimizer, reference, net, twin, steps=3)  # the optimizer steps them again
