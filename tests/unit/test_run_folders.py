"""Run folders sent back as bytes and published in one rename (``ballast.execution.folders``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ballast.errors import ConfigurationError
from ballast.execution.folders import PARTIAL_PREFIX, collect_files, publish_folder


def test_a_folder_round_trips_and_replaces_an_older_one(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "config.json").write_text("{}")
    (src / "sub" / "model.zip").write_bytes(b"\x00\x01")
    files = collect_files(src)
    assert files == {"config.json": b"{}", "sub/model.zip": b"\x00\x01"}
    dest = tmp_path / "out" / "run"
    publish_folder({"old.txt": b"old"}, dest)
    publish_folder(files, dest)
    assert collect_files(dest) == files  # the older folder is gone, not merged
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(PARTIAL_PREFIX)]


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", "a/../../b"])
def test_paths_outside_the_folder_are_refused_and_nothing_is_left(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigurationError, match="outside"):
        publish_folder({"ok.txt": b"1", name: b"2"}, tmp_path / "run")
    assert list(tmp_path.iterdir()) == []
