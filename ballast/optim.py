"""Flat parameter storage: every trainable parameter as a view of one tensor.

With all parameters (and their gradients) in one contiguous tensor, zeroing the gradients,
clipping their global norm and the Adam step are one or two tensor operations each, instead
of a few per parameter; for the small networks of RL this removes most of the optimizer's cost.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


class FlatParameters:
    """Re-home ``params`` into one flat tensor ``self.param`` whose ``.grad`` holds all gradients.

    The modules keep their parameters (now views), so forward passes, ``state_dict`` and
    ``load_state_dict`` work as before; give ``[flat.param]`` to the optimizer. Moving the module
    to another device afterwards breaks the views: build the flat storage after ``.to(device)``.
    """

    def __init__(self, params: Iterable[nn.Parameter]) -> None:
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("no trainable parameters to flatten")
        device, dtype = self.params[0].device, self.params[0].dtype
        total = sum(p.numel() for p in self.params)
        data = torch.empty(total, device=device, dtype=dtype)
        grad = torch.zeros(total, device=device, dtype=dtype)
        offset = 0
        for p in self.params:
            n = p.numel()
            data[offset:offset + n].copy_(p.data.reshape(-1))
            p.data = data[offset:offset + n].view_as(p)
            p.grad = grad[offset:offset + n].view_as(p)
            offset += n
        self.param = nn.Parameter(data)
        self.param.grad = grad

    def zero_grad(self) -> None:
        self.param.grad.zero_()

    def clip_grad_norm_(self, max_norm: float) -> torch.Tensor:
        """Scale the gradients so that their global L2 norm is at most ``max_norm``; returns the norm."""
        grad = self.param.grad
        norm = torch.linalg.vector_norm(grad)
        grad.mul_(torch.clamp(max_norm / (norm + 1e-6), max=1.0))
        return norm


def make_adam(flat: FlatParameters, lr: float, eps: float = 1e-8) -> torch.optim.Adam:
    """Adam over the flat parameter, with PyTorch's fused kernel (CPU and CUDA)."""
    return torch.optim.Adam([flat.param], lr=lr, eps=eps, fused=True)
