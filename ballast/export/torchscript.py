"""TorchScript export: the traced :class:`~ballast.export.module.ExportedPolicy`, saved with ``torch.jit.save``.

Tracing (rather than scripting) follows the exact code ``predict`` runs; the batch size is read
from the input at run time, so the file serves any batch size. The file holds compiled code and
tensors only: ``torch.jit.load`` (Python) or ``torch::jit::load`` (C++ libtorch) runs it without
Ballast.
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ballast.checkpoint import atomic_write_bytes
from ballast.export import ExportError
from ballast.export.module import ExportPlan


def export_torchscript(plan: ExportPlan, path: Path) -> dict[str, Any]:
    """Trace ``plan.module`` and write it to ``path``; returns what the metadata should record."""
    example = plan.example_inputs()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # torch.jit.trace is deprecated in favour of torch.export, but TorchScript files are what libtorch loads.
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(plan.module, example, check_trace=False, strict=False)
    except Exception as err:  # noqa: BLE001 - tracing fails with many error types
        raise ExportError(f"TorchScript tracing failed: {type(err).__name__}: {err}") from None
    # Name the graph inputs after the observation (keys) instead of the tracer's generated names.
    graph_inputs = list(traced.graph.inputs())[1:]
    for value, spec in zip(graph_inputs, plan.inputs):
        value.setDebugName(re.sub(r"\W", "_", spec.name) if re.match(r"[A-Za-z_]", spec.name) else f"obs_{spec.name}")
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(traced, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return {"torch_version": torch.__version__.split("+")[0]}


def torchscript_runner(path: Path) -> tuple[Any, str]:
    """A function running the saved file (loaded back with ``torch.jit.load``) on a list of input arrays."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(path), map_location="cpu")

    def run(arrays: list[np.ndarray]) -> list[np.ndarray]:
        with torch.no_grad():
            out = module(*(torch.from_numpy(a) for a in arrays))
        out = out if isinstance(out, tuple) else (out,)
        return [o.numpy() for o in out]

    return run, f"torch.jit.load (torch {torch.__version__.split('+')[0]})"
