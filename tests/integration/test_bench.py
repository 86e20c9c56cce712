"""``ballast bench`` on one machine: normal run folders, the summary tables, continuing a grid, and
clear errors before anything is written."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest

import ballast
from ballast.bench import confidence_interval
from tests.integration.scale_runs import SHORT, run_cli


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_bench_grid_tables_and_continuing(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    argv = ["bench", "--algos", "a2c", "--envs", "CartPole-v1", "--seeds", "2", *SHORT, "--out", str(out)]
    code, stdout, stderr = run_cli(argv)
    assert code == 0, stderr
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert runs == ["a2c_CartPole-v1_s0", "a2c_CartPole-v1_s1"]
    finals = []
    for name in runs:
        run = out / "runs" / name
        # A normal run folder, as `ballast train` writes it, plus the evaluations and the bench record.
        config = json.loads((run / "config.json").read_text())
        assert config["algorithm"] == "a2c" and config["n_timesteps"] == 600 and config["command"][1] == "bench"
        record = json.loads((run / "bench.json").read_text())
        assert record["final_eval"] == json.loads((run / "eval.json").read_text())["mean_reward"]
        assert record["best_eval"] >= record["final_eval"] and record["steps_per_second"] > 0
        assert ballast.load(run / "model.zip").num_timesteps == record["num_timesteps"] == 600
        assert len((run / "evaluations.csv").read_text().splitlines()) == 3  # header + 2 evaluations
        finals.append(record["final_eval"])

    (row,) = _rows(out / "summary.csv")
    assert row["seeds"] == "2" and row["failed"] == "0"
    assert float(row["final_mean"]) == pytest.approx(statistics.fmean(finals), rel=1e-5)
    assert float(row["final_ci_low"]) == pytest.approx(confidence_interval(finals)[0], rel=1e-5, abs=1e-4)
    assert len(_rows(out / "runs.csv")) == 2
    assert "| ballast | a2c | CartPole-v1 | 2 | 600 |" in (out / "summary.md").read_text()
    assert "| ballast | a2c | CartPole-v1 | 2 | 600 |" in stdout

    # Run again with one more seed: only the new run trains, the table holds all three.
    before = (out / "runs" / "a2c_CartPole-v1_s0" / "model.zip").stat().st_mtime_ns
    code, _, stderr = run_cli([*argv[:6], "3", *argv[7:]])
    assert code == 0, stderr
    assert "a2c_CartPole-v1_s2" in stderr and "a2c_CartPole-v1_s0" not in stderr
    assert (out / "runs" / "a2c_CartPole-v1_s0" / "model.zip").stat().st_mtime_ns == before
    assert _rows(out / "summary.csv")[0]["seeds"] == "3"


def test_bench_with_the_zoo_settings(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    code, _, stderr = run_cli(["bench", "--algos", "a2c,ppo", "--envs", "CartPole-v1", "--seeds", "1", *SHORT,
                               "--hyperparams", "zoo", "--out", str(out)])
    assert code == 0, stderr
    rows = {r["algorithm"]: r for r in _rows(out / "summary.csv")}
    assert set(rows) == {"a2c", "ppo"} and all(r["seeds"] == "1" for r in rows.values())
    config = json.loads((out / "runs" / "ppo_CartPole-v1_s0" / "config.json").read_text())
    assert config["n_envs"] == 8 and "ppo.yml [CartPole-v1]" in config["hyperparams_entry"]


@pytest.mark.parametrize(("extra", "message"), [
    (["--algos", "ppo,nope", "--envs", "CartPole-v1"], "unknown algorithm 'nope'"),
    (["--algos", "ppo", "--envs", "CartPole-v1,NoSuchEnv-v0"], "unknown env id 'NoSuchEnv-v0'"),
    (["--algos", "ppo", "--envs", "CartPole-v1", "--library", "sb3"], "unknown library 'sb3'"),
    (["--algos", "ppo", "--envs", "CartPole-v1", "--ray", "127.0.0.1:9"], "no Ray cluster answers"),
    (["--algos", "ppo", "--envs", "CartPole-v1", "--hyperparams", "nowhere/ppo.yml"], "does not exist"),
])
def test_bad_input_is_one_error_and_no_output_folder(tmp_path: Path, extra: list[str], message: str) -> None:
    out = tmp_path / "out"
    code, _, stderr = run_cli(["bench", *extra, *SHORT, "--out", str(out)])
    assert code == 2 and stderr.startswith("error: ") and message in stderr
    assert not out.exists()


def test_bench_needs_a_step_budget_with_the_defaults(tmp_path: Path) -> None:
    code, _, stderr = run_cli(["bench", "--algos", "a2c", "--envs", "CartPole-v1", "--out", str(tmp_path / "o")])
    assert code == 2 and "give --steps N" in stderr and not (tmp_path / "o").exists()
