"""Seeding the process-wide random generators, as SB3's ``set_random_seed`` does.

Ballast's algorithms seed their own generators from their ``seed`` argument; this function is for
scripts that draw from the global ones (Python's ``random``, NumPy's legacy global generator,
torch's default generators) before they build envs or models.
"""

from __future__ import annotations

import random

import numpy as np
import torch


def set_random_seed(seed: int, using_cuda: bool = False) -> None:
    """Seed ``random``, ``numpy.random`` and torch (CPU and every CUDA device) with ``seed``.

    ``using_cuda=True`` also makes cuDNN choose deterministic algorithms (slower, reproducible), as in SB3.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if using_cuda:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
