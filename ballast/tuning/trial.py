"""One tuning trial, where it runs (this process, a local process, a Ray task): train with the
sampled hyperparameters, evaluate every so many steps, report each evaluation to the study's
pruner, and return the outcome and the run folder's files to the driver."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import torch

from ballast.errors import BallastError
from ballast.execution.options import RunSpec
from ballast.execution.periodic_eval import PeriodicEvaluation
from ballast.execution.training import train_to_files
from ballast.tuning.study import PrunerSpec, import_optuna, open_storage
from ballast.zoo import parse_hyperparams


class Reporter(Protocol):
    """Takes a trial's intermediate evaluation; answers whether the pruner stops the trial."""

    def report(self, trial_id: int, step: int, value: float) -> bool: ...


class StorageReporter:
    """Reports to the study through its storage: for trials that can reach the storage (this machine).

    Holds only the URL, name and pruner, so it pickles to another process, which opens the study
    itself (Optuna's journal file and databases are safe for several processes)."""

    def __init__(self, storage_url: str, study_name: str, pruner: PrunerSpec) -> None:
        self.storage_url, self.study_name, self.pruner = storage_url, study_name, pruner

    def __getstate__(self) -> dict[str, Any]:
        return {"storage_url": self.storage_url, "study_name": self.study_name, "pruner": self.pruner}

    @cached_property
    def _study(self) -> Any:
        optuna = import_optuna()
        return optuna.load_study(study_name=self.study_name, storage=open_storage(self.storage_url),
                                 pruner=self.pruner.build(), sampler=optuna.samplers.RandomSampler())

    def report(self, trial_id: int, step: int, value: float) -> bool:
        trial = import_optuna().trial.Trial(self._study, trial_id)
        trial.report(value, step)
        return trial.should_prune()


class ActorReporter:
    """Reports through a :class:`StorageReporter` actor on the driver's node (a Ray task on another
    machine cannot open a journal file that lives on the driver's disk)."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor

    def report(self, trial_id: int, step: int, value: float) -> bool:
        import ray

        return bool(ray.get(self.actor.report.remote(trial_id, step, value)))


@dataclass(frozen=True)
class TrialJob:
    """Everything a trial needs, as plain data: ``entry`` is the zoo entry to train with."""

    number: int
    trial_id: int
    algorithm: str
    env_id: str
    entry: dict[str, Any]
    steps: int
    run: RunSpec


@dataclass
class TrialOutcome:
    """``state`` is ``complete``, ``pruned`` or ``failed``; ``value`` the last evaluation's mean return."""

    number: int
    state: str
    value: float | None = None
    error: str | None = None
    evaluations: list[dict[str, float]] = field(default_factory=list)
    steps_per_second: float | None = None
    files: dict[str, bytes] = field(default_factory=dict)


def run_trial(job: TrialJob, reporter: Reporter) -> TrialOutcome:
    """Train one trial and return its outcome; a setting that cannot work (a Ballast error) or a run
    that breaks makes a ``failed`` outcome with the reason, never an exception."""
    spec = job.run
    if spec.threads:
        torch.set_num_threads(spec.threads)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            settings = parse_hyperparams(job.entry, job.env_id, job.algorithm, source=f"trial {job.number}")
            settings.n_timesteps = job.steps
            evaluation = PeriodicEvaluation(
                max(1, job.steps // spec.evals), spec.eval_episodes, settings, seed=spec.seed,
                on_evaluation=lambda step, value: reporter.report(job.trial_id, step, value))
            run = train_to_files(settings, seed=spec.seed, device=spec.device, argv=spec.argv, eval_episodes=0,
                                 callbacks=[evaluation])
    except BallastError as err:
        return TrialOutcome(job.number, "failed", error=str(err))
    except Exception as err:  # a diverging or crashing run fails its trial, not the search
        return TrialOutcome(job.number, "failed", error=f"{type(err).__name__}: {err}")
    last = evaluation.summary()["last_eval"]
    outcome = TrialOutcome(job.number, "pruned" if evaluation.stopped else "complete", value=last,
                           evaluations=evaluation.evaluations,
                           steps_per_second=run.num_timesteps / evaluation.train_seconds, files=run.files)
    if last is None:
        outcome.state, outcome.error = "failed", "the trial ended before its first evaluation"
    record = {"number": job.number, "state": outcome.state, "value": last, "entry": job.entry,
              "steps_per_second": outcome.steps_per_second, "warnings": sorted({str(w.message) for w in caught})}
    outcome.files["evaluations.csv"] = evaluation.csv().encode("utf-8")
    outcome.files["trial.json"] = (json.dumps(record, indent=2) + "\n").encode("utf-8")
    return outcome
