"""The private torch functions in ``ballast.torch_compat``: both paths of each wrapper on the same inputs."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

import ballast
from ballast import torch_compat
from ballast.algos.off_policy import PolyakTargets
from ballast.optim import FlatAdam, FlatParameters
from ballast.torch_compat import (
    PRIVATE_APIS,
    PrivateApi,
    foreach_copy_,
    foreach_lerp_,
    fused_adam_,
    parameter_list_tensors,
    public_fallbacks,
    relu_backward,
    tanh_backward,
)


def both_paths(name: str, run: Callable[[], list[torch.Tensor]]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """``run()`` through the private function ``name``, then with it switched off (the public fallback)."""
    if not PRIVATE_APIS[name].enabled:
        pytest.skip(f"{name} is not used on torch {torch.__version__}: {PRIVATE_APIS[name].refused}")
    private = run()
    with public_fallbacks(name):
        assert not PRIVATE_APIS[name].enabled
        public = run()
    assert PRIVATE_APIS[name].enabled
    return private, public


def randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_every_private_function_passes_its_check_on_this_torch():
    # The fallbacks keep Ballast correct without them, but a torch that drops one should not go unnoticed.
    assert {name: api.refused for name, api in PRIVATE_APIS.items() if api.refused is not None} == {}
    assert sorted(PRIVATE_APIS) == sorted(["torch._fused_adam_", "torch._foreach_copy_", "torch._foreach_lerp_",
                                           "torch.ops.aten.tanh_backward", "torch.ops.aten.threshold_backward",
                                           "nn.ParameterList._parameters"])


# --- Adam -------------------------------------------------------------------------------------------
def test_fused_adam_first_step_by_hand_on_both_paths():
    def run() -> list[torch.Tensor]:
        param, exp_avg, exp_avg_sq, step = torch.tensor([1.0, -2.0]), torch.zeros(2), torch.zeros(2), torch.tensor(1.0)
        fused_adam_(param, torch.tensor([0.5, -4.0]), exp_avg, exp_avg_sq, step, lr=0.1, beta1=0.9, beta2=0.999,
                    eps=1e-8)
        return [param, exp_avg, exp_avg_sq, step]

    for param, exp_avg, exp_avg_sq, step in both_paths("torch._fused_adam_", run):
        # m = 0.1 g, v = 0.001 g^2; bias-corrected m/sqrt(v) = g/|g| = sign(g): each weight moves by lr against g.
        torch.testing.assert_close(exp_avg, torch.tensor([0.05, -0.4]))
        torch.testing.assert_close(exp_avg_sq, torch.tensor([0.00025, 0.016]))
        torch.testing.assert_close(param, torch.tensor([0.9, -1.9]))
        assert float(step) == 1.0  # counted by the caller, not here


def test_fused_adam_paths_agree_over_many_steps():
    def run() -> list[torch.Tensor]:
        param, exp_avg, exp_avg_sq, step = randn(1000, seed=0), torch.zeros(1000), torch.zeros(1000), torch.zeros(())
        for k in range(20):
            step.add_(1)
            fused_adam_(param, randn(1000, seed=k + 1), exp_avg, exp_avg_sq, step, lr=3e-4 * (1 + k % 3),
                        beta1=0.9, beta2=0.99, eps=1e-5)
        return [param, exp_avg, exp_avg_sq]

    private, public = both_paths("torch._fused_adam_", run)
    for a, b in zip(private, public):  # the fused kernel orders its float32 arithmetic its own way
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_flat_fused_adam_on_the_fallback_matches_torch_fused_adam():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))
    twin = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))
    twin.load_state_dict(net.state_dict())
    flat = FlatParameters(net.parameters())
    mine, theirs = FlatAdam(flat, lr=0.05), torch.optim.Adam(twin.parameters(), lr=0.05, fused=True)
    with public_fallbacks("torch._fused_adam_"):
        for k in range(6):
            x, y = randn(8, 5, seed=k), randn(8, 3, seed=100 + k)
            for model, optimizer in ((net, mine), (twin, theirs)):
                optimizer.zero_grad(set_to_none=False)
                ((model(x) - y) ** 2).mean().backward()
                optimizer.step()
    for a, b in zip(net.parameters(), twin.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert mine.state["step"].dtype == torch.float32 and float(mine.state["step"]) == 6.0


# --- target networks --------------------------------------------------------------------------------
def test_foreach_copy_and_lerp_by_hand_on_both_paths():
    def run() -> list[torch.Tensor]:
        copied, lerped = [torch.zeros(2), torch.zeros(1, 3)], [torch.zeros(2), torch.full((1, 3), 4.0)]
        foreach_copy_(copied, [torch.tensor([1.0, 2.0]), torch.tensor([[3.0, 4.0, 5.0]])])
        foreach_lerp_(lerped, [torch.tensor([1.0, -2.0]), torch.tensor([[0.0, 8.0, 4.0]])], 0.25)
        return [*copied, *lerped]

    for name in ("torch._foreach_copy_", "torch._foreach_lerp_"):
        for copy_a, copy_b, lerp_a, lerp_b in both_paths(name, run):
            torch.testing.assert_close(copy_a, torch.tensor([1.0, 2.0]), rtol=0, atol=0)
            torch.testing.assert_close(copy_b, torch.tensor([[3.0, 4.0, 5.0]]), rtol=0, atol=0)
            torch.testing.assert_close(lerp_a, torch.tensor([0.25, -0.5]), rtol=0, atol=0)  # 0 + 0.25 * (x - 0)
            torch.testing.assert_close(lerp_b, torch.tensor([[3.0, 5.0, 4.0]]), rtol=0, atol=0)


@pytest.mark.parametrize("tau", [1.0, 0.005])
def test_polyak_targets_update_is_the_same_on_both_paths(tau: float):
    name = "torch._foreach_copy_" if tau == 1.0 else "torch._foreach_lerp_"

    def run() -> list[torch.Tensor]:
        online = [nn.Parameter(randn(4, 3, seed=1)), nn.Parameter(randn(3, seed=2))]
        target = nn.Linear(4, 3)
        with torch.no_grad():
            target.weight.copy_(randn(3, 4, seed=3).t().reshape(3, 4))
            target.bias.copy_(randn(3, seed=4))
        targets = PolyakTargets([(target, [online[0].t(), online[1]])], flats=[])
        for _ in range(3):
            targets.update(tau)
        return [target.weight.detach().clone(), target.bias.detach().clone()]

    private, public = both_paths(name, run)
    for a, b in zip(private, public):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    if tau == 1.0:
        torch.testing.assert_close(private[1], randn(3, seed=2), rtol=0, atol=0)
    else:  # three steps of theta' += tau (theta - theta'): theta' = theta + (1 - tau)^3 (theta'_0 - theta)
        expected = randn(3, seed=2) + (1 - tau) ** 3 * (randn(3, seed=4) - randn(3, seed=2))
        torch.testing.assert_close(private[1], expected)


# --- activation derivatives -------------------------------------------------------------------------
def test_tanh_backward_by_hand_and_as_autograd_on_both_paths():
    x = torch.cat([torch.tensor([0.0, 0.5493061, 9.0, -9.0]), 3 * randn(200, seed=0)])  # tanh(0.549) = 0.5
    grad = torch.cat([torch.tensor([2.0, 2.0, 1.0, 1.0]), randn(200, seed=1)])
    x.requires_grad_(True)
    out = torch.tanh(x)
    (autograd,) = torch.autograd.grad(out, x, grad)
    out = out.detach()

    for (got,) in both_paths("torch.ops.aten.tanh_backward", lambda: [tanh_backward(grad, out)]):
        torch.testing.assert_close(got[:2], torch.tensor([2.0, 1.5]))  # 2 (1 - 0), 2 (1 - 0.25)
        torch.testing.assert_close(got, autograd, rtol=0, atol=0)  # the same rounding as autograd's kernel


def test_relu_backward_by_hand_and_as_autograd_on_both_paths():
    out = torch.tensor([2.0, 0.0, -0.0, 1e-30, float("nan")])
    grad = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    for (got,) in both_paths("torch.ops.aten.threshold_backward", lambda: [relu_backward(grad, out)]):
        torch.testing.assert_close(got, torch.tensor([1.0, 0.0, 0.0, 4.0, 5.0]), rtol=0, atol=0)

    x = randn(300, seed=2).requires_grad_(True)
    upstream = randn(300, seed=3)
    (autograd,) = torch.autograd.grad(torch.relu(x), x, upstream)
    for (got,) in both_paths("torch.ops.aten.threshold_backward",
                             lambda: [relu_backward(upstream, torch.relu(x.detach()))]):
        torch.testing.assert_close(got, autograd, rtol=0, atol=0)


# --- parameter lists --------------------------------------------------------------------------------
def test_parameter_list_tensors_are_the_lists_own_parameters_on_both_paths():
    parameters = nn.ParameterList([nn.Parameter(torch.zeros(2)), nn.Parameter(torch.ones(3)),
                                   nn.Parameter(torch.ones(1))])
    parameters.append(nn.Parameter(torch.full((4,), 2.0)))  # appended later: still in order
    private, public = both_paths("nn.ParameterList._parameters", lambda: parameter_list_tensors(parameters))
    assert [id(p) for p in private] == [id(p) for p in public] == [id(p) for p in parameters]
    assert [p.numel() for p in private] == [2, 3, 1, 4]


# --- the mechanism ----------------------------------------------------------------------------------
def test_public_fallbacks_switches_everything_off_and_back():
    used = {name for name, api in PRIVATE_APIS.items() if api.enabled}
    with public_fallbacks():
        assert not any(api.enabled for api in PRIVATE_APIS.values())
        with public_fallbacks("torch._fused_adam_"):  # nested: restores what it found
            pass
        assert not any(api.enabled for api in PRIVATE_APIS.values())
    assert {name for name, api in PRIVATE_APIS.items() if api.enabled} == used
    with pytest.raises(KeyError, match="torch._fused_adam_"), public_fallbacks("torch._fused_adam"):
        pass


def test_a_private_function_that_raises_or_differs_is_refused_with_the_reason():
    api = PrivateApi(name="torch._renamed_", public="x + 1")

    def raises() -> list[torch.Tensor]:
        if api.enabled:
            raise TypeError("_renamed_() got an unexpected keyword argument 'alpha'")
        return [torch.ones(2)]

    torch_compat._verify(api, raises)
    assert not api.enabled
    assert api.refused == "TypeError: _renamed_() got an unexpected keyword argument 'alpha'"

    torch_compat._verify(api, lambda: [torch.ones(2) * (2.0 if api.enabled else 1.0)])
    assert not api.enabled and api.refused == "its result differs from the public equivalent's"

    torch_compat._verify(api, lambda: [torch.ones(2) + (1e-9 if api.enabled else 0.0)])  # float rounding only
    assert api.enabled and api.refused is None


def _private_torch_uses(path: Path) -> list[str]:
    """``torch._x``, ``torch.ops.*`` and ``._parameters`` attribute accesses in a source file (strings don't count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Attribute):
            continue
        chain, base = [node.attr], node.value
        while isinstance(base, ast.Attribute):
            chain.insert(0, base.attr)
            base = base.value
        if node.attr == "_parameters":
            found.add(f"{path.name}:{node.lineno}: ._parameters")
        elif isinstance(base, ast.Name) and base.id == "torch" and (
                chain[0] == "ops" or (chain[0].startswith("_") and not chain[0].startswith("__"))):
            found.add(f"{path.name}:{node.lineno}: torch.{chain[0]}")  # the chain's stem, once per line
    return sorted(found)


#: Files that still call a private torch function directly, to be switched to the wrappers.
def test_private_torch_functions_are_called_only_in_torch_compat():
    package = Path(ballast.__file__).parent
    uses = {}
    for path in sorted(package.rglob("*.py")):
        if path.name != "torch_compat.py" and (found := _private_torch_uses(path)):
            uses[path.name] = found
    assert uses == {}


def test_the_floor_ci_tests_is_the_one_pyproject_declares():
    root = Path(__file__).resolve().parents[2]
    if not (root / "Makefile").exists():
        pytest.skip("not a source checkout")
    declared = re.search(r'"torch>=([\d.]+)"', (root / "pyproject.toml").read_text(encoding="utf-8"))
    tested = re.search(r"^TORCH_FLOOR := ([\d.]+)$", (root / "Makefile").read_text(encoding="utf-8"), re.MULTILINE)
    assert declared and tested
    assert tested.group(1).split(".")[:2] == declared.group(1).split(".")[:2]  # 2.4.x tests torch>=2.4
