"""The default graph policy trained on ~10 nodes chooses well on 100 and 1000; saved policies keep their encoder."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from ballast import PPO
from ballast.envs.extreme_node import ENV_ID, top1_accuracy

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "graph" / "ppo_node_choice_v1"


def test_the_default_graph_policy_trained_on_10_nodes_chooses_the_extreme_node_of_100_and_1000():
    model = PPO("auto", ENV_ID, env_kwargs={"n_nodes": (8, 12)}, n_envs=8, n_steps=32, batch_size=64, n_epochs=4,
                learning_rate=1e-3, seed=0, device="cpu")
    model.learn(1024)
    # Random choice scores 0.01 and 0.001.
    assert top1_accuracy(model, range(100), n_nodes=100) >= 0.95
    assert top1_accuracy(model, range(50), n_nodes=1000) >= 0.95


def test_a_policy_saved_under_the_previous_encoder_defaults_loads_with_them_and_acts_as_before(tmp_path):
    model = PPO.load(FIXTURE.with_suffix(".zip"), device="cpu")
    assert model.policy.config.encoder_defaults == 1
    encoder = model.policy.encoder
    assert [layer.aggregation for layer in encoder.layers] == ["sum", "sum"]
    assert encoder.node_outputs == ["final"] and encoder.node_readout
    expected = json.loads(FIXTURE.with_suffix(".json").read_text())
    graphs = tuple(spaces.GraphInstance(np.asarray(g["nodes"], np.float32), None, np.asarray(g["edge_links"]))
                   for g in expected["observations"])
    actions, _ = model.predict(graphs, deterministic=True)
    assert actions.tolist() == expected["actions"]
    with torch.no_grad():
        values = model.policy.predict_values(model.policy.obs_to_tensor(graphs)[0]).reshape(-1)
    np.testing.assert_allclose(values.numpy(), expected["values"], rtol=1e-5, atol=1e-6)
    # Saved again, it keeps its revision.
    again = PPO.load(model.save(tmp_path / "again.zip"), device="cpu")
    assert again.policy.config.encoder_defaults == 1 and again.policy.encoder.layers[0].aggregation == "sum"
    assert again.predict(graphs, deterministic=True)[0].tolist() == expected["actions"]


def test_new_graph_policies_use_the_current_defaults_and_keep_the_options_given(tmp_path):
    space = spaces.Graph(spaces.Box(0.0, 1.0, (2,), np.float32), None)
    model = PPO("auto", None, observation_space=space, action_space=gym.spaces.Discrete(2), seed=0, device="cpu")
    assert model.policy.config.encoder_defaults == 2
    assert model.policy.encoder.layers[0].aggregation == "mean" and model.policy.encoder.node_outputs == ["input"]
    old = dict(aggregation="sum", node_outputs="final")
    given = PPO("auto", None, observation_space=space, action_space=gym.spaces.Discrete(2), seed=0, device="cpu",
                policy_kwargs=dict(features_extractor_kwargs=old))
    loaded = PPO.load(given.save(tmp_path / "given.zip"), device="cpu")
    assert loaded.policy.encoder.layers[0].aggregation == "sum" and loaded.policy.encoder.node_outputs == ["final"]
