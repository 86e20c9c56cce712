"""The NumPy acting path: the same actions as the policy's PyTorch forward, and its categorical sampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ballast import PPO
from ballast.policies.numpy_actor import SCALAR_SAMPLING_MAX, NumpyActor, numpy_actor


@pytest.mark.parametrize("n_actions", [2, 5, SCALAR_SAMPLING_MAX])
def test_one_observation_is_sampled_as_the_batched_rule_samples_it(n_actions):
    """The Python-float path (one row) and the array path draw the same action from the same uniform."""
    logits_rng = np.random.default_rng(n_actions)
    scalar, batched = np.random.default_rng(7), np.random.default_rng(7)
    actor = NumpyActor.__new__(NumpyActor)
    for _ in range(2000):
        logits = (3.0 * logits_rng.standard_normal((1, n_actions))).astype(np.float32)
        actor.rng = scalar
        one = actor._sample_categorical(logits)
        actor.rng = batched
        # The same logits twice in one batch: the array path (each row draws its own uniform, so the
        # first row's draw is the one the scalar path made).
        two = actor._sample_categorical(np.concatenate([logits, logits]))
        scalar.random(dtype=np.float32)  # keep the streams aligned: the batch drew two numbers
        assert one.shape == (1,) and one.dtype.kind == "i" and one[0] == two[0]


def test_sampled_frequencies_follow_the_softmax():
    actor = NumpyActor.__new__(NumpyActor)
    actor.rng = np.random.default_rng(0)
    logits = np.array([[0.5, -1.0, 2.0, 0.0]], dtype=np.float32)
    counts = np.bincount([actor._sample_categorical(logits)[0] for _ in range(20000)], minlength=4)
    probs = torch.softmax(torch.from_numpy(logits[0]), 0).numpy()
    np.testing.assert_allclose(counts / 20000, probs, atol=0.015)


def test_an_extreme_logit_neither_overflows_nor_picks_another_action():
    actor = NumpyActor.__new__(NumpyActor)
    actor.rng = np.random.default_rng(0)
    logits = np.array([[1000.0, -1000.0, 0.0]], dtype=np.float32)
    assert all(actor._sample_categorical(logits)[0] == 0 for _ in range(200))


def test_numpy_actions_match_the_policy_forward_for_deterministic_heads():
    model = PPO("MlpPolicy", "CartPole-v1", seed=0, n_steps=64, batch_size=32, n_epochs=1).learn(64)
    actor = numpy_actor(model.policy, np.random.default_rng(0))
    assert actor is not None
    obs = np.random.default_rng(1).standard_normal((1, 4)).astype(np.float32)
    _, actions, env_actions = actor(obs)
    with torch.no_grad():
        probs = model.policy.outputs(torch.from_numpy(obs)).distribution.log_probs_all.exp()[0]
    assert actions.shape == env_actions.shape == (1,) and 0 <= actions[0] < 2 and probs[actions[0]] > 0
