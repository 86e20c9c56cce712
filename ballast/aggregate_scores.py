"""Scores aggregated across envs, with the uncertainty of few seeds (``ballast plot --aggregate``).

Agarwal et al., 2021, "Deep Reinforcement Learning at the Edge of the Statistical Precipice"
(arXiv:2108.13264; the ``rliable`` library) recommend, for comparing algorithms over several tasks
with a handful of runs each:

- normalising each task's scores to a common scale: ``(score - low) / (high - low)``, with ``low``
  and ``high`` reference scores per task (e.g. a random policy's and the solved threshold); by
  default here the lowest and highest final score among the compared runs of that env;
- the interquartile mean (IQM): the mean of the middle 50 % of all normalised run scores pooled over
  tasks (the lowest and highest quarter dropped, as ``scipy.stats.trim_mean(x, 0.25)``), more robust
  than the mean and less noisy than the median;
- 95 % confidence intervals from a stratified bootstrap: each resample draws, for every task, that
  task's runs with replacement, so each task keeps its number of runs; the interval is the 2.5th and
  97.5th percentile of the statistic over 2,000 resamples.

A run's score is the last logged value of the plotted metric (``rollout/ep_rew_mean`` by default:
the mean return of its last 100 training episodes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ballast.errors import ConfigurationError

#: ``{env_id: {algorithm: final scores, one per run}}``.
Scores = Mapping[str, Mapping[str, np.ndarray]]


@dataclass(frozen=True)
class AggregateScore:
    """One algorithm's normalised scores over all envs: point estimates and 95 % stratified-bootstrap intervals."""

    algorithm: str
    iqm: float
    iqm_low: float
    iqm_high: float
    mean: float
    mean_low: float
    mean_high: float
    median: float
    n_envs: int
    n_runs: int


def interquartile_mean(scores: np.ndarray) -> float:
    """The mean of the scores left after dropping the lowest and the highest ``floor(n / 4)``."""
    values = np.sort(np.asarray(scores, dtype=float).ravel())
    if values.size == 0:
        raise ConfigurationError("the interquartile mean of no scores is undefined")
    cut = int(0.25 * values.size)
    return float(values[cut:values.size - cut].mean())


def stratified_bootstrap_interval(per_env: list[np.ndarray], statistic: Callable[[np.ndarray], float],
                                  level: float = 0.95, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile interval of ``statistic`` (of the pooled scores) when each env's runs are
    resampled with replacement within that env."""
    rng = np.random.default_rng(seed)
    values = np.empty(resamples)
    for i in range(resamples):
        values[i] = statistic(np.concatenate([runs[rng.integers(0, runs.size, runs.size)] for runs in per_env]))
    tail = (1.0 - level) / 2.0
    return float(np.quantile(values, tail)), float(np.quantile(values, 1.0 - tail))


def normalise(scores: Scores,
              ranges: Mapping[str, tuple[float, float]] | None = None) -> dict[str, dict[str, np.ndarray]]:
    """``(score - low) / (high - low)`` per env; an env without a given range uses the lowest and
    highest final score among all its runs (then the best run scores 1 and the worst 0)."""
    ranges = dict(ranges or {})
    unknown = sorted(set(ranges) - set(scores))
    if unknown:
        raise ConfigurationError(f"score ranges given for env(s) {unknown} that no run was trained on; "
                                 f"the runs' envs: {', '.join(sorted(scores))}")
    out: dict[str, dict[str, np.ndarray]] = {}
    for env_id, by_algorithm in scores.items():
        pooled = np.concatenate([np.asarray(v, dtype=float) for v in by_algorithm.values()])
        low, high = ranges.get(env_id, (float(pooled.min()), float(pooled.max())))
        if not high > low:
            raise ConfigurationError(f"{env_id}: the score range needs high > low, got low={low}, high={high}"
                                     + ("" if env_id in ranges else " (all runs scored the same: give "
                                        f"--score-range {env_id}=LOW:HIGH)"))
        out[env_id] = {algo: (np.asarray(v, dtype=float) - low) / (high - low) for algo, v in by_algorithm.items()}
    return out


def aggregate_scores(scores: Scores, ranges: Mapping[str, tuple[float, float]] | None = None,
                     resamples: int = 2000, seed: int = 0) -> list[AggregateScore]:
    """Per algorithm (sorted by name), the IQM, mean and median of its normalised scores over the
    envs it ran on, with stratified-bootstrap 95 % intervals of the IQM and the mean."""
    normalised = normalise(scores, ranges)
    algorithms = sorted({algo for by_algorithm in normalised.values() for algo in by_algorithm})
    results = []
    for algorithm in algorithms:
        per_env = [by_algorithm[algorithm] for by_algorithm in normalised.values() if algorithm in by_algorithm]
        pooled = np.concatenate(per_env)
        iqm_low, iqm_high = stratified_bootstrap_interval(per_env, interquartile_mean, resamples=resamples, seed=seed)
        mean_low, mean_high = stratified_bootstrap_interval(per_env, lambda x: float(x.mean()), resamples=resamples,
                                                            seed=seed)
        results.append(AggregateScore(algorithm, interquartile_mean(pooled), iqm_low, iqm_high, float(pooled.mean()),
                                      mean_low, mean_high, float(np.median(pooled)), len(per_env), int(pooled.size)))
    return results


def markdown_table(results: list[AggregateScore]) -> str:
    """The aggregate scores as a Markdown table."""
    rows = ["| algorithm | envs | runs | IQM [95 % CI] | mean [95 % CI] | median |", "|---|---|---|---|---|---|"]
    rows += [f"| {r.algorithm} | {r.n_envs} | {r.n_runs} | {r.iqm:.3f} [{r.iqm_low:.3f}, {r.iqm_high:.3f}] | "
             f"{r.mean:.3f} [{r.mean_low:.3f}, {r.mean_high:.3f}] | {r.median:.3f} |" for r in results]
    return "\n".join(rows)


def parse_score_ranges(items: list[str]) -> dict[str, tuple[float, float]]:
    """``["CartPole-v1=9:500", ...]`` as ``{"CartPole-v1": (9.0, 500.0)}``."""
    ranges = {}
    for item in items:
        env_id, sep, bounds = item.rpartition("=")
        low, colon, high = bounds.partition(":")
        try:
            if not (sep and colon and env_id):
                raise ValueError
            ranges[env_id] = (float(low), float(high))
        except ValueError:
            raise ConfigurationError(f"a score range is ENV_ID=LOW:HIGH (e.g. CartPole-v1=9:500), "
                                     f"got {item!r}") from None
    return ranges
