"""Training logs: a compact stdout table, a CSV file, and TensorBoard when it is installed.

Values may be recorded as tensors; they are turned into numbers only when the log is written,
so recording inside an update loop adds no device synchronisation.
"""

from __future__ import annotations

import csv
import os
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, TextIO

import torch


def _number(value: Any) -> float:
    if isinstance(value, torch.Tensor):
        return float(value.detach().float().mean().item())
    return float(value)


class Logger:
    """Collects ``key -> value`` records and writes them at :meth:`dump`.

    ``folder`` receives ``progress.csv`` (and TensorBoard events when ``tensorboard=True``);
    ``verbose=0`` silences stdout.
    """

    def __init__(self, folder: str | Path | None = None, *, verbose: int = 1, tensorboard: bool = False,
                 stream: TextIO | None = None) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.verbose = verbose
        self.stream = stream or sys.stdout
        self._values: dict[str, Any] = {}
        self._means: dict[str, list[Any]] = defaultdict(list)
        self._csv_keys: list[str] = []
        self._writer = None
        self.history: list[dict[str, float]] = []
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
        if tensorboard and self.folder is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                print("TensorBoard is not installed: pip install 'ballast-rl[tensorboard]'", file=sys.stderr)
            else:
                self._writer = SummaryWriter(log_dir=str(self.folder))

    def info(self, message: str) -> None:
        """Write a line of text to the console (``verbose >= 1``), outside the tables of values."""
        if self.verbose >= 1:
            self.stream.write(message + "\n")
            self.stream.flush()

    def record(self, key: str, value: Any) -> None:
        """Set ``key`` for the next dump (last value wins)."""
        self._values[key] = value

    def record_mean(self, key: str, value: Any) -> None:
        """Accumulate ``key``; the dump writes the mean of what was accumulated."""
        self._means[key].append(value)

    def dump(self, step: int) -> dict[str, float]:
        """Write every recorded value at ``step`` and clear them; returns what was written."""
        row = {k: _number(v) for k, v in self._values.items()}
        for key, values in self._means.items():
            if values:
                if isinstance(values[0], torch.Tensor):
                    row[key] = float(torch.stack([v.detach().float() for v in values]).mean().item())
                else:
                    row[key] = sum(map(float, values)) / len(values)
        self._values.clear()
        self._means.clear()
        if not row:
            return row
        row = dict(sorted(row.items()))
        self.history.append({"time/total_timesteps": float(step), **row})
        if self.verbose >= 1:
            self._write_table(row)
        if self.folder is not None:
            self._write_csv(step, row)
        if self._writer is not None:
            for key, value in row.items():
                self._writer.add_scalar(key, value, step)
            self._writer.flush()
        return row

    def _write_table(self, row: dict[str, float]) -> None:
        width_k = max(len(k) for k in row)
        lines = [f"| {k:<{width_k}} | {self._fmt(v):>12} |" for k, v in row.items()]
        bar = "-" * len(lines[0])
        self.stream.write("\n".join([bar, *lines, bar]) + "\n")
        self.stream.flush()

    @staticmethod
    def _fmt(value: float) -> str:
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.3g}"
        return f"{value:.4g}" if not float(value).is_integer() else str(int(value))

    def _write_csv(self, step: int, row: dict[str, float]) -> None:
        path = self.folder / "progress.csv"
        if not self._csv_keys and path.exists():
            # Continuing an existing log (e.g. a resumed run): keep its columns.
            with open(path, newline="") as f:
                self._csv_keys = next(csv.reader(f), [])
        fields = ["time/total_timesteps", *row]
        new_keys = [k for k in fields if k not in self._csv_keys]
        if new_keys:
            # A new column: rewrite the file with the wider header (rare: first dumps only).
            old_rows = []
            if path.exists():
                with open(path, newline="") as f:
                    old_rows = list(csv.DictReader(f))
            self._csv_keys += new_keys
            tmp = path.with_suffix(".csv.tmp")
            with open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=self._csv_keys)
                writer.writeheader()
                writer.writerows(old_rows)
            os.replace(tmp, path)
        with open(path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=self._csv_keys).writerow({"time/total_timesteps": step, **row})

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
