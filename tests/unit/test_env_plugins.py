"""Env ids of ale-py and Gymnasium-Robotics: their plugin is imported on demand, and an id that can only
be a missing plugin's says which extra installs it, while other ids are left to Gymnasium's "not found"."""

from __future__ import annotations

import sys

import pytest

from ballast.envs.make import ensure_registered
from ballast.errors import ConfigurationError


@pytest.mark.parametrize(("env_id", "module", "extra"), [("ALE/Nothing-v5", "ale_py", "atari"),
                                                         ("FetchNothing-v4", "gymnasium_robotics", "robotics")])
def test_an_id_of_a_missing_plugin_names_its_extra(env_id: str, module: str, extra: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # importing it now raises ImportError
    with pytest.raises(ConfigurationError, match=rf"ballast-rl\[{extra}\]"):
        ensure_registered(env_id)


def test_other_ids_are_left_to_gymnasium_when_a_plugin_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ale_py", None)
    ensure_registered("MyOwnEnv-v0")  # matches ALE's id pattern, but need not be ALE's: no error here
