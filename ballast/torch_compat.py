"""The private PyTorch APIs Ballast uses for speed, each behind a public-API fallback.

Each is looked up once, at import; where it is missing (another PyTorch release), the fallback
computes the same values with public operations. ``tests/unit/test_torch_compat.py`` runs both
paths on the same inputs.
"""

from __future__ import annotations

import torch
from torch import nn

_aten = getattr(torch.ops, "aten", None)
_TANH_BACKWARD = getattr(_aten, "tanh_backward", None)
_THRESHOLD_BACKWARD = getattr(_aten, "threshold_backward", None)
#: Whether the private kernels are used (tests turn this off to run the fallbacks).
USE_PRIVATE = True


def tanh_backward(grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``grad * (1 - out^2)`` for ``out = tanh(x)``: autograd's own kernel, fused (which matters near
    saturation, where ``1 - out^2`` is a difference of nearly equal numbers)."""
    if USE_PRIVATE and _TANH_BACKWARD is not None:
        return _TANH_BACKWARD(grad, out)
    return grad * (1.0 - out * out)


def relu_backward(grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``grad * [out > 0]`` for ``out = relu(x)`` (autograd's kernel where available)."""
    if USE_PRIVATE and _THRESHOLD_BACKWARD is not None:
        return _THRESHOLD_BACKWARD(grad, out, 0)
    return torch.where(out > 0, grad, torch.zeros_like(grad))


def parameter_list_tensors(parameters: nn.ParameterList) -> list[nn.Parameter]:
    """The parameters of a ``ParameterList`` as a plain list (indexing the list one by one costs
    more than a small layer's arithmetic, so its dict is read directly where it exists)."""
    stored = getattr(parameters, "_parameters", None) if USE_PRIVATE else None
    if isinstance(stored, dict):
        return list(stored.values())
    return list(parameters)
