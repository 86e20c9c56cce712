import math

import numpy as np
import pytest
import torch
from gymnasium import spaces

from ballast import DQN, TD3, losses, returns
from ballast.errors import ConfigurationError
from ballast.policies.continuous import StackedOutput

GAMMA = 0.5


def t(*values):
    return torch.tensor(values, dtype=torch.float32)


# Three transitions: an ordinary step, a terminated step and a truncated step (bootstraps from the final obs).
REWARDS = t(1.0, 2.0, -1.0)
TERMINATED = torch.tensor([False, True, False])
DISCOUNTS = GAMMA * (~TERMINATED).float()  # what the replay buffer gives for 1-step transitions


def test_n_step_returns_by_hand():
    rewards = t(1.0, 2.0, 4.0).repeat(4, 1)
    terminated = torch.tensor([[False, False, False], [False, True, False], [False, False, False],
                               [False, False, False]])
    episode_end = terminated.clone()
    episode_end[2, 0] = True  # truncated at the first step
    available = torch.ones(4, 3, dtype=torch.bool)
    available[3, 2] = False  # the third step's successor is not stored yet
    ret, discount, length = returns.n_step_returns(rewards, terminated, episode_end, available, GAMMA)
    # full window: 1 + .5*2 + .25*4 = 3, bootstrap .5^3 | terminated at step 1: 1 + .5*2 = 2, no bootstrap |
    # truncated at step 0: 1, bootstrap .5 | cut by availability after 2 steps: 2, bootstrap .25
    np.testing.assert_allclose(ret.numpy(), [3.0, 2.0, 1.0, 2.0])
    np.testing.assert_allclose(discount.numpy(), [0.125, 0.0, 0.5, 0.25])
    np.testing.assert_array_equal(length.numpy(), [3, 2, 1, 2])


def test_one_step_window_is_the_plain_td_target():
    ret, discount, length = returns.n_step_returns(REWARDS[:, None], TERMINATED[:, None], TERMINATED[:, None],
                                                   torch.ones(3, 1, dtype=torch.bool), GAMMA)
    np.testing.assert_allclose(ret.numpy(), REWARDS.numpy())
    np.testing.assert_allclose(discount.numpy(), DISCOUNTS.numpy())
    np.testing.assert_array_equal(length.numpy(), [1, 1, 1])


def test_soft_q_target_by_hand():
    next_q = torch.tensor([[3.0, 1.0, 4.0], [2.0, 5.0, 6.0]])  # two target critics
    next_log_prob = t(-1.0, 0.5, 2.0)
    y = returns.soft_q_target(REWARDS, DISCOUNTS, next_q, next_log_prob, 0.2)
    # min Q' = [2, 1, 4]; soft value = [2 + .2, 1 - .1, 4 - .4] = [2.2, .9, 3.6]
    # y = [1 + .5*2.2, 2 (terminated), -1 + .5*3.6 (truncated)]
    np.testing.assert_allclose(y.numpy(), [2.1, 2.0, 0.8], rtol=1e-6)


def test_clipped_double_q_target_by_hand():
    next_q = torch.tensor([[3.0, 1.0, 4.0], [2.0, 5.0, 6.0]])
    y = returns.clipped_double_q_target(REWARDS, DISCOUNTS, next_q)
    np.testing.assert_allclose(y.numpy(), [1 + 0.5 * 2, 2.0, -1 + 0.5 * 4])
    one_critic = returns.clipped_double_q_target(REWARDS, DISCOUNTS, next_q[1:])  # DDPG
    np.testing.assert_allclose(one_critic.numpy(), [1 + 0.5 * 2, 2.0, -1 + 0.5 * 6])


def test_q_learning_and_double_q_targets_by_hand():
    next_q_target = torch.tensor([[1.0, 3.0], [5.0, 0.0], [2.0, -2.0]])
    next_q_online = torch.tensor([[9.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    y = returns.q_learning_target(REWARDS, DISCOUNTS, next_q_target)
    np.testing.assert_allclose(y.numpy(), [1 + 0.5 * 3, 2.0, -1 + 0.5 * 2])
    y_double = returns.q_learning_target(REWARDS, DISCOUNTS, next_q_target, next_q_online)
    # online argmax: [0, 1, 1] -> target values [1, 0, -2]
    np.testing.assert_allclose(y_double.numpy(), [1 + 0.5 * 1, 2.0, -1 + 0.5 * -2])


def test_quantile_q_learning_target_by_hand():
    # (batch, quantile, action); Q' = the mean over quantiles
    next_quantiles = torch.tensor([
        [[1.0, 0.0], [3.0, 5.0]],    # Q' = [2, 2.5]: action 1, quantiles [0, 5]
        [[4.0, 9.0], [4.0, -9.0]],   # Q' = [4, 0]: action 0 (terminated: not used)
        [[2.0, -1.0], [2.0, 0.0]],   # Q' = [2, -0.5]: action 0, quantiles [2, 2]
    ])
    y = returns.quantile_q_learning_target(REWARDS, DISCOUNTS, next_quantiles)
    np.testing.assert_allclose(y.numpy(), [[1.0, 3.5], [2.0, 2.0], [0.0, 0.0]])
    # the online network picks [0, 1, 1]: the target network's quantiles [1, 3], -, [-1, 0]
    online = torch.tensor([[[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 1.0]]])
    y_double = returns.quantile_q_learning_target(REWARDS, DISCOUNTS, next_quantiles, online)
    np.testing.assert_allclose(y_double.numpy(), [[1.5, 2.5], [2.0, 2.0], [-1.5, -1.0]])


def test_losses_by_hand():
    q = torch.tensor([[1.0, 2.0], [0.0, 4.0]])
    y = t(2.0, 2.0)
    # critic 1: ((1-2)^2 + 0) / 2 = .5; critic 2: (4 + 4) / 2 = 4
    assert losses.q_regression_loss(q, y).item() == pytest.approx(4.5)
    log_prob = t(-1.0, 1.0)
    # min Q = [0, 2]; mean(.5 * [-1, 1] - [0, 2]) = mean([-.5, -1.5]) = -1
    assert losses.sac_actor_loss(log_prob, q, 0.5).item() == pytest.approx(-1.0)
    assert losses.deterministic_actor_loss(q[:1]).item() == pytest.approx(-1.5)
    log_alpha = torch.tensor([math.log(0.5)], requires_grad=True)
    loss = losses.entropy_coef_loss(log_alpha, log_prob, target_entropy=-1.0)
    # -log(.5) * mean([-1 - 1, 1 - 1]) = -log(.5) * -1 = log(.5)
    assert loss.item() == pytest.approx(math.log(0.5))
    loss.backward()
    assert log_alpha.grad.item() == pytest.approx(1.0)  # d/dlog_alpha = -mean(log_prob + target) = 1
    # Huber: |e| <= 1 -> e^2 / 2, else |e| - 1/2
    assert losses.huber_q_loss(t(0.0, 3.0), t(0.5, 0.0)).item() == pytest.approx((0.125 + 2.5) / 2)


def linear_dqn(double_q):
    """DQN whose networks are linear in a 1-d observation: Q(s) = [s, -s], Q'(s) = [s / 2, 2 s]."""
    model = DQN("MlpPolicy", None, observation_space=spaces.Box(-10, 10, (1,), np.float32),
                action_space=spaces.Discrete(2), policy_kwargs=dict(net_arch=[]), learning_rate=0.0,
                double_q=double_q, seed=0, device="cpu")
    with torch.no_grad():  # one layer, weights of shape (in, out)
        model.policy.q_net.weights[0].copy_(torch.tensor([[1.0, -1.0]]))
        model.policy.q_net.biases[0].zero_()
        model.policy.q_net_target.weights[0].copy_(torch.tensor([[0.5, 2.0]]))
        model.policy.q_net_target.biases[0].zero_()
    return model


@pytest.mark.parametrize("double_q", [False, True])
def test_dqn_update_uses_the_hand_computed_target(double_q):
    model = linear_dqn(double_q)
    obs, next_obs = t(1.0, 1.0, 1.0)[:, None], t(1.0, 1.0, 1.0)[:, None]
    actions = torch.zeros(3, dtype=torch.long)  # Q(s, 0) = 1
    stats = model.update(obs, actions, t(1.0, 1.0, 1.0), next_obs, DISCOUNTS)
    # next state: online Q = [1, -1] picks action 0, target Q' = [.5, 2]
    # plain: y = 1 + .5 * 2 = 2 (ordinary, truncated), 1 (terminated); double: y = 1 + .5 * .5 = 1.25
    # so the errors are plain [-1, 0, -1] (Huber 1/3), double [-.25, 0, -.25] (Huber .0625 / 3)
    errors = 1.0 - (np.array([1.25, 1.0, 1.25]) if double_q else np.array([2.0, 1.0, 2.0]))
    huber = np.where(np.abs(errors) <= 1, 0.5 * errors**2, np.abs(errors) - 0.5).mean()
    assert stats["train/loss"].item() == pytest.approx(huber)


def test_td3_update_target_matches_the_networks():
    torch.manual_seed(0)
    model = TD3("MlpPolicy", None, observation_space=spaces.Box(-1, 1, (3,), np.float32),
                action_space=spaces.Box(-1, 1, (2,), np.float32), target_policy_noise=0.0, learning_rate=0.0,
                policy_kwargs=dict(net_arch=[8]), seed=0, device="cpu")
    obs, next_obs = torch.randn(5, 3), torch.randn(5, 3)
    actions = torch.rand(5, 2) * 2 - 1
    rewards = torch.randn(5)
    discounts = GAMMA * torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0])
    policy = model.policy
    with torch.no_grad():
        next_q = policy.q_values(next_obs, policy.actor_target(next_obs), target=True)
        y = rewards + discounts * torch.minimum(next_q[0], next_q[1])
        q = policy.q_values(obs, actions)
        expected = ((q[0] - y) ** 2).mean() + ((q[1] - y) ** 2).mean()
    stats = model.update(obs, actions, rewards, next_obs, discounts, update_actor=True)
    assert stats["train/critic_loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    with torch.no_grad():
        actor_loss = -policy.q_values(obs, policy.actor(obs))[0].mean()
    assert stats["train/actor_loss"].item() == pytest.approx(actor_loss.item(), rel=1e-5)


def test_stacked_critic_output_layer_gradients():
    h = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(2, 3, 1, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(2, 1, 1, dtype=torch.float64, requires_grad=True)
    expected = torch.baddbmm(bias, h, weight).squeeze(-1)
    torch.testing.assert_close(StackedOutput.apply(h, weight, bias), expected)
    assert torch.autograd.gradcheck(StackedOutput.apply, (h, weight, bias))


def test_polyak_targets_soft_and_hard_updates():
    from ballast.algos.off_policy import PolyakTargets
    from ballast.optim import FlatParameters

    torch.manual_seed(0)
    online, target = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    before = [p.detach().clone() for p in target.parameters()]
    flat = FlatParameters(online.parameters())
    targets = PolyakTargets([(target, list(online.parameters()))], [flat])
    targets.update(0.25)
    for old, new, source in zip(before, target.parameters(), online.parameters()):
        torch.testing.assert_close(new, 0.75 * old + 0.25 * source)
    targets.update(1.0)
    for new, source in zip(target.parameters(), online.parameters()):
        torch.testing.assert_close(new, source, rtol=0, atol=0)


def test_truncated_quantile_target_by_hand():
    # (n_critics, batch, n_quantiles); the pooled atoms of sample 0 sort to [0, 1, 2, 3, 5, 6], of sample 1 to
    # [0, 1, 1, 2, 4, 9]
    next_quantiles = torch.tensor([[[1.0, 5.0, 3.0], [0.0, 2.0, 4.0]],
                                   [[2.0, 0.0, 6.0], [1.0, 1.0, 9.0]]])
    rewards, discounts, log_prob = t(1.0, 2.0), t(0.5, 0.0), t(-1.0, 3.0)
    # dropping 1 per critic keeps the 4 smallest; y = r + discount * (z - 0.5 * log_prob)
    y = returns.truncated_quantile_target(rewards, discounts, next_quantiles, log_prob, 0.5, 1)
    np.testing.assert_allclose(y.numpy(), [[1.25, 1.75, 2.25, 2.75], [2.0, 2.0, 2.0, 2.0]])
    y_all = returns.truncated_quantile_target(rewards, discounts, next_quantiles, log_prob, 0.5, 0)
    np.testing.assert_allclose(y_all[0].numpy(), [1.25, 1.75, 2.25, 2.75, 3.75, 4.25])
    with pytest.raises(ConfigurationError, match="drops every one of the 3 quantiles"):
        returns.truncated_quantile_target(rewards, discounts, next_quantiles, log_prob, 0.5, 3)


def test_tqc_losses_by_hand():
    # critic 0's quantiles [0, 1] and critic 1's [2, 2] (tau = [1/4, 3/4]) against the atoms [0.5, 3]:
    # per critic sum_k mean_j rho = .90625 and .75 (see test_losses.py); the loss is their mean over critics
    # and over the N = 2 quantiles: (.90625 + .75) / 2 / 2
    quantiles = torch.tensor([[[0.0, 1.0]], [[2.0, 2.0]]])
    targets = torch.tensor([[0.5, 3.0]])
    assert losses.tqc_critic_loss(quantiles, targets).item() == pytest.approx(0.4140625)
    # the same as the mean over all (critic, quantile, atom) pairs of |tau_k - 1{u < 0}| * Huber(u)
    tau = torch.tensor([0.25, 0.75])
    u = targets.view(1, 1, 1, 2) - quantiles.unsqueeze(3)
    pairs = (tau.view(1, 1, 2, 1) - (u < 0).float()).abs() * torch.where(u.abs() <= 1, 0.5 * u**2, u.abs() - 0.5)
    assert losses.tqc_critic_loss(quantiles, targets).item() == pytest.approx(pairs.mean().item())
    # actor: the mean of every critic's quantiles, [3, 0], not SAC's minimum over critics
    actor_quantiles = torch.tensor([[[1.0, 3.0], [0.0, 0.0]], [[2.0, 6.0], [4.0, -4.0]]])
    # mean(.5 * [-1, 1] - [3, 0]) = mean([-3.5, .5])
    assert losses.tqc_actor_loss(t(-1.0, 1.0), actor_quantiles, 0.5).item() == pytest.approx(-1.5)
