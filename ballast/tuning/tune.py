"""The driver of ``ballast tune``: ask the study for hyperparameters, run trials where the executor
puts them, tell the study how each ended, and keep the results in the output folder up to date.

The driver alone talks to the sampler; trials (:mod:`ballast.tuning.trial`) only report
evaluations to the pruner. So the same loop runs trials in this process, in ``--jobs`` local
processes or as Ray tasks, and a killed command leaves a study that the next one continues.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ballast.execution.executors import Executor, first_done
from ballast.execution.folders import publish_folder
from ballast.execution.options import ExecutionOptions
from ballast.execution.progress import RunProgress
from ballast.execution.ray_cluster import RayExecutor
from ballast.execution.training import check_env_id
from ballast.tracking import track_run_folder
from ballast.tuning.results import (
    BEST_FILE,
    SUMMARY_FILE,
    TRIALS_FILE,
    merge_entries,
    settings_entry,
    write_best_hyperparams,
    write_summary,
    write_trials_csv,
)
from ballast.tuning.space import SearchSpace, load_search_space
from ballast.tuning.study import (
    PrunerSpec,
    default_storage_url,
    finished_count,
    folder_lock,
    import_optuna,
    open_storage,
    open_study,
    recover_interrupted,
)
from ballast.tuning.trial import ActorReporter, Reporter, StorageReporter, TrialJob, TrialOutcome, run_trial
from ballast.zoo import default_settings, get_algorithm, load_hyperparams


@dataclass
class TuneOptions:
    """What ``ballast tune`` was asked: see ``ballast tune --help`` and docs/tuning.md."""

    algorithm: str
    env_id: str
    trials: int
    steps: int
    out: Path
    storage: str | None = None
    study_name: str | None = None
    sampler: str = "tpe"
    pruner: str = "median"
    search_space: Path | None = None
    hyperparams: Path | None = None
    seed: int = 0
    execution: ExecutionOptions = field(default_factory=ExecutionOptions)


@dataclass
class TuneResult:
    """How the study stands after the command: counts, the best trial, and the files written."""

    study_name: str
    storage: str
    counts: dict[str, int]
    best_number: int | None
    best_value: float | None
    best_entry: dict[str, Any] | None
    files: dict[str, Path] = field(default_factory=dict)


def base_entry(options: TuneOptions) -> dict[str, Any]:
    """The fixed part of every trial: the ``--hyperparams`` file's entry for the env, or the defaults."""
    cls = get_algorithm(options.algorithm)
    if options.hyperparams is not None:
        return settings_entry(load_hyperparams(options.hyperparams, options.env_id, cls))
    return settings_entry(default_settings(cls, options.env_id))


def tune(options: TuneOptions, *, show_progress: bool = True) -> TuneResult:
    """Run the search ``options`` describe until the study holds ``options.trials`` finished trials.

    Everything that can be wrong with the options is checked before the output folder is made.
    """
    optuna = import_optuna()
    algorithm = get_algorithm(options.algorithm).algorithm_name
    check_env_id(options.env_id)
    space = load_search_space(algorithm, options.search_space)
    base = base_entry(options)
    storage = open_storage(options.storage) if options.storage else None
    executor = options.execution.executor()
    try:
        options.out.mkdir(parents=True, exist_ok=True)
        with folder_lock(options.out):
            url = options.storage or default_storage_url(options.out)
            if storage is None:
                storage = open_storage(url)
            name = options.study_name or f"{algorithm}_{options.env_id}"
            pruner = PrunerSpec(options.pruner, warmup_steps=options.steps // 3)
            identity = {"algorithm": algorithm, "env_id": options.env_id, "steps": options.steps}
            study = open_study(storage, name, sampler=options.sampler, pruner=pruner, seed=options.seed,
                               identity=identity)
            if options.storage is None:
                recover_interrupted(study)
            local = StorageReporter(url, name, pruner)
            reporter: Reporter = (ActorReporter(executor.on_this_node(StorageReporter, url, name, pruner))
                                  if isinstance(executor, RayExecutor) else local)
            loop = _TuneLoop(options, study, space, base, executor, reporter, optuna)
            loop.run(show_progress)
            return loop.result(url)
    finally:
        executor.close()


class _TuneLoop:
    """Keeps ``executor.slots`` trials in flight until the study has enough finished trials."""

    def __init__(self, options: TuneOptions, study: Any, space: SearchSpace, base: dict[str, Any],
                 executor: Executor, reporter: Reporter, optuna: Any) -> None:
        self.options, self.study, self.space, self.base = options, study, space, base
        self.executor, self.reporter, self.optuna = executor, reporter, optuna
        self.execution = options.execution

    def run(self, show_progress: bool) -> None:
        done = finished_count(self.study)
        to_launch = max(0, self.options.trials - done)
        in_flight: dict[Future, Any] = {}
        with RunProgress("trials", self.options.trials, done=min(done, self.options.trials),
                         enabled=show_progress) as progress:
            progress.status(self._status())
            while to_launch or in_flight:
                while to_launch and len(in_flight) < self.executor.slots:
                    trial = self.study.ask()
                    in_flight[self.executor.submit(run_trial, self._job(trial), self.reporter)] = trial
                    to_launch -= 1
                for future in first_done(in_flight):
                    trial = in_flight.pop(future)
                    outcome = _outcome(future, trial.number)
                    self._record(trial, outcome)
                    progress.advance(self._status(), _line(outcome))
        self.write_results()

    def _job(self, trial: Any) -> TrialJob:
        entry = merge_entries(self.base, self.space.sample(trial))
        trial.set_user_attr("entry", entry)
        # Optuna's Trial has no public id; the id (not the number) is what a reporter needs to rebuild it.
        return TrialJob(number=trial.number, trial_id=trial._trial_id, algorithm=self.space.algorithm,
                        env_id=self.options.env_id, entry=entry, steps=self.options.steps,
                        run=self.execution.run_spec(self.options.seed))

    def _record(self, trial: Any, outcome: TrialOutcome) -> None:
        state = self.optuna.trial.TrialState
        if outcome.error:
            trial.set_user_attr("error", outcome.error)
        if outcome.steps_per_second is not None:
            trial.set_user_attr("steps_per_second", outcome.steps_per_second)
        if outcome.files:
            folder = publish_folder(outcome.files, self.options.out / "trials" / f"trial_{outcome.number:04d}")
            trial.set_user_attr("run_folder", str(folder))
            if self.execution.track:
                track_run_folder(self.execution.track, self.options.out, folder,
                                 f"{self.study.study_name}_trial_{outcome.number:04d}")
        if outcome.state == "complete":
            self.study.tell(trial, outcome.value)
        else:
            self.study.tell(trial, state=state.PRUNED if outcome.state == "pruned" else state.FAIL)
        self.write_results()

    def counts(self) -> dict[str, int]:
        names = [t.state.name.lower() for t in self.study.trials]
        return {k: names.count(k) for k in ("complete", "pruned", "fail", "running")}

    def best(self) -> Any | None:
        complete = [t for t in self.study.trials if t.state.name == "COMPLETE"]
        return max(complete, key=lambda t: t.value) if complete else None

    def _status(self) -> str:
        counts, best = self.counts(), self.best()
        best_text = f"best {best.value:.2f} (trial {best.number})" if best else "no complete trial yet"
        return f"{counts['complete']} complete · {counts['pruned']} pruned · {counts['fail']} failed · {best_text}"

    def write_results(self) -> None:
        """Rewrite the trials CSV, the summary and the best zoo file from the study (atomically)."""
        out, best = self.options.out, self.best()
        rows = [{"number": t.number, "state": t.state.name.lower(), "value": t.value,
                 "steps_per_second": t.user_attrs.get("steps_per_second"), "error": t.user_attrs.get("error"),
                 "entry": t.user_attrs.get("entry", {})} for t in self.study.trials]
        write_trials_csv(out / TRIALS_FILE, rows)
        if best is not None:
            comment = (f"Best of the trials of the study {self.study.study_name!r}: trial {best.number}, mean return "
                       f"{best.value:.2f} (deterministic, {self.execution.eval_episodes} episodes) after "
                       f"{self.options.steps} steps.\nWritten by: ballast {' '.join(self.execution.argv)}")
            write_best_hyperparams(out / BEST_FILE, self.options.env_id, best.user_attrs["entry"], self.options.steps,
                                   comment)
        write_summary(out / SUMMARY_FILE, {
            "study_name": self.study.study_name, "algorithm": self.space.algorithm, "env_id": self.options.env_id,
            "steps_per_trial": self.options.steps, "counts": self.counts(),
            "best": None if best is None else {"number": best.number, "value": best.value,
                                               "entry": best.user_attrs["entry"]},
            "command": ["ballast", *self.execution.argv]})

    def result(self, url: str) -> TuneResult:
        best, out = self.best(), self.options.out
        files = {"trials": out / TRIALS_FILE, "summary": out / SUMMARY_FILE, "trial folders": out / "trials"}
        if best is not None:
            files["best"] = out / BEST_FILE
        return TuneResult(self.study.study_name, url, self.counts(), None if best is None else best.number,
                          None if best is None else best.value,
                          None if best is None else best.user_attrs["entry"], files)


def _outcome(future: Future, number: int) -> TrialOutcome:
    """The trial's outcome; a worker that died (killed, out of memory) makes a failed one."""
    try:
        return future.result()
    except Exception as err:
        return TrialOutcome(number, "failed", error=f"the worker running it stopped: {type(err).__name__}: {err}")


def _line(outcome: TrialOutcome) -> str:
    if outcome.state == "failed":
        return f"trial {outcome.number}: failed: {outcome.error}"
    value = "" if outcome.value is None else f", last evaluation {outcome.value:.2f}"
    return f"trial {outcome.number}: {outcome.state}{value}"
