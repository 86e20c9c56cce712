"""The layers of ``docs/architecture.md`` hold: no module imports a layer above its own."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "ballast"

#: Bottom to top; a module may import its own layer and those below it, never one above.
LAYERS: list[tuple[str, set[str]]] = [
    ("foundations", {"errors", "version", "import_path", "spaces", "node_spaces", "ragged", "segment",
                     "space_sampling", "schedules", "returns", "losses", "distributions", "torch_compat",
                     "checkpoint", "optim", "logger", "log_formats", "noise", "registry", "device", "seeding"}),
    ("storage and rules", {"buffers", "masking"}),
    ("the model", {"encoders", "policies", "residual"}),
    ("envs and extensions", {"envs", "transfer", "extensions"}),
    ("training services", {"callbacks", "callback_locals", "evaluation", "export", "plotting", "recording",
                           "tracking", "aggregate_scores"}),
    ("algorithms", {"algos"}),
    ("surface", {"interop", "zoo", "zoo_components", "cli", "common", "contrib", "ppo", "a2c", "sac", "td3", "ddpg",
                 "dqn", "qrdqn", "tqc", "ppo_recurrent", "crossq", "her", "__init__", "cli_tune", "cli_bench", "tuning",
                 "bench", "execution"}),
]
LAYER_OF = {name: index for index, (_, names) in enumerate(LAYERS) for name in names}


def _part(module: str) -> str:
    """The top-level part of ``ballast`` a module belongs to (``ballast.algos.ppo`` -> ``algos``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "ballast":
            names = [f"ballast.{a.name}" for a in node.names] if node.module == "ballast" else [node.module]
            out += [(node.lineno, name) for name in names]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "ballast"]
    return out


def test_every_part_of_the_package_has_a_layer() -> None:
    parts = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if p.suffix == ".py" or
             (p.is_dir() and (p / "__init__.py").exists())}
    assert parts <= set(LAYER_OF), f"parts without a layer: {sorted(parts - set(LAYER_OF))}"


def test_no_module_imports_a_layer_above_its_own() -> None:
    violations = []
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        source = "__init__" if module == "ballast.__init__" else _part(module)
        for line, target in _imports(path):
            if LAYER_OF[_part(target)] > LAYER_OF[source]:
                violations.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target} "
                                  f"({LAYERS[LAYER_OF[_part(target)]][0]} above {LAYERS[LAYER_OF[source]][0]})")
    assert not violations, "\n".join(violations)


def test_the_checker_finds_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "policy.py"
    module.write_text("from ballast.algos.base import Algorithm\nimport ballast.cli\n")
    assert [target for _, target in _imports(module)] == ["ballast.algos.base", "ballast.cli"]
    assert LAYER_OF[_part("ballast.algos.base")] > LAYER_OF[_part("ballast.policies.mlp")]
