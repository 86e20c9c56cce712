"""The driver of ``ballast bench``: resolve every cell's settings, run the grid where the executor
puts the runs, publish each run folder, and write the summary tables.

Runs already in the output folder (their ``bench.json`` present) are not run again, so a killed
bench continues where it stopped and a grid can grow by seeds or envs.
"""

from __future__ import annotations

import json
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from ballast.bench.runs import RESULT_FILE, TRAINERS, BenchJob, BenchOutcome, run_bench_job, run_name
from ballast.bench.tables import write_tables
from ballast.errors import ConfigurationError
from ballast.execution.executors import first_done
from ballast.execution.folders import publish_folder
from ballast.execution.options import ExecutionOptions
from ballast.execution.progress import RunProgress
from ballast.execution.training import check_env_id
from ballast.tracking import track_run_folder
from ballast.zoo import (
    SHIPPED_HYPERPARAMS,
    ZooSettings,
    default_settings,
    get_algorithm,
    load_hyperparams,
    own_entry_file,
)

RUNS_FOLDER = "runs"


@dataclass
class BenchOptions:
    """What ``ballast bench`` was asked: see ``ballast bench --help`` and docs/tuning.md."""

    algorithms: list[str]
    env_ids: list[str]
    seeds: int
    out: Path
    steps: int | None = None
    hyperparams: str = "default"
    library: str = "ballast"
    execution: ExecutionOptions = field(default_factory=lambda: ExecutionOptions(eval_episodes=10))


@dataclass
class BenchResult:
    """Every run's outcome (earlier ones included) and the files written."""

    outcomes: list[BenchOutcome]
    files: dict[str, Path] = field(default_factory=dict)


def cell_settings(algorithm: str, env_id: str, hyperparams: str, steps: int | None) -> ZooSettings:
    """The settings of one cell: the algorithm's defaults (``default``), the zoo file Ballast ships
    (``zoo``), Ballast's own entry where it has one and the zoo's otherwise (``ballast``), a file, or
    a folder of ``<algo>.yml`` files; ``steps`` overrides ``n_timesteps``."""
    cls = get_algorithm(algorithm)
    if hyperparams == "default":
        settings = default_settings(cls, env_id)
    else:
        path = SHIPPED_HYPERPARAMS if hyperparams == "zoo" else Path(hyperparams)
        if hyperparams == "ballast":
            path = own_entry_file(cls.algorithm_name, env_id) or SHIPPED_HYPERPARAMS
        if path.is_dir():
            path = path / f"{cls.algorithm_name}.yml"
        settings = load_hyperparams(path, env_id, cls)
    if steps is not None:
        settings.n_timesteps = steps
    if settings.n_timesteps is None:
        raise ConfigurationError(f"no step budget for {cls.algorithm_name} on {env_id}: give --steps N")
    return settings


def bench(options: BenchOptions, *, show_progress: bool = True) -> BenchResult:
    """Run the grid ``options`` describe (missing runs only) and write ``summary.md``, ``summary.csv``
    and ``runs.csv``. Every setting is checked before the output folder is made."""
    if options.library not in TRAINERS:
        raise ConfigurationError(f"unknown library {options.library!r}; known: {', '.join(TRAINERS)}")
    for env_id in options.env_ids:
        check_env_id(env_id)
    cells = [cell_settings(a, e, options.hyperparams, options.steps) for a in options.algorithms
             for e in options.env_ids]
    runs_dir = options.out / RUNS_FOLDER
    jobs, outcomes = [], []
    for settings in cells:
        for seed in range(options.seeds):
            earlier = _earlier_outcome(runs_dir / run_name(settings, seed) / RESULT_FILE)
            if earlier is not None and earlier.error is None:
                outcomes.append(earlier)
            else:
                jobs.append(BenchJob(options.library, settings, options.execution.run_spec(seed)))
    executor = options.execution.executor()
    try:
        options.out.mkdir(parents=True, exist_ok=True)
        total = len(jobs) + len(outcomes)
        with RunProgress("runs", total, done=len(outcomes), enabled=show_progress) as progress:
            pending = list(jobs)
            in_flight: dict[Future, BenchJob] = {}
            while pending or in_flight:
                while pending and len(in_flight) < executor.slots:
                    job = pending.pop(0)
                    in_flight[executor.submit(run_bench_job, job)] = job
                for future in first_done(in_flight):
                    outcome = _outcome(future, in_flight.pop(future))
                    folder = publish_folder(outcome.files, runs_dir / outcome.name)
                    if options.execution.track and outcome.error is None:
                        track_run_folder(options.execution.track, options.out, folder)
                    outcomes.append(outcome)
                    write_tables(options.out, outcomes)
                    progress.advance(f"{sum(o.error is not None for o in outcomes)} failed", _line(outcome))
    finally:
        executor.close()
    return BenchResult(outcomes, write_tables(options.out, outcomes))


def _earlier_outcome(path: Path) -> BenchOutcome | None:
    """The outcome a previous bench recorded in ``path`` (None when there is none or it is unreadable)."""
    try:
        return BenchOutcome(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _outcome(future: Future, job: BenchJob) -> BenchOutcome:
    try:
        return future.result()
    except Exception as err:  # the worker itself died: the run is recorded as failed
        settings = job.settings
        return BenchOutcome(job.library, settings.algorithm, settings.env_id, job.seed, run_name(settings, job.seed),
                            error=f"the worker stopped: {type(err).__name__}: {err}").with_record()


def _line(outcome: BenchOutcome) -> str:
    head = f"{outcome.library} {outcome.name}"
    if outcome.error:
        return f"{head}: failed: {outcome.error}"
    evals = ", ".join(f"{what} {value:.2f}" for what, value in (("final", outcome.final_eval),
                                                                 ("best", outcome.best_eval)) if value is not None)
    return f"{head}: {evals}, {outcome.steps_per_second:.0f} steps/s"
