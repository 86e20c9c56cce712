"""The safe checkpoint format: one zip of JSON and safetensors members, no pickle.

Members:

* ``meta.json``: ``{"format": "ballast-checkpoint", "format_version": 1, "ballast_version", "algorithm", ...}``
* ``config.json``: hyperparameters (schedules as data), policy configuration, spaces, env id.
* ``state.json``: counters and other small non-tensor state (NumPy generator states).
* ``<name>.safetensors``: one tensor group each (``policy``, ``optimizer``, ``rng``, ...).

Writing is atomic: the zip is written to a temporary file in the target's directory, flushed
and fsynced, then renamed over the target, so a crash leaves the old file or the new one.
Reading never executes code from the file: JSON is parsed, tensors come from safetensors.
"""

from __future__ import annotations

import io
import json
import os
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from ballast.errors import CheckpointError
from ballast.version import __version__

FORMAT_NAME = "ballast-checkpoint"
FORMAT_VERSION = 1
_JSON_MEMBERS = ("meta.json", "config.json", "state.json")


@dataclass
class Checkpoint:
    """The parsed content of a checkpoint file."""

    meta: dict[str, Any]
    config: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)


def process_umask() -> int:
    """The process's umask, read without changing it where the OS says it (Linux), else set and restored."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def replacement_file_mode(path: Path) -> int:
    """The permission bits a file written in place of ``path`` should get: those of the file it
    replaces, or, for a new file, what ``open`` gives (``0o666`` less the umask). A temporary file
    from ``mkstemp`` is private (``0o600``); renamed into place as it is, a checkpoint or an export
    would be unreadable to the group and to other users that can read the folder's other files."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o666 & ~process_umask()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same directory, fsync, rename); the
    file gets :func:`replacement_file_mode`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, replacement_file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _tensor_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    # safetensors refuses tensors that share memory; a contiguous CPU clone of each avoids that.
    return save_tensors({k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()})


def checkpoint_to_bytes(checkpoint: Checkpoint) -> bytes:
    """The checkpoint as the bytes of its zip file (what :func:`write_checkpoint` writes)."""
    meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "ballast_version": __version__,
            **checkpoint.meta}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("meta.json", json.dumps(meta, indent=2))
        zf.writestr("config.json", json.dumps(checkpoint.config, indent=2))
        zf.writestr("state.json", json.dumps(checkpoint.state, indent=2))
        for name, group in checkpoint.tensors.items():
            zf.writestr(f"{name}.safetensors", _tensor_bytes(group), compress_type=zipfile.ZIP_STORED)
    return buffer.getvalue()


def write_checkpoint(path: str | Path, checkpoint: Checkpoint) -> Path:
    """Write ``checkpoint`` to ``path`` (``.zip`` appended to a path without a suffix, as SB3's ``save``:
    ``"ppo_cartpole"`` becomes ``ppo_cartpole.zip``, ``"policy.pkl"`` stays); returns the path."""
    path = Path(path)
    if not path.suffix:
        path = path.with_name(path.name + ".zip")
    atomic_write_bytes(path, checkpoint_to_bytes(checkpoint))
    return path


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read and validate a checkpoint; every defect raises :class:`CheckpointError` saying what to do."""
    path = Path(path)
    if not path.exists() and path.with_name(path.name + ".zip").exists():
        path = path.with_name(path.name + ".zip")
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes); it is not a Ballast checkpoint. Use an earlier checkpoint")
    if not zipfile.is_zipfile(path):
        with path.open("rb") as file:
            _refuse_pickle(file.read(2), path)
        raise CheckpointError(
            f"{path} is not a zip file, so not a Ballast checkpoint (it may be truncated or corrupted); "
            "use an earlier checkpoint or save the model again"
        )
    return _parse_zip(path, path)


def read_checkpoint_bytes(data: bytes, source: str = "the checkpoint") -> Checkpoint:
    """Read a checkpoint held in memory (e.g. one nested in another); ``source`` names it in errors."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        _refuse_pickle(data[:2], source)
        raise CheckpointError(f"{source} is not a zip file, so not a Ballast checkpoint; the file is corrupted")
    return _parse_zip(io.BytesIO(data), source)


def _refuse_pickle(head: bytes, source: Any) -> None:
    """Name a Python pickle as such (its first bytes are the PROTO opcode, 0x80, and a protocol 2-5)."""
    if len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        raise CheckpointError(
            f"{source} is a Python pickle (SB3's save_replay_buffer and VecNormalize.save write those), not a "
            "Ballast file; Ballast never unpickles. Save the buffer again with Ballast's save_replay_buffer, "
            "and read SB3 models with ballast.import_sb3")


def _parse_zip(file: Path | io.BytesIO, path: Any) -> Checkpoint:
    try:
        with zipfile.ZipFile(file) as zf:
            names = set(zf.namelist())
            if "meta.json" not in names:
                hint = " It looks like a Stable-Baselines3 file: use ballast.import_sb3." if "data" in names else ""
                raise CheckpointError(f"{path} is a zip but has no meta.json, so it is not a Ballast checkpoint.{hint}")
            parsed = {}
            for member in _JSON_MEMBERS:
                if member not in names:
                    raise CheckpointError(f"{path} lacks {member}: the file is incomplete; save the model again")
                try:
                    parsed[member] = json.loads(zf.read(member).decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as err:
                    raise CheckpointError(
                        f"{path}: {member} is not valid JSON ({err}); the file is corrupted") from None
            meta = parsed["meta.json"]
            _check_meta(path, meta)
            tensors = {}
            for member in sorted(names):
                if member.endswith(".safetensors"):
                    try:
                        tensors[member[: -len(".safetensors")]] = load_tensors(zf.read(member))
                    except (SafetensorError, ValueError, RuntimeError) as err:
                        raise CheckpointError(
                            f"{path}: {member} cannot be read ({err}); the file is corrupted") from None
    except (zipfile.BadZipFile, zlib.error, NotImplementedError) as err:  # bad CRC, compressed data, method
        raise CheckpointError(f"{path} is a damaged zip ({err}); use an earlier checkpoint") from None
    except (OSError, EOFError) as err:
        raise CheckpointError(f"{path} could not be read ({err}); the file may be truncated") from None
    return Checkpoint(meta=meta, config=parsed["config.json"], state=parsed["state.json"], tensors=tensors)


def _check_meta(path: Any, meta: Any) -> None:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        found = meta.get("format") if isinstance(meta, dict) else meta
        raise CheckpointError(f"{path} has a meta.json that is not Ballast's (format={found!r})")
    version = meta.get("format_version")
    if not isinstance(version, int):
        raise CheckpointError(f"{path}: meta.json has no integer format_version")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written with checkpoint format {version} by Ballast {meta.get('ballast_version')}; "
            f"this Ballast ({__version__}) reads format {FORMAT_VERSION} or older. Upgrade Ballast to load it"
        )


def optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state dict into tensors (for safetensors) and JSON (param groups, scalars)."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            key = f"{index}/{name}"
            if isinstance(value, torch.Tensor):
                tensors[key] = value
            else:
                scalars[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def optimizer_state_dict(tensors: dict[str, torch.Tensor], data: dict[str, Any]) -> dict[str, Any]:
    """The optimizer state dict that :func:`optimizer_to_tensors` split."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        index, name = key.split("/", 1)
        state.setdefault(int(index), {})[name] = value
    for key, value in data.get("scalars", {}).items():
        index, name = key.split("/", 1)
        state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": data["param_groups"]}


def optimizer_from_tensors(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                           data: dict[str, Any]) -> None:
    """Restore what :func:`optimizer_to_tensors` split."""
    optimizer.load_state_dict(optimizer_state_dict(tensors, data))
