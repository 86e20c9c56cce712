"""One export from start to end: artifact, parity check, ``metadata.json``, ``README.md``, printed summary."""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from pathlib import Path
from typing import Any

import torch
from gymnasium import spaces

from ballast.checkpoint import atomic_write_bytes
from ballast.export import ExportError
from ballast.export.episodes import SequenceRunner, carry_state, check_recurrent_parity
from ballast.export.module import ExportPlan, action_bounds, make_plan
from ballast.export.parity import ParityResult, check_parity, unchecked
from ballast.export.recurrent import is_recurrent, make_recurrent_plan, recurrent_info
from ballast.spaces import is_image_space, space_to_json
from ballast.version import __version__

ARTIFACTS = {"onnx": "policy.onnx", "torchscript": "policy.pt"}


def strict_json(value: Any) -> Any:
    """``value`` with infinite and NaN floats as the strings ``"inf"``, ``"-inf"``, ``"nan"``.

    Python's ``json`` writes them as ``Infinity``, which strict JSON readers (MATLAB's ``jsondecode``,
    most C++ libraries) reject; unbounded observation spaces have such bounds.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value


def _preprocessing(model: Any) -> dict[str, Any]:
    """What the artifact does to observations before the network (for the metadata and README)."""
    policy = model.policy
    normalizer = getattr(policy, "normalizer", None)
    out: dict[str, Any] = {"observation_normalization": None}
    if normalizer is not None and normalizer.keys:
        out["observation_normalization"] = {
            "keys": normalizer.keys if normalizer.is_dict else None, "clip": normalizer.clip_obs,
            "epsilon": normalizer.epsilon, "formula": "clip((obs - mean) / sqrt(var + epsilon), -clip, clip)",
        }
    space = model.observation_space
    leaves = space.spaces.items() if isinstance(space, spaces.Dict) else [(None, space)]
    scaled = [k for k, sub in leaves if is_image_space(sub)]
    normalize_images = getattr(getattr(policy, "config", None), "normalize_images", True)
    out["image_scaling"] = ("uint8 images divided by 255" + (f" (keys {scaled})" if scaled != [None] else "")
                            if scaled and normalize_images else None)
    return out


def _metadata(model: Any, plan: ExportPlan, format: str, files: list[str], info: dict[str, Any],
              parity: ParityResult) -> dict[str, Any]:
    return {
        "ballast_version": __version__,
        "format": format,
        "algorithm": getattr(model, "algorithm_name", type(model).__name__).upper(),
        "policy_class": type(model.policy).__name__,
        "files": files,
        "observation_space": space_to_json(model.observation_space),
        "action_space": space_to_json(model.action_space),
        "action_bounds": action_bounds(model.action_space),
        "inputs": [s.to_json() for s in plan.inputs],
        "outputs": [s.to_json() for s in plan.outputs],
        "deterministic": True,
        "preprocessing": _preprocessing(model),
        **({"recurrent": recurrent_info(model.policy)} if is_recurrent(model) else {}),
        format: info,
        "parity": parity.to_json(),
    }


def _onnx_props(model: Any, plan: ExportPlan) -> dict[str, Any]:
    return strict_json({
        "ballast_version": __version__,
        "algorithm": getattr(model, "algorithm_name", type(model).__name__).upper(),
        "observation_space": space_to_json(model.observation_space),
        "action_space": space_to_json(model.action_space),
        "action_bounds": action_bounds(model.action_space),
        "inputs": [s.to_json() for s in plan.inputs],
        "outputs": [s.to_json() for s in plan.outputs],
        **({"recurrent": recurrent_info(model.policy)} if is_recurrent(model) else {}),
    })


def run_export(model: Any, out_dir: Path, format: str, *, opset: int, check: bool, function_name: str,
               include_value: bool, onnx_exporter: str = "auto", action_masks: bool = False) -> Path:
    """See :func:`ballast.export.export_model`; ``onnx_exporter`` picks the ONNX exporter (tests try both)."""
    from ballast.export.readme import render_readme

    if format == "matlab" and getattr(getattr(model, "policy", None), "residual", None) is not None:
        raise ExportError(
            "MATLAB export does not support residual models (base_policy=) yet; export to ONNX or TorchScript, "
            "which carry a Ballast base in the graph")
    if action_masks and format == "matlab":
        raise ExportError("action_masks=True is supported for ONNX and TorchScript exports, not MATLAB; export "
                          "without it and apply the mask in MATLAB, or export to ONNX")
    residual = getattr(getattr(model, "policy", None), "residual", None)
    onnx_base = format == "onnx" and residual is not None and residual.base.kind == "onnx"
    recurrent = is_recurrent(model)
    plan = (make_recurrent_plan(model, include_value, action_masks) if recurrent
            else make_plan(model, include_value, action_masks, base_as_input=onnx_base))
    sequence_runner: SequenceRunner | None = None
    out_dir.mkdir(parents=True, exist_ok=True)
    runner: Any = None
    runtime = ""
    if format == "onnx":
        from ballast.export.onnx import export_onnx, merge_onnx_base, onnx_runner

        # With an ONNX base the artifact is the residual graph joined to the base's: the observation is its input.
        final = dataclasses.replace(plan, inputs=plan.inputs[:-1]) if onnx_base else plan
        info = export_onnx(plan, out_dir / ARTIFACTS["onnx"], opset=opset, metadata=_onnx_props(model, final),
                           exporter=onnx_exporter)
        if onnx_base:
            merge_onnx_base(out_dir / ARTIFACTS["onnx"], residual.base.onnx_bytes, plan.inputs[0].name,
                            plan.inputs[-1].name)
            plan = final
        files = [ARTIFACTS["onnx"]]
        if check:
            runner, runtime = onnx_runner(out_dir / ARTIFACTS["onnx"])
    elif format == "torchscript":
        from ballast.export.torchscript import export_torchscript, torchscript_runner

        info = export_torchscript(plan, out_dir / ARTIFACTS["torchscript"])
        files = [ARTIFACTS["torchscript"]]
        if check:
            runner, runtime = torchscript_runner(out_dir / ARTIFACTS["torchscript"])
    else:
        from ballast.export.matlab import export_matlab, octave_path, octave_runner

        if recurrent:
            import ballast.export.matlab_recurrent  # noqa: F401 - registers the LSTM and GRU translators

        info = export_matlab(plan, out_dir, function_name, header=_matlab_header(model))
        files = list(info.pop("files"))
        octave = octave_path()
        if check and octave is not None:
            runner, runtime = octave_runner(out_dir, function_name, len(plan.outputs), octave)
            if recurrent:
                from ballast.export.matlab_recurrent import matlab_step_runner, octave_sequence_runner

                runner = matlab_step_runner(runner, plan)
                sequence_runner = octave_sequence_runner(out_dir, function_name, plan, octave)
        elif check:
            runtime = "GNU Octave"
    if not check:
        parity = unchecked(runtime or format, "check=False was passed; the artifact was not compared with predict")
    elif runner is None:
        parity = unchecked(runtime, "GNU Octave (octave-cli) is not on PATH, so the generated MATLAB code was NOT run "
                                    "and its parity is UNCHECKED; install it (e.g. apt-get install octave) and export "
                                    "again, or run the code in MATLAB and compare with model.predict")
    else:
        with torch.no_grad():
            if recurrent:
                parity = check_recurrent_parity(model, plan, runner, sequence_runner or carry_state(runner, plan),
                                                runtime)
            else:
                parity = check_parity(model, plan, runner, runtime)
    files += ["metadata.json", "README.md"]
    metadata = strict_json(_metadata(model, plan, format, files, info, parity))
    text = json.dumps(metadata, indent=2, allow_nan=False) + "\n"
    atomic_write_bytes(out_dir / "metadata.json", text.encode("utf-8"))
    atomic_write_bytes(out_dir / "README.md", render_readme(metadata, function_name).encode("utf-8"))
    _print_summary(model, out_dir, format, files, parity, loud=check)
    if parity.passed is False:
        raise ExportError(f"{parity.message}\n" + "\n".join(parity.details)
                          + f"\nThe files were written to {out_dir} for inspection; do not deploy them.")
    return out_dir


def _matlab_header(model: Any) -> list[str]:
    bounds = action_bounds(model.action_space)
    return ["", f"Exported from a Ballast {__version__} {getattr(model, 'algorithm_name', '').upper()} model.",
            f"Action space: {json.dumps(space_to_json(model.action_space))}",
            f"Action bounds: low {bounds['low']}, high {bounds['high']}"]


def _print_summary(model: Any, out_dir: Path, format: str, files: list[str], parity: ParityResult,
                   loud: bool) -> None:
    """Print what was written and the parity verdict; a check that was asked for but could not run is shouted."""
    algo = getattr(model, "algorithm_name", type(model).__name__).upper()
    print(f"Exported the {algo} policy as {format} to {out_dir}: {', '.join(files)}")
    if parity.checked or not loud:
        print(f"  {parity.message}")
        for detail in parity.details:
            print(f"    {detail}")
    else:
        banner = "!" * 78
        print(f"  {banner}\n  WARNING: {parity.message}\n  {banner}")
        warnings.warn(parity.message, stacklevel=3)
