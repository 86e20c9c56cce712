"""What a tune leaves in its output folder: the best hyperparameters as a zoo file that
``ballast train --hyperparams`` reads back, every trial as a CSV row, and a JSON summary."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ballast.execution.folders import write_text
from ballast.zoo import ZooSettings

BEST_FILE = "best_hyperparams.yml"
TRIALS_FILE = "trials.csv"
SUMMARY_FILE = "study.json"


def settings_entry(settings: ZooSettings) -> dict[str, Any]:
    """A zoo entry that :func:`ballast.zoo.parse_hyperparams` turns back into ``settings`` (less the
    step budget): the base a sampled entry is laid over."""
    entry: dict[str, Any] = {"policy": settings.policy, "n_envs": settings.n_envs, **settings.kwargs}
    if settings.policy == "auto":
        del entry["policy"]
    if settings.noise is not None:
        entry.update(noise_type=settings.noise["type"], noise_std=settings.noise["std"])
    if settings.env_wrappers:
        entry["env_wrapper"] = [{name: kwargs} for name, kwargs in settings.env_wrappers]
    if settings.frame_stack:
        entry["frame_stack"] = settings.frame_stack
    if settings.vec_env_wrappers:
        entry["vec_env_wrapper"] = [{name: kwargs} for name, kwargs in settings.vec_env_wrappers]
    if settings.callbacks:
        entry["callback"] = [{name: kwargs} for name, kwargs in settings.callbacks]
    return entry


def merge_entries(base: Mapping[str, Any], sampled: Mapping[str, Any]) -> dict[str, Any]:
    """``sampled`` laid over ``base``; ``policy_kwargs`` merged key by key."""
    merged = {**base, **sampled}
    if isinstance(base.get("policy_kwargs"), Mapping) and "policy_kwargs" in sampled:
        merged["policy_kwargs"] = {**base["policy_kwargs"], **sampled["policy_kwargs"]}
    if "noise_type" in base and "noise_type" not in sampled and "noise_std" in sampled:
        merged.pop("noise_std")
    return merged


def python_expression(value: Any, key: str | None = None) -> str:
    """Plain data as the zoo's ``policy_kwargs`` text (``dict(net_arch=[64, 64], activation_fn=nn.ReLU)``),
    which :func:`ballast.zoo.parse_policy_kwargs` parses back to the same data."""
    if isinstance(value, Mapping):
        if all(isinstance(k, str) and k.isidentifier() for k in value):
            return "dict(" + ", ".join(f"{k}={python_expression(v, k)}" for k, v in value.items()) + ")"
        return "{" + ", ".join(f"{k!r}: {python_expression(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(python_expression(v) for v in value) + "]"
    if key == "activation_fn" and isinstance(value, str) and value.isidentifier():
        return f"nn.{value}"
    return repr(value)


def zoo_entry_for_file(entry: Mapping[str, Any], steps: int) -> dict[str, Any]:
    """``entry`` as the zoo writes it: ``n_timesteps`` first, ``policy_kwargs`` as its text form."""
    out: dict[str, Any] = {"n_timesteps": int(steps)}
    for key, value in entry.items():
        out[key] = python_expression(value) if key == "policy_kwargs" and isinstance(value, Mapping) else value
    return out


def write_best_hyperparams(path: Path, env_id: str, entry: Mapping[str, Any], steps: int, comment: str) -> Path:
    """Write the zoo file ``{env_id: entry}`` with a comment saying where the values came from."""
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    body = yaml.safe_dump({env_id: zoo_entry_for_file(entry, steps)}, sort_keys=False, default_flow_style=False)
    return write_text(path, header + body)


def write_trials_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """One row per trial: number, state, value, steps/s, error, then the hyperparameters (as JSON)."""
    keys = sorted({k for row in rows for k in row.get("entry", {})})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["number", "state", "value", "steps_per_second", "error", *keys])
    for row in rows:
        entry = row.get("entry", {})
        writer.writerow([row["number"], row["state"], _number(row.get("value")), _number(row.get("steps_per_second")),
                         row.get("error") or "", *(json.dumps(entry[k]) if k in entry else "" for k in keys)])
    return write_text(path, buffer.getvalue())


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def write_summary(path: Path, summary: Mapping[str, Any]) -> Path:
    return write_text(path, json.dumps(summary, indent=2) + "\n")
