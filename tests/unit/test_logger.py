"""The CSV log keeps every column when a new logger continues an existing file."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ballast.logger import Logger


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_second_logger_continues_the_file_with_old_and_new_columns(tmp_path: Path) -> None:
    first = Logger(tmp_path, verbose=0)
    first.record("eval/mean_reward", 10.0)
    first.record("train/loss", 1.5)
    first.dump(100)
    second = Logger(tmp_path, verbose=0)
    second.record("train/loss", 0.5)
    second.record("train/new_metric", 3.0)
    second.dump(200)
    rows = _rows(tmp_path / "progress.csv")
    assert [r["time/total_timesteps"] for r in rows] == ["100", "200"]
    assert rows[0]["eval/mean_reward"] == "10.0" and rows[1]["eval/mean_reward"] == ""
    assert rows[1]["train/new_metric"] == "3.0" and rows[0]["train/new_metric"] == ""


def test_stdout_table_lists_every_value() -> None:
    stream = io.StringIO()
    logger = Logger(verbose=1, stream=stream)
    logger.record("rollout/ep_rew_mean", 12.5)
    logger.record_mean("train/loss", 1.0)
    logger.record_mean("train/loss", 3.0)
    written = logger.dump(64)
    assert written == {"rollout/ep_rew_mean": 12.5, "train/loss": 2.0}
    assert "rollout/ep_rew_mean" in stream.getvalue() and "12.5" in stream.getvalue()
