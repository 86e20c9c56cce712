"""Segment operations: reductions and softmax over the variable-size parts of a ragged batch.

A ragged batch holds the elements (nodes of graphs, points of sets) of ``B`` items concatenated
along the first axis; ``index[i]`` is the item element ``i`` belongs to, ``offsets`` (``B + 1``
entries, ``offsets[0] = 0``) the first element of each item. These functions reduce or normalise
per item with single scatter/gather operations (``scatter_add``, ``scatter_reduce``), never a Python
loop over items, so a batch of a thousand graphs costs a handful of kernel launches, and the
functions trace and export to ONNX (ScatterElements with a reduction, opset 18).
"""

from __future__ import annotations

import torch

# Logit given to masked elements: far below any real logit, yet finite so no NaN arises from inf - inf.
MASKED_LOGIT = -1e9


def lengths_from_offsets(offsets: torch.Tensor) -> torch.Tensor:
    """Number of elements of each item: ``offsets[1:] - offsets[:-1]``."""
    return offsets[1:] - offsets[:-1]


def offsets_from_lengths(lengths: torch.Tensor) -> torch.Tensor:
    """``[0, l_0, l_0 + l_1, ...]`` (``B + 1`` entries, int64)."""
    out = torch.zeros(lengths.shape[0] + 1, dtype=torch.long, device=lengths.device)
    torch.cumsum(lengths, 0, out=out[1:])
    return out


def index_from_lengths(lengths: torch.Tensor, total: int | None = None) -> torch.Tensor:
    """The item of each element: ``[0] * l_0 + [1] * l_1 + ...``."""
    items = torch.arange(lengths.shape[0], device=lengths.device)
    return torch.repeat_interleave(items, lengths, output_size=total)


def ragged_arange(starts: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Concatenation of ``arange(starts[k], starts[k] + lengths[k])`` over ``k``, without a loop."""
    total = int(lengths.sum())
    first = offsets_from_lengths(lengths)[:-1]
    shift = torch.repeat_interleave(starts - first, lengths, output_size=total)
    return torch.arange(total, device=starts.device) + shift


def segment_sum(x: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    """``out[b] = sum_{i: index[i] = b} x[i]`` (zeros for empty items)."""
    expanded = index.reshape(-1, *([1] * (x.dim() - 1))).expand_as(x)
    return torch.zeros((n, *x.shape[1:]), dtype=x.dtype, device=x.device).scatter_add(0, expanded, x)


def segment_mean(x: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    """``out[b] = mean_{i: index[i] = b} x[i]`` (zeros for empty items)."""
    total = segment_sum(x, index, n)
    count = segment_sum(torch.ones_like(index, dtype=x.dtype), index, n)
    return total / count.clamp(min=1.0).reshape(n, *([1] * (x.dim() - 1)))


def segment_max(x: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    """``out[b] = max_{i: index[i] = b} x[i]`` elementwise (zeros for empty items)."""
    expanded = index.reshape(-1, *([1] * (x.dim() - 1))).expand_as(x)
    out = torch.full((n, *x.shape[1:]), -torch.inf, dtype=x.dtype, device=x.device)
    out = out.scatter_reduce(0, expanded, x, reduce="amax", include_self=True)
    return torch.where(out == -torch.inf, torch.zeros_like(out), out)


def segment_reduce(x: torch.Tensor, index: torch.Tensor, n: int, mode: str) -> torch.Tensor:
    """``segment_sum``, ``segment_mean`` or ``segment_max`` by name (``"sum"``, ``"mean"``, ``"max"``)."""
    if mode == "sum":
        return segment_sum(x, index, n)
    if mode == "mean":
        return segment_mean(x, index, n)
    if mode == "max":
        return segment_max(x, index, n)
    raise ValueError(f"unknown reduction {mode!r}; use 'sum', 'mean' or 'max'")


def segment_log_softmax(logits: torch.Tensor, index: torch.Tensor, n: int,
                        mask: torch.Tensor | None = None) -> torch.Tensor:
    """Log-softmax of 1-D ``logits`` within each item.

    ``log p_i = z_i - log sum_{j: index[j] = index[i]} exp(z_j)``, computed stably by subtracting the
    item's maximum first. With ``mask`` (bool, ``True`` = valid), masked elements get the logit
    :data:`MASKED_LOGIT`, so they have probability 0 (to float precision) and the valid elements'
    probabilities sum to 1 over the valid elements only.
    """
    if mask is not None:
        logits = logits.masked_fill(~mask.to(torch.bool), MASKED_LOGIT)
    top = segment_max(logits.detach(), index, n)
    z = logits - top[index]
    log_norm = torch.log(segment_sum(z.exp(), index, n))
    return z - log_norm[index]


def segment_argmax(x: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    """Global position of the first maximum of 1-D ``x`` within each item (``len(x)`` for empty items)."""
    top = segment_max(x, index, n)
    positions = torch.arange(x.shape[0], device=x.device)
    candidates = torch.where(x == top[index], positions, torch.full_like(positions, x.shape[0]))
    out = torch.full((n,), x.shape[0], dtype=torch.long, device=x.device)
    return out.scatter_reduce(0, index, candidates, reduce="amin", include_self=True)
