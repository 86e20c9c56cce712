"""SB3's ``stable_baselines3.common.save_util`` path: ``open_path`` as SB3's, and its pickle functions
answering with one clear message, since Ballast never pickles (models: ``model.save`` and
``ballast.load``; SB3 files: ``ballast.import_sb3``)."""

from __future__ import annotations

import io
import pathlib
import warnings
from typing import Any

from ballast.errors import CheckpointError

__all__ = ["load_from_pkl", "open_path", "save_to_pkl"]

_MODES = {"write": "w", "read": "r", "w": "w", "r": "r"}


def open_path(path: str | pathlib.Path | io.BufferedIOBase, mode: str, verbose: int = 0,
              suffix: str | None = None) -> io.BufferedIOBase:
    """A binary file object for ``path`` in ``mode`` (``"w"``/``"write"`` or ``"r"``/``"read"``).

    A path without a suffix gets ``.suffix`` when writing, and is tried with it when reading finds no
    file without; writing creates missing parent folders (with a warning) and writes next to a folder
    of the same name (``<path>_2``). An open file object is checked (open, readable or writable) and
    returned as it is.
    """
    if isinstance(path, str):
        path = pathlib.Path(path)
    if isinstance(path, pathlib.Path):
        return _open_file(path, mode, verbose, suffix)
    if not isinstance(path, io.BufferedIOBase):
        raise TypeError("Path parameter has invalid type.", io.BufferedIOBase)
    if path.closed:
        raise ValueError("File stream is closed.")
    mode = _mode(mode)
    if (mode == "w" and not path.writable()) or (mode == "r" and not path.readable()):
        raise ValueError(f"Expected a {'writable' if mode == 'w' else 'readable'} file.")
    return path


def _mode(mode: Any) -> str:
    if not isinstance(mode, str) or mode.lower() not in _MODES:
        raise ValueError("Expected mode to be either 'w' or 'r'.")
    return _MODES[mode.lower()]


def _open_file(path: pathlib.Path, mode: str, verbose: int, suffix: str | None) -> io.BufferedIOBase:
    if mode not in ("w", "r"):
        raise ValueError("Expected mode to be either 'w' or 'r'.")
    if mode == "r":
        if not path.exists() and suffix:
            fallback = pathlib.Path(f"{path}.{suffix}")
            if verbose >= 2:
                warnings.warn(f"Path '{path}' not found. Attempting {fallback}.", stacklevel=3)
            path = fallback
        return path.open("rb")
    if path.suffix == "" and suffix:
        path = pathlib.Path(f"{path}.{suffix}")
    if path.is_dir():
        warnings.warn(f"Path '{path}' is a folder. Will save instead to {path}_2", stacklevel=3)
        path = pathlib.Path(f"{path}_2")
    if not path.parent.exists():
        warnings.warn(f"Path '{path.parent}' does not exist. Will create it.", stacklevel=3)
        path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file() and verbose >= 2:
        warnings.warn(f"Path '{path}' exists, will overwrite it.", stacklevel=3)
    return path.open("wb")


def _no_pickle(name: str) -> CheckpointError:
    return CheckpointError(
        f"{name}: Ballast never pickles (a pickle runs code when read). Save models with model.save and "
        "replay buffers with model.save_replay_buffer (safetensors and JSON); read SB3 models with "
        "ballast.import_sb3")


def save_to_pkl(path: Any, obj: Any, verbose: int = 0) -> None:
    """SB3 writes a pickle here; Ballast refuses (:class:`ballast.errors.CheckpointError` says what to use)."""
    raise _no_pickle("save_to_pkl")


def load_from_pkl(path: Any, verbose: int = 0) -> Any:
    """SB3 reads a pickle here; Ballast refuses (:class:`ballast.errors.CheckpointError` says what to use)."""
    raise _no_pickle("load_from_pkl")
