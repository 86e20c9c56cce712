"""``StackedMLP``: G MLPs of identical layer sizes evaluated together.

An actor-critic with the same hidden sizes for actor and critic (SB3's default) runs both
networks with one batched matrix product per layer, ``h = act(h @ W + b)`` with ``W`` of shape
``(G, in, out)``: half the operations of two separate MLPs, forward and backward.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ballast.torch_compat import parameter_list_tensors

_FUNCTIONAL = {"Tanh": torch.tanh, "ReLU": torch.relu, "Sigmoid": torch.sigmoid, "ELU": F.elu, "GELU": F.gelu,
               "SiLU": F.silu, "LeakyReLU": F.leaky_relu, "Softplus": F.softplus}


def activation_function(name: str):
    """The functional form of the ``torch.nn`` activation ``name`` (the module itself if none is known)."""
    return _FUNCTIONAL.get(name) or getattr(nn, name)()


class StackedMLP(nn.Module):
    """``copies`` MLPs with hidden sizes ``sizes`` over the same input; output ``(copies, batch, sizes[-1])``."""

    def __init__(self, input_dim: int, sizes: list[int], activation: str, copies: int) -> None:
        super().__init__()
        self.copies = copies
        self.output_dim = sizes[-1] if sizes else input_dim
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        last = input_dim
        for size in sizes:
            self.weights.append(nn.Parameter(torch.empty(copies, last, size)))
            self.biases.append(nn.Parameter(torch.zeros(copies, 1, size)))
            last = size
        self.activation_name = activation
        self.activation = activation_function(activation)
        self.reset_parameters()

    def reset_parameters(self, gain: float | None = None) -> None:
        """PyTorch's ``nn.Linear`` initialisation, or orthogonal with ``gain`` when given."""
        for weight, bias in zip(self.weights, self.biases):
            for g in range(self.copies):
                w = torch.empty(weight.shape[2], weight.shape[1])  # (out, in), as nn.Linear holds it
                if gain is None:
                    nn.init.kaiming_uniform_(w, a=math.sqrt(5))
                    bound = 1.0 / math.sqrt(weight.shape[1])
                    nn.init.uniform_(bias.data[g], -bound, bound)
                else:
                    nn.init.orthogonal_(w, gain=gain)
                    bias.data[g].zero_()
                weight.data[g].copy_(w.t())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.unsqueeze(0).expand(self.copies, *x.shape)
        activation = self.activation
        # Plain lists: indexing a ParameterList costs more than the layer's arithmetic here.
        for weight, bias in zip(parameter_list_tensors(self.weights), parameter_list_tensors(self.biases)):
            h = activation(torch.baddbmm(bias, h, weight))
        return h
