"""Short seeded PPO runs on graph, set and node-choice observations, and transfer to larger instances."""

from __future__ import annotations

import pytest
from graph_envs import HotNodeEnv, PointSetEnv

from ballast import PPO
from ballast.evaluation import evaluate_policy

PPO_ARGS = dict(n_envs=4, n_steps=64, batch_size=64, n_epochs=4, learning_rate=1e-3, seed=0)


def test_ppo_learns_pooled_discrete_action_on_graphs_and_acts_on_larger_ones():
    model = PPO("auto", lambda: HotNodeEnv(4, 10), **PPO_ARGS).learn(3072)
    small, _ = evaluate_policy(model, HotNodeEnv(4, 10), n_eval_episodes=10)
    large, _ = evaluate_policy(model, HotNodeEnv(40, 60), n_eval_episodes=10)
    # Random guessing scores 4 of 8.
    assert small >= 7.0
    assert large >= 6.5


@pytest.mark.parametrize("kind", ["set_axis", "sequence"])
def test_ppo_learns_on_point_sets(kind):
    model = PPO("auto", lambda: PointSetEnv(kind=kind), **PPO_ARGS).learn(3072)
    mean, _ = evaluate_policy(model, PointSetEnv(20, 40, kind=kind), n_eval_episodes=10)
    assert mean >= 7.0


def test_ppo_learns_to_choose_a_node_and_the_same_model_chooses_in_larger_graphs(tmp_path):
    model = PPO("auto", lambda: HotNodeEnv(4, 10, node_choice=True), **PPO_ARGS).learn(3072)
    small, _ = evaluate_policy(model, HotNodeEnv(4, 10, node_choice=True), n_eval_episodes=10)
    # Random choice scores about 8 / 7 on graphs of 4 to 10 nodes, 8 / 50 on 40 to 60 nodes.
    assert small >= 7.0
    path = model.save(tmp_path / "node_choice.zip")
    loaded = PPO.load(path, env=HotNodeEnv(40, 60, node_choice=True))
    large, _ = evaluate_policy(loaded, loaded.get_env(), n_eval_episodes=10)
    assert large >= 7.0
