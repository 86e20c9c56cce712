"""Helpers for the tests of ``ballast tune`` and ``ballast bench``: the CLI in this process, the CLI
in a subprocess (importing this checkout), and the short budgets those tests use."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

from ballast.cli import main

ROOT = Path(__file__).resolve().parents[2]
#: A trial or run of these tests: A2C on CartPole, a few hundred steps, two short evaluations.
SHORT = ["--steps", "600", "--evals", "2", "--eval-episodes", "2", "--device", "cpu", "--no-progress"]


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``ballast ARGV`` in this process: exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def subprocess_env() -> dict[str, str]:
    """This environment with the checkout first on ``PYTHONPATH`` (for subprocesses and Ray workers)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def cli_process(argv: list[str], **kwargs: object) -> subprocess.Popen:
    """``python -m ballast.cli ARGV`` as a subprocess with its output captured."""
    return subprocess.Popen([sys.executable, "-m", "ballast.cli", *argv], env=subprocess_env(), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
