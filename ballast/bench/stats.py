"""Mean, sample standard deviation and a Student-t confidence interval of a few seeds' returns.

No SciPy at run time: the two-sided 95 % quantiles of Student's t are tabulated for 1 to 30 degrees
of freedom and, beyond, given by the Cornish-Fisher expansion (error below 1e-4 there).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

_T975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010, 2.1788, 2.1604,
         2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555,
         2.0518, 2.0484, 2.0452, 2.0423)
_Z975 = 1.959963984540054


def t_quantile(df: int) -> float:
    """The 97.5 % quantile of Student's t with ``df`` degrees of freedom (half-width factor of a 95 % CI)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    return (z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3))


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else 0.0


def confidence_interval(values: Sequence[float]) -> tuple[float, float] | None:
    """The 95 % Student-t interval of the mean of ``values``; None for fewer than two values."""
    if len(values) < 2:
        return None
    mean, std = mean_std(values)
    half = t_quantile(len(values) - 1) * std / math.sqrt(len(values))
    return mean - half, mean + half
