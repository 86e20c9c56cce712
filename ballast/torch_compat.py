"""The private PyTorch functions Ballast uses for speed, each behind its public-API equivalent.

Ballast supports every torch from the floor that ``pyproject.toml`` declares (2.4) on, and a
private function may be missing, renamed or given another signature in any of them. Each one used
lives here, in a wrapper that also holds the public-API code computing the same result:

- :func:`fused_adam_`: ``torch._fused_adam_``, else Adam's update in tensor operations;
- :func:`foreach_copy_`, :func:`foreach_lerp_`: ``torch._foreach_copy_`` / ``torch._foreach_lerp_``,
  else ``Tensor.copy_`` / ``Tensor.lerp_`` on each pair;
- :func:`tanh_backward`: ``torch.ops.aten.tanh_backward``, else ``grad * addcmul(1, out, out, value=-1)``;
- :func:`relu_backward`: ``torch.ops.aten.threshold_backward``, else ``grad.masked_fill(out <= 0, 0)``;
- :func:`parameter_list_tensors`: ``nn.ParameterList._parameters``, else ``list(parameter_list)``.

Each wrapper is checked once, at import: on a small input, its private path must run and give its
public path's result (which checks the private function's presence and signature as the wrapper
calls it). A private function that fails is never called again; :data:`PRIVATE_APIS` says for each
whether it is used and, if not, why (``refused``). :func:`public_fallbacks` turns the private paths
off within a block: the tests run both paths on the same inputs with it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["PRIVATE_APIS", "PrivateApi", "foreach_copy_", "foreach_lerp_", "fused_adam_", "parameter_list_tensors",
           "public_fallbacks", "relu_backward", "tanh_backward"]


@dataclass
class PrivateApi:
    """One private torch function: whether this torch has it as Ballast calls it, and the switch.

    ``refused`` is None where the wrapper's private path passed its check at import, else the reason
    it failed. ``enabled`` is what the wrapper reads on each call: True exactly where the check
    passed, except within :func:`public_fallbacks`.
    """

    name: str
    public: str
    refused: str | None = "not checked"
    enabled: bool = False


#: Every private torch function Ballast uses, by name (``"torch._fused_adam_"``, ...).
PRIVATE_APIS: dict[str, PrivateApi] = {}


def _declare(name: str, public: str) -> PrivateApi:
    api = PrivateApi(name=name, public=public)
    PRIVATE_APIS[name] = api
    return api


def _verify(api: PrivateApi, run: Callable[[], Sequence[torch.Tensor]]) -> None:
    """Enable ``api`` where ``run()`` (which builds its inputs and returns every tensor it wrote or
    produced) gives the same tensors through the private path as through the public one.

    Same up to float32 rounding: whether a kernel fuses a multiply-add depends on the processor, and
    the check is there to catch a missing or changed function, not a last bit.
    """
    api.enabled = False
    expected = run()
    api.enabled = True
    try:
        got = run()
    except Exception as error:  # whatever the private function raises, it cannot be relied on
        api.refused = f"{type(error).__name__}: {error}"
    else:
        same = len(got) == len(expected) and all(
            a.shape == b.shape and torch.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(got, expected))
        api.refused = None if same else "its result differs from the public equivalent's"
    api.enabled = api.refused is None


def _sample(*shape: int, offset: float = 0.0) -> torch.Tensor:
    """Fixed float32 values in [-1, 1] of both signs (no random numbers: the global RNG stays as it was)."""
    return torch.sin(torch.arange(math.prod(shape), dtype=torch.float32) * 1.7 + offset).reshape(shape)


# --- Adam -------------------------------------------------------------------------------------------
_FUSED_ADAM = _declare("torch._fused_adam_", "Adam's update in tensor operations, as torch.optim.Adam writes it")


def fused_adam_(param: torch.Tensor, grad: torch.Tensor, exp_avg: torch.Tensor, exp_avg_sq: torch.Tensor,
                step: torch.Tensor, *, lr: float, beta1: float, beta2: float, eps: float) -> None:
    """One Adam step (Kingma & Ba, 2015, arXiv:1412.6980) on ``param``, in place, as
    ``torch.optim.Adam(fused=True)`` makes it.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``,
    ``p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``, with ``t`` the value of the
    ``step`` tensor (already counted: not incremented here); no weight decay, AMSGrad or maximize.
    The fused kernel makes it in one pass; the fallback equals it up to float rounding.
    """
    if _FUSED_ADAM.enabled:
        torch._fused_adam_([param], [grad], [exp_avg], [exp_avg_sq], [], [step], amsgrad=False, lr=lr, beta1=beta1,
                           beta2=beta2, weight_decay=0.0, eps=eps, maximize=False)
        return
    t = float(step)
    exp_avg.lerp_(grad, 1.0 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
    denom = (exp_avg_sq.sqrt() / math.sqrt(1.0 - beta2 ** t)).add_(eps)
    param.addcdiv_(exp_avg, denom, value=-lr / (1.0 - beta1 ** t))


def _adam_probe() -> list[torch.Tensor]:
    param, exp_avg, exp_avg_sq = _sample(37), 0.1 * _sample(37, offset=1.0), 0.01 * _sample(37, offset=2.0).abs()
    step = torch.tensor(3.0)
    fused_adam_(param, _sample(37, offset=3.0), exp_avg, exp_avg_sq, step, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8)
    return [param, exp_avg, exp_avg_sq, step]


_verify(_FUSED_ADAM, _adam_probe)


# --- target networks --------------------------------------------------------------------------------
_FOREACH_COPY = _declare("torch._foreach_copy_", "Tensor.copy_ for each pair")
_FOREACH_LERP = _declare("torch._foreach_lerp_", "Tensor.lerp_ for each pair")


def foreach_copy_(targets: Sequence[torch.Tensor], sources: Sequence[torch.Tensor]) -> None:
    """``targets[i].copy_(sources[i])`` for every ``i``: one call where torch has ``_foreach_copy_``."""
    if _FOREACH_COPY.enabled:
        torch._foreach_copy_(targets, sources)
        return
    for target, source in zip(targets, sources):
        target.copy_(source)


def foreach_lerp_(targets: Sequence[torch.Tensor], sources: Sequence[torch.Tensor], weight: float) -> None:
    """``targets[i] += weight * (sources[i] - targets[i])`` for every ``i`` (``Tensor.lerp_``): one call
    where torch has ``_foreach_lerp_``."""
    if _FOREACH_LERP.enabled:
        torch._foreach_lerp_(targets, sources, weight)
        return
    for target, source in zip(targets, sources):
        target.lerp_(source, weight)


def _pairs_probe(update: Callable[[list[torch.Tensor], list[torch.Tensor]], None]) -> Callable[[], list[torch.Tensor]]:
    def run() -> list[torch.Tensor]:
        targets = [_sample(3, 4), _sample(5, offset=1.0)]
        update(targets, [_sample(3, 4, offset=2.0), _sample(5, offset=3.0)])
        return targets
    return run


_verify(_FOREACH_COPY, _pairs_probe(foreach_copy_))
_verify(_FOREACH_LERP, _pairs_probe(lambda targets, sources: foreach_lerp_(targets, sources, 0.005)))


# --- activation derivatives -------------------------------------------------------------------------
_TANH_BACKWARD = _declare("torch.ops.aten.tanh_backward", "grad * torch.addcmul(1, out, out, value=-1)")
_THRESHOLD_BACKWARD = _declare("torch.ops.aten.threshold_backward", "grad.masked_fill(out <= 0, 0)")


def tanh_backward(grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``grad * (1 - out^2)``: the gradient through ``out = tanh(x)``, as autograd computes it.

    ``1 - out^2`` as one multiply-add (``addcmul``), as autograd's kernel computes it where the
    processor fuses them: near saturation it is a difference of nearly equal numbers, and the
    unfused ``1 - out * out`` differs in the last bit.
    """
    if _TANH_BACKWARD.enabled:
        return torch.ops.aten.tanh_backward(grad, out)
    return torch.addcmul(out.new_ones(()), out, out, value=-1.0).mul_(grad)


def relu_backward(grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``grad`` where ``out > 0``, else 0: the gradient through ``out = relu(x)``, as autograd computes it
    (``threshold_backward(grad, out, 0)``, which lets a NaN ``out`` pass ``grad`` through)."""
    if _THRESHOLD_BACKWARD.enabled:
        return torch.ops.aten.threshold_backward(grad, out, 0)
    return grad.masked_fill(out <= 0, 0.0)


def _backward_probe(backward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Callable[[], list[torch.Tensor]]:
    def run() -> list[torch.Tensor]:
        out = _sample(7, 5)
        out[0, :4] = torch.tensor([0.0, -0.0, 1.0, -1.0])  # the edges: ReLU's kink, tanh's saturation
        return [backward(_sample(7, 5, offset=0.5), out)]
    return run


_verify(_TANH_BACKWARD, _backward_probe(tanh_backward))
_verify(_THRESHOLD_BACKWARD, _backward_probe(relu_backward))


# --- parameter lists --------------------------------------------------------------------------------
_PARAMETER_LIST = _declare("nn.ParameterList._parameters", "list(parameter_list)")


def parameter_list_tensors(parameters: nn.ParameterList) -> list[nn.Parameter]:
    """The parameters of ``parameters`` in order, as a plain list of the same objects.

    Iterating an ``nn.ParameterList`` costs a ``getattr`` per item, more than a small layer's
    arithmetic in a forward pass; its ``_parameters`` dictionary holds the same objects.
    """
    if _PARAMETER_LIST.enabled:
        return list(parameters._parameters.values())
    return list(parameters)


def _parameter_list_probe() -> list[torch.Tensor]:
    parameters = nn.ParameterList([nn.Parameter(_sample(2, 3)), nn.Parameter(_sample(3, offset=1.0))])
    got = parameter_list_tensors(parameters)
    if [id(p) for p in got] != [id(p) for p in parameters]:
        raise ValueError("it holds other objects than the list's parameters, or in another order")
    return got


_verify(_PARAMETER_LIST, _parameter_list_probe)


@contextlib.contextmanager
def public_fallbacks(*names: str) -> Iterator[None]:
    """Within the block, the named private functions (all where none is named) are not called: their
    wrappers run the public-API equivalent. For tests that compare both paths, and to rule out a
    private kernel when hunting a bug."""
    unknown = [name for name in names if name not in PRIVATE_APIS]
    if unknown:
        raise KeyError(f"no private torch function named {unknown}; known: {sorted(PRIVATE_APIS)}")
    apis = [PRIVATE_APIS[name] for name in names] if names else list(PRIVATE_APIS.values())
    saved = [api.enabled for api in apis]
    for api in apis:
        api.enabled = False
    try:
        yield
    finally:
        for api, enabled in zip(apis, saved):
            api.enabled = enabled
