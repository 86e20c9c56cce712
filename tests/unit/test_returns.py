import numpy as np
import pytest

from ballast.returns import compute_gae

GAMMA = 0.5

# Column 0 terminates at t=1; column 1 is truncated at t=1 and bootstraps from V(final obs) = 2.
REWARDS = np.array([[1.0, 2.0], [0.0, 1.0], [2.0, 0.0], [1.0, 3.0]])
VALUES = np.array([[0.5, 1.0], [1.0, 0.5], [0.25, 1.5], [2.0, 1.0]])
NEXT_VALUES = np.array([[1.0, 0.5], [3.0, 2.0], [2.0, 1.0], [4.0, 0.0]])
TERMINATED = np.array([[False, False], [True, False], [False, False], [False, False]])
EPISODE_END = np.array([[False, False], [True, True], [False, False], [False, False]])

# deltas, column 0: 1 + .5*1 - .5 = 1 | 0 - 1 = -1 (terminal) | 2 + .5*2 - .25 = 2.75 | 1 + .5*4 - 2 = 1
# deltas, column 1: 2 + .5*.5 - 1 = 1.25 | 1 + .5*2 - .5 = 1.5 (truncated) | 0 + .5*1 - 1.5 = -1 | 3 - 1 = 2
DELTAS = np.array([[1.0, 1.25], [-1.0, 1.5], [2.75, -1.0], [1.0, 2.0]])


def gae(gae_lambda, rewards=REWARDS, values=VALUES, next_values=NEXT_VALUES, terminated=TERMINATED,
        episode_end=EPISODE_END, gamma=GAMMA):
    return compute_gae(rewards, values, next_values, terminated, episode_end, gamma, gae_lambda)


def test_td0_advantages_are_the_one_step_deltas():
    advantages, returns = gae(0.0)
    np.testing.assert_allclose(advantages, DELTAS)
    np.testing.assert_allclose(returns, DELTAS + VALUES)


def test_lambda_one_gives_discounted_returns_cut_at_episode_ends():
    advantages, returns = gae(1.0)
    # column 0: A3 = 1, A2 = 2.75 + .5*1 = 3.25, A1 = -1 (cut), A0 = 1 + .5*(-1) = 0.5
    # column 1: A3 = 2, A2 = -1 + .5*2 = 0, A1 = 1.5 (cut), A0 = 1.25 + .5*1.5 = 2
    expected_adv = np.array([[0.5, 2.0], [-1.0, 1.5], [3.25, 0.0], [1.0, 2.0]])
    np.testing.assert_allclose(advantages, expected_adv)
    # Monte Carlo view of the same targets, e.g. column 0, t=0: 1 + .5*0 = 1 (terminal, no bootstrap);
    # column 1, t=0: 2 + .5*1 + .25*2 = 3 (truncated: V(final obs) = 2 bootstraps);
    # column 0, t=2: 2 + .5*1 + .25*4 = 3.5 (the rollout's last value bootstraps).
    expected_returns = np.array([[1.0, 3.0], [0.0, 2.0], [3.5, 1.5], [3.0, 3.0]])
    np.testing.assert_allclose(returns, expected_returns)


def test_intermediate_lambda():
    advantages, returns = gae(0.5)
    # gamma * lambda = 0.25
    # column 0: A3 = 1, A2 = 2.75 + .25*1 = 3, A1 = -1, A0 = 1 + .25*(-1) = 0.75
    # column 1: A3 = 2, A2 = -1 + .25*2 = -0.5, A1 = 1.5, A0 = 1.25 + .25*1.5 = 1.625
    expected = np.array([[0.75, 1.625], [-1.0, 1.5], [3.0, -0.5], [1.0, 2.0]])
    np.testing.assert_allclose(advantages, expected)
    np.testing.assert_allclose(returns, expected + VALUES)


def test_truncation_on_the_last_step_bootstraps_from_next_values():
    rewards = np.array([[1.0], [1.0]])
    values = np.array([[0.0], [0.0]])
    next_values = np.array([[0.0], [10.0]])
    end = np.array([[False], [True]])
    terminated_last = np.array([[False], [True]])
    _, truncated_returns = gae(1.0, rewards, values, next_values, np.zeros_like(end), end)
    _, terminated_returns = gae(1.0, rewards, values, next_values, terminated_last, end)
    # truncated: R1 = 1 + .5*10 = 6, R0 = 1 + .5*6 = 4; terminated: R1 = 1, R0 = 1 + .5*1 = 1.5
    np.testing.assert_allclose(truncated_returns[:, 0], [4.0, 6.0])
    np.testing.assert_allclose(terminated_returns[:, 0], [1.5, 1.0])


def reference_gae(rewards, values, next_values, terminated, episode_end, gamma, gae_lambda):
    """A_t as the explicit sum of (gamma*lambda)^k delta_{t+k} over the rest of the episode."""
    T, N = rewards.shape
    advantages = np.zeros((T, N))
    for n in range(N):
        for t in range(T):
            total, weight = 0.0, 1.0
            for k in range(t, T):
                bootstrap = 0.0 if terminated[k, n] else gamma * next_values[k, n]
                total += weight * (rewards[k, n] + bootstrap - values[k, n])
                if episode_end[k, n]:
                    break
                weight *= gamma * gae_lambda
            advantages[t, n] = total
    return advantages


@pytest.mark.parametrize("gae_lambda", [0.0, 0.8, 0.95, 1.0])
def test_matches_explicit_sum_on_random_episodes(gae_lambda):
    rng = np.random.default_rng(0)
    T, N = 5, 3
    rewards = rng.normal(size=(T, N))
    values = rng.normal(size=(T, N))
    next_values = rng.normal(size=(T, N))
    episode_end = rng.random((T, N)) < 0.3
    terminated = episode_end & (rng.random((T, N)) < 0.5)
    advantages, returns = compute_gae(rewards, values, next_values, terminated, episode_end, 0.9, gae_lambda)
    expected = reference_gae(rewards, values, next_values, terminated, episode_end, 0.9, gae_lambda)
    np.testing.assert_allclose(advantages, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(returns, expected + values, rtol=1e-12, atol=1e-12)


def test_keeps_the_dtype_of_values():
    values = VALUES.astype(np.float32)
    advantages, returns = gae(0.5, values=values, next_values=NEXT_VALUES.astype(np.float32))
    assert advantages.dtype == np.float32
    assert returns.dtype == np.float32
