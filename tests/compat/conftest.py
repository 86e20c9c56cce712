"""SB3's documented scripts, run with only their imports changed (see tests/compat/README.md).

Each script writes its files (``"ppo_cartpole.zip"``, ``"./logs/"``, ...) relative to the working
directory, as SB3's documentation does, so every test runs in its own temporary folder.
"""

import pytest


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path
