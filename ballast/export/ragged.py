"""Export of policies over graph and set observations (ONNX and TorchScript).

A batch of graphs enters the artifact as Ballast and PyTorch Geometric hold it, with no padding:

| input | shape | dtype | meaning |
|---|---|---|---|
| ``nodes`` | ``(N, *node_shape)`` | float32 (int64 for a Discrete node space) | the nodes of all graphs, concatenated |
| ``edge_index`` | ``(2, E)`` | int64 | ``(source, target)`` of every edge, as positions in ``nodes`` |
| ``edges`` (with an edge space) | ``(E, *edge_shape)`` | float32 (int64) | edge features, ``edge_index`` order |
| ``node_index`` | ``(N,)`` | int64 | the graph of each node (``0 .. B - 1``) |
| ``node_offsets`` | ``(B + 1,)`` | int64 | where each graph's nodes start, then ``N`` |

A set or sequence observation enters as ``values`` ``(N, *feature_shape)``, ``index`` and
``offsets``. :func:`ballast.ragged.collate` builds these from Gymnasium observations. The output
``action`` holds one action per graph (``(B,)`` or ``(B, *action_shape)``), or one per node for
``NodeMultiBinary``/``NodeBox`` (``(N, ...)``, in ``nodes`` order); a ``NodeChoice`` action is the
node's position within its graph. The segment reductions export as ONNX ``ScatterElements`` with a
reduction, so ONNX needs opset 18 or later. After writing, the artifact is run on random graphs
of several sizes (larger than any seen in training included) and compared with ``model.predict``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from ballast.checkpoint import atomic_write_bytes
from ballast.errors import ExportError
from ballast.export.module import cpu_policy_copy
from ballast.node_spaces import is_per_node_action_space
from ballast.ragged import GraphBatch, SetBatch, collate

ONNX_MIN_OPSET = 18


def _input_names(space: spaces.Space) -> list[str]:
    if isinstance(space, spaces.Graph):
        names = ["nodes", "edge_index"] + (["edges"] if space.edge_space is not None else [])
        return [*names, "node_index", "node_offsets"]
    return ["values", "index", "offsets"]


class ExportedRaggedPolicy(nn.Module):
    """The artifact's function: the inputs of the module docstring -> the deterministic env action."""

    def __init__(self, policy: nn.Module, space: spaces.Space) -> None:
        super().__init__()
        self.policy = policy
        self.names = _input_names(space)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        named = dict(zip(self.names, inputs))
        if "nodes" in named:
            # The encoders never read edge offsets; the node offsets stand in for them.
            obs: Any = GraphBatch(named["nodes"], named.get("edges"), named["edge_index"], named["node_offsets"],
                                  named["node_offsets"], named["node_index"])
        else:
            obs = SetBatch(named["values"], named["offsets"], named["index"])
        action = self.policy.act(obs, deterministic=True)
        return action.values if isinstance(action, SetBatch) else action


def _inputs_of(space: spaces.Space, batch: GraphBatch | SetBatch) -> tuple[torch.Tensor, ...]:
    if isinstance(batch, GraphBatch):
        parts = [batch.nodes, batch.edge_index] + ([batch.edges] if space.edge_space is not None else [])
        return (*parts, batch.node_index, batch.node_offsets)
    return batch.values, batch.index, batch.offsets


def _sample_part(space: spaces.Space, n: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(space, spaces.Discrete):
        return int(space.start) + rng.integers(0, int(space.n), n)
    low = np.where(np.isfinite(space.low), space.low, -3.0)
    high = np.where(np.isfinite(space.high), space.high, 3.0)
    return rng.uniform(low, high, (n, *space.shape)).astype(np.float32)


def sample_ragged_observations(space: spaces.Space, sizes: list[int], seed: int = 0) -> list[Any]:
    """Random observations of ``space`` with the given numbers of nodes (elements), for the parity check."""
    rng = np.random.default_rng(seed)
    out: list[Any] = []
    for n in sizes:
        if isinstance(space, spaces.Graph):
            m = 2 * n
            links = rng.integers(0, max(n, 1), (m if n else 0, 2))
            edges = None if space.edge_space is None else _sample_part(space.edge_space, len(links), rng)
            out.append(spaces.GraphInstance(_sample_part(space.node_space, n, rng), edges, links))
        else:
            values = _sample_part(space.feature_space, n, rng)
            out.append(np.moveaxis(values, 0, getattr(space, "axis", 0)))
    return out


def _check_exportable(model: Any, format: str) -> None:
    space = model.observation_space
    if format not in ("onnx", "torchscript"):
        raise ExportError(f"policies over {type(space).__name__} observations export to ONNX and TorchScript only, "
                          f"not {format!r}")
    if isinstance(space, spaces.Dict):
        raise ExportError("a Dict observation holding a graph or a set cannot be exported yet; export a policy "
                          "whose observation is the Graph, Sequence or set itself")
    names = {type(m).__name__ for m in model.policy.modules()}
    if "AttentionSetEncoder" in names:
        raise ExportError("the attention set encoder pads each batch to its largest set, a size that tracing would "
                          "freeze; export a DeepSets policy (set_encoder='deepsets')")
    if model.policy.normalizer is not None and model.policy.normalizer.keys:
        raise ExportError("observation normalisation of graph or set observations cannot be exported")


def export_ragged(model: Any, out_dir: Path, format: str, *, opset: int = ONNX_MIN_OPSET, check: bool = True
                  ) -> Path:
    """Write ``policy.onnx`` or ``policy.pt`` and ``metadata.json`` to ``out_dir`` (see the module docstring)."""
    _check_exportable(model, format)
    space = model.observation_space
    module = ExportedRaggedPolicy(cpu_policy_copy(model.policy), space).eval()
    example = _inputs_of(space, collate(space, sample_ragged_observations(space, [5, 9, 3], seed=1)))
    names = _input_names(space)
    out_dir.mkdir(parents=True, exist_ok=True)
    if format == "onnx":
        opset = max(int(opset), ONNX_MIN_OPSET)
        path = out_dir / "policy.onnx"
        axes = {"nodes": {0: "n_nodes"}, "values": {0: "n_elements"}, "edge_index": {1: "n_edges"},
                "edges": {0: "n_edges"}, "node_index": {0: "n_nodes"}, "index": {0: "n_elements"},
                "node_offsets": {0: "n_graphs_plus_1"}, "offsets": {0: "n_sets_plus_1"},
                "action": {0: "n_actions"}}
        tmp = out_dir / "policy.onnx.tmp"
        with torch.no_grad():
            torch.onnx.export(module, example, str(tmp), input_names=names, output_names=["action"],
                              dynamic_axes={k: v for k, v in axes.items() if k in [*names, "action"]},
                              opset_version=opset, dynamo=False)
        atomic_write_bytes(path, tmp.read_bytes())
        tmp.unlink()
    else:
        path = out_dir / "policy.pt"
        with torch.no_grad():
            traced = torch.jit.trace(module, example, check_trace=False)
        tmp = out_dir / "policy.pt.tmp"
        traced.save(str(tmp))
        atomic_write_bytes(path, tmp.read_bytes())
        tmp.unlink()
    checked = _parity(model, path, format, names) if check else None
    metadata = {"format": format, "inputs": names, "outputs": ["action"],
                "observation_space": type(space).__name__, "action_space": str(model.action_space),
                "per_node_actions": is_per_node_action_space(model.action_space),
                "opset": opset if format == "onnx" else None, "parity_checked": checked}
    atomic_write_bytes(out_dir / "metadata.json", json.dumps(metadata, indent=2).encode())
    return out_dir


def _parity(model: Any, path: Path, format: str, names: list[str]) -> dict[str, Any]:
    """Run the artifact on random observations of several sizes and compare with ``model.predict``."""
    space = model.observation_space
    sizes = [1, 4, 17, 60, 250]
    observations = sample_ragged_observations(space, sizes, seed=2)
    inputs = _inputs_of(space, collate(space, observations))
    if format == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {name: x.numpy() for name, x in zip(names, inputs)})[0]
    else:
        got = torch.jit.load(str(path))(*inputs).numpy()
    expected, _ = model.predict(observations, deterministic=True)
    if isinstance(expected, tuple):
        expected = np.concatenate([np.asarray(a) for a in expected])
    expected = np.asarray(expected)
    if got.shape != expected.shape or not np.allclose(got.astype(np.float64), expected.astype(np.float64),
                                                      atol=1e-4, rtol=1e-4):
        raise ExportError(f"the exported {format} policy differs from model.predict on graphs of {sizes} nodes: "
                          f"max difference {np.max(np.abs(got.astype(np.float64) - expected)):.3g}")
    return {"sizes": sizes, "max_abs_difference": float(np.max(np.abs(got.astype(np.float64) - expected),
                                                                initial=0.0))}
