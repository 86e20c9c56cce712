"""``ballast tune`` on one machine: a real Optuna study in its journal file, trials that prune,
resuming (also after a kill), the best file read back by ``ballast train``, and clear errors."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import optuna
import pytest
import yaml

import ballast
from ballast.tuning.study import open_storage
from tests.integration.scale_runs import SHORT, cli_process, run_cli

TUNE = ["tune", "a2c", "CartPole-v1", *SHORT]


def _study(out: Path, name: str = "a2c_CartPole-v1") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(f"journal://{out / 'study.journal'}"))


def test_tune_resumes_and_its_best_file_trains(tmp_path: Path) -> None:
    out = tmp_path / "tune"
    code, stdout, stderr = run_cli([*TUNE, "--trials", "2", "--out", str(out)])
    assert code == 0, stderr
    first = {t.number: t.params for t in _study(out).trials}
    assert "trial 0: complete" in stderr and "best: trial" in stdout

    code, _, stderr = run_cli([*TUNE, "--trials", "4", "--out", str(out)])
    assert code == 0, stderr
    trials = _study(out).trials
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert {t.number: t.params for t in trials[:2]} == first  # the earlier trials are counted, not rerun
    assert "trial 0:" not in stderr and "trial 3:" in stderr
    assert sorted(p.name for p in (out / "trials").iterdir()) == [f"trial_000{i}" for i in range(4)]
    for trial in trials:
        assert trial.state.name in ("COMPLETE", "PRUNED")
        assert len(trial.intermediate_values) >= 1  # the evaluations reached the study
        folder = out / "trials" / f"trial_{trial.number:04d}"
        assert {"config.json", "progress.csv", "evaluations.csv", "trial.json"} <= {p.name for p in folder.iterdir()}

    summary = json.loads((out / "study.json").read_text())
    best = max((t for t in trials if t.state.name == "COMPLETE"), key=lambda t: t.value)
    assert summary["best"]["number"] == best.number and summary["counts"]["complete"] >= 1

    # The best file is a zoo file: `ballast train --hyperparams` trains with exactly those settings.
    best_file = out / "best_hyperparams.yml"
    entry = yaml.safe_load(best_file.read_text())["CartPole-v1"]
    assert entry["n_timesteps"] == 600 and entry["policy_kwargs"].startswith("dict(net_arch=")
    code, _, stderr = run_cli(["train", "a2c", "CartPole-v1", "--hyperparams", str(best_file), "--out",
                               str(tmp_path / "runs"), "--eval-episodes", "1", "--device", "cpu", "--verbose", "0"])
    assert code == 0, stderr
    run = tmp_path / "runs" / "a2c_CartPole-v1_s0"
    config = json.loads((run / "config.json").read_text())
    resolved = config["resolved"]["hyperparameters"]
    assert resolved["gamma"] == pytest.approx(best.user_attrs["entry"]["gamma"])
    assert resolved["n_steps"] == best.user_attrs["entry"]["n_steps"]
    model = ballast.load(run / "model.zip")
    assert model.policy_config.to_json()["net_arch"] == best.user_attrs["entry"]["policy_kwargs"]["net_arch"]


def test_median_pruner_stops_trials_on_their_evaluations(tmp_path: Path) -> None:
    out = tmp_path / "tune"
    code, _, stderr = run_cli(["tune", "a2c", "CartPole-v1", "--trials", "8", "--steps", "2000", "--evals", "4",
                               "--eval-episodes", "2", "--device", "cpu", "--no-progress", "--sampler", "random",
                               "--out", str(out)])
    assert code == 0, stderr
    trials = _study(out).trials
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    assert pruned, [t.intermediate_values for t in trials]
    for trial in pruned:
        assert len(trial.intermediate_values) < 4  # stopped before its last evaluation
        assert "model.zip" in {p.name for p in (out / "trials" / f"trial_{trial.number:04d}").iterdir()}
    assert all(len(t.intermediate_values) == 4 for t in trials if t.state.name == "COMPLETE")
    assert stderr.count(": pruned, last evaluation") == len(pruned)


def test_a_killed_tune_continues_its_study(tmp_path: Path) -> None:
    out = tmp_path / "tune"
    argv = ["tune", "a2c", "CartPole-v1", "--trials", "2", "--steps", "3000", "--evals", "30", "--eval-episodes", "1",
            "--device", "cpu", "--no-progress", "--pruner", "none", "--out", str(out)]
    process = cli_process(argv)
    try:  # kill it in the middle of trial 1: trial 0 published, trial 1 has reported an evaluation
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
                (out / "trials" / "trial_0000").exists()
                and any(t.intermediate_values for t in _study(out).trials if t.state.name == "RUNNING")):
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    running = [t for t in _study(out).trials if t.state.name == "RUNNING"]
    assert [t.number for t in running] == [1], "the kill should leave trial 1 running"
    assert not (out / "trials" / "trial_0001").exists(), "nothing half-written"

    code, _, stderr = run_cli(argv)
    assert code == 0, stderr
    trials = _study(out).trials
    assert trials[0].state.name == "COMPLETE" and trials[1].state.name == "FAIL"
    retry = [t for t in trials if t.user_attrs.get("retry_of") == 1]
    assert len(retry) == 1 and retry[0].params == trials[1].params and retry[0].state.name == "COMPLETE"
    assert len(trials) == 3 and "trial 0:" not in stderr
    assert (out / "trials" / f"trial_{retry[0].number:04d}" / "model.zip").is_file()


def test_jobs_run_trials_in_processes_sharing_the_journal(tmp_path: Path) -> None:
    out = tmp_path / "tune"
    code, _, stderr = run_cli([*TUNE, "--trials", "3", "--jobs", "2", "--out", str(out)])
    assert code == 0, stderr
    trials = _study(out).trials
    assert len(trials) == 3 and all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    assert all(t.intermediate_values for t in trials)  # reported from the worker processes


def test_sqlite_storage_and_a_study_name(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    code, _, stderr = run_cli([*TUNE, "--trials", "1", "--out", str(tmp_path / "t"), "--storage", url,
                               "--study-name", "mine", "--sampler", "random", "--pruner", "halving"])
    assert code == 0, stderr
    assert len(optuna.load_study(study_name="mine", storage=url).trials) == 1
    assert not (tmp_path / "t" / "study.journal").exists()
    # Another search under the same name is refused instead of mixed in.
    code, _, stderr = run_cli(["tune", "ppo", "CartPole-v1", *SHORT, "--trials", "1", "--out", str(tmp_path / "t"),
                               "--storage", url, "--study-name", "mine"])
    assert code == 2 and "was made for" in stderr


@pytest.mark.parametrize(("extra", "message"), [
    (["tune", "nope", "CartPole-v1"], "unknown algorithm 'nope'"),
    (["tune", "a2c", "NoSuchEnv-v0"], "unknown env id 'NoSuchEnv-v0'"),
    (["tune", "a2c", "CartPole-v1", "--storage", "sqlite:////no/such/folder/x.db"], "cannot open the Optuna storage"),
    (["tune", "a2c", "CartPole-v1", "--storage", "postgresql://me:secret@127.0.0.1:1/db"], "me:***@"),
    (["tune", "a2c", "CartPole-v1", "--ray", "127.0.0.1:9"], "no Ray cluster answers at 127.0.0.1:9"),
    (["tune", "a2c", "CartPole-v1", "--ray", "ray://127.0.0.1:10001"], "Ray Client addresses are not supported"),
    (["tune", "a2c", "CartPole-v1", "--search-space", "missing.yml"], "missing.yml does not exist"),
])
def test_bad_input_is_one_error_and_no_output_folder(tmp_path: Path, extra: list[str], message: str) -> None:
    out = tmp_path / "out"
    code, _, stderr = run_cli([*extra, *SHORT, "--trials", "1", "--out", str(out)])
    assert code == 2
    assert stderr.startswith("error: ") and message in stderr and "Traceback" not in stderr
    assert "secret" not in stderr
    assert not out.exists()


def test_an_unknown_search_space_key(tmp_path: Path) -> None:
    space = tmp_path / "space.yml"
    space.write_text("learning_rat: {float: [0.001, 0.01]}\n")
    code, _, stderr = run_cli([*TUNE, "--trials", "1", "--out", str(tmp_path / "out"), "--search-space", str(space)])
    assert code == 2 and "'learning_rat' is not a hyperparameter that can be searched" in stderr
    assert not (tmp_path / "out").exists()
