"""ONNX export with a dynamic batch axis, standard operators only, metadata in ``metadata_props``.

Two exporters ship with PyTorch: the TorchScript-based one (``dynamo=False``) emits any opset up to
20 directly, and the ``torch.export``-based one (``dynamo=True``, needs ``onnxscript``) emits opset 18
and later, converting down with the ONNX version converter. For an opset below 18 the
TorchScript-based exporter is tried first, otherwise the ``torch.export``-based one; when the first
fails or is missing (a future PyTorch may remove it), the other is used. The result must have the
requested opset, only operators of the default ONNX domain and a dynamic batch axis on every input
and output.

The ``torch.export``-based exporter needs torch >= :data:`TORCH_EXPORT_BASED_MIN`: 2.4 and 2.5 lack
the arguments used here (``dynamic_shapes``, ``optimize``), and 2.6 fails to convert Ballast's graphs
or fixes their batch size. On an older torch, opset 18 and later are written by the TorchScript-based
exporter.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ballast.checkpoint import atomic_write_bytes
from ballast.export import ExportError
from ballast.export.module import ExportPlan

_STANDARD_DOMAINS = ("", "ai.onnx")
#: The first torch whose ``torch.export``-based ONNX exporter writes Ballast's graphs as required.
TORCH_EXPORT_BASED_MIN = "2.7"


def has_torch_export_based_exporter() -> bool:
    """Whether this torch is at least :data:`TORCH_EXPORT_BASED_MIN` (its release numbers: a 2.7 nightly counts)."""
    release = tuple(int(n) for n in re.match(r"(\d+)\.(\d+)", torch.__version__).groups())
    return release >= tuple(int(n) for n in TORCH_EXPORT_BASED_MIN.split("."))


def _require_onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ExportError("ONNX export needs the onnx package: pip install 'ballast-rl[export]'") from None
    return onnx


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporters' deprecation warnings and progress logging (errors still raise)."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _export_torchscript_based(plan: ExportPlan, example: tuple[torch.Tensor, ...], opset: int) -> bytes:
    buffer = io.BytesIO()
    with _quiet_exporter(), torch.no_grad():
        torch.onnx.export(
            plan.module, example, buffer, input_names=[s.name for s in plan.inputs],
            output_names=[s.name for s in plan.outputs], opset_version=opset, dynamo=False,
            dynamic_axes={s.name: {s.batch_axis: "batch"} for s in [*plan.inputs, *plan.outputs]},
            do_constant_folding=True,
        )
    return buffer.getvalue()


def _export_dynamo(plan: ExportPlan, example: tuple[torch.Tensor, ...], opset: int) -> bytes:
    if not has_torch_export_based_exporter():
        raise ExportError(f"the torch.export-based ONNX exporter needs torch >= {TORCH_EXPORT_BASED_MIN}, "
                          f"this is torch {torch.__version__}; upgrade torch, or use the TorchScript-based exporter "
                          "(any opset up to 20)")
    try:
        import onnxscript  # noqa: F401
    except ImportError:
        raise ExportError("the torch.export-based ONNX exporter needs onnxscript: pip install onnxscript") from None
    # Bounded: torch 2.7 refuses the unbounded default ("not all values of batch satisfy batch != 2^63 - 1").
    batch = torch.export.Dim("batch", max=1 << 30)
    with _quiet_exporter(), torch.no_grad():
        program = torch.onnx.export(
            plan.module, example, None, input_names=[s.name for s in plan.inputs],
            output_names=[s.name for s in plan.outputs], opset_version=opset, dynamo=True,
            dynamic_shapes=(tuple({spec.batch_axis: batch} for spec in plan.inputs[:len(example)]),), optimize=True,
            verbose=False,
        )
    return program.model_proto.SerializeToString()


EXPORTERS = {"torchscript-based": _export_torchscript_based, "dynamo": _export_dynamo}


def check_exported_graph(proto: Any, opset: int, batch_axes: dict[str, int] | None = None) -> None:
    """Refuse (:class:`ExportError`) a graph of another opset than ``opset``, with operators outside the
    default ONNX domain, or with an input or output whose batch axis is not dynamic (the first axis,
    or the one ``batch_axes`` names: a recurrent state's batch is its second axis)."""
    batch_axes = batch_axes or {}
    versions = {o.domain: o.version for o in proto.opset_import}
    if versions.get("", versions.get("ai.onnx")) != opset:
        raise ExportError(f"the exporter produced opset {versions}, not the requested {opset}")
    custom = sorted({n.domain for n in proto.graph.node if n.domain not in _STANDARD_DOMAINS})
    if custom or len(proto.functions):
        raise ExportError(f"the exported graph uses non-standard operator domains {custom or 'functions'}")
    def dynamic(value: Any) -> bool:
        dims, axis = value.type.tensor_type.shape.dim, batch_axes.get(value.name, 0)
        return len(dims) > axis and bool(dims[axis].dim_param)

    fixed = [v.name for v in [*proto.graph.input, *proto.graph.output] if not dynamic(v)]
    if fixed:
        raise ExportError(f"the exporter fixed the batch size of {fixed}: the graph would take one batch size only")


def export_onnx(plan: ExportPlan, path: Path, *, opset: int, metadata: dict[str, Any],
                exporter: str = "auto") -> dict[str, Any]:
    """Write ``plan.module`` to ``path`` as ONNX; returns what the metadata should record about it.

    ``exporter``: ``"auto"`` (see the module docstring), ``"torchscript-based"`` or ``"dynamo"``.
    ``metadata`` (strings or JSON-serialisable values) goes into the model's ``metadata_props``.
    """
    onnx = _require_onnx()
    example = plan.example_inputs()
    if exporter == "auto":
        order = ["torchscript-based", "dynamo"] if opset < 18 else ["dynamo", "torchscript-based"]
    elif exporter in EXPORTERS:
        order = [exporter]
    else:
        raise ExportError(f"unknown ONNX exporter {exporter!r}; use 'auto' or one of {list(EXPORTERS)}")
    failures = []
    for name in order:
        try:
            proto = onnx.load_from_string(EXPORTERS[name](plan, example, opset))
            check_exported_graph(proto, opset, {s.name: s.batch_axis for s in [*plan.inputs, *plan.outputs]})
            break
        except Exception as err:  # noqa: BLE001 - try the other exporter, report both if both fail
            failures.append(f"{name}: {type(err).__name__}: {str(err).strip().splitlines()[0] if str(err) else ''}")
    else:
        raise ExportError("ONNX export failed: " + "; ".join(failures))
    proto.producer_name = "ballast"
    proto.producer_version = str(metadata.get("ballast_version", ""))
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value, allow_nan=False)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as err:  # noqa: BLE001 - onnx raises several checker error types
        raise ExportError(f"the exported ONNX model fails onnx.checker: {err}") from None
    atomic_write_bytes(path, proto.SerializeToString())
    return {"exporter": name, "opset": opset, "exporter_fallback_reasons": failures}


def onnx_runner(path: Path) -> tuple[Any, str]:
    """A function running the ONNX file with ONNX Runtime on a list of input arrays, and a description."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ExportError(
            "the parity check of an ONNX export needs onnxruntime: pip install 'ballast-rl[export]', "
            "or pass check=False"
        ) from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(arrays: list[np.ndarray]) -> list[np.ndarray]:
        return session.run(None, dict(zip(names, arrays)))

    return run, f"onnxruntime {ort.__version__}"


def merge_onnx_base(path: Path, base_bytes: bytes, obs_input: str, base_input: str) -> None:
    """Join an ONNX base policy's graph to the ``base_input`` of the residual graph at ``path``.

    The base's graph (its names prefixed with ``base/``) reads the residual graph's observation
    input ``obs_input``; its first output feeds ``base_input``, which stops being an input. The
    base is converted to the residual graph's opset when they differ (``onnx.version_converter``).
    """
    onnx = _require_onnx()
    from onnx import compose, version_converter

    residual = onnx.load(str(path))
    base = onnx.load_from_string(base_bytes)
    opset = {o.domain: o.version for o in residual.opset_import}.get("", 0)
    base_opset = {o.domain: o.version for o in base.opset_import}.get("", {o.domain: o.version for o in
                                                                            base.opset_import}.get("ai.onnx", 0))
    try:
        if base_opset != opset:
            base = version_converter.convert_version(base, opset)
        base.ir_version = residual.ir_version
        base = compose.add_prefix(base, "base/")
        base_in, base_out = base.graph.input[0].name, base.graph.output[0].name
        outputs = [o.name for o in residual.graph.output]
        merged = compose.merge_models(base, residual, io_map=[(base_out, base_input)],
                                      inputs=[base_in, obs_input], outputs=outputs)
    except Exception as err:  # noqa: BLE001 - onnx raises several error types here
        raise ExportError(f"the ONNX base policy could not be merged into the exported graph ({err}); "
                          "use a Ballast model as base to export the combination") from None
    for node in merged.graph.node:
        for i, name in enumerate(node.input):
            if name == base_in:
                node.input[i] = obs_input
    kept = [i for i in merged.graph.input if i.name != base_in]
    del merged.graph.input[:]
    merged.graph.input.extend(kept)
    del merged.metadata_props[:]
    merged.metadata_props.extend(residual.metadata_props)
    merged.producer_name, merged.producer_version = residual.producer_name, residual.producer_version
    try:
        onnx.checker.check_model(merged, full_check=True)
    except Exception as err:  # noqa: BLE001 - onnx raises several checker error types
        raise ExportError(f"the ONNX model merged with its ONNX base fails onnx.checker: {err}") from None
    atomic_write_bytes(path, merged.SerializeToString())

