"""Batch renormalisation (Ioffe, 2017, "Batch Renormalization: Towards Reducing Minibatch Dependence
in Batch-Normalized Models", arXiv:1702.03275), as CrossQ's networks use it (sb3-contrib's
``BatchRenorm1d``).

In train mode a layer normalises its input ``x`` (batch along the second-to-last axis) with the
batch statistics ``mu_B``, ``sigma_B^2`` (unbiased variance), corrected towards the running ones
once more than ``warmup_steps`` train-mode calls were made (before that it is plain batch norm):

    r = clip(sigma_B / sigma, 1 / r_max, r_max),  d = clip((mu_B - mu) / sigma, -d_max, d_max)
    x_hat = (x - (mu_B - d * sqrt(var_B) / r)) / sqrt(var_B / r^2 + eps)      (about r (x - mu_B) / sigma_B + d)

with ``sigma_B = sqrt(var_B + eps)``, ``sigma = sqrt(running_var + eps)``, ``r`` and ``d`` held
constant in the gradient, ``r_max = 3``, ``d_max = 5``. Every train-mode call then moves the running
statistics by ``momentum`` towards the batch's. In eval mode (acting, ``predict``, export) it is
the affine map ``x_hat = (x - running_mean) / sqrt(running_var + eps)``. Either way the output is
``scale * x_hat + bias``.

The arithmetic is in pure functions (:func:`batch_statistics`, :func:`renorm_correction`,
:func:`normalizing_statistics`, :func:`updated_running_statistics`, :func:`normalize`); during the
warm-up a train-mode call computes the same with PyTorch's batch-norm kernel, which is much faster on a
CPU (:meth:`BatchRenorm._fused_batch_norm`, tested against the pure functions). The module
holds the running statistics and the step counter as buffers, so checkpoints save them and loading
restores them bit for bit.
A layer may hold ``copies`` independent normalisations of a stacked input ``(copies, batch, n)``
(the critics of one ensemble, each with its own statistics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ballast.policies.mlp import StackedMLP
from ballast.torch_compat import parameter_list_tensors

#: sb3-contrib's clipping of the correction: scale ``r`` in ``[1 / R_MAX, R_MAX]``, shift ``d`` in ``[-D_MAX, D_MAX]``.
R_MAX, D_MAX = 3.0, 5.0


# --- the arithmetic -----------------------------------------------------------------------------
def batch_statistics(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mu_B, var_B)`` over the batch axis (-2): the mean and the unbiased variance
    ``sum_b (x_b - mu_B)^2 / (B - 1)``, as ``torch.var`` defines it (computed in two passes here:
    ``torch.var`` over a non-last axis is several times slower on CPU). Written so that the backward
    pass has no elementwise pass over the batch it does not need: the sum times ``1 / B`` (the mean's
    derivative is then a broadcast, not a division of the batch) and ``x + (-mu_B)`` (``x - mu_B``
    would negate the whole batch's gradient before reducing it)."""
    n = x.shape[-2]
    mean = x.sum(dim=-2) * (1.0 / n)
    return mean, (x + (-mean).unsqueeze(-2)).square().sum(dim=-2) / (n - 1)


def renorm_correction(batch_mean: torch.Tensor, batch_var: torch.Tensor, running_mean: torch.Tensor,
                      running_var: torch.Tensor, eps: float, r_max: float = R_MAX, d_max: float = D_MAX
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch renorm's correction ``(r, d)`` (Ioffe, 2017, Algorithm 1), without gradient.

    ``r = clip(sigma_B / sigma, 1 / r_max, r_max)``, ``d = clip((mu_B - mu) / sigma, -d_max, d_max)``
    with ``sigma_B = sqrt(batch_var + eps)`` and ``sigma = sqrt(running_var + eps)``.
    """
    running_std = (running_var + eps).sqrt()
    r = ((batch_var + eps).sqrt() / running_std).detach().clamp(1.0 / r_max, r_max)
    d = ((batch_mean - running_mean) / running_std).detach().clamp(-d_max, d_max)
    return r, d


def normalizing_statistics(batch_mean: torch.Tensor, batch_var: torch.Tensor, running_mean: torch.Tensor,
                           running_var: torch.Tensor, eps: float, renorm: bool
                           ) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean and variance a train-mode batch is normalised with.

    During the warm-up (``renorm=False``) the batch's own, as batch norm; after it the batch's
    corrected by :func:`renorm_correction`: ``mean = mu_B - d * sqrt(var_B) / r``, ``var = var_B / r^2``
    (sb3-contrib's form, so that ``(x - mean) / sqrt(var + eps)`` is about ``r (x - mu_B) / sigma_B + d``).
    Gradients flow through ``mu_B`` and ``var_B``, not through ``r`` and ``d``.
    """
    if not renorm:
        return batch_mean, batch_var
    r, d = renorm_correction(batch_mean, batch_var, running_mean, running_var, eps)
    return batch_mean - d * batch_var.sqrt() / r, batch_var / r**2


def updated_running_statistics(running_mean: torch.Tensor, running_var: torch.Tensor, batch_mean: torch.Tensor,
                               batch_var: torch.Tensor, momentum: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mu + momentum * (mu_B - mu), var + momentum * (var_B - var))``: the running statistics after a
    train-mode batch (an exponential moving average; sb3-contrib's default momentum is 0.01)."""
    return (running_mean + momentum * (batch_mean.detach() - running_mean),
            running_var + momentum * (batch_var.detach() - running_var))


def normalize(x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, eps: float, scale: torch.Tensor | None,
              bias: torch.Tensor | None) -> torch.Tensor:
    """``scale * (x - mean) / sqrt(var + eps) + bias``, the statistics broadcast over the batch axis (-2).

    Computed as ``x * a + b`` with the per-feature ``a = scale / sqrt(var + eps)`` and
    ``b = bias - mean * a``: two passes over the batch, forward and backward, and the rest on vectors
    (batch renorm's update is otherwise mostly elementwise passes over the batch). A multiply and an
    add, not one fused multiply-add: fused and unfused kernels round differently, and a row must give
    the same output in a batch of any size.
    """
    a = (var + eps).rsqrt()
    if scale is not None:
        a = scale * a
    b = -mean * a if bias is None else bias - mean * a
    return x * a.unsqueeze(-2) + b.unsqueeze(-2)


# --- the layer ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchRenormOptions:
    """CrossQ's policy settings of its batch-renorm layers (sb3-contrib's names and defaults)."""

    momentum: float = 0.01
    eps: float = 0.001
    warmup_steps: int = 100_000


class BatchRenorm(nn.Module):
    """A batch-renorm layer over ``num_features`` (see the module docstring); sb3-contrib's
    ``BatchRenorm1d`` with its buffer and parameter names (``ra_mean``, ``ra_var``, ``steps``,
    ``scale``, ``bias``). With ``copies`` it normalises a stacked input ``(copies, batch, n)``, each
    copy with its own statistics (shape ``(copies, n)``)."""

    #: Train and eval mode differ (see :mod:`ballast.policies.modes`).
    uses_training_mode = True

    def __init__(self, num_features: int, options: BatchRenormOptions = BatchRenormOptions(),
                 copies: int | None = None, affine: bool = True) -> None:
        super().__init__()
        shape = (num_features,) if copies is None else (copies, num_features)
        self.register_buffer("ra_mean", torch.zeros(shape))
        self.register_buffer("ra_var", torch.ones(shape))
        self.register_buffer("steps", torch.tensor(0, dtype=torch.long))
        self.scale = nn.Parameter(torch.ones(shape)) if affine else None
        self.bias = nn.Parameter(torch.zeros(shape)) if affine else None
        self.num_features, self.copies, self.affine = num_features, copies, affine
        self.momentum, self.eps, self.warmup_steps = options.momentum, options.eps, options.warmup_steps

    def forward(self, x: torch.Tensor, detach_params: bool = False) -> torch.Tensor:
        """The normalised ``x``; in train mode the running statistics and the step count move too.
        ``detach_params`` computes with ``scale`` and ``bias`` detached (gradients reach ``x`` only)."""
        scale, bias = self.scale, self.bias
        if detach_params and scale is not None:
            scale, bias = scale.detach(), bias.detach()
        if not self.training:
            return normalize(x, self.ra_mean, self.ra_var, self.eps, scale, bias)
        renorm = bool(self.steps > self.warmup_steps)
        if not renorm and self._fused_batch_norm_applies(x):
            out = self._fused_batch_norm(x, scale, bias)
            with torch.no_grad():
                self.steps += 1
            return out
        batch_mean, batch_var = batch_statistics(x)
        mean, var = normalizing_statistics(batch_mean, batch_var, self.ra_mean, self.ra_var, self.eps, renorm=renorm)
        with torch.no_grad():
            new_mean, new_var = updated_running_statistics(self.ra_mean, self.ra_var, batch_mean, batch_var,
                                                           self.momentum)
            self.ra_mean.copy_(new_mean)
            self.ra_var.copy_(new_var)
            self.steps += 1
        return normalize(x, mean, var, self.eps, scale, bias)

    def _fused_batch_norm_applies(self, x: torch.Tensor) -> bool:
        """Whether :meth:`_fused_batch_norm` computes this train-mode call: a batch of more than one
        row, one stacked group per copy, and ``eps > 0`` (the kernel refuses ``eps = 0`` in training)."""
        copies = 1 if self.copies is None else self.copies
        return self.eps > 0 and x.shape[-2] > 1 and x.numel() == copies * x.shape[-2] * self.num_features

    def _fused_batch_norm(self, x: torch.Tensor, scale: torch.Tensor | None, bias: torch.Tensor | None
                          ) -> torch.Tensor:
        """Train mode during the warm-up (plain batch norm), by PyTorch's batch-norm kernel: about four
        passes over the batch, forward and backward, where the same arithmetic as elementwise
        operations (:func:`batch_statistics`, :func:`normalize`) takes about twenty.

        The kernel normalises with the biased variance ``var_B (B - 1) / B``; with ``eps (B - 1) / B``
        and the scale times ``sqrt((B - 1) / B)`` its output is ``scale * (x - mu_B) / sqrt(var_B +
        eps) + bias`` with the unbiased ``var_B``, and its gradient that of this expression. It moves
        the running statistics by ``momentum`` towards ``mu_B`` and ``var_B`` itself, as
        :func:`updated_running_statistics` does. Each stacked copy is one call.
        """
        n, width = x.shape[-2], self.num_features
        shrink = (n - 1) / n
        groups = x.reshape(-1, n, width)
        means, variances = self.ra_mean.view(-1, width), self.ra_var.view(-1, width)
        weights = (torch.full_like(means, math.sqrt(shrink)) if scale is None
                   else scale.reshape(-1, width) * math.sqrt(shrink))
        biases = [None] * len(groups) if bias is None else bias.reshape(-1, width)
        outs = [F.batch_norm(group, mean, var, weight, shift, True, self.momentum, self.eps * shrink)
                for group, mean, var, weight, shift in zip(groups, means, variances, weights, biases)]
        return (outs[0] if len(outs) == 1 else torch.stack(outs)).reshape(x.shape)

    def extra_repr(self) -> str:
        copies = "" if self.copies is None else f", copies={self.copies}"
        return (f"num_features={self.num_features}{copies}, momentum={self.momentum}, eps={self.eps}, "
                f"warmup_steps={self.warmup_steps}, affine={self.affine}")


def set_batch_renorm_training(module: nn.Module, mode: bool) -> None:
    """Train (``True``: batch statistics, running statistics updated) or eval mode for the
    :class:`BatchRenorm` layers of ``module`` only (sb3-contrib's ``set_bn_training_mode``).

    CrossQ switches modes several times per gradient step, so the layers are found once per module
    (a policy's structure is fixed once built; a copy of the module maps the list to its own layers)."""
    layers = module.__dict__.get("_batch_renorm_layers")
    if layers is None:
        layers = tuple(layer for layer in module.modules() if isinstance(layer, BatchRenorm))
        module.__dict__["_batch_renorm_layers"] = layers
    for layer in layers:
        layer.train(mode)


class BatchRenormMLP(StackedMLP):
    """``copies`` MLPs with a batch-renorm layer before each linear layer (sb3-contrib's
    ``create_mlp(..., pre_linear_modules=[BatchRenorm1d])``) and, with ``final_norm``, one after the
    last hidden layer (before the output layer the owner holds). ``options=None`` builds no
    batch-renorm layer (CrossQ's ``batch_norm=False``). Output ``(copies, batch, sizes[-1])``, as
    :class:`StackedMLP`, whose weights and initialisation it has."""

    def __init__(self, input_dim: int, sizes: list[int], activation: str, copies: int, *, final_norm: bool,
                 options: BatchRenormOptions | None) -> None:
        super().__init__(input_dim, sizes, activation, copies)
        widths = [input_dim, *sizes[:-1]] if sizes else []
        if final_norm:
            widths.append(self.output_dim)
        self.norms = nn.ModuleList([] if options is None else [BatchRenorm(n, options, copies) for n in widths])
        self.final_norm = final_norm and options is not None

    def forward(self, x: torch.Tensor, detach_params: bool = False) -> torch.Tensor:
        h = x.unsqueeze(0).expand(self.copies, *x.shape)
        norms = list(self.norms)
        for i, (weight, bias) in enumerate(zip(parameter_list_tensors(self.weights),
                                               parameter_list_tensors(self.biases))):
            if detach_params:
                weight, bias = weight.detach(), bias.detach()
            if norms:
                h = norms[i](h, detach_params)
            h = self.activation(torch.baddbmm(bias, h, weight))
        if self.final_norm:
            h = norms[-1](h, detach_params)
        return h
