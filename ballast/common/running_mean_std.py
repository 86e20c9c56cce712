"""SB3's ``stable_baselines3.common.running_mean_std``: running mean and variance in NumPy, for code of
one's own (a model's normalisation statistics are modules of the model: ``ballast.policies.normalize``,
seen through ``VecNormalize.obs_rms`` with the same ``mean``, ``var`` and ``count``)."""

from __future__ import annotations

import numpy as np

from ballast.policies.normalize import merge_moments


class RunningMeanStd:
    """The running ``mean``, ``var`` (float64 arrays of ``shape``) and ``count`` of a stream of batches,
    merged by the parallel algorithm (:func:`ballast.policies.normalize.merge_moments`). ``count``
    starts at ``epsilon``, so the first batch's statistics are not divided by zero."""

    def __init__(self, epsilon: float = 1e-4, shape: tuple[int, ...] = ()) -> None:
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = epsilon

    def copy(self) -> RunningMeanStd:
        """An independent copy."""
        other = RunningMeanStd(shape=self.mean.shape)
        other.mean, other.var, other.count = self.mean.copy(), self.var.copy(), float(self.count)
        return other

    def combine(self, other: RunningMeanStd) -> None:
        """Merge the statistics of ``other`` into these."""
        self.update_from_moments(other.mean, other.var, other.count)

    def update(self, arr: np.ndarray) -> None:
        """Merge a batch (first axis: samples)."""
        arr = np.asarray(arr)
        self.update_from_moments(np.mean(arr, axis=0), np.var(arr, axis=0), arr.shape[0])

    def update_from_moments(self, batch_mean: np.ndarray, batch_var: np.ndarray, batch_count: float) -> None:
        """Merge a batch given by its mean, (population) variance and number of samples."""
        self.mean, self.var, self.count = merge_moments(self.mean, self.var, self.count, batch_mean, batch_var,
                                                        batch_count)


__all__ = ["RunningMeanStd"]
