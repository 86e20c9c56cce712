import json

import numpy as np
import pytest

from ballast.errors import ConfigurationError
from ballast.noise import (
    NormalActionNoise,
    OrnsteinUhlenbeckActionNoise,
    VectorizedActionNoise,
    as_action_noise,
    noise_from_json,
)


def test_normal_noise_statistics():
    noise = NormalActionNoise(mean=np.array([0.5, -1.0]), sigma=np.array([0.1, 2.0]))
    noise.seed(0)
    samples = np.array([noise() for _ in range(20_000)])
    assert samples.dtype == np.float32 and samples.shape == (20_000, 2)
    np.testing.assert_allclose(samples.mean(axis=0), [0.5, -1.0], atol=0.04)
    np.testing.assert_allclose(samples.std(axis=0), [0.1, 2.0], rtol=0.03)


def test_ornstein_uhlenbeck_statistics():
    # x' = x + theta (mu - x) dt + sigma sqrt(dt) N(0, 1): an AR(1) process with coefficient a = 1 - theta dt,
    # stationary mean mu and variance sigma^2 dt / (1 - a^2)
    mu, sigma, theta, dt = 0.3, 0.5, 0.5, 0.1
    noise = OrnsteinUhlenbeckActionNoise(mean=np.array([mu]), sigma=np.array([sigma]), theta=theta, dt=dt)
    noise.seed(0)
    x = np.array([noise()[0] for _ in range(60_000)], dtype=np.float64)[1000:]
    a = 1 - theta * dt
    assert x.mean() == pytest.approx(mu, abs=0.05)
    assert x.var() == pytest.approx(sigma**2 * dt / (1 - a**2), rel=0.1)
    lag1 = np.corrcoef(x[:-1], x[1:])[0, 1]
    assert lag1 == pytest.approx(a, abs=0.01)


def test_ornstein_uhlenbeck_reset_and_initial_noise():
    noise = OrnsteinUhlenbeckActionNoise(mean=np.zeros(2), sigma=np.ones(2),
                                         initial_noise=np.array([1.0, -1.0]))
    np.testing.assert_array_equal(noise.noise_prev, [1.0, -1.0])
    noise()
    noise()
    noise.reset()
    np.testing.assert_array_equal(noise.noise_prev, [1.0, -1.0])


@pytest.mark.parametrize("make", [
    lambda: NormalActionNoise(np.zeros(3), 0.2 * np.ones(3)),
    lambda: OrnsteinUhlenbeckActionNoise(np.zeros(3), 0.2 * np.ones(3), theta=0.2),
    lambda: VectorizedActionNoise(OrnsteinUhlenbeckActionNoise(np.zeros(3), 0.2 * np.ones(3)), n_envs=2),
])
def test_state_is_json_and_continues_the_sequence(make):
    noise = make()
    noise.seed(7)
    for _ in range(5):
        noise()
    description = json.loads(json.dumps(noise.to_json()))
    state = json.loads(json.dumps(noise.state_dict()))
    expected = [noise() for _ in range(5)]
    restored = noise_from_json(description)
    if isinstance(noise, VectorizedActionNoise):
        restored = VectorizedActionNoise(restored, noise.n_envs)
    restored.load_state_dict(state)
    np.testing.assert_array_equal(np.array([restored() for _ in range(5)]), np.array(expected))


def test_vectorized_noise_copies_are_independent_and_reset_separately():
    noise = VectorizedActionNoise(OrnsteinUhlenbeckActionNoise(np.zeros(2), np.ones(2)), n_envs=3)
    noise.seed(0)
    sample = noise()
    assert sample.shape == (3, 2)
    assert not np.allclose(sample[0], sample[1])
    noise.reset([1])
    np.testing.assert_array_equal(noise.noises[1].noise_prev, [0.0, 0.0])
    assert not np.allclose(noise.noises[0].noise_prev, 0.0)
    for n_envs in (-1, 0, None, "whatever", 2.5, True):  # SB3's ValueErrors
        with pytest.raises(ConfigurationError, match="n_envs must be a positive integer"):
            VectorizedActionNoise(OrnsteinUhlenbeckActionNoise(np.zeros(2), np.ones(2)), n_envs)
    with pytest.raises(ConfigurationError, match="must be an ActionNoise"):
        VectorizedActionNoise(None, 2)


def test_as_action_noise_accepts_objects_json_and_none():
    assert as_action_noise(None) is None
    assert isinstance(as_action_noise({"type": "NormalActionNoise", "mean": [0.0], "sigma": [1.0]}),
                      NormalActionNoise)
    with pytest.raises(ConfigurationError):
        as_action_noise("gaussian")
