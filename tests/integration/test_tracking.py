"""``ballast train --track``: settings, metrics and files in a real MLflow file store and a real W&B offline run."""

from __future__ import annotations

import contextlib
import csv
import io
from pathlib import Path

import pytest

from ballast.cli import main
from ballast.tracking import TrackerOutput, flatten_params

FAST = ["--threads", "1", "--device", "cpu", "--verbose", "0"]


def train(out: Path, track: str) -> Path:
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["train", "ppo", "CartPole-v1", "--steps", "1024", "--hyperparams", "ppo.yml", "--out", str(out),
                     "--eval-episodes", "2", "--track", track, *FAST]) == 0
    return out / "ppo_CartPole-v1_s0"


def logged_steps(run_dir: Path) -> list[int]:
    with open(run_dir / "progress.csv", newline="") as f:
        return [int(float(row["time/total_timesteps"])) for row in csv.DictReader(f) if row["rollout/ep_rew_mean"]]


def test_flatten_params_by_hand() -> None:
    nested = {"algorithm": "ppo", "resolved": {"n_steps": 32, "lr": {"type": "linear"}}, "env_wrappers": [], "x": None}
    assert flatten_params(nested) == {"algorithm": "ppo", "resolved/n_steps": 32, "resolved/lr/type": "linear",
                                      "env_wrappers": "[]", "x": "None"}


def test_tracker_output_sends_finite_numbers_not_excluded_ones() -> None:
    class Recorder:
        name = "mlflow"

        def __init__(self) -> None:
            self.calls: list[tuple[dict, int]] = []

        def log_metrics(self, metrics: dict, step: int) -> None:
            self.calls.append((metrics, step))

    recorder = Recorder()
    output = TrackerOutput(recorder)
    output.write({"a": 1, "b": 2.5, "c": "text", "d": float("nan"), "e": True, "f": 3.0},
                 {"f": ("mlflow",)}, step=64)
    assert recorder.calls == [({"a": 1.0, "b": 2.5}, 64)]


def test_mlflow_file_store_gets_params_metrics_and_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    run_dir = train(tmp_path, "mlflow")
    client = mlflow.MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    experiment = client.get_experiment_by_name("ballast")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == run_dir.name and run.info.status == "FINISHED"
    assert run.data.params["algorithm"] == "ppo" and run.data.params["resolved/hyperparameters/n_steps"] == "32"
    history = client.get_metric_history(run.info.run_id, "rollout/ep_rew_mean")
    assert [m.step for m in history] == logged_steps(run_dir)
    assert "eval/mean_reward" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"model.zip", "config.json", "eval.json", "progress.csv"} <= artifacts


def test_wandb_offline_run_holds_the_settings_and_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    train(tmp_path, "wandb")
    # The run's file is written by W&B's service process, which may still hold records after
    # run.finish() returns; shutting the service down (what process exit does) closes the file.
    wandb.teardown()
    (run_file,) = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")
    data = run_file.read_bytes()  # protobuf records: their keys appear as text
    for expected in (b"rollout/ep_rew_mean", b"eval/mean_reward", b"resolved/hyperparameters/n_steps",
                     b"ppo_CartPole-v1_s0"):
        assert expected in data, expected


def test_bench_sends_each_finished_run_to_mlflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["bench", "--algos", "ppo", "--envs", "CartPole-v1", "--seeds", "2", "--steps", "512",
                     "--out", str(tmp_path), "--evals", "1", "--eval-episodes", "1", "--no-progress",
                     "--device", "cpu", "--track", "mlflow"]) == 0
    client = mlflow.MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    runs = client.search_runs([client.get_experiment_by_name("ballast").experiment_id])
    folders = sorted(p.name for p in (tmp_path / "runs").iterdir() if (p / "config.json").is_file())
    assert sorted(r.info.run_name for r in runs) == folders and len(folders) == 2
    for run in runs:
        assert run.info.status == "FINISHED" and run.data.params["algorithm"] == "ppo"
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "time/fps")]
        assert steps and steps == sorted(steps) and steps[-1] >= 512
        assert "model.zip" in {a.path for a in client.list_artifacts(run.info.run_id)}
