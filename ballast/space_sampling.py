"""Observations drawn from a space for checks, without touching the space's own random generator.

Uniform inside finite bounds, exponential beyond a one-sided bound, standard normal on unbounded
dimensions; integer spaces uniformly over their values. Used by the export parity check and by
the probe that runs a residual base once before training.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

#: Finite Box bounds beyond this are treated as unbounded (CartPole's velocity bounds are float32's max).
_HUGE_BOUND = 1e6
SEED = 0

Observations = np.ndarray | dict[str, np.ndarray]


def _sample_leaf(space: spaces.Space, n: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(space, spaces.Discrete):
        return rng.integers(int(space.start), int(space.start) + int(space.n), size=n, dtype=np.int64)
    if isinstance(space, spaces.MultiDiscrete):
        start = np.broadcast_to(space.start, space.nvec.shape)
        return (start + np.floor(rng.random((n, *space.nvec.shape)) * space.nvec)).astype(np.int64)
    if isinstance(space, spaces.MultiBinary):
        return rng.integers(0, 2, size=(n, *space.shape), dtype=np.int8)
    if isinstance(space, spaces.Box):
        low = np.broadcast_to(space.low, space.shape).astype(np.float64)
        high = np.broadcast_to(space.high, space.shape).astype(np.float64)
        below = np.isfinite(low) & (low > -_HUGE_BOUND)
        above = np.isfinite(high) & (high < _HUGE_BOUND)
        low, high = np.where(below, low, 0.0), np.where(above, high, 0.0)
        shape = (n, *space.shape)
        out = rng.standard_normal(shape)
        out = np.where(below & above, low + rng.random(shape) * (high - low), out)
        out = np.where(below & ~above, low + rng.exponential(size=shape), out)
        out = np.where(~below & above, high - rng.exponential(size=shape), out)
        if np.issubdtype(space.dtype, np.integer):
            out = np.clip(np.floor(out), np.where(below, low, -np.inf), np.where(above, high, np.inf))
        return out.astype(space.dtype)
    raise TypeError(f"cannot sample observations of {space}")


def sample_observations(space: spaces.Space, n: int, seed: int = SEED) -> Observations:
    """``n`` observations of ``space`` as one batch (a dict of batches for Dict spaces); see the module docstring."""
    rng = np.random.default_rng(seed)
    if isinstance(space, spaces.Dict):
        return {key: _sample_leaf(sub, n, rng) for key, sub in space.spaces.items()}
    return _sample_leaf(space, n, rng)
