"""Experiment tracking: a run's hyperparameters, metrics and files sent to MLflow or Weights & Biases.

``ballast train --track mlflow|wandb`` opens one tracked run per Ballast run (:func:`open_tracker`),
adds a :class:`TrackerOutput` to the model's logger, so every logger dump (the table ``ballast train``
prints) becomes a step of metrics at ``time/total_timesteps``, and at the end logs the run folder's
files (model, config, evaluation, videos) as artifacts.

- MLflow: the tracking URI is ``MLFLOW_TRACKING_URI`` when set, else a local file store in the output
  folder (``<out>/mlruns``, no server: ``mlflow ui --backend-store-uri <out>/mlruns`` shows it). MLflow 3
  calls its file store "maintenance mode" and refuses it unless ``MLFLOW_ALLOW_FILE_STORE`` is set,
  which Ballast sets for that default; give a ``sqlite:///...`` or server URI to use another store.
  The experiment is ``MLFLOW_EXPERIMENT_NAME`` or ``ballast``.
``ballast tune`` and ``ballast bench`` take ``--track`` too: each run's folder, once it has come back
from the process or Ray task that trained it, is sent by :func:`track_run_folder`.

- Weights & Biases: the project is ``WANDB_PROJECT`` or ``ballast``, files go under the output folder;
  ``WANDB_MODE=offline`` works without a network (``wandb sync`` uploads later).
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from ballast.errors import ConfigurationError
from ballast.log_formats import KVWriter, filter_excluded_keys

TRACKERS = ("mlflow", "wandb")
_EXTRAS = {"mlflow": 'pip install "ballast-rl[mlflow]"', "wandb": 'pip install "ballast-rl[wandb]"'}


class Tracker(Protocol):
    """What a tracking backend does for one run."""

    name: str

    def log_params(self, params: Mapping[str, Any]) -> None: ...
    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None: ...
    def log_artifact(self, path: Path) -> None: ...
    def finish(self, failed: bool = False) -> None: ...


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as ``{"a/b": value}`` with scalar values (lists and None as text)."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, f"{name}/"))
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


class MLflowTracker:
    """One MLflow run (see the module docstring for where it goes)."""

    name = "mlflow"

    def __init__(self, out: Path, run_name: str) -> None:
        mlflow = _import("mlflow")
        uri = os.environ.get("MLFLOW_TRACKING_URI") or (Path(out).resolve() / "mlruns").as_uri()
        if uri.startswith("file:"):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self._client = mlflow.MlflowClient(tracking_uri=uri)
        experiment_name = os.environ.get("MLFLOW_EXPERIMENT_NAME", "ballast")
        experiment = self._client.get_experiment_by_name(experiment_name)
        experiment_id = experiment.experiment_id if experiment else self._client.create_experiment(experiment_name)
        self.run_id = self._client.create_run(experiment_id, run_name=run_name).info.run_id
        self.uri = uri
        self._entities = mlflow.entities

    def log_params(self, params: Mapping[str, Any]) -> None:
        entities = self._entities
        batch = [entities.Param(key, str(value)[:6000]) for key, value in flatten_params(params).items()]
        for start in range(0, len(batch), 100):  # MLflow takes at most 100 parameters per call
            self._client.log_batch(self.run_id, params=batch[start:start + 100])

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        entities = self._entities
        batch = [entities.Metric(_metric_name(key), value, 0, step) for key, value in metrics.items()]
        for start in range(0, len(batch), 1000):
            self._client.log_batch(self.run_id, metrics=batch[start:start + 1000])

    def log_artifact(self, path: Path) -> None:
        if Path(path).is_dir():
            self._client.log_artifacts(self.run_id, str(path), artifact_path=Path(path).name)
        else:
            self._client.log_artifact(self.run_id, str(path))

    def finish(self, failed: bool = False) -> None:
        self._client.set_terminated(self.run_id, status="FAILED" if failed else "FINISHED")


def _metric_name(key: str) -> str:
    """MLflow metric names allow letters, digits, ``_ - . / space``; others become ``_``."""
    return "".join(c if c.isalnum() or c in "_-./ " else "_" for c in key)


class WandbTracker:
    """One Weights & Biases run (see the module docstring)."""

    name = "wandb"

    def __init__(self, out: Path, run_name: str) -> None:
        wandb = _import("wandb")
        Path(out).mkdir(parents=True, exist_ok=True)
        self._run = wandb.init(project=os.environ.get("WANDB_PROJECT", "ballast"), name=run_name, dir=str(out),
                               reinit="create_new")
        self._wandb = wandb

    @property
    def run_dir(self) -> Path:
        return Path(self._run.dir)

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._run.config.update(flatten_params(params), allow_val_change=True)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        self._run.log(dict(metrics), step=step)

    def log_artifact(self, path: Path) -> None:
        path = Path(path)
        artifact = self._wandb.Artifact(name=f"{self._run.id}-{path.stem}".replace("/", "-"), type="run-file")
        if path.is_dir():
            artifact.add_dir(str(path))
        else:
            artifact.add_file(str(path))
        self._run.log_artifact(artifact)

    def finish(self, failed: bool = False) -> None:
        self._run.finish(exit_code=1 if failed else 0)


def open_tracker(kind: str, out: Path, run_name: str) -> Tracker:
    """A tracked run named ``run_name`` in backend ``kind`` (``"mlflow"`` or ``"wandb"``)."""
    if kind == "mlflow":
        return MLflowTracker(out, run_name)
    if kind == "wandb":
        return WandbTracker(out, run_name)
    raise ConfigurationError(f"--track must be one of {', '.join(TRACKERS)}, got {kind!r}")


def _import(name: str) -> Any:
    try:
        return __import__(name)
    except ImportError:
        raise ConfigurationError(f"--track {name} needs the {name} package, which is not installed: "
                                 f"{_EXTRAS[name]}") from None


def track_run_folder(kind: str, out: Path, run_dir: Path, run_name: str | None = None) -> None:
    """Send a finished run folder to a tracker: ``config.json`` as parameters, every row of
    ``progress.csv`` as metrics at its ``time/total_timesteps``, ``eval.json``'s mean and std, and the
    folder's files. ``tune`` and ``bench`` call it when a run's folder has come back from wherever it ran."""
    tracker = open_tracker(kind, out, run_name or run_dir.name)
    try:
        config = run_dir / "config.json"
        if config.is_file():
            tracker.log_params(json.loads(config.read_text(encoding="utf-8")))
        progress = run_dir / "progress.csv"
        if progress.is_file():
            with open(progress, newline="", encoding="utf-8") as f:
                for row in csv.DictReader(f):
                    numbers = {key: float(value) for key, value in row.items() if _finite(value)}
                    step = int(numbers.pop("time/total_timesteps", 0))
                    if numbers:
                        tracker.log_metrics(numbers, step)
        result = run_dir / "eval.json"
        if result.is_file():
            data = json.loads(result.read_text(encoding="utf-8"))
            tracker.log_metrics({"eval/mean_reward": float(data["mean_reward"]),
                                 "eval/std_reward": float(data["std_reward"])}, int(data.get("num_timesteps", 0)))
        for path in sorted(run_dir.iterdir()):
            tracker.log_artifact(path)
    except BaseException:
        tracker.finish(failed=True)
        raise
    tracker.finish()


def _finite(text: str | None) -> bool:
    try:
        return text not in (None, "") and math.isfinite(float(text))
    except ValueError:
        return False


class TrackerOutput(KVWriter):
    """A logger output that sends each dump's numbers to a :class:`Tracker` at the dump's step."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def write(self, key_values: Mapping[str, Any], key_excluded: Mapping[str, Sequence[str]], step: int = 0) -> None:
        numbers = {key: float(value) for key, value in filter_excluded_keys(key_values, key_excluded,
                                                                            self.tracker.name).items()
                   if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)}
        if numbers:
            self.tracker.log_metrics(numbers, step)

    def close(self) -> None:
        """The tracked run is finished by its owner (after the artifacts are logged), not by the logger."""
