"""A training process killed with SIGKILL resumes from its latest checkpoint to the full budget."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ballast
from ballast.checkpoint import read_checkpoint

BUDGET = 12_288
EVERY = 1024
HYPERPARAMS = "CartPole-v1:\n  n_envs: 2\n  n_steps: 256\n  batch_size: 128\n  n_epochs: 4\n  policy: MlpPolicy\n"


def _train_command(out: Path, *extra: str) -> list[str]:
    hyperparams = out / "ppo.yml"
    hyperparams.write_text(HYPERPARAMS)
    return [sys.executable, "-m", "ballast.cli", "train", "ppo", "CartPole-v1", "--hyperparams", str(hyperparams),
            "--steps", str(BUDGET), "--seed", "0", "--out", str(out), "--checkpoint-every", str(EVERY),
            "--eval-episodes", "2", "--verbose", "0", "--threads", "1", "--device", "cpu", *extra]


def _wait_for_checkpoint(path: Path, min_steps: int, proc: subprocess.Popen, timeout: float = 120.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "training ended before it could be killed"
        if path.exists():
            steps = read_checkpoint(path).state["num_timesteps"]
            if steps >= min_steps:
                return steps
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint with {min_steps} steps within {timeout} s")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_then_resume_reaches_the_full_budget(tmp_path: Path) -> None:
    run_dir = tmp_path / "ppo_CartPole-v1_s0"
    checkpoint = run_dir / "checkpoint.zip"
    proc = subprocess.Popen(_train_command(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        saved_steps = _wait_for_checkpoint(checkpoint, 2 * EVERY, proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (run_dir / "model.zip").exists()
    killed_at = read_checkpoint(checkpoint).state["num_timesteps"]
    assert saved_steps <= killed_at < BUDGET

    # Killing again, this time right after a resume starts, must still leave a readable checkpoint.
    proc = subprocess.Popen(_train_command(tmp_path, "--resume"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for_checkpoint(checkpoint, killed_at + EVERY, proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    second_kill_at = read_checkpoint(checkpoint).state["num_timesteps"]
    assert killed_at < second_kill_at < BUDGET

    done = subprocess.run(_train_command(tmp_path, "--resume"), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"resuming {run_dir}" in done.stdout
    model = ballast.load(run_dir / "model.zip")
    assert BUDGET <= model.num_timesteps < BUDGET + 512
    assert model.total_timesteps == BUDGET
    evaluation = json.loads((run_dir / "eval.json").read_text())
    assert evaluation["num_timesteps"] == model.num_timesteps
