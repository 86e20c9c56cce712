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


# --- each loss's derivative, against autograd -------------------------------------------------------------
def _grads(fn, *inputs):  # noqa: ANN001, ANN202
    leaves = [x.detach().clone().requires_grad_(True) for x in inputs]
    return torch.autograd.grad(fn(*leaves), leaves)


def _batch(n: int = 64, seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_ppo_clip_loss_grad_matches_autograd_in_every_case() -> None:
    g = _batch()
    # Ratios inside, below and above [0.8, 1.2], at both boundaries and at 1 (a tie of the two terms).
    ratio = torch.cat([torch.rand(60, generator=g, dtype=torch.float64) * 1.2 + 0.4,
                       torch.tensor([0.8, 1.2, 1.0, 1.0], dtype=torch.float64)])
    advantages = torch.randn(64, generator=g, dtype=torch.float64)
    (expected,) = _grads(lambda r: losses.ppo_clip_loss(r, advantages, CLIP), ratio)
    torch.testing.assert_close(losses.ppo_clip_loss_grad(ratio, advantages, CLIP), expected)


def test_ppo_clip_loss_grad_by_hand() -> None:
    """A > 0: the clipped side above 1 + eps has no gradient; inside, -A / B."""
    grad = losses.ppo_clip_loss_grad(ratios(1.5, 1.1), ratios(2.0, 2.0), CLIP)
    assert grad.tolist() == [0.0, -1.0]


@pytest.mark.parametrize("clip_range_vf", [None, 0.3])
def test_value_loss_grad_matches_autograd(clip_range_vf: float | None) -> None:
    g = _batch(seed=1)
    values, returns_, old = (torch.randn(32, generator=g, dtype=torch.float64) for _ in range(3))
    (expected,) = _grads(lambda v: losses.value_loss(v, returns_, old, clip_range_vf), values)
    torch.testing.assert_close(losses.value_loss_grad(values, returns_, old, clip_range_vf), expected)


def test_entropy_and_policy_gradient_loss_grads_match_autograd() -> None:
    g = _batch(seed=2)
    entropy, log_prob, advantages = (torch.randn(16, generator=g, dtype=torch.float64) for _ in range(3))
    (expected,) = _grads(losses.entropy_loss, entropy)
    torch.testing.assert_close(losses.entropy_loss_grad(entropy), expected)
    (expected,) = _grads(lambda lp: losses.policy_gradient_loss(lp, advantages), log_prob)
    torch.testing.assert_close(losses.policy_gradient_loss_grad(log_prob, advantages), expected)


def test_off_policy_loss_grads_match_autograd() -> None:
    g = _batch(seed=3)
    q = torch.randn(3, 24, generator=g, dtype=torch.float64)
    targets = torch.randn(24, generator=g, dtype=torch.float64) * 3  # Huber: both sides of the kink
    (expected,) = _grads(lambda x: losses.q_regression_loss(x, targets), q)
    torch.testing.assert_close(losses.q_regression_loss_grad(q, targets), expected)
    (expected,) = _grads(lambda x: losses.huber_q_loss(x, targets), q[0])
    torch.testing.assert_close(losses.huber_q_loss_grad(q[0], targets), expected)
    assert (losses.huber_q_loss_grad(q[0], targets).abs() == 1 / 24).any()
    (expected,) = _grads(losses.deterministic_actor_loss, q[:1])
    torch.testing.assert_close(losses.deterministic_actor_loss_grad(q[:1]), expected)
    log_prob, alpha = torch.randn(24, generator=g, dtype=torch.float64), torch.tensor(0.3, dtype=torch.float64)
    d_log_prob, d_q = _grads(lambda lp, x: losses.sac_actor_loss(lp, x, alpha), log_prob, q)
    got_log_prob, chosen, got_q = losses.sac_actor_loss_grad(log_prob, q, alpha)
    torch.testing.assert_close(got_log_prob, d_log_prob)
    torch.testing.assert_close(torch.zeros_like(q).scatter_(0, chosen.unsqueeze(0), got_q.unsqueeze(0)), d_q)
    log_alpha = torch.tensor([-0.7], dtype=torch.float64)
    (expected,) = _grads(lambda la: losses.entropy_coef_loss(la, log_prob, -2.0), log_alpha)
    torch.testing.assert_close(losses.entropy_coef_loss_grad(log_alpha, log_prob, -2.0), expected)


def test_quantile_huber_loss_by_hand() -> None:
    # tau = [1/4, 3/4]; u_ij = target_j - theta_i; rho = |tau_i - 1{u < 0}| * Huber(u)
    quantiles = torch.tensor([[0.0, 1.0], [2.0, 2.0]], requires_grad=True)
    targets = torch.tensor([[0.5, 3.0], [2.0, 0.0]])
    # sample 0: i=0: .25 * .125 + .25 * 2.5; i=1: .25 * .125 + .75 * 1.5; sum 1.8125, over N' = 2 -> .90625
    # sample 1: i=0: 0 + .75 * 1.5; i=1: 0 + .25 * 1.5; sum 1.5 -> .75
    per_sample = losses.quantile_huber_losses(quantiles, targets)
    torch.testing.assert_close(per_sample, torch.tensor([0.90625, 0.75]))
    assert losses.quantile_huber_loss(quantiles, targets).item() == pytest.approx(0.828125)
    assert losses.quantile_huber_loss(quantiles, targets, torch.tensor([2.0, 0.0])).item() == pytest.approx(0.90625)
    # d/d theta_0 of sample 0: -(.25 * .5 + .25 * 1) / (B N') = -.09375; theta_1: -(.25 * -.5 + .75 * 1) / 4
    grad = losses.quantile_huber_loss_grad(quantiles.detach(), targets)
    torch.testing.assert_close(grad[0], torch.tensor([-0.09375, -0.15625]))


def test_quantile_huber_loss_grad_matches_autograd() -> None:
    g = torch.Generator().manual_seed(1)
    quantiles = torch.randn(16, 9, generator=g, dtype=torch.float64) * 2
    targets = torch.randn(16, 7, generator=g, dtype=torch.float64) * 2
    targets[0, :3] = quantiles[0, :3] + torch.tensor([1.0, -1.0, 0.0], dtype=torch.float64)  # on the kinks
    weights = torch.rand(16, generator=g, dtype=torch.float64)
    for w in (None, weights):
        (expected,) = _grads(lambda x, w=w: losses.quantile_huber_loss(x, targets, w), quantiles)
        torch.testing.assert_close(losses.quantile_huber_loss_grad(quantiles, targets, w), expected)
    assert (losses.quantile_huber_loss_grad(quantiles, targets).abs() > 1e-3).any()


# --- prioritized replay: per-sample losses, importance weighting, priorities ----------------------


def test_weighted_mean_by_hand() -> None:
    values = torch.tensor([2.0, 4.0, 6.0])
    assert losses.weighted_mean(values).item() == pytest.approx(4.0)
    assert losses.weighted_mean(values, torch.tensor([1.0, 0.5, 0.0])).item() == pytest.approx((2 + 2 + 0) / 3)


def test_huber_q_losses_and_their_weighted_mean_by_hand() -> None:
    q, y = torch.tensor([0.0, 0.5, 3.0]), torch.tensor([0.0, 0.0, 1.0])
    # u = 0, 0.5, 2: u^2 / 2 inside [-1, 1], |u| - 1/2 outside
    torch.testing.assert_close(losses.huber_q_losses(q, y), torch.tensor([0.0, 0.125, 1.5]))
    w = torch.tensor([1.0, 0.5, 0.2])
    assert losses.huber_q_loss(q, y, w).item() == pytest.approx((0.0 + 0.0625 + 0.3) / 3)
    assert losses.huber_q_loss(q, y).item() == pytest.approx((0.125 + 1.5) / 3)
    # d/dQ = w clamp(u, -1, 1) / B
    torch.testing.assert_close(losses.huber_q_loss_grad(q, y, w), torch.tensor([0.0, 0.5 * 0.5, 0.2]) / 3)


def test_q_regression_losses_weighted_by_hand() -> None:
    q, y = torch.tensor([[1.0, 2.0], [3.0, 0.0]]), torch.tensor([0.0, 1.0])  # (n_critics, B)
    # per sample: (1 - 0)^2 + (3 - 0)^2 = 10, (2 - 1)^2 + (0 - 1)^2 = 2
    torch.testing.assert_close(losses.q_regression_losses(q, y), torch.tensor([10.0, 2.0]))
    assert losses.q_regression_loss(q, y).item() == pytest.approx(6.0)  # sum_i mean_b
    assert losses.q_regression_loss(q, y, torch.tensor([0.5, 1.0])).item() == pytest.approx((5.0 + 2.0) / 2)
    # d/dQ_i = 2 w_b (Q_i - y_b) / B
    torch.testing.assert_close(losses.q_regression_loss_grad(q, y, torch.tensor([0.5, 1.0])),
                               torch.tensor([[0.5, 1.0], [1.5, -1.0]]))
    torch.testing.assert_close(losses.critic_td_errors(q, y), torch.tensor([2.0, 1.0]))  # mean_i |Q_i - y|


def test_weighted_loss_grads_match_autograd() -> None:
    g = torch.Generator().manual_seed(3)
    q = torch.randn(2, 24, generator=g, dtype=torch.float64) * 2
    targets = torch.randn(24, generator=g, dtype=torch.float64) * 2
    w = torch.rand(24, generator=g, dtype=torch.float64)
    (expected,) = _grads(lambda x: losses.q_regression_loss(x, targets, w), q)
    torch.testing.assert_close(losses.q_regression_loss_grad(q, targets, w), expected)
    (expected,) = _grads(lambda x: losses.huber_q_loss(x, targets, w), q[0])
    torch.testing.assert_close(losses.huber_q_loss_grad(q[0], targets, w), expected)


def test_unit_weights_give_the_unweighted_losses() -> None:
    g = torch.Generator().manual_seed(4)
    q, targets = torch.randn(2, 16, generator=g), torch.randn(16, generator=g)
    ones = torch.ones(16)
    torch.testing.assert_close(losses.q_regression_loss(q, targets, ones), losses.q_regression_loss(q, targets))
    torch.testing.assert_close(losses.huber_q_loss(q[0], targets, ones), losses.huber_q_loss(q[0], targets))
    quantiles, target_quantiles = torch.randn(2, 16, 5, generator=g), torch.randn(16, 6, generator=g)
    torch.testing.assert_close(losses.tqc_critic_loss(quantiles, target_quantiles, ones),
                               losses.tqc_critic_loss(quantiles, target_quantiles))


def test_tqc_weighted_loss_and_priorities_by_hand() -> None:
    # Two critics of one quantile (tau = 1/2), one target atom: rho(u) = H(u) / 2 per pair
    quantiles = torch.tensor([[[0.0], [0.0]], [[1.0], [3.0]]])  # (n_critics, B, N)
    targets = torch.tensor([[0.5], [1.0]])  # (B, M): u = 0.5, 1.0 (critic 0); -0.5, -2.0 (critic 1)
    per_pair = torch.tensor([[0.0625, 0.25], [0.0625, 0.75]])  # 0.5 * H(u)
    torch.testing.assert_close(losses.tqc_td_errors(quantiles, targets), per_pair.mean(dim=0))
    w = torch.tensor([1.0, 0.5])
    expected = (per_pair * w).mean()
    assert losses.tqc_critic_loss(quantiles, targets, w).item() == pytest.approx(expected.item())
