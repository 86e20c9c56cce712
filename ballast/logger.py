"""Training logs, with SB3's ``Logger`` and ``configure``.

``model.logger.record(key, value)`` sets a value for the next :meth:`Logger.dump` (the last value
wins), ``record_mean`` averages what it is given until then, and ``dump(step)`` writes everything
to the logger's output formats (:mod:`ballast.log_formats`: stdout, ``log.txt``, ``progress.csv``,
``progress.json``, TensorBoard) and starts afresh. A model writes a dump after every
``log_interval`` iterations of ``learn``; an ``EvalCallback`` writes one after each evaluation.

Two ways to build one:

* SB3's: ``configure(folder, ["stdout", "csv", "tensorboard"])``, then ``model.set_logger(logger)``;
* Ballast's shorthand: ``Logger(folder, verbose=1, tensorboard=False)``: a table on stdout when
  ``verbose >= 1``, ``folder/progress.csv`` (continued, with its columns, when it exists: a
  resumed run), and TensorBoard events in ``folder`` with ``tensorboard=True``.

Values may be recorded as tensors; they become numbers only when written, so recording inside an
update loop adds no device synchronisation (``record_mean`` keeps tensors until they are read).
Every dump also writes ``time/total_timesteps`` (the dump's ``step``) unless it was recorded, to
every format but TensorBoard, whose events carry the step themselves.
"""

from __future__ import annotations

import datetime
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch

from ballast.errors import ConfigurationError
from ballast.log_formats import (
    CSVOutputFormat,
    Figure,
    FormatUnsupportedError,
    HParam,
    HumanOutputFormat,
    Image,
    JSONOutputFormat,
    KVWriter,
    SeqWriter,
    TensorBoardOutputFormat,
    Video,
    filter_excluded_keys,
    make_output_format,
)

DEBUG = 10
INFO = 20
WARN = 30
ERROR = 40
DISABLED = 50

ExcludeFormats = str | tuple[str, ...] | None

__all__ = [
    "DEBUG", "INFO", "WARN", "ERROR", "DISABLED", "Logger", "configure", "Video", "Figure", "Image", "HParam",
    "FormatUnsupportedError", "KVWriter", "SeqWriter", "HumanOutputFormat", "JSONOutputFormat", "CSVOutputFormat",
    "TensorBoardOutputFormat", "filter_excluded_keys", "make_output_format",
]


def _plain(value: Any) -> Any:
    """``value`` as the output formats take it: a Python number for one-element tensors and arrays
    and NumPy scalars, a NumPy array for several elements, anything else as it is."""
    if isinstance(value, torch.Tensor):
        value = value.detach()
        return value.item() if value.numel() == 1 else value.float().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value.item() if value.size == 1 else value
    if isinstance(value, np.generic):
        return value.item()
    return value


def _as_tuple(exclude: ExcludeFormats) -> tuple[str, ...]:
    if exclude is None:
        return ()
    return (exclude,) if isinstance(exclude, str) else tuple(exclude)


class Logger:
    """Collects ``key -> value`` records and writes them to its output formats at :meth:`dump`.

    ``Logger(folder, output_formats)`` as in SB3 (a list of :class:`~ballast.log_formats.KVWriter`),
    or Ballast's shorthand ``Logger(folder, verbose=1, tensorboard=False)`` (module docstring).
    ``history`` keeps the numbers of every dump, one dict per dump, in memory.
    """

    def __init__(self, folder: str | Path | None = None, output_formats: list[KVWriter] | None = None, *,
                 verbose: int = 1, tensorboard: bool = False, stream: TextIO | None = None) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.dir = str(folder) if folder is not None else None
        self.verbose = verbose
        self.level = INFO
        self.history: list[dict[str, float]] = []
        self._values: defaultdict[str, Any] = defaultdict(float)
        self._counts: defaultdict[str, int] = defaultdict(int)
        self._excluded: defaultdict[str, tuple[str, ...]] = defaultdict(tuple)
        self._pending_means: dict[str, list[torch.Tensor]] = {}
        if output_formats is None:
            output_formats = self._default_formats(verbose, tensorboard, stream)
        self.output_formats = list(output_formats)

    def _default_formats(self, verbose: int, tensorboard: bool, stream: TextIO | None) -> list[KVWriter]:
        formats: list[KVWriter] = []
        if verbose >= 1:
            formats.append(HumanOutputFormat(stream or sys.stdout))
        if self.folder is None:
            return formats
        self.folder.mkdir(parents=True, exist_ok=True)
        formats.append(CSVOutputFormat(self.folder / "progress.csv", resume=True))
        if tensorboard:
            try:
                formats.append(TensorBoardOutputFormat(self.folder))
            except ConfigurationError as err:  # a missing package must not stop training
                print(f"TensorBoard logs are off: {err}", file=sys.stderr)
        return formats

    # --- recording ----------------------------------------------------------------------------
    def record(self, key: str, value: Any, exclude: ExcludeFormats = None) -> None:
        """Set ``key`` for the next dump (the last value wins); ``exclude`` names formats that skip it."""
        self._pending_means.pop(key, None)
        self._counts.pop(key, None)
        self._values[key] = value
        self._excluded[key] = _as_tuple(exclude)

    def record_mean(self, key: str, value: Any, exclude: ExcludeFormats = None) -> None:
        """Like :meth:`record`, but a key given several values before a dump gets their mean."""
        if value is None:
            self.record(key, None, exclude)
            return
        if isinstance(value, torch.Tensor):
            self._pending_means.setdefault(key, []).append(value.detach())
        else:
            count = self._counts[key]
            self._values[key] = self._values[key] * (count / (count + 1)) + value / (count + 1)
            self._counts[key] = count + 1
        self._excluded[key] = _as_tuple(exclude)

    def record_dict(self, key_values: dict[str, Any]) -> None:
        """:meth:`record` each item."""
        for key, value in key_values.items():
            self.record(key, value)

    def _fold_pending_means(self) -> None:
        """Merge the tensors given to ``record_mean`` into the running means (tensor ops, no sync)."""
        for key, tensors in self._pending_means.items():
            count, added = self._counts[key], len(tensors)
            total = torch.stack([t.float().reshape(()) if t.numel() == 1 else t.float().mean()
                                 for t in tensors]).sum()
            self._values[key] = (self._values[key] * count + total) / (count + added)
            self._counts[key] = count + added
        self._pending_means.clear()

    @property
    def name_to_value(self) -> defaultdict[str, Any]:
        """The values recorded since the last dump (``record_mean`` keys: their mean so far), as SB3's."""
        self._fold_pending_means()
        return self._values

    @property
    def name_to_count(self) -> defaultdict[str, int]:
        """How many values each ``record_mean`` key has averaged since the last dump."""
        self._fold_pending_means()
        return self._counts

    @property
    def name_to_excluded(self) -> defaultdict[str, tuple[str, ...]]:
        """The formats each key is excluded from."""
        return self._excluded

    # --- writing ------------------------------------------------------------------------------
    def dump(self, step: int = 0) -> dict[str, float]:
        """Write every recorded value at ``step`` and clear them; returns the numbers written."""
        values = self.name_to_value
        if not values:
            return {}
        if "time/total_timesteps" not in values:
            values["time/total_timesteps"] = step
            self._excluded["time/total_timesteps"] = ("tensorboard",)
        plain = {key: _plain(value) for key, value in values.items()}
        if self.level != DISABLED:
            for output in self.output_formats:
                if isinstance(output, KVWriter):
                    output.write(plain, self._excluded, step)
        self._values.clear()
        self._counts.clear()
        self._excluded.clear()
        row = {key: float(value) for key, value in sorted(plain.items()) if isinstance(value, (int, float))}
        self.history.append(row)
        return row

    def log(self, *args: Any, level: int = INFO) -> None:
        """Write ``args`` as one line to the text formats (stdout, ``log.txt``) at ``level`` and above."""
        if self.level <= level:
            for output in self.output_formats:
                if isinstance(output, SeqWriter):
                    output.write_sequence([str(arg) for arg in args])

    def debug(self, *args: Any) -> None:
        self.log(*args, level=DEBUG)

    def info(self, *args: Any) -> None:
        self.log(*args, level=INFO)

    def warn(self, *args: Any) -> None:
        self.log(*args, level=WARN)

    def error(self, *args: Any) -> None:
        self.log(*args, level=ERROR)

    def set_level(self, level: int) -> None:
        """Messages below ``level`` are not written; ``DISABLED`` also stops the dumps."""
        self.level = level

    def get_dir(self) -> str | None:
        """The folder the log files go to (None when there is none)."""
        return self.dir

    def close(self) -> None:
        for output in self.output_formats:
            output.close()


def configure(folder: str | Path | None = None, format_strings: list[str] | None = None) -> Logger:
    """A logger writing to ``folder`` in the formats named, as SB3's ``configure``.

    ``folder`` defaults to a new folder in the system's temporary directory; ``format_strings``
    to ``["stdout", "log", "csv"]``. Formats: ``"stdout"``, ``"log"`` (``log.txt``), ``"csv"``
    (``progress.csv``), ``"json"`` (``progress.json``) and ``"tensorboard"``. Give it to a model
    with ``model.set_logger(logger)``.
    """
    if folder is None:
        folder = Path(tempfile.gettempdir()) / datetime.datetime.now().strftime("ballast-%Y-%m-%d-%H-%M-%S-%f")
    Path(folder).mkdir(parents=True, exist_ok=True)
    if format_strings is None:
        format_strings = ["stdout", "log", "csv"]
    format_strings = [name for name in format_strings if name]
    logger = Logger(folder, [make_output_format(name, folder) for name in format_strings])
    if format_strings and format_strings != ["stdout"]:
        logger.log(f"Logging to {folder}")
    return logger


def latest_run_id(log_path: str | Path = "", log_name: str = "") -> int:
    """The highest ``N`` of the folders ``<log_path>/<log_name>_<N>`` (0 when there is none): the run
    folders ``learn(tb_log_name=...)`` writes (SB3's ``get_latest_run_id``)."""
    folder = Path(log_path)
    if not folder.is_dir():
        return 0
    suffixes = (path.name[len(log_name) + 1:] for path in folder.iterdir() if path.name.startswith(f"{log_name}_"))
    return max((int(suffix) for suffix in suffixes if suffix.isdigit()), default=0)
