"""``--ray``: ``tune`` trials and ``bench`` runs as tasks of a real local Ray cluster (started here,
stopped at the end), their files back in the output folder; and the message when an extra is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from ballast.tuning.study import open_storage
from tests.integration.scale_runs import ROOT, SHORT, cli_process, subprocess_env

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A two-CPU Ray cluster owned by this test process; yields its address (host:port)."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = subprocess_env()["PYTHONPATH"]  # the workers import this checkout
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def _run(argv: list[str]) -> str:
    process = cli_process(argv)
    stdout, stderr = process.communicate(timeout=240)
    assert process.returncode == 0, stderr
    return stderr


def test_tune_trials_run_as_ray_tasks(cluster: str, tmp_path: Path) -> None:
    out = tmp_path / "tune"
    stderr = _run(["tune", "a2c", "CartPole-v1", *SHORT, "--trials", "3", "--ray", cluster, "--out", str(out)])
    study = optuna.load_study(study_name="a2c_CartPole-v1",
                              storage=open_storage(f"journal://{out / 'study.journal'}"))
    assert len(study.trials) == 3 and all(t.state.name in ("COMPLETE", "PRUNED") for t in study.trials)
    # Evaluations reached the study through the actor on the driver's node.
    assert all(len(t.intermediate_values) >= 1 for t in study.trials)
    for trial in study.trials:
        record = json.loads((out / "trials" / f"trial_{trial.number:04d}" / "trial.json").read_text())
        assert record["entry"] == trial.user_attrs["entry"]
    assert (out / "best_hyperparams.yml").is_file() and "trial 2:" in stderr


def test_bench_runs_as_ray_tasks(cluster: str, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    _run(["bench", "--algos", "a2c", "--envs", "CartPole-v1", "--seeds", "2", *SHORT, "--ray", cluster,
          "--out", str(out)])
    for seed in (0, 1):
        run = out / "runs" / f"a2c_CartPole-v1_s{seed}"
        assert {"config.json", "model.zip", "eval.json", "bench.json"} <= {p.name for p in run.iterdir()}
    assert "| ballast | a2c | CartPole-v1 | 2 |" in (out / "summary.md").read_text()


def test_a_cluster_too_small_for_one_run(cluster: str, tmp_path: Path) -> None:
    process = cli_process(["bench", "--algos", "a2c", "--envs", "CartPole-v1", *SHORT, "--ray", cluster,
                           "--gpus-per-run", "1", "--out", str(tmp_path / "o")])
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 2 and "one run asks for 1 CPUs and 1 GPUs" in stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("blocked", "argv", "extra"), [
    ("ray", ["bench", "--algos", "a2c", "--envs", "CartPole-v1", "--ray", "auto"], "ballast-rl[ray]"),
    ("optuna", ["tune", "a2c", "CartPole-v1", "--trials", "1"], "ballast-rl[tune]"),
])
def test_a_missing_extra_names_it(tmp_path: Path, blocked: str, argv: list[str], extra: str) -> None:
    code = (f"import sys; sys.modules[{blocked!r}] = None\n"  # as if the package were not installed
            "from ballast.cli import main; raise SystemExit(main(sys.argv[1:]))")
    result = subprocess.run([sys.executable, "-c", code, *argv, *SHORT, "--out", str(tmp_path / "o")], cwd=ROOT,
                            env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and f'pip install "{extra}"' in result.stderr
    assert not (tmp_path / "o").exists()
