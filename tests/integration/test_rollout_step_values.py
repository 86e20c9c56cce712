"""A rollout collected with PyTorch keeps the values and log-probabilities of the acting pass: they
equal what one batched evaluation of the stored observations and actions gives."""

from __future__ import annotations

import numpy as np
import pytest

from ballast import PPO, BaseCallback
from ballast.buffers.rollout import RolloutBuffer
from ballast.envs.testing.multi_input import SimpleMultiObsEnv
from ballast.policies.numpy_actor import numpy_actor


class CompareWithEvaluation(BaseCallback):
    """At each rollout's end: the buffer's values and log-probabilities against ``buffer.evaluate``."""

    def __init__(self) -> None:
        super().__init__()
        self.compared = 0

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        buffer = self.model.rollout_buffer
        stepped_values, stepped_log_probs = buffer.values.copy(), buffer.log_probs.copy()
        assert np.any(stepped_values != 0) and np.all(stepped_log_probs <= 0)
        buffer.evaluate(self.model.policy)
        np.testing.assert_allclose(stepped_values, buffer.values, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(stepped_log_probs, buffer.log_probs, rtol=1e-5, atol=1e-5)
        buffer.values[...], buffer.log_probs[...] = stepped_values, stepped_log_probs
        self.compared += 1


@pytest.mark.parametrize("case", ["separate-networks", "dict-observations"])
def test_values_of_the_acting_pass_equal_a_batched_evaluation(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    evaluations = []
    evaluate = RolloutBuffer.evaluate
    monkeypatch.setattr(RolloutBuffer, "evaluate", lambda self, policy: evaluations.append(1) or evaluate(self, policy))
    if case == "separate-networks":  # an actor and a critic of other sizes: no stacked trunk, no NumPy actor
        model = PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=64, n_envs=2, seed=0, device="cpu",
                    policy_kwargs={"net_arch": {"pi": [32], "vf": [16]}})
    else:
        model = PPO("MultiInputPolicy", SimpleMultiObsEnv(), n_steps=32, batch_size=32, seed=0, device="cpu",
                    policy_kwargs={"net_arch": [16]})
    assert numpy_actor(model.policy, model.np_rng) is None  # the rollout acts with PyTorch
    callback = CompareWithEvaluation()
    model.learn(3 * model.n_steps * model.n_envs, callback=callback)
    assert callback.compared == 3 and len(evaluations) == 3  # the callback's: the rollouts needed none
