"""Action masks: masked distributions against hand-computed values, mask checks, mask storages."""

import math

import numpy as np
import pytest
import torch
from gymnasium import spaces

from ballast.distributions import Categorical, MaskedCategorical, MultiCategorical
from ballast.errors import ActionMaskError, UnsupportedSpaceError
from ballast.masking import RaggedMask, mask_rule
from ballast.node_spaces import NodeChoice


def test_masked_log_prob_and_entropy_by_hand():
    # logits ln(1), ln(2), ln(3), ln(4) with action 1 masked: p = (1, 0, 3, 4) / 8.
    logits = torch.log(torch.tensor([[1.0, 2.0, 3.0, 4.0]]))
    dist = Categorical(logits).masked(torch.tensor([[True, False, True, True]]))
    expected = [math.log(1 / 8), None, math.log(3 / 8), math.log(4 / 8)]
    for action, value in enumerate(expected):
        if value is not None:
            assert dist.log_prob(torch.tensor([action])).item() == pytest.approx(value, rel=1e-6)
    assert dist.log_prob(torch.tensor([1])).exp().item() == 0.0
    entropy = -sum(p * math.log(p) for p in (1 / 8, 3 / 8, 4 / 8))
    assert dist.entropy().item() == pytest.approx(entropy, rel=1e-6)
    assert dist.mode().item() == 3


def test_masked_mode_skips_a_masked_maximum():
    dist = Categorical(torch.tensor([[5.0, 1.0, 2.0]])).masked(torch.tensor([[False, True, True]]))
    assert dist.mode().item() == 2


def test_masked_actions_are_never_sampled():
    torch.manual_seed(0)
    # The masked actions have the largest logits, and the last (and first) actions are masked:
    # the edge cases of inverse-CDF sampling.
    logits = torch.tensor([[9.0, -3.0, 0.0, -3.0, 9.0]]).repeat(20_000, 1)
    mask = torch.tensor([[False, True, False, True, False]]).repeat(20_000, 1)
    samples = MaskedCategorical(logits, mask).sample()
    counts = torch.bincount(samples, minlength=5)
    assert counts[0] == counts[2] == counts[4] == 0
    # Actions 1 and 3 have equal logits: each about half of the draws.
    assert abs(counts[1].item() - 10_000) < 400


def test_sampling_frequencies_follow_the_valid_probabilities():
    torch.manual_seed(1)
    logits = torch.log(torch.tensor([[1.0, 2.0, 3.0, 4.0]])).repeat(40_000, 1)
    mask = torch.tensor([[True, False, True, True]]).repeat(40_000, 1)
    freq = torch.bincount(MaskedCategorical(logits, mask).sample(), minlength=4).double() / 40_000
    torch.testing.assert_close(freq, torch.tensor([1 / 8, 0.0, 3 / 8, 4 / 8], dtype=torch.float64), atol=0.01, rtol=0)


def test_all_valid_mask_changes_nothing():
    torch.manual_seed(2)
    logits = torch.randn(7, 5)
    actions = torch.randint(0, 5, (7,))
    plain, masked = Categorical(logits), Categorical(logits).masked(torch.ones(7, 5, dtype=torch.bool))
    torch.testing.assert_close(masked.log_prob(actions), plain.log_prob(actions))
    torch.testing.assert_close(masked.entropy(), plain.entropy())


def test_masked_gradients_are_finite_and_zero_for_masked_logits():
    logits = torch.randn(3, 4, requires_grad=True)
    mask = torch.tensor([[True, False, True, False], [False, False, False, True], [True, True, True, True]])
    dist = Categorical(logits).masked(mask)
    loss = -(dist.log_prob(torch.tensor([2, 3, 1])).sum() + dist.entropy().sum())
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    assert (logits.grad[~mask] == 0).all()
    # A row with a single valid action: log-prob 0 and entropy 0.
    assert dist.log_prob(torch.tensor([0, 3, 0]))[1].item() == 0.0
    assert dist.entropy()[1].item() == 0.0


def test_multicategorical_mask_per_dimension_by_hand():
    # Two dimensions of sizes 2 and 3, all logits 0: uniform over the valid values of each.
    dist = MultiCategorical(torch.zeros(1, 5), [2, 3]).masked(torch.tensor([[True, True, False, True, True]]))
    assert dist.log_prob(torch.tensor([[1, 2]])).item() == pytest.approx(math.log(1 / 2) + math.log(1 / 2))
    assert dist.entropy().item() == pytest.approx(2 * math.log(2))
    torch.manual_seed(0)
    samples = MultiCategorical(torch.zeros(5000, 5), [2, 3]).masked(
        torch.tensor([[True, True, False, True, True]]).repeat(5000, 1)).sample()
    assert (samples[:, 1] != 0).all()


def test_fixed_mask_checks():
    rule = mask_rule(spaces.Discrete(3))
    np.testing.assert_array_equal(rule.check(spaces.Discrete(3), [1, 0, 1], 1), [[1, 0, 1]])
    np.testing.assert_array_equal(rule.check(spaces.Discrete(3), np.array([[True, False, False]] * 2), 2),
                                  [[1, 0, 0]] * 2)
    with pytest.raises(ActionMaskError, match=r"shape \(2, 3\).*got shape \(2, 4\)"):
        rule.check(spaces.Discrete(3), np.ones((2, 4)), 2)
    with pytest.raises(ActionMaskError, match=r"allows no action in row\(s\) \[1\]"):
        rule.check(spaces.Discrete(3), [[1, 0, 0], [0, 0, 0]], 2)
    with pytest.raises(ActionMaskError, match="0/1"):
        rule.check(spaces.Discrete(3), [[0.5, 1, 0]], 1)
    md = spaces.MultiDiscrete([2, 3])
    with pytest.raises(ActionMaskError, match="of dimension 1"):
        mask_rule(md).check(md, [[1, 1, 0, 0, 0]], 1)
    with pytest.raises(ActionMaskError, match="concatenate"):
        mask_rule(md).check(md, [[1, 1, 1]], 1)


def test_masks_for_continuous_actions_are_refused_clearly():
    with pytest.raises(UnsupportedSpaceError, match="Discrete"):
        mask_rule(spaces.Box(-1, 1, (2,)))


def test_node_choice_masks_are_ragged():
    space = NodeChoice()
    rule = mask_rule(space)
    masks = rule.check(space, (np.array([1, 0, 1], np.int8), np.array([0, 1], np.int8)), 2)
    storage = rule.make_storage(space, 2, 2, torch.device("cpu"))
    storage.put(0, masks)
    storage.put(1, rule.check(space, [np.array([True]), np.array([1, 1, 1, 0])], 2))
    assert storage.nbytes() == 3 + 2 + 1 + 4
    batch = storage.gather(torch.tensor([3, 0, 1]))
    assert isinstance(batch, RaggedMask)
    assert batch.lengths.tolist() == [4, 3, 2]
    assert batch.values.tolist() == [True, True, True, False, True, False, True, False, True]
    assert batch.batch_index.tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2]
    tail = batch[1:3]
    assert tail.lengths.tolist() == [3, 2] and tail.values.tolist() == [True, False, True, False, True]
    assert [r.tolist() for r in batch[0:1].rows()] == [[True, True, True, False]]
    with pytest.raises(ActionMaskError, match="allows no node"):
        rule.check(space, [np.array([0, 0])], 1)
    with pytest.raises(ActionMaskError, match="expected 2 node masks"):
        rule.check(space, [np.array([1])], 2)
    with pytest.raises(ActionMaskError, match="1-D"):
        rule.check(space, [np.ones((2, 2))], 1)




def test_rows_being_reset_may_have_empty_masks():
    rule = mask_rule(spaces.Discrete(2))
    out = rule.check(spaces.Discrete(2), [[0, 0], [0, 1]], 2, np.array([True, False]))
    np.testing.assert_array_equal(out, [[1, 1], [0, 1]])
    node = NodeChoice()
    out = mask_rule(node).check(node, [np.zeros(3), np.array([1, 0])], 2, np.array([True, False]))
    assert [m.tolist() for m in out] == [[1, 1, 1], [1, 0]]


def test_node_choice_actions_keep_their_value():
    from ballast.policies.heads import ActionAdapter

    adapter = ActionAdapter(NodeChoice())
    assert adapter.kind == "Discrete"
    assert adapter(torch.tensor([300, 5])).tolist() == [300, 5]
    assert adapter.numpy(np.array([300, 5])).tolist() == [300, 5]


def test_node_choice_distribution_under_a_ragged_mask_by_hand():
    from ballast.distributions import NodeCategorical

    # Two graphs of 3 and 2 nodes, all logits 0; graph 0 allows nodes 0 and 2, graph 1 node 1 only.
    logits = torch.zeros(5, requires_grad=True)
    index, offsets = torch.tensor([0, 0, 0, 1, 1]), torch.tensor([0, 3, 5])
    mask = RaggedMask(torch.tensor([True, False, True, False, True]), torch.tensor([3, 2]))
    dist = NodeCategorical(logits, index, offsets).masked(mask)
    torch.testing.assert_close(dist.log_prob(torch.tensor([2, 1])), torch.tensor([math.log(0.5), 0.0]))
    torch.testing.assert_close(dist.entropy(), torch.tensor([math.log(2.0), 0.0]))
    torch.manual_seed(0)
    samples = torch.stack([dist.sample() for _ in range(2000)])
    assert set(samples[:, 0].tolist()) == {0, 2} and set(samples[:, 1].tolist()) == {1}
    (dist.log_prob(torch.tensor([0, 1])).sum() + dist.entropy().sum()).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad[1] == 0 and logits.grad[3] == 0
    with pytest.raises(ActionMaskError, match=r"graphs have \[3, 2\] nodes, the masks \[2, 3\]"):
        wrong = RaggedMask(torch.ones(5, dtype=torch.bool), torch.tensor([2, 3]))
        NodeCategorical(logits, index, offsets).masked(wrong)
