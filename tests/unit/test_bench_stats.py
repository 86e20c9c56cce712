"""The statistics of ``ballast bench``'s summary: Student-t quantiles (checked against SciPy), the
confidence interval, and the summary rows built from run outcomes."""

from __future__ import annotations

import math
import statistics

import pytest
from scipy import stats as scipy_stats

from ballast.bench import BenchOutcome, confidence_interval, t_quantile
from ballast.bench.tables import markdown, summarize


@pytest.mark.parametrize("df", [1, 2, 4, 9, 29, 30, 31, 40, 100, 1000])
def test_t_quantile_matches_scipy(df: int) -> None:
    assert t_quantile(df) == pytest.approx(scipy_stats.t.ppf(0.975, df), abs=2e-4)


def test_t_quantile_needs_a_degree_of_freedom() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        t_quantile(0)


def test_confidence_interval_by_hand() -> None:
    values = [100.0, 120.0, 140.0, 160.0, 180.0]
    half = 2.7764 * statistics.stdev(values) / math.sqrt(5)
    low, high = confidence_interval(values)
    assert (low, high) == pytest.approx((140 - half, 140 + half))
    assert confidence_interval([1.0]) is None


def _outcome(algo: str, seed: int, final: float | None, error: str | None = None) -> BenchOutcome:
    return BenchOutcome("ballast", algo, "CartPole-v1", seed, f"{algo}_s{seed}", final_eval=final,
                        best_eval=None if final is None else final + 10, num_timesteps=1000, steps_per_second=500.0,
                        error=error)


def test_summary_rows_leave_failed_runs_out_of_the_statistics() -> None:
    outcomes = [_outcome("ppo", 0, 100.0), _outcome("ppo", 1, 200.0), _outcome("ppo", 2, None, "RuntimeError"),
                _outcome("a2c", 0, 50.0)]
    rows = {r["algorithm"]: r for r in summarize(outcomes)}
    assert rows["ppo"]["seeds"] == 2 and rows["ppo"]["failed"] == 1
    assert rows["ppo"]["final_mean"] == 150.0 and rows["ppo"]["best_mean"] == 160.0
    assert rows["ppo"]["final_std"] == pytest.approx(statistics.stdev([100.0, 200.0]))
    assert rows["ppo"]["final_ci_low"] == pytest.approx(150 - 12.7062 * rows["ppo"]["final_std"] / math.sqrt(2))
    assert rows["a2c"]["final_ci_low"] is None
    table = markdown(list(rows.values()))
    assert "| ballast | ppo | CartPole-v1 | 2 (1 failed) | 1000 | 150.0 ± 70.7 |" in table
    assert "| ballast | a2c | CartPole-v1 | 1 | 1000 | 50.0 ± 0.0 | n/a |" in table
