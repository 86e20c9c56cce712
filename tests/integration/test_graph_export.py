"""ONNX and TorchScript export of policies over graph and set observations, checked against predict."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from gymnasium import spaces

from ballast import PPO
from ballast.errors import ExportError
from ballast.export.ragged import sample_ragged_observations
from ballast.node_spaces import NodeBox, NodeChoice, NodeMultiBinary
from ballast.ragged import collate
from ballast.spaces import set_axis

GRAPH_WITH_EDGES = spaces.Graph(spaces.Box(-1.0, 1.0, (3,), np.float32), spaces.Box(0.0, 1.0, (2,), np.float32))
CASES = {
    "graph-node-choice": (GRAPH_WITH_EDGES, NodeChoice()),
    "graph-discrete-node-features-box-action": (spaces.Graph(spaces.Discrete(4), spaces.Discrete(3)),
                                                spaces.Box(-1.0, 1.0, (2,), np.float32)),
    "graph-per-node-binary": (GRAPH_WITH_EDGES, NodeMultiBinary()),
    "graph-per-node-box": (GRAPH_WITH_EDGES, NodeBox(-1.0, 1.0, (2,))),
    "set-discrete": (set_axis(spaces.Box(-1.0, 1.0, (9, 2), np.float32), axis=0), spaces.Discrete(3)),
}


def untrained(observation_space, action_space):
    return PPO("auto", None, observation_space=observation_space, action_space=action_space, seed=0, device="cpu")


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("case", list(CASES))
def test_export_matches_predict_on_graphs_of_other_sizes(case, fmt, tmp_path):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    model = untrained(*CASES[case])
    out = model.export(tmp_path / case, format=fmt)
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["parity_checked"]["max_abs_difference"] <= 1e-4
    # An independent check on graphs larger than those of the parity check.
    space = model.observation_space
    observations = sample_ragged_observations(space, [300, 2, 40], seed=7)
    batch = collate(space, observations)
    if isinstance(space, spaces.Graph):
        inputs = [batch.nodes, batch.edge_index, batch.edges, batch.node_index, batch.node_offsets]
    else:
        inputs = [batch.values, batch.index, batch.offsets]
    inputs = [x for x in inputs if x is not None]
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(out / "policy.onnx"))
        got = session.run(None, {n: x.numpy() for n, x in zip(metadata["inputs"], inputs)})[0]
    else:
        got = torch.jit.load(str(out / "policy.pt"))(*inputs).numpy()
    expected, _ = model.predict(observations, deterministic=True)
    if isinstance(expected, tuple):
        expected = np.concatenate(expected)
    np.testing.assert_allclose(got.astype(np.float64), np.asarray(expected, np.float64), atol=1e-4)


def test_export_of_graph_policies_names_what_is_not_supported(tmp_path):
    model = untrained(*CASES["graph-node-choice"])
    with pytest.raises(ExportError, match="ONNX and TorchScript only"):
        model.export(tmp_path / "m", format="matlab")
    sets = PPO("auto", None, observation_space=CASES["set-discrete"][0], action_space=spaces.Discrete(3),
               policy_kwargs=dict(features_extractor_kwargs=dict(set_encoder="attention")))
    with pytest.raises(ExportError, match="set_encoder='deepsets'"):
        sets.export(tmp_path / "a", format="torchscript")


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("options", [
    dict(aggregation="max", message_norm="layer", node_outputs=["input", "final", "relative"], node_readout=False),
    dict(aggregation="sum", message_norm="sqrt_degree", node_outputs="final"),
])
def test_export_of_a_node_choice_policy_with_the_other_graph_encoder_options(options, fmt, tmp_path):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    model = PPO("auto", None, observation_space=GRAPH_WITH_EDGES, action_space=NodeChoice(), seed=0, device="cpu",
                policy_kwargs=dict(features_extractor_kwargs=options))
    out = model.export(tmp_path / "options", format=fmt)
    assert json.loads((out / "metadata.json").read_text())["parity_checked"]["max_abs_difference"] <= 1e-4
