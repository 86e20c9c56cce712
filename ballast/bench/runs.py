"""One benchmark run as a job: what to train, with which library, and what comes back."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ballast.execution.options import RunSpec
from ballast.execution.periodic_eval import PeriodicEvaluation
from ballast.execution.training import train_to_files
from ballast.zoo import ZooSettings

#: The file in each run folder that records the run's benchmark results (its presence: the run is done).
RESULT_FILE = "bench.json"


@dataclass(frozen=True)
class BenchJob:
    """One cell of the grid and seed: ``settings`` hold the algorithm, env, hyperparameters and steps."""

    library: str
    settings: ZooSettings
    run: RunSpec

    @property
    def seed(self) -> int:
        return self.run.seed


@dataclass
class BenchOutcome:
    """A finished run: its folder's ``name`` and ``files``, and what the summary table needs."""

    library: str
    algorithm: str
    env_id: str
    seed: int
    name: str
    final_eval: float | None = None
    best_eval: float | None = None
    num_timesteps: int = 0
    steps_per_second: float | None = None
    error: str | None = None
    files: dict[str, bytes] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """The run's row (``bench.json``): everything but the files."""
        return {k: v for k, v in self.__dict__.items() if k != "files"}

    def with_record(self) -> BenchOutcome:
        """Add ``bench.json`` (the record) to the files; returns self."""
        self.files[RESULT_FILE] = (json.dumps(self.record(), indent=2) + "\n").encode("utf-8")
        return self


def run_name(settings: ZooSettings, seed: int) -> str:
    """The run folder's name, as ``ballast train`` names it."""
    return f"{settings.algorithm}_{re.sub(r'[^A-Za-z0-9._-]+', '-', settings.env_id)}_s{seed}"


def train_ballast(job: BenchJob) -> BenchOutcome:
    """Train with Ballast as ``ballast train`` does, evaluating ``job.evals`` times on the way."""
    settings, spec = job.settings, job.run
    evaluation = PeriodicEvaluation(max(1, int(settings.n_timesteps or 1) // spec.evals), spec.eval_episodes,
                                    settings, seed=spec.seed)
    run = train_to_files(settings, seed=spec.seed, device=spec.device, argv=spec.argv,
                         eval_episodes=spec.eval_episodes, callbacks=[evaluation])
    final = json.loads(run.files["eval.json"])["mean_reward"] if "eval.json" in run.files else None
    best = max((v for v in (final, evaluation.summary()["best_eval"]) if v is not None), default=None)
    outcome = BenchOutcome(job.library, settings.algorithm, settings.env_id, job.seed, run.name,
                           final_eval=final, best_eval=best,
                           num_timesteps=run.num_timesteps,
                           steps_per_second=run.num_timesteps / evaluation.train_seconds, files=run.files)
    outcome.files["evaluations.csv"] = evaluation.csv().encode("utf-8")
    return outcome


#: Library name -> function that trains one job. Another library (e.g. Stable-Baselines3, for a
#: peer comparison) plugs in here with the same settings and the same outcome.
TRAINERS: dict[str, Callable[[BenchJob], BenchOutcome]] = {"ballast": train_ballast}


def run_bench_job(job: BenchJob) -> BenchOutcome:
    """Run ``job`` with its library's trainer; a run that breaks makes an outcome with its error."""
    if job.run.threads:
        torch.set_num_threads(job.run.threads)
    try:
        outcome = TRAINERS[job.library](job)
    except Exception as err:  # one broken run is a row of the table, not the end of the grid
        settings = job.settings
        outcome = BenchOutcome(job.library, settings.algorithm, settings.env_id, job.seed,
                               run_name(settings, job.seed), error=f"{type(err).__name__}: {err}")
    return outcome.with_record()
