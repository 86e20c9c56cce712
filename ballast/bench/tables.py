"""The tables of a bench: ``summary.md`` and ``summary.csv`` (one row per library, algorithm and env,
over seeds) and ``runs.csv`` (one row per run)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from itertools import groupby
from pathlib import Path
from typing import Any

from ballast.bench.runs import BenchOutcome
from ballast.bench.stats import confidence_interval, mean_std
from ballast.execution.folders import write_text

_RUN_COLUMNS = ("library", "algorithm", "env_id", "seed", "name", "num_timesteps", "final_eval", "best_eval",
                "steps_per_second", "error")
_SUMMARY_COLUMNS = ("library", "algorithm", "env_id", "seeds", "failed", "steps", "final_mean", "final_std",
                    "final_ci_low", "final_ci_high", "best_mean", "best_std", "steps_per_second")


def summarize(outcomes: Sequence[BenchOutcome]) -> list[dict[str, Any]]:
    """One row per (library, algorithm, env): mean, sample std and 95 % CI of the final evaluations
    over the seeds that finished, the same for the best evaluations, and the mean steps/s."""
    key = lambda o: (o.library, o.algorithm, o.env_id)
    rows = []
    for (library, algorithm, env_id), group in groupby(sorted(outcomes, key=key), key=key):
        runs = list(group)
        ok = [o for o in runs if o.error is None and o.final_eval is not None]
        row: dict[str, Any] = {"library": library, "algorithm": algorithm, "env_id": env_id, "seeds": len(ok),
                               "failed": len(runs) - len(ok), "steps": max((o.num_timesteps for o in ok), default=0)}
        if ok:
            final = [float(o.final_eval) for o in ok]
            best = [float(o.best_eval if o.best_eval is not None else o.final_eval) for o in ok]
            row["final_mean"], row["final_std"] = mean_std(final)
            row["final_ci_low"], row["final_ci_high"] = confidence_interval(final) or (None, None)
            row["best_mean"], row["best_std"] = mean_std(best)
            row["steps_per_second"] = mean_std([float(o.steps_per_second or 0.0) for o in ok])[0]
        rows.append(row)
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _csv(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([[_fmt(row.get(c)) for c in columns] for row in rows])
    return buffer.getvalue()


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The summary as a markdown table."""
    lines = ["| library | algorithm | env | seeds | steps | final return (mean ± std) | 95 % CI | "
             "best return (mean ± std) | steps/s |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        seeds = f"{r['seeds']}" + (f" ({r['failed']} failed)" if r["failed"] else "")
        if "final_mean" not in r:
            lines.append(f"| {r['library']} | {r['algorithm']} | {r['env_id']} | {seeds} | | | | | |")
            continue
        ci = "n/a" if r["final_ci_low"] is None else f"[{r['final_ci_low']:.1f}, {r['final_ci_high']:.1f}]"
        lines.append(f"| {r['library']} | {r['algorithm']} | {r['env_id']} | {seeds} | {r['steps']} | "
                     f"{r['final_mean']:.1f} ± {r['final_std']:.1f} | {ci} | {r['best_mean']:.1f} ± "
                     f"{r['best_std']:.1f} | {r['steps_per_second']:.0f} |")
    note = ("\nFinal: deterministic evaluation after training; best: the best evaluation of the run "
            "(during training or the final one); std over seeds (sample std); 95 % CI: Student t over seeds; "
            "steps/s: training only.\n")
    return "\n".join(lines) + "\n" + note


def write_tables(out: Path, outcomes: Sequence[BenchOutcome]) -> dict[str, Path]:
    """Write (atomically) ``summary.md``, ``summary.csv`` and ``runs.csv`` into ``out``."""
    rows = summarize(outcomes)
    runs = sorted((o.record() for o in outcomes), key=lambda r: (r["library"], r["algorithm"], r["env_id"],
                                                                   r["seed"]))
    return {"summary": write_text(out / "summary.md", markdown(rows)),
            "summary_csv": write_text(out / "summary.csv", _csv(_SUMMARY_COLUMNS, rows)),
            "runs": write_text(out / "runs.csv", _csv(_RUN_COLUMNS, runs))}
