"""Run folders as bytes: collected where a run trained, published atomically where results go."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from ballast.checkpoint import atomic_write_bytes, process_umask
from ballast.errors import ConfigurationError

#: Prefix of the temporary folders a publication writes before its rename (skipped by readers).
PARTIAL_PREFIX = ".partial-"


def collect_files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` as ``{relative posix path: bytes}``: what a worker sends back."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def publish_folder(files: Mapping[str, bytes], dest: Path) -> Path:
    """Write ``files`` as the folder ``dest``: first into a hidden sibling, then one rename, so that
    ``dest`` either holds all the files or does not exist. An existing ``dest`` is replaced."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{PARTIAL_PREFIX}{dest.name}-", dir=dest.parent))
    tmp.chmod(0o777 & ~process_umask())  # as a folder made by mkdir (mkdtemp makes it private)
    try:
        for name, data in files.items():
            rel = PurePosixPath(name)
            if rel.is_absolute() or ".." in rel.parts:
                raise ConfigurationError(f"refusing to write {name!r} outside {dest}")
            target = tmp.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if dest.exists():
            old = dest.with_name(f"{PARTIAL_PREFIX}old-{dest.name}-{os.getpid()}")
            os.replace(dest, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temp file + rename)."""
    atomic_write_bytes(path, text.encode("utf-8"))
    return path
