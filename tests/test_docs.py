"""Every ```python block of README.md and docs/*.md runs as it is.

Each block runs in a fresh namespace, in its own temporary working directory, with one torch
thread. Blocks that are not meant to run (other libraries' code, shell commands) use another
language tag.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PYTHON_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """``(line number, code)`` of each ```python block in ``path``."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in PYTHON_BLOCK.finditer(text)]


def collect() -> list:
    params = []
    for path in DOC_FILES:
        name = path.relative_to(ROOT).as_posix()
        for index, (line, code) in enumerate(python_blocks(path)):
            params.append(pytest.param(name, line, code, id=f"{name}[{index}]"))
    return params


@pytest.mark.parametrize(("doc", "line", "code"), collect())
def test_python_block_runs(
    doc: str, line: int, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # Leading newlines keep the line numbers of tracebacks equal to the file's.
        compiled = compile("\n" * (line - 1) + code, f"{doc} (block at line {line})", "exec")
        exec(compiled, {"__name__": "__main__"})
    finally:
        torch.set_num_threads(threads)


def test_docs_have_python_blocks() -> None:
    assert python_blocks(ROOT / "README.md"), "the README has no runnable quickstart"
    assert python_blocks(ROOT / "docs" / "getting-started.md")
