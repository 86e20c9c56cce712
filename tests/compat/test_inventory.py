"""benchmarks/sb3_name_inventory.py's table against the code: every SB3 name it calls "same" or
"translated" imports from the Ballast path it names (and from SB3's path with ``ballast`` for
``stable_baselines3``), and every class member it calls so is there on the models."""

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "sb3_name_inventory.py"


@pytest.fixture(scope="module")
def inventory():
    spec = importlib.util.spec_from_file_location("sb3_name_inventory", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_same_or_translated_module_name_imports_where_the_inventory_says(inventory):
    entries = [e for e in inventory.parse(inventory.MODULES) if e.status in ("same", "translated")]
    assert len(entries) > 90
    problems = [(e.group, e.name, c.problem) for e in entries if (c := inventory.check_module_entry(e)).problem]
    assert problems == []
    for e in entries:
        assert inventory.resolve(e.ballast) is inventory.resolve(f"{inventory.ballast_module_of(e.group)}.{e.name}")


def test_every_same_or_translated_member_is_on_the_models(inventory):
    entries = [e for e in inventory.parse(inventory.MEMBERS) if e.status != "missing"]
    problems = [(e.group, e.name, c.problem) for e in entries if (c := inventory.check_member_entry(e)).problem]
    assert problems == []


def test_the_inventory_is_well_formed(inventory):
    for text in (inventory.MODULES, inventory.MEMBERS):
        entries = inventory.parse(text)
        keys = [(e.group, e.name) for e in entries]
        assert len(keys) == len(set(keys)), "an SB3 name is listed twice"
        assert all(e.note for e in entries if e.status == "different"), "a difference without its reason"
    assert inventory.ballast_module_of("stable_baselines3.common.callbacks") == "ballast.common.callbacks"
    assert inventory.ballast_module_of("sb3_contrib.common.maskable.utils") == "ballast.contrib"
