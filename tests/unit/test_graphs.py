"""Graph and set observations: segment operations, ragged batches and storage, encoders, node distributions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.spaces import GraphInstance

from ballast.buffers import GraphStorage, RaggedArena, SetStorage, make_storage
from ballast.distributions import NodeBernoulli, NodeCategorical, NodeGaussian
from ballast.encoders import AttentionSetEncoder, DeepSetsEncoder, GraphEncoder, build_encoder
from ballast.errors import ObservationError, UnsupportedSpaceError
from ballast.node_spaces import NodeBox, NodeChoice, NodeMultiBinary
from ballast.ragged import GraphBatch, SetBatch, collate, collate_graphs, collate_sets
from ballast.segment import (
    segment_argmax,
    segment_log_softmax,
    segment_max,
    segment_mean,
    segment_sum,
)
from ballast.spaces import SetSpace, batch_observation, same_kind, set_axis, space_from_json, space_to_json

NODE_BOX = spaces.Box(-1.0, 1.0, (2,), np.float32)
GRAPH = spaces.Graph(NODE_BOX, spaces.Box(0.0, 1.0, (1,), np.float32))


def graph(nodes, links, edges=None) -> GraphInstance:
    nodes = np.asarray(nodes, np.float32)
    links = np.asarray(links, np.int64).reshape(-1, 2)
    if edges is not None:
        edges = np.asarray(edges, np.float32).reshape(-1, 1)
    return GraphInstance(nodes, edges, links)


def random_graph(rng: np.random.Generator, n: int, m: int) -> GraphInstance:
    return graph(rng.uniform(-1, 1, (n, 2)), rng.integers(0, n, (m, 2)), rng.uniform(0, 1, m))


# --- segment operations -------------------------------------------------------------------


INDEX = torch.tensor([0, 0, 0, 2, 2])  # item 1 is empty
X = torch.tensor([[1.0, -1.0], [3.0, 0.0], [2.0, 5.0], [-4.0, 1.0], [-2.0, 2.0]])


def test_segment_reductions_against_hand_values():
    torch.testing.assert_close(segment_sum(X, INDEX, 3), torch.tensor([[6.0, 4.0], [0.0, 0.0], [-6.0, 3.0]]))
    torch.testing.assert_close(segment_mean(X, INDEX, 3), torch.tensor([[2.0, 4 / 3], [0.0, 0.0], [-3.0, 1.5]]))
    torch.testing.assert_close(segment_max(X, INDEX, 3), torch.tensor([[3.0, 5.0], [0.0, 0.0], [-2.0, 2.0]]))
    # First maximum wins; an empty item points past the end.
    values = torch.tensor([1.0, 3.0, 3.0, -4.0, -2.0])
    assert segment_argmax(values, INDEX, 3).tolist() == [1, 5, 4]


def test_segment_log_softmax_equals_log_softmax_per_item_and_masks():
    logits = torch.tensor([0.5, -1.0, 2.0, 10.0, 11.0])
    out = segment_log_softmax(logits, INDEX, 3)
    torch.testing.assert_close(out[:3], torch.log_softmax(logits[:3], 0))
    torch.testing.assert_close(out[3:], torch.log_softmax(logits[3:], 0))
    mask = torch.tensor([True, False, True, True, True])
    masked = segment_log_softmax(logits, INDEX, 3, mask)
    torch.testing.assert_close(masked[[0, 2]], torch.log_softmax(logits[[0, 2]], 0))
    assert masked[1].exp() == 0.0


def test_node_categorical_matches_a_categorical_per_graph():
    torch.manual_seed(0)
    logits = torch.randn(9)
    offsets = torch.tensor([0, 4, 9])
    index = torch.tensor([0] * 4 + [1] * 5)
    dist = NodeCategorical(logits, index, offsets)
    reference = [torch.distributions.Categorical(logits=logits[:4]), torch.distributions.Categorical(logits=logits[4:])]
    actions = torch.tensor([3, 1])
    expected = torch.stack([reference[0].log_prob(actions[0]), reference[1].log_prob(actions[1])])
    torch.testing.assert_close(dist.log_prob(actions), expected)
    torch.testing.assert_close(dist.entropy(), torch.stack([r.entropy() for r in reference]))
    assert dist.mode().tolist() == [int(logits[:4].argmax()), int(logits[4:].argmax())]
    # Sampling frequencies follow the probabilities (20000 draws: standard error below 0.004).
    counts = torch.zeros(2, 5)
    for _ in range(20):
        big = NodeCategorical(logits.repeat(1000), torch.arange(2000).repeat_interleave(
            torch.tensor([4, 5]).repeat(1000)), torch.cat([torch.zeros(1, dtype=torch.long),
                                                          torch.tensor([4, 5]).repeat(1000).cumsum(0)]))
        sample = big.sample().reshape(1000, 2)
        counts[0] += torch.bincount(sample[:, 0], minlength=5)
        counts[1] += torch.bincount(sample[:, 1], minlength=5)
    torch.testing.assert_close(counts[0, :4] / 20000, reference[0].probs, atol=0.015, rtol=0)
    torch.testing.assert_close(counts[1] / 20000, reference[1].probs, atol=0.015, rtol=0)


def test_node_categorical_never_samples_a_masked_node():
    logits = torch.tensor([5.0, 0.0, 0.0, 9.0, 0.0])
    mask = torch.tensor([False, True, True, False, True])
    dist = NodeCategorical(logits.repeat(200), torch.arange(400).repeat_interleave(torch.tensor([3, 2]).repeat(200)),
                           torch.cat([torch.zeros(1, dtype=torch.long), torch.tensor([3, 2]).repeat(200).cumsum(0)]),
                           mask.repeat(200))
    sample = dist.sample().reshape(200, 2)
    assert set(sample[:, 0].tolist()) <= {1, 2} and set(sample[:, 1].tolist()) == {1}
    assert torch.allclose(dist.log_prob(torch.tensor([1, 1]).repeat(200)).reshape(200, 2)[0],
                          torch.tensor([float(np.log(0.5)), 0.0]))


# --- ragged batches and storage -----------------------------------------------------------


def test_collate_concatenates_with_offsets_and_global_edge_index():
    g0 = graph([[0, 0], [1, 1]], [[0, 1]], [0.5])
    g1 = graph([[2, 2], [3, 3], [4, 4]], [[2, 0], [1, 2]], [0.1, 0.2])
    batch = collate_graphs([g0, g1], GRAPH)
    assert batch.node_offsets.tolist() == [0, 2, 5]
    assert batch.edge_offsets.tolist() == [0, 1, 3]
    assert batch.node_index.tolist() == [0, 0, 1, 1, 1]
    assert batch.edge_index.tolist() == [[0, 4, 3], [1, 2, 4]]
    assert batch.local_links().tolist() == [[0, 1], [2, 0], [1, 2]]
    picked = batch[torch.tensor([1])]
    assert picked.edge_index.tolist() == [[2, 1], [0, 2]] and picked.nodes[:, 0].tolist() == [2, 3, 4]
    assert batch[1:].edges.reshape(-1).tolist() == pytest.approx([0.1, 0.2])


def test_collate_refuses_an_edge_link_to_a_missing_node():
    with pytest.raises(ObservationError, match="node it does not have"):
        collate_graphs([graph([[0, 0]], [[0, 3]], [1.0])], GRAPH)


def test_graph_storage_round_trip_and_overwrite():
    storage = make_storage(GRAPH, 3, 2)
    assert isinstance(storage, GraphStorage)
    rng = np.random.default_rng(0)
    rows = [[random_graph(rng, n, m) for n, m in pair] for pair in ([(3, 2), (1, 0)], [(5, 7), (2, 1)],
                                                                     [(4, 4), (6, 3)])]
    for t, row in enumerate(rows):
        storage.put(t, tuple(row))
    storage.put(1, collate_graphs(rows[0][::-1], GRAPH))  # overwrite a row from a batch
    rows[1] = rows[0][::-1]
    out = storage.gather(torch.tensor([5, 0, 3, 2]))
    expected = [rows[2][1], rows[0][0], rows[1][1], rows[1][0]]
    assert out.node_counts.tolist() == [len(g.nodes) for g in expected]
    assert out.edge_counts.tolist() == [len(g.edge_links) for g in expected]
    ref = collate_graphs(expected, GRAPH)
    torch.testing.assert_close(out.nodes, ref.nodes)
    torch.testing.assert_close(out.edges, ref.edges)
    assert torch.equal(out.edge_index, ref.edge_index)


def test_ragged_memory_follows_the_real_sizes_not_the_largest_item():
    arena = RaggedArena(1000, (2,), np.dtype(np.float32))
    for step in range(50):  # rewrite every item many times, as rollouts and replay do
        items = np.arange(1000)
        lengths = np.full(1000, 3)
        lengths[step] = 5000  # one large item among small ones
        arena.write(items, np.ones((int(lengths.sum()), 2), np.float32), lengths)
    live = 999 * 3 + 5000
    assert arena.live == live
    # Padding to the largest item would take 1000 * 5000 rows; the arena holds at most about twice the live rows.
    assert arena.values.shape[0] <= 2 * (2 * live)
    assert arena.values.shape[0] < 1000 * 5000 / 100


def test_set_storage_round_trip_with_empty_sets():
    space = spaces.Sequence(spaces.Box(-1, 1, (3,), np.float32), stack=True)
    storage = make_storage(space, 2, 2)
    assert isinstance(storage, SetStorage)
    items = [np.arange(6, dtype=np.float32).reshape(2, 3), np.zeros((0, 3), np.float32),
             np.ones((4, 3), np.float32), np.full((1, 3), 7.0, np.float32)]
    storage.put(0, (items[0], items[1]))
    storage.put(1, collate_sets(items[2:], space))
    out = storage.gather(torch.tensor([3, 1, 0]))
    assert out.offsets.tolist() == [0, 1, 1, 3]
    torch.testing.assert_close(out.values, torch.as_tensor(np.concatenate([items[3], items[0]])))


# --- spaces --------------------------------------------------------------------------------


def test_set_axis_drops_the_length_and_keeps_the_axis():
    box = spaces.Box(-2.0, 3.0, (5, 100, 3), np.float32)
    space = set_axis(box, axis=1)
    assert isinstance(space, SetSpace) and space.feature_space.shape == (5, 3) and space.axis == 1
    assert space == set_axis(spaces.Box(-2.0, 3.0, (5, 7, 3), np.float32), axis=1)
    assert space.contains(np.zeros((5, 11, 3), np.float32))
    assert space.sample().shape[0] == 5
    batch = collate(space, [np.zeros((5, 2, 3)), np.ones((5, 4, 3))])
    assert batch.values.shape == (6, 5, 3) and batch.offsets.tolist() == [0, 2, 6]
    with pytest.raises(UnsupportedSpaceError, match="vary along axis"):
        set_axis(spaces.Box(np.array([[0.0], [1.0]], np.float32), np.array([[2.0], [2.0]], np.float32)), axis=0)


@pytest.mark.parametrize("space", [
    GRAPH, spaces.Graph(spaces.Discrete(3), None), spaces.Sequence(NODE_BOX), spaces.Sequence(NODE_BOX, stack=True),
    set_axis(spaces.Box(0, 1, (4, 2)), 0), NodeChoice(), NodeChoice(max_nodes=50), NodeMultiBinary(),
    NodeBox(-1.0, 1.0, (2,)), spaces.Dict({"g": GRAPH, "x": spaces.Box(0, 1, (3,))}),
])
def test_json_round_trip_of_variable_size_spaces(space):
    rebuilt = space_from_json(space_to_json(space))
    assert type(rebuilt) is type(space) and rebuilt == space


def test_node_box_repr():
    assert repr(NodeBox(-1.0, 1.0, (2,))) == "NodeBox(-1.0, 1.0, (2,))"


def test_same_kind_ignores_sizes_only():
    assert same_kind(spaces.Box(0, 1, (4,)), spaces.Box(-1, 1, (9,)))
    assert same_kind(NodeChoice(10), NodeChoice())
    assert not same_kind(spaces.Box(0, 1, (4,)), spaces.Box(0, 1, (2, 2)))
    assert not same_kind(spaces.Box(0, 1, (4,)), spaces.Discrete(4))


def test_batch_observation_single_and_batched_graphs_and_sets():
    g = graph([[0, 0]], [])
    assert batch_observation(GRAPH, g) == ([g], False)
    assert batch_observation(GRAPH, (g, g)) == ([g, g], True)
    sets = spaces.Sequence(NODE_BOX, stack=True)
    one, batched = batch_observation(sets, np.zeros((4, 2)))
    assert not batched and len(one) == 1
    many, batched = batch_observation(sets, (np.zeros((4, 2)), np.zeros((1, 2))))
    assert batched and len(many) == 2
    with pytest.raises(ObservationError, match="GraphInstance"):
        batch_observation(GRAPH, np.zeros((3, 2)))


# --- encoders ------------------------------------------------------------------------------


def test_message_passing_matches_a_hand_computation_on_three_nodes():
    """Graph 0 -> 1, 2 -> 1, 1 -> 2 with edge features, one layer, sum aggregation, sum pooling."""
    space = spaces.Graph(spaces.Box(-5, 5, (1,), np.float32), spaces.Box(-5, 5, (1,), np.float32))
    enc = GraphEncoder(space, hidden_dim=2, n_layers=1, aggregation="sum", pooling="sum")
    with torch.no_grad():
        enc.embed.weight.copy_(torch.tensor([[1.0], [-1.0]]))
        enc.embed.bias.zero_()
        layer = enc.layers[0]
        # message = relu([h_s0 + e, h_s1 - e]); update = relu([h_v0 + a_v0, h_v1 + a_v1])
        layer.message.weight.copy_(torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, -1.0]]))
        layer.message.bias.zero_()
        layer.update.weight.copy_(torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]]))
        layer.update.bias.zero_()
    g = graph([[1.0], [2.0], [-3.0]], [[0, 1], [2, 1], [1, 2]], [0.5, 1.0, -2.0])
    with torch.no_grad():
        out = enc.encode_nodes(collate_graphs([g], space))
    h0 = np.array([[1.0, -1.0], [2.0, -2.0], [-3.0, 3.0]])
    relu = lambda x: np.maximum(x, 0.0)  # noqa: E731
    m01 = relu([h0[0, 0] + 0.5, h0[0, 1] - 0.5])
    m21 = relu([h0[2, 0] + 1.0, h0[2, 1] - 1.0])
    m12 = relu([h0[1, 0] - 2.0, h0[1, 1] + 2.0])
    agg = np.array([[0.0, 0.0], m01 + m21, m12])
    expected = h0 + relu(h0 + agg)
    np.testing.assert_allclose(out.nodes.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(out.features.numpy(), expected.sum(0, keepdims=True), rtol=1e-6)


@pytest.mark.parametrize("pooling,reduce", [("mean", np.mean), ("sum", np.sum), ("max", np.max)])
def test_pooling_modes(pooling, reduce):
    enc = GraphEncoder(GRAPH, hidden_dim=8, n_layers=2, pooling=pooling)
    rng = np.random.default_rng(1)
    graphs = [random_graph(rng, 4, 5), random_graph(rng, 7, 3)]
    out = enc.encode_nodes(collate_graphs(graphs, GRAPH))
    nodes = out.nodes.detach().numpy()
    np.testing.assert_allclose(out.features.detach().numpy(),
                               np.stack([reduce(nodes[:4], 0), reduce(nodes[4:], 0)]), rtol=1e-5, atol=1e-6)
    both = GraphEncoder(GRAPH, hidden_dim=8, n_layers=1, pooling=["mean", "max"])
    assert both.features_dim == 16 and both(collate_graphs(graphs, GRAPH)).shape == (2, 16)


@pytest.mark.parametrize("aggregation", ["sum", "mean", "max"])
def test_gnn_is_permutation_equivariant_and_pooling_invariant(aggregation):
    torch.manual_seed(0)
    enc = GraphEncoder(GRAPH, hidden_dim=16, n_layers=3, aggregation=aggregation)
    rng = np.random.default_rng(2)
    g = random_graph(rng, 9, 20)
    perm = rng.permutation(9)
    inverse = np.argsort(perm)
    shuffled = graph(g.nodes[perm], inverse[g.edge_links], g.edges)  # node perm[i] becomes node i
    a = enc.encode_nodes(collate_graphs([g], GRAPH))
    b = enc.encode_nodes(collate_graphs([shuffled], GRAPH))
    torch.testing.assert_close(b.nodes, a.nodes[torch.as_tensor(perm)], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(b.features, a.features, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["gnn", "deepsets", "attention"])
def test_same_weights_run_on_5_and_500_elements(kind):
    torch.manual_seed(0)
    rng = np.random.default_rng(3)
    if kind == "gnn":
        enc = build_encoder(GRAPH)
        small, large = collate_graphs([random_graph(rng, 5, 8)], GRAPH), collate_graphs([random_graph(rng, 500, 2000)],
                                                                                        GRAPH)
    else:
        space = spaces.Sequence(NODE_BOX, stack=True)
        enc = build_encoder(space, options={"set_encoder": kind})
        small, large = collate_sets([rng.uniform(-1, 1, (5, 2))], space), collate_sets([rng.uniform(-1, 1, (500, 2))],
                                                                                       space)
    shapes = {k: tuple(v.shape) for k, v in enc.state_dict().items()}
    assert all(500 not in s and 5 not in s for s in shapes.values())
    assert enc(small).shape == enc(large).shape == (1, enc.features_dim)
    assert torch.isfinite(enc(large)).all()


@pytest.mark.parametrize("cls", [DeepSetsEncoder, AttentionSetEncoder])
def test_set_encoders_are_permutation_invariant_and_batch_independent(cls):
    torch.manual_seed(0)
    space = spaces.Sequence(NODE_BOX, stack=True)
    enc = cls(space, hidden_dim=16, n_layers=2)
    rng = np.random.default_rng(4)
    a, b = rng.uniform(-1, 1, (6, 2)), rng.uniform(-1, 1, (3, 2))
    together = enc(collate_sets([a, np.zeros((0, 2)), b], space))
    alone = enc(collate_sets([a[rng.permutation(6)]], space))
    torch.testing.assert_close(together[0], alone[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(together[2], enc(collate_sets([b], space))[0], rtol=1e-5, atol=1e-5)
    assert torch.isfinite(together).all()


def test_encoder_options_are_checked():
    from ballast.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="aggregation"):
        build_encoder(GRAPH, options={"aggregation": "median"})
    with pytest.raises(ConfigurationError, match="n_heads"):
        build_encoder(spaces.Sequence(NODE_BOX), options={"set_encoder": "attention", "hidden_dim": 10, "n_heads": 4})


def test_ragged_batches_move_and_slice():
    batch = collate_sets([np.zeros((2, 2)), np.ones((3, 2))])
    assert isinstance(batch, SetBatch) and len(batch) == 2 and len(batch[1:]) == 1
    assert isinstance(collate(None, (graph([[0, 0]], []),)), GraphBatch)


def test_per_node_distributions_sum_log_probs_over_each_graphs_nodes():
    index, offsets = torch.tensor([0, 0, 1, 1, 1]), torch.tensor([0, 2, 5])
    logits = torch.tensor([0.0, 2.0, -1.0, 0.5, 3.0])
    dist = NodeBernoulli(logits, index, offsets)
    actions = SetBatch.from_parts(torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0]), torch.tensor([2, 3]))
    per_node = torch.distributions.Bernoulli(logits=logits).log_prob(actions.values)
    torch.testing.assert_close(dist.log_prob(actions), torch.stack([per_node[:2].sum(), per_node[2:].sum()]))
    assert dist.mode().values.tolist() == [0.0, 1.0, 0.0, 1.0, 1.0] and dist.mode().offsets.tolist() == [0, 2, 5]
    mean, std = torch.tensor([[0.0], [1.0], [-1.0], [0.5], [2.0]]), torch.tensor([0.5])
    gauss = NodeGaussian(mean, std, index, offsets)
    values = torch.tensor([[0.1], [0.7], [-1.2], [0.0], [2.5]])
    per_node = torch.distributions.Normal(mean, std).log_prob(values).squeeze(-1)
    torch.testing.assert_close(gauss.log_prob(values), torch.stack([per_node[:2].sum(), per_node[2:].sum()]))
    node_entropy = torch.distributions.Normal(0.0, std).entropy()
    torch.testing.assert_close(gauss.entropy(), torch.cat([2 * node_entropy, 3 * node_entropy]))
    assert [a.tolist() for a in gauss.mode().numpy()] == [[[0.0], [1.0]], [[-1.0], [0.5], [2.0]]]


def test_rollout_buffer_keeps_per_node_actions_ragged_and_aligned_with_the_nodes():
    from ballast.buffers import RolloutBuffer

    space = spaces.Graph(spaces.Box(-1.0, 1.0, (2,), np.float32), None)
    buffer = RolloutBuffer(space, NodeMultiBinary(), n_steps=2, n_envs=2)
    graphs = [[graph(np.zeros((n, 2)), []) for n in ns] for ns in ([3, 1], [2, 4])]
    actions = [(np.array([1, 0, 1.0]), np.array([0.0])), (np.array([1, 1.0]), np.array([0, 0, 1, 0.0]))]
    for t in range(2):
        buffer.add(t, tuple(graphs[t]), actions[t], np.zeros(2), np.zeros(2, bool), np.zeros(2, bool), np.ones(2, bool))
    buffer.compute_returns_and_advantages(np.zeros(2), 0.99, 0.95)
    batch = buffer.batch(torch.tensor([3, 0]))
    assert batch.observations.node_counts.tolist() == [4, 3]
    assert batch.actions.offsets.tolist() == [0, 4, 7]
    assert batch.actions.values.tolist() == [0, 0, 1, 0, 1, 0, 1]
    assert batch.slice(1, 2).actions.values.tolist() == [1, 0, 1]


def test_node_and_edge_features_of_the_wrong_shape_are_named():
    with pytest.raises(ObservationError, match=r"node features of shape \(4, 3\).*\(n_nodes, 2\)"):
        collate_graphs([graph(np.zeros((4, 3)), [])], GRAPH)
    bad_edges = GraphInstance(np.zeros((2, 2), np.float32), np.zeros((1, 2), np.float32), np.array([[0, 1]]))
    with pytest.raises(ObservationError, match=r"edge features of shape \(1, 2\).*\(n_edges, 1\)"):
        collate_graphs([bad_edges], GRAPH)


def test_unstacked_sequences_are_tuples_of_vectors():
    space = spaces.Sequence(NODE_BOX)  # stack=False: one observation is a tuple of vectors
    one = (np.array([0.5, -0.5], np.float32), np.array([1.0, 0.0], np.float32))
    items, batched = batch_observation(space, one)
    assert not batched and len(items) == 1
    items, batched = batch_observation(space, (one, ()))
    assert batched and len(items) == 2
    batch = collate(space, items)
    assert batch.offsets.tolist() == [0, 2, 2] and batch.values.shape == (2, 2)
    storage = make_storage(space, 1, 2)
    storage.put(0, (one, ()))
    assert storage.gather(torch.tensor([1, 0])).offsets.tolist() == [0, 0, 2]


def test_ragged_int8_values_such_as_node_masks_take_one_byte_each():
    space = spaces.Sequence(spaces.Box(0, 1, (), np.int8), stack=True)
    storage = make_storage(space, 4, 2)
    storage.put(0, (np.array([1, 0, 1], np.int8), np.array([0], np.int8)))
    assert storage.values.values.dtype == np.int8
    out = storage.gather(torch.tensor([0, 1]))
    assert out.values.tolist() == [1, 0, 1, 0] and out.offsets.tolist() == [0, 3, 4]
