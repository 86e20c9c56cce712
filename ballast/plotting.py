"""Learning curves from run folders (``ballast plot``).

A run folder is what ``ballast train`` writes: ``config.json`` (algorithm, env, seed) and
``progress.csv`` (the logged values, one row per log dump). :func:`plot_runs` reads every run folder
under the given paths, groups the runs by env and algorithm, and draws one panel per env with one
colour per algorithm: the mean over seeds as a line, and a 95 % bootstrap confidence interval of
that mean as a band. Curves are first put on one grid (linear interpolation between logged points,
over the range every seed of the group covers), then optionally smoothed by a trailing moving
average of ``smooth`` points. The figure is a plain ``matplotlib.figure.Figure`` saved to a file: no
display is needed and pyplot's global state (the user's backend) is left alone.

:func:`plot_aggregate` compares the algorithms over all envs at once: the interquartile mean and
the mean of normalised final scores with stratified-bootstrap intervals
(:mod:`ballast.aggregate_scores`, after rliable).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ballast.aggregate_scores import AggregateScore, aggregate_scores
from ballast.checkpoint import atomic_write_bytes
from ballast.errors import ConfigurationError

#: The x axes a plot can use, and the progress.csv column each reads.
X_COLUMNS = {"steps": "time/total_timesteps", "time": "time/time_elapsed"}
DEFAULT_METRIC = "rollout/ep_rew_mean"
FORMATS = (".png", ".svg", ".pdf")
PLOT_EXTRA = 'pip install "ballast-rl[plot]" (matplotlib)'


@dataclass
class Curve:
    """One run's logged values of ``metric`` against steps and seconds."""

    algorithm: str
    env_id: str
    seed: int | None
    steps: np.ndarray
    seconds: np.ndarray
    values: np.ndarray
    run_dir: Path


@dataclass
class Band:
    """Seeds of one (env, algorithm) group on a common grid: mean and 95 % confidence interval."""

    x: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n_runs: int


def find_runs(paths: list[Path]) -> list[Path]:
    """Run folders (with ``config.json`` and ``progress.csv``) at or under ``paths``, sorted."""
    found: set[Path] = set()
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise ConfigurationError(f"{path} does not exist; give run folders or folders that hold them")
        candidates = [path] if (path / "config.json").is_file() else [p.parent for p in path.rglob("config.json")]
        found.update(p for p in candidates if (p / "progress.csv").is_file())
    if not found:
        raise ConfigurationError(f"no run folders (config.json + progress.csv) under {', '.join(map(str, paths))}")
    return sorted(found)


def load_curve(run_dir: Path, metric: str = DEFAULT_METRIC) -> Curve | None:
    """The run's values of ``metric`` (None when it logged none, e.g. no episode ended yet)."""
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    steps, seconds, values = [], [], []
    with open(run_dir / "progress.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            value, step = _number(row.get(metric)), _number(row.get(X_COLUMNS["steps"]))
            if value is None or step is None:
                continue
            steps.append(step)
            seconds.append(_number(row.get(X_COLUMNS["time"])) or math.nan)
            values.append(value)
    if not values:
        return None
    return Curve(str(config.get("algorithm", "?")), str(config.get("env_id", "?")), config.get("seed"),
                 np.asarray(steps), np.asarray(seconds), np.asarray(values), run_dir)


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """``out[i]`` = mean of ``values[max(0, i - window + 1) : i + 1]``."""
    if window <= 1:
        return values.astype(float)
    sums = np.cumsum(np.concatenate(([0.0], values.astype(float))))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def bootstrap_interval(samples: np.ndarray, level: float = 0.95, resamples: int = 2000,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of the mean over axis 0 of ``samples`` (runs x points).

    Each resample draws the runs with replacement; the interval is the ``(1 - level) / 2`` and
    ``(1 + level) / 2`` quantiles of the resampled means. One run gives a zero-width interval.
    """
    n = samples.shape[0]
    if n == 1:
        return samples[0].copy(), samples[0].copy()
    rng = np.random.default_rng(seed)
    means = samples[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    return np.quantile(means, tail, axis=0), np.quantile(means, 1.0 - tail, axis=0)


def aggregate(curves: list[Curve], x: str = "steps", smooth: int = 1, points: int = 200) -> Band:
    """The curves of one group on a common grid over the x range all of them cover."""
    if x not in X_COLUMNS:
        raise ConfigurationError(f"x must be one of {sorted(X_COLUMNS)}, got {x!r}")
    xs = [c.steps if x == "steps" else c.seconds for c in curves]
    start, stop = max(float(np.nanmin(v)) for v in xs), min(float(np.nanmax(v)) for v in xs)
    grid = np.linspace(start, stop, points) if stop > start else np.array([start])
    values = np.stack([np.interp(grid, xv, trailing_mean(c.values, smooth)) for xv, c in zip(xs, curves)])
    low, high = bootstrap_interval(values)
    return Band(grid, values.mean(axis=0), low, high, len(curves))


def group_curves(curves: list[Curve]) -> dict[str, dict[str, list[Curve]]]:
    """``{env_id: {algorithm: [curves]}}``."""
    groups: dict[str, dict[str, list[Curve]]] = defaultdict(lambda: defaultdict(list))
    for curve in curves:
        groups[curve.env_id][curve.algorithm].append(curve)
    return groups


def load_curves(paths: list[Path], metric: str = DEFAULT_METRIC) -> list[Curve]:
    """The curves of ``metric`` of every run under ``paths`` that logged it (at least one must)."""
    runs = find_runs(paths)
    curves = [c for c in (load_curve(r, metric) for r in runs) if c is not None]
    if not curves:
        raise ConfigurationError(f"none of the {len(runs)} runs logged {metric!r}; "
                                 f"columns of {runs[0] / 'progress.csv'}: {', '.join(_columns(runs[0]))}")
    return curves


def _check_format(out: Path) -> Path:
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise ConfigurationError(f"--out must end in {', '.join(FORMATS)}, got {out.name}")
    return out


def _save(figure: object, out: Path) -> Path:
    image = io.BytesIO()
    figure.savefig(image, format=out.suffix.lower().lstrip("."))
    atomic_write_bytes(out, image.getvalue())
    return out


def plot_runs(paths: list[Path], out: Path, *, x: str = "steps", smooth: int = 1,
              metric: str = DEFAULT_METRIC) -> Path:
    """Draw the learning curves of the runs under ``paths`` into ``out`` (.png, .svg or .pdf)."""
    return plot_curves(load_curves(paths, metric), out, x=x, smooth=smooth, metric=metric)


def plot_curves(curves: list[Curve], out: Path, *, x: str = "steps", smooth: int = 1,
                metric: str = DEFAULT_METRIC) -> Path:
    """:func:`plot_runs` for curves already read (:func:`load_curves`)."""
    out = _check_format(out)
    groups = group_curves(curves)
    figure = _figure_class()(figsize=(5 * len(groups), 3.8))
    axes = figure.subplots(1, len(groups), squeeze=False)
    colours = {algo: f"C{i}" for i, algo in enumerate(sorted({c.algorithm for c in curves}))}
    for axis, (env_id, by_algorithm) in zip(axes[0], sorted(groups.items())):
        for algorithm, group in sorted(by_algorithm.items()):
            band = aggregate(group, x, smooth)
            axis.plot(band.x, band.mean, color=colours[algorithm], label=f"{algorithm} ({band.n_runs} runs)")
            axis.fill_between(band.x, band.low, band.high, color=colours[algorithm], alpha=0.25, linewidth=0)
        axis.set_title(env_id)
        axis.set_xlabel("env steps" if x == "steps" else "seconds")
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    figure.tight_layout()
    return _save(figure, out)


def final_scores(curves: list[Curve]) -> dict[str, dict[str, np.ndarray]]:
    """``{env_id: {algorithm: the last logged value of each run}}``."""
    return {env_id: {algo: np.array([c.values[-1] for c in group]) for algo, group in by_algorithm.items()}
            for env_id, by_algorithm in group_curves(curves).items()}


def plot_aggregate(paths: list[Path], out: Path, *, metric: str = DEFAULT_METRIC,
                   ranges: dict[str, tuple[float, float]] | None = None) -> tuple[Path, list[AggregateScore]]:
    """Draw each algorithm's IQM and mean of normalised final scores over all envs, with their 95 %
    stratified-bootstrap intervals (:func:`ballast.aggregate_scores.aggregate_scores`), into ``out``."""
    return plot_aggregate_curves(load_curves(paths, metric), out, ranges=ranges)


def plot_aggregate_curves(curves: list[Curve], out: Path, *, ranges: dict[str, tuple[float, float]] | None = None
                          ) -> tuple[Path, list[AggregateScore]]:
    """:func:`plot_aggregate` for curves already read (:func:`load_curves`)."""
    out = _check_format(out)
    results = aggregate_scores(final_scores(curves), ranges)
    figure = _figure_class()(figsize=(8, 0.6 * len(results) + 1.6))
    axes = figure.subplots(1, 2, sharey=True)
    for axis, (title, point, low, high) in zip(axes, (("IQM", "iqm", "iqm_low", "iqm_high"),
                                                      ("mean", "mean", "mean_low", "mean_high"))):
        for row, result in enumerate(results):
            colour = f"C{row}"
            axis.barh(row, getattr(result, high) - getattr(result, low), left=getattr(result, low), height=0.6,
                      color=colour, alpha=0.4)
            axis.plot([getattr(result, point)] * 2, [row - 0.3, row + 0.3], color=colour, linewidth=2)
        axis.set_title(f"{title} of normalised scores")
        axis.set_xlabel("normalised score")
        axis.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(results)), [f"{r.algorithm} ({r.n_envs} envs, {r.n_runs} runs)" for r in results])
    figure.tight_layout()
    return _save(figure, out), results


def _columns(run_dir: Path) -> list[str]:
    with open(run_dir / "progress.csv", newline="", encoding="utf-8") as f:
        return next(csv.reader(f), [])


def _figure_class() -> type:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigurationError(f"plotting needs matplotlib, which is not installed: {PLOT_EXTRA}") from None
    return Figure
