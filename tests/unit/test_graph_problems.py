"""The bundled minimum-vertex-cover env and its baselines."""

import gymnasium as gym
import numpy as np
import pytest

import ballast  # noqa: F401  (registers the env)
from ballast.envs.graph_problems import (
    MinVertexCoverEnv,
    barabasi_albert_edges,
    cover_is_valid,
    erdos_renyi_edges,
    greedy_policy,
    random_policy,
    run_baseline,
)
from ballast.errors import ConfigurationError
from ballast.node_spaces import NodeChoice


def play(env, choose, rng=None):
    rng = rng or np.random.default_rng(0)
    masks, done, rewards = [], False, 0.0
    while not done:
        mask = env.action_masks()
        masks.append(mask)
        _, reward, terminated, truncated, info = env.step(choose(env, rng))
        rewards += reward
        done = terminated or truncated
    return rewards, info, masks, terminated


@pytest.mark.parametrize("graph", ["ba", "er"])
@pytest.mark.parametrize("policy", [random_policy, greedy_policy])
def test_episodes_end_with_a_valid_cover_and_return_minus_its_size(graph, policy):
    env = MinVertexCoverEnv((10, 40), graph=graph)
    for seed in range(5):
        env.reset(seed=seed)
        total, info, _, terminated = play(env, policy)
        assert terminated
        assert cover_is_valid(env.edges, env.in_cover)
        assert total == -info["cover_size"] == -env.in_cover.sum()


def test_greedy_on_hand_solved_graphs():
    env = MinVertexCoverEnv()
    # A star: the centre covers everything.
    env.reset(options={"edges": [[0, 1], [0, 2], [0, 3], [0, 4]]})
    assert play(env, greedy_policy)[1]["cover_size"] == 1 and env.in_cover.tolist() == [1, 0, 0, 0, 0]
    # The path 0-1-2-3: node 1 (degree 2, lowest index), then 2 (residual degree 1 like 3): {1, 2}.
    env.reset(options={"edges": [[0, 1], [1, 2], [2, 3]]})
    assert play(env, greedy_policy)[1]["cover_size"] == 2 and np.flatnonzero(env.in_cover).tolist() == [1, 2]
    # The path 0-1-2-3-4: node 1 (degree 2, lowest index); then edges 2-3 and 3-4 remain and node 3
    # has residual degree 2: {1, 3}, the minimum.
    env.reset(options={"edges": [[0, 1], [1, 2], [2, 3], [3, 4]]})
    assert play(env, greedy_policy)[1]["cover_size"] == 2 and np.flatnonzero(env.in_cover).tolist() == [1, 3]


def test_residual_degrees_and_features_by_hand():
    env = MinVertexCoverEnv()
    obs, _ = env.reset(options={"edges": [[0, 1], [0, 2], [1, 2], [2, 3]]})
    np.testing.assert_array_equal(env.degree, [2, 2, 3, 1])
    np.testing.assert_allclose(obs.nodes[:, 1], [2 / 3, 2 / 3, 1, 1 / 3])
    obs, reward, terminated, truncated, info = env.step(2)
    assert (reward, terminated, truncated) == (-1.0, False, False)
    np.testing.assert_array_equal(env.residual, [1, 1, 0, 0])
    np.testing.assert_allclose(obs.nodes, [[0, 1, 0.5], [0, 1, 0.5], [1, 0, 0], [0, 0, 0]])
    # Edges touching node 2 are covered, in both directions.
    covered = {tuple(link) for link, c in zip(obs.edge_links.tolist(), obs.edges[:, 0]) if c}
    assert covered == {(0, 2), (2, 0), (1, 2), (2, 1), (2, 3), (3, 2)}
    assert info["uncovered_edges"] == 1
    np.testing.assert_array_equal(env.action_masks(), [True, True, False, False])
    assert env.step(0)[2]


def test_mask_is_one_entry_per_node_and_exact():
    env = MinVertexCoverEnv((10, 30))
    env.reset(seed=3)
    rng, done, steps = np.random.default_rng(0), False, 0
    while not done:
        mask = env.action_masks()
        assert mask.shape == (env.n_nodes,)
        # Brute force: a node is valid when it is outside the cover and has an edge with no end in the cover.
        expected = [not env.in_cover[v] and any(not (env.in_cover[a] or env.in_cover[b])
                                                for a, b in env.edges if v in (a, b)) for v in range(env.n_nodes)]
        np.testing.assert_array_equal(mask, expected)
        done = any(env.step(random_policy(env, rng))[2:4])
        steps += 1
    assert steps > 3 and not env.action_masks().any()


def test_an_invalid_choice_costs_one_and_changes_nothing():
    env = MinVertexCoverEnv()
    env.reset(options={"edges": [[0, 1], [2, 3]], "n_nodes": 5})
    env.step(0)
    state = (env.in_cover.copy(), env.residual.copy())
    # Node 0 is in the cover, node 1 has no uncovered edge left, node 4 has no edge at all.
    for invalid in (0, 1, 4, 4):
        _, reward, terminated, truncated, _ = env.step(invalid)
        assert reward == -1.0 and not terminated
    assert truncated  # after n_nodes = 5 steps
    np.testing.assert_array_equal(env.in_cover, state[0])
    np.testing.assert_array_equal(env.residual, state[1])
    with pytest.raises(ValueError, match="not a node"):
        env.step(5)


@pytest.mark.parametrize("graph", ["ba", "er"])
def test_same_seed_same_graph(graph):
    a, b = MinVertexCoverEnv((10, 200), graph=graph), MinVertexCoverEnv((10, 200), graph=graph)
    for seed in (0, 1, 7):
        oa, _ = a.reset(seed=seed)
        ob, _ = b.reset(seed=seed)
        np.testing.assert_array_equal(oa.edge_links, ob.edge_links)
        np.testing.assert_array_equal(oa.nodes, ob.nodes)
    assert not np.array_equal(a.reset(seed=0)[0].edge_links, a.reset(seed=1)[0].edge_links)
    assert run_baseline("random", range(3), n_nodes=30, graph=graph) == run_baseline(
        "random", range(3), n_nodes=30, graph=graph)


def test_random_graphs_have_the_expected_structure():
    rng = np.random.default_rng(0)
    edges = barabasi_albert_edges(500, 3, rng)
    assert len(edges) == 3 + 3 * (500 - 4)
    assert len(np.unique(edges[:, 0] * 500 + edges[:, 1])) == len(edges)
    assert (edges[:, 0] < edges[:, 1]).all()
    degree = np.bincount(edges.ravel(), minlength=500)
    assert degree.min() >= 3 and degree.max() > 30  # hubs: preferential attachment
    edges = erdos_renyi_edges(2000, 4.0, rng)
    assert abs(2 * len(edges) / 2000 - 4.0) < 0.3
    assert len(np.unique(edges[:, 0] * 2000 + edges[:, 1])) == len(edges) and (edges[:, 0] < edges[:, 1]).all()


def test_registered_with_gymnasium_at_any_size():
    env = gym.make("ballast/MinVertexCover-v0", n_nodes=1000, graph="er")
    obs, info = env.reset(seed=0)
    assert obs.nodes.shape == (1000, 3) and info["n_nodes"] == 1000
    assert isinstance(env.action_space, NodeChoice)
    assert env.observation_space.contains(obs)
    assert env.unwrapped.action_masks().shape == (1000,)
    sizes = {gym.make("ballast/MinVertexCover-v0").reset(seed=s)[0].nodes.shape[0] for s in range(20)}
    assert min(sizes) >= 10 and max(sizes) <= 20 and len(sizes) > 3


def test_greedy_beats_random_and_bad_arguments_are_refused():
    greedy = run_baseline("greedy", range(5), n_nodes=100)
    random = run_baseline("random", range(5), n_nodes=100)
    assert np.mean(greedy) < 0.8 * np.mean(random)
    with pytest.raises(ConfigurationError, match="n_nodes"):
        MinVertexCoverEnv(n_nodes=1)
    with pytest.raises(ConfigurationError, match="graph must be"):
        MinVertexCoverEnv(graph="grid")

