import math

import pytest
import torch

from ballast import losses

CLIP = 0.2


def ratios(*values):
    return torch.tensor(values, dtype=torch.float64)


@pytest.mark.parametrize(
    ("ratio", "advantage", "objective"),
    [
        (1.1, 2.0, 2.2),    # inside the range: 1.1 * 2
        (1.5, 2.0, 2.4),    # A > 0, ratio above 1 + eps: clipped to 1.2 * 2
        (0.5, 2.0, 1.0),    # A > 0, ratio below 1 - eps: min(0.5 * 2, 0.8 * 2) keeps the unclipped 1.0
        (0.9, -1.0, -0.9),  # inside the range: 0.9 * -1
        (0.5, -1.0, -0.8),  # A < 0, ratio below 1 - eps: min(-0.5, -0.8) = -0.8, clipped
        (1.5, -1.0, -1.5),  # A < 0, ratio above 1 + eps: min(-1.5, -1.2) keeps the unclipped -1.5
    ],
)
def test_ppo_clip_loss_single_sample(ratio, advantage, objective):
    loss = losses.ppo_clip_loss(ratios(ratio), ratios(advantage), CLIP)
    assert loss.item() == pytest.approx(-objective)


def test_ppo_clip_loss_is_the_mean_over_samples():
    # objectives 2.2, 2.4, 1.0, -0.8 -> mean 4.8 / 4 = 1.2
    loss = losses.ppo_clip_loss(ratios(1.1, 1.5, 0.5, 0.5), ratios(2.0, 2.0, 2.0, -1.0), CLIP)
    assert loss.item() == pytest.approx(-1.2)


def test_ppo_clip_loss_has_no_gradient_where_clipped():
    ratio = ratios(1.1, 1.5, 0.5, 0.5).requires_grad_(True)
    losses.ppo_clip_loss(ratio, ratios(2.0, 2.0, 2.0, -1.0), CLIP).backward()
    # d/drho of -(A * rho) / 4 = -A / 4 where the unclipped term is the minimum, 0 where the clipped one is
    torch.testing.assert_close(ratio.grad, ratios(-0.5, 0.0, -0.5, 0.0))


def test_policy_gradient_loss():
    log_prob = torch.tensor([-1.0, -0.5])
    advantages = torch.tensor([2.0, 3.0])
    # -mean(2 * -1, 3 * -0.5) = -(-2 - 1.5) / 2 = 1.75
    assert losses.policy_gradient_loss(log_prob, advantages).item() == pytest.approx(1.75)


def test_policy_gradient_loss_gradient_is_minus_advantage_over_n():
    log_prob = torch.tensor([-1.0, -0.5], requires_grad=True)
    losses.policy_gradient_loss(log_prob, torch.tensor([2.0, 3.0])).backward()
    torch.testing.assert_close(log_prob.grad, torch.tensor([-1.0, -1.5]))


VALUES = torch.tensor([1.0, 2.0, 3.0])
RETURNS = torch.tensor([2.0, 2.0, 0.0])
OLD_VALUES = torch.tensor([1.5, 1.0, 2.0])


def test_value_loss_without_clipping():
    # errors 1, 0, -3 -> (1 + 0 + 9) / 3
    assert losses.value_loss(VALUES, RETURNS).item() == pytest.approx(10.0 / 3.0)
    assert losses.value_loss(VALUES, RETURNS, OLD_VALUES, None).item() == pytest.approx(10.0 / 3.0)


def test_value_loss_with_clipped_prediction():
    # V_clip = old + clip(V - old, -.2, .2) = [1.3, 1.2, 2.2]; errors vs [2, 2, 0]: .7, .8, -2.2
    # (0.49 + 0.64 + 4.84) / 3 = 1.99
    assert losses.value_loss(VALUES, RETURNS, OLD_VALUES, 0.2).item() == pytest.approx(1.99)


def test_value_loss_clip_inside_range_changes_nothing():
    assert losses.value_loss(VALUES, RETURNS, VALUES - 0.1, 0.2).item() == pytest.approx(10.0 / 3.0)


def test_entropy_loss_is_negative_mean_entropy():
    assert losses.entropy_loss(torch.tensor([1.0, 2.0, 3.0])).item() == pytest.approx(-2.0)


def test_approx_kl():
    log_ratio = ratios(math.log(2.0), 0.0, -math.log(2.0))
    # (2 - 1 - ln 2) + 0 + (0.5 - 1 + ln 2) = 0.5, mean over 3
    assert losses.approx_kl(log_ratio).item() == pytest.approx(0.5 / 3.0)


def test_approx_kl_is_zero_for_equal_policies():
    assert losses.approx_kl(torch.zeros(4)).item() == 0.0


def test_clip_fraction():
    ratio = ratios(0.5, 1.0, 1.1, 1.5)
    # |ratio - 1| = .5, 0, .1, .5 -> two of four above 0.2
    assert losses.clip_fraction(ratio, CLIP).item() == pytest.approx(0.5)
    assert losses.clip_fraction(ratio, 0.6).item() == 0.0
