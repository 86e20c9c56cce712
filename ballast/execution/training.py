"""One training run in a private temporary run folder, returned as bytes: the unit of work that
``tune`` and ``bench`` send to local processes or Ray tasks. The folder is what ``ballast train``
writes (``config.json``, ``progress.csv``, ``model.zip``, ``eval.json``), made by the same functions."""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym

from ballast.callbacks import BaseCallback
from ballast.cli import new_run_dir, train_config, train_in_run_dir, write_json
from ballast.envs.make import ensure_registered
from ballast.errors import ConfigurationError
from ballast.execution.folders import collect_files
from ballast.zoo import ZooSettings


@dataclass
class TrainedRun:
    """What came out of one run: its folder's name and files, and the steps it trained."""

    name: str
    files: dict[str, bytes]
    num_timesteps: int


def train_to_files(settings: ZooSettings, *, seed: int, device: str, argv: Sequence[str], eval_episodes: int,
                   callbacks: Sequence[BaseCallback] = ()) -> TrainedRun:
    """Build the model of ``settings``, train it for ``settings.n_timesteps`` steps in a temporary run
    folder as ``ballast train`` does (``argv`` is recorded as the command), and return the folder's
    files (``train.log`` holds what training printed)."""
    args = argparse.Namespace(argv=list(argv), seed=seed, hyperparams=None, verbose=0, progress_bar=False,
                              eval_episodes=eval_episodes)
    model = settings.create_model(seed=seed, device=device, verbose=0)
    with tempfile.TemporaryDirectory(prefix="ballast-run-") as tmp:
        run_dir = new_run_dir(Path(tmp), settings.algorithm, settings.env_id, seed)
        write_json(run_dir / "config.json", train_config(args, settings, model))
        log = io.StringIO()
        with contextlib.redirect_stdout(log):
            train_in_run_dir(model, settings, int(settings.n_timesteps or 0), run_dir, args, checkpoint_every=None,
                             callbacks=callbacks)
        (run_dir / "train.log").write_text(log.getvalue(), encoding="utf-8")
        return TrainedRun(run_dir.name, collect_files(run_dir), model.num_timesteps)


def check_env_id(env_id: str) -> None:
    """A :class:`ConfigurationError` for an env id Gymnasium does not know (checked before any output)."""
    ensure_registered(env_id)
    try:
        gym.spec(env_id)
    except gym.error.Error as err:
        raise ConfigurationError(f"unknown env id {env_id!r}: {err}") from None
