"""The graph encoder's options (message normalisation, what node heads read) and ballast/ExtremeNode-v0."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

import ballast  # noqa: F401  (registers the envs)
from ballast import PPO
from ballast.encoders.graph import GraphEncoder, MessagePassingLayer
from ballast.envs.extreme_node import ENV_ID, ExtremeNodeEnv
from ballast.errors import ConfigurationError
from ballast.node_spaces import NodeChoice
from ballast.ragged import collate

SPACE = spaces.Graph(spaces.Box(0.0, 1.0, (2,), np.float32), None)


def two_graphs() -> list[spaces.GraphInstance]:
    rng = np.random.default_rng(0)
    star = np.array([[1, 0], [2, 0], [3, 0], [0, 1]])
    return [spaces.GraphInstance(rng.uniform(0, 1, (4, 2)).astype(np.float32), None, star),
            spaces.GraphInstance(rng.uniform(0, 1, (6, 2)).astype(np.float32), None, np.array([[0, 5], [5, 0]]))]


def test_node_outputs_concatenate_and_relative_is_zero_at_each_graphs_maximum():
    torch.manual_seed(0)
    encoder = GraphEncoder(SPACE, hidden_dim=8, n_layers=2, node_outputs=["input", "final", "relative"])
    assert encoder.node_dim == 24
    batch = collate(SPACE, two_graphs())
    encoding = encoder.encode_nodes(batch)
    h0, h, relative = encoding.nodes.split(8, dim=1)
    torch.testing.assert_close(h0, encoder.embed(batch.nodes))
    torch.testing.assert_close(relative, h - torch.stack([h[:4].max(0).values] * 4 + [h[4:].max(0).values] * 6))
    assert (relative <= 0).all()
    with pytest.raises(ValueError, match="node_outputs"):
        GraphEncoder(SPACE, node_outputs=["input", "input"])


def test_sqrt_degree_divides_the_summed_messages_by_the_root_of_the_in_degree():
    torch.manual_seed(0)
    plain = MessagePassingLayer(4, 0, "sum")
    scaled = MessagePassingLayer(4, 0, "sum", message_norm="sqrt_degree")
    scaled.load_state_dict(plain.state_dict())
    h = torch.randn(4, 4)
    edge_index = torch.tensor([[1, 2, 3, 0], [0, 0, 0, 1]])
    messages = torch.relu(plain.message(h[edge_index[0]]))
    aggregated = torch.stack([messages[:3].sum(0) / 3 ** 0.5, messages[3], torch.zeros(4), torch.zeros(4)])
    expected = h + torch.relu(plain.update(torch.cat([h, aggregated], dim=1)))
    torch.testing.assert_close(scaled(h, edge_index, None), expected)


def test_without_readout_the_node_head_reads_the_node_embeddings_only():
    model = PPO("auto", None, observation_space=SPACE, action_space=NodeChoice(), seed=0, device="cpu",
                policy_kwargs=dict(features_extractor_kwargs=dict(hidden_dim=8, node_readout=False)))
    assert model.policy.action_head.mlp[0].in_features == 8
    actions, _ = model.predict(tuple(two_graphs()), deterministic=True)
    assert actions.shape == (2,) and actions[0] < 4 and actions[1] < 6


@pytest.mark.parametrize("options", [dict(message_norm="batch"), dict(node_outputs="hidden"), dict(node_readout=1)])
def test_wrong_graph_options_are_refused_when_the_model_is_created(options):
    with pytest.raises(ConfigurationError, match=next(iter(options))):
        PPO("auto", None, observation_space=SPACE, action_space=NodeChoice(), device="cpu",
            policy_kwargs=dict(features_extractor_kwargs=options))


@pytest.mark.parametrize("target", ["max", "min"])
def test_extreme_node_rewards_the_node_with_the_extreme_key_feature_and_ends(target):
    env = gym.make(ENV_ID, n_nodes=(5, 9), n_features=3, key=1, target=target, graph="er")
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs) and 5 <= len(obs.nodes) <= 9
    values = obs.nodes[:, 1]
    assert info["target"] == (np.argmax(values) if target == "max" else np.argmin(values))
    other = (info["target"] + 1) % len(values)
    assert env.step(other)[1:4] == (0.0, True, False)
    env.reset(seed=3)
    assert env.step(info["target"])[1:4] == (1.0, True, False)
    again, _ = env.reset(seed=3)
    np.testing.assert_array_equal(again.nodes, obs.nodes)


def test_extreme_node_refuses_settings_that_cannot_work():
    with pytest.raises(ConfigurationError, match="key"):
        ExtremeNodeEnv(n_features=2, key=2)
    with pytest.raises(ConfigurationError, match="target"):
        ExtremeNodeEnv(target="median")
