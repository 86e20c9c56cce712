"""Which torch device a model runs on: SB3's ``"auto"`` rule and its CPU fallback."""

from __future__ import annotations

import warnings

import torch


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` means CUDA when available, else CPU; ``"cuda"`` without CUDA falls back to the CPU
    with a warning, as in SB3 (``stable_baselines3.common.utils.get_device``)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        warnings.warn(f"device={device!r} was asked for but CUDA is not available; using the CPU", stacklevel=3)
        return torch.device("cpu")
    return resolved
