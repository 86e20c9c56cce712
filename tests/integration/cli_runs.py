"""A short ``ballast train`` run through the CLI's ``main``, for the tests of each algorithm's zoo file."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import ballast
from ballast.cli import main


def train_with_cli(algo: str, env_id: str, steps: int, out: Path) -> tuple[dict[str, Any], Any]:
    """``ballast train ALGO ENV_ID --hyperparams ALGO.yml`` for ``steps`` steps (seed 1, one thread, CPU);
    returns the run's ``config.json`` and the model it saved, loaded."""
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(["train", algo, env_id, "--steps", str(steps), "--out", str(out), "--seed", "1",
                     "--hyperparams", f"{algo}.yml", "--eval-episodes", "1", "--threads", "1", "--device", "cpu",
                     "--verbose", "0"])
    assert code == 0, stdout.getvalue()
    run_dir = out / f"{algo}_{env_id}_s1"
    return json.loads((run_dir / "config.json").read_text()), ballast.load(run_dir / "model.zip")
