"""Deployment export: ONNX, TorchScript and MATLAB, each carrying the whole observation-to-action path.

``export_model(model, out_dir, format)`` writes a directory holding the artifact, a
``metadata.json`` and a ``README.md``. The artifact maps a raw env observation (any batch size) to
the env action exactly as ``model.predict(obs, deterministic=True)`` does: observation
normalisation with the saved statistics, image scaling, the deterministic action, squashing and
unscaling onto the action bounds, clipping, argmax or thresholding for discrete actions. After
writing, the artifact is run on sampled observations and on observations of a short rollout and
compared with ``model.predict`` (the parity check); a difference raises :class:`ExportError`.

Policies over graph and set observations export to ONNX (opset 18 or later) and TorchScript with
inputs of variable size (see :mod:`ballast.export.ragged`).

What runs is ``policy.act(obs, deterministic=True)`` wrapped in a small module
(:class:`ballast.export.module.ExportedPolicy`), so any policy that follows the policy protocol
(``act``, ``normalize``, ``action_adapter``) exports without changes here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ballast.errors import ExportError

FORMATS = ("onnx", "torchscript", "matlab")


def export_model(
    model: Any,
    out_dir: str | Path,
    format: str = "onnx",
    *,
    opset: int = 17,
    check: bool = True,
    function_name: str = "policy_step",
    include_value: bool = False,
    action_masks: bool = False,
) -> Path:
    """Export ``model``'s deterministic observation-to-action path to ``out_dir``; returns ``out_dir``.

    Args:
        model: a Ballast algorithm (``PPO``, ``A2C``, ...), trained or not.
        out_dir: directory to write; created if missing, files of the same names are replaced.
        format: ``"onnx"`` (``policy.onnx``), ``"torchscript"`` (``policy.pt``) or ``"matlab"``
            (``<function_name>.m`` and ``<function_name>_params.mat``).
        opset: ONNX operator set version (ONNX only).
        check: run the parity check after writing (see the module docstring). With ``False`` the
            check is skipped, and the summary and ``metadata.json`` say so.
        function_name: name of the generated MATLAB function (MATLAB only).
        include_value: add a second output: V(s) for actor-critic policies, the Q-values for
            Q-network policies.
        action_masks: add a last input ``action_mask`` (bool, one entry per action choice, as
            ``model.predict(obs, action_masks=...)`` takes it) so that the artifact picks the best
            valid action (PPO/A2C with Discrete or MultiDiscrete actions; ONNX and TorchScript).

    Raises:
        ExportError: the policy cannot be exported in this format (the message names the part that
            is not supported), a dependency is missing, or the parity check failed.
    """
    from ballast.export.writer import run_export

    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}; use one of {list(FORMATS)}")
    if format == "matlab" and not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,50}", function_name):
        raise ExportError(
            f"function_name={function_name!r} is not a valid MATLAB function name: a letter followed by "
            "letters, digits or underscores, at most 51 characters"
        )
    if _has_ragged_observations(getattr(model, "observation_space", None)):
        from ballast.export.ragged import export_ragged

        if include_value:
            raise ExportError("include_value=True is not supported for graph or set observations")
        return export_ragged(model, Path(out_dir), format, opset=int(opset), check=bool(check))
    return run_export(model, Path(out_dir), format, opset=int(opset), check=bool(check), function_name=function_name,
                      include_value=bool(include_value), action_masks=bool(action_masks))


def _has_ragged_observations(space: Any) -> bool:
    from gymnasium import spaces

    if isinstance(space, spaces.Dict):
        return any(_has_ragged_observations(sub) for sub in space.spaces.values())
    return isinstance(space, (spaces.Graph, spaces.Sequence))


__all__ = ["FORMATS", "ExportError", "export_model"]
