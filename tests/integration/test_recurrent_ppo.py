"""RecurrentPPO end to end: sb3-contrib's surface, predict's state, evaluation, checkpoints, import, refusals."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import ballast
from ballast import PPO, RecurrentPPO, evaluate_policy
from ballast.algos.on_policy import collect_rollout
from ballast.callbacks import BaseCallback
from ballast.errors import ConfigurationError, ObservationError

SMALL = dict(n_steps=16, batch_size=16, n_epochs=2, policy_kwargs=dict(lstm_hidden_size=8, net_arch=[8]))


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_the_sb3_contrib_surface() -> None:
    from ballast.contrib import RecurrentPPO as ContribRecurrentPPO
    from ballast.ppo_recurrent import MlpLstmPolicy
    from ballast.ppo_recurrent import RecurrentPPO as ModuleRecurrentPPO

    assert ContribRecurrentPPO is ModuleRecurrentPPO is ballast.RecurrentPPO
    model = RecurrentPPO("MlpLstmPolicy", "CartPole-v1", seed=0, device="cpu")
    settings = (model.n_steps, model.batch_size, model.n_epochs, model.gamma, model.gae_lambda)
    assert settings == (128, 128, 10, 0.99, 0.95)
    policy = model.policy
    assert isinstance(policy, MlpLstmPolicy)
    assert (policy.lstm_actor.hidden_size, policy.lstm_actor.num_layers) == (256, 1)
    assert policy.lstm_critic is not None and policy.critic is None and not policy.shared_lstm
    assert policy.lstm_hidden_state_shape == (1, 1, 256)
    assert "recurrent" in str(model.fast_path) and not model.fast_path


def test_policy_kwargs_choose_the_critic_and_the_cell() -> None:
    shared = RecurrentPPO("MlpLstmPolicy", "CartPole-v1", device="cpu", policy_kwargs=dict(
        shared_lstm=True, enable_critic_lstm=False, lstm_hidden_size=8, n_lstm_layers=2, recurrent_cell="gru"))
    assert shared.policy.lstm_critic is None and shared.policy.critic is None
    assert isinstance(shared.policy.lstm_actor, torch.nn.GRU) and shared.policy.lstm_actor.num_layers == 2
    linear = RecurrentPPO("MlpLstmPolicy", "CartPole-v1", device="cpu",
                          policy_kwargs=dict(enable_critic_lstm=False, lstm_hidden_size=8))
    assert isinstance(linear.policy.critic, torch.nn.Linear) and linear.policy.lstm_critic is None
    with pytest.raises(ConfigurationError, match="choose a shared LSTM"):
        RecurrentPPO("MlpLstmPolicy", "CartPole-v1", policy_kwargs=dict(shared_lstm=True))
    with pytest.raises(ConfigurationError, match="recurrent_cell must be one of"):
        RecurrentPPO("MlpLstmPolicy", "CartPole-v1", policy_kwargs=dict(recurrent_cell="rnn"))
    with pytest.raises(ConfigurationError, match="lstm_kwargs \\['batch_first'\\] cannot be set"):
        RecurrentPPO("MlpLstmPolicy", "CartPole-v1", policy_kwargs=dict(lstm_kwargs=dict(batch_first=True)))
    with pytest.raises(ConfigurationError, match="unknown policy_kwargs \\['lstm_hidden_size'\\] for PPO"):
        PPO("MlpPolicy", "CartPole-v1", policy_kwargs=dict(lstm_hidden_size=8))


def test_predict_returns_the_state_as_sb3_contrib() -> None:
    model = RecurrentPPO("MlpLstmPolicy", "CartPole-v1", seed=0, device="cpu", **SMALL)
    obs = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    actions, state = model.predict(obs, deterministic=True)
    assert actions.shape == (3,) and len(state) == 2
    assert all(part.shape == (1, 3, 8) and part.dtype == np.float32 for part in state)
    assert all(np.abs(part).sum() > 0 for part in state)  # the state moved from zero
    # An episode start resets the state: the same as starting from None.
    again, restarted = model.predict(obs, state=state, episode_start=np.ones(3, bool), deterministic=True)
    assert np.array_equal(again, actions) and all(np.array_equal(a, b) for a, b in zip(restarted, state))
    # Carried on, the state changes the next state (memory).
    _, carried = model.predict(obs, state=state, episode_start=np.zeros(3, bool), deterministic=True)
    assert not np.array_equal(carried[0], state[0])
    one_action, one_state = model.predict(obs[0], deterministic=True)
    assert one_action.shape == () and one_state[0].shape == (1, 1, 8)
    with pytest.raises(ObservationError, match="state must be the tuple predict returned"):
        model.predict(obs, state=(state[0],))
    gru = RecurrentPPO("MlpLstmPolicy", "CartPole-v1", device="cpu", policy_kwargs=dict(recurrent_cell="gru"))
    assert len(gru.predict(obs)[1]) == 1  # a GRU's state is (h,)


def test_evaluate_policy_carries_the_state_and_resets_it_at_episode_ends() -> None:
    model = RecurrentPPO("MlpLstmPolicy", "CartPoleNoVel-v1", seed=1, device="cpu", **SMALL).learn(256)
    returns, _ = evaluate_policy(model, "CartPoleNoVel-v1", n_eval_episodes=3, seed=7, return_episode_rewards=True)
    env = gym.make("CartPoleNoVel-v1")
    obs, _ = env.reset(seed=7)
    by_hand, total, state, start = [], 0.0, None, True
    while len(by_hand) < 3:
        action, state = model.predict(obs[None], state=state, episode_start=np.array([start]), deterministic=True)
        obs, reward, terminated, truncated, _ = env.step(int(action[0]))
        total += reward
        start = terminated or truncated
        if start:
            by_hand.append(total)
            total = 0.0
            obs, _ = env.reset()
    assert returns == by_hand


def test_save_load_gives_bitwise_identical_predictions_and_keeps_the_last_state(tmp_path: Path) -> None:
    model = RecurrentPPO("MlpLstmPolicy", "Pendulum-v1", seed=0, device="cpu", n_envs=2, normalize_observations=True,
                         use_sde=True, **SMALL).learn(64)
    loaded = RecurrentPPO.load(model.save(tmp_path / "model"), device="cpu")
    obs = np.random.default_rng(1).normal(size=(5, 2, 3)).astype(np.float32)
    states = [None, None]
    for step in obs:
        outputs = [m.predict(step, state=s, episode_start=np.zeros(2, bool), deterministic=True)
                   for m, s in zip((model, loaded), states)]
        assert np.array_equal(outputs[0][0], outputs[1][0])
        assert all(np.array_equal(a, b) for a, b in zip(outputs[0][1], outputs[1][1]))
        states = [outputs[0][1], outputs[1][1]]
    saved, restored = model._last_lstm_states, loaded._last_lstm_states
    assert all(torch.equal(a, b) for a, b in zip(saved.pi + saved.vf, restored.pi + restored.vf))
    assert torch.any(saved.pi[0] != 0)


def test_resuming_twice_is_bitwise_identical(tmp_path: Path) -> None:
    model = RecurrentPPO("MlpLstmPolicy", "CartPole-v1", seed=3, device="cpu", n_envs=2, **SMALL).learn(64)
    path = model.save(tmp_path / "ckpt")
    finals = []
    for _ in range(2):
        resumed = RecurrentPPO.load(path, env="CartPole-v1", device="cpu").learn(64, reset_num_timesteps=False)
        finals.append(torch.cat([p.detach().flatten() for p in resumed.policy.parameters()]))
    assert torch.equal(finals[0], finals[1])


class _Probe(BaseCallback):
    def _on_rollout_end(self) -> None:
        buffer = self.model.rollout_buffer
        self.valid, self.starts = buffer.valid.copy(), buffer.episode_starts.copy()
        self.pi_h = buffer.states["pi"][0].view(buffer.n_steps, buffer.n_envs, -1).clone()


def test_next_step_autoreset_keeps_the_episode_state_on_the_reset_step_and_resets_after_it() -> None:
    env = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1", max_episode_steps=5)] * 2)
    model = RecurrentPPO("MlpLstmPolicy", env, seed=0, device="cpu", **SMALL)
    probe = _Probe()
    model.learn(32, callback=probe)
    invalid = ~probe.valid
    assert invalid.any()  # episodes of 5 steps ended inside the rollout
    t, e = np.nonzero(invalid[:-1])
    assert probe.starts[t + 1, e].all()  # the step after a reset step starts an episode
    assert not probe.starts[t, e].any()  # the reset step itself continues the ended episode's state
    assert torch.all(probe.pi_h[probe.starts] == 0) and torch.all(probe.pi_h[~probe.starts].abs().sum(-1) > 0)


def test_gsde_normalisation_and_extra_losses_see_sequence_batches() -> None:
    seen = []

    def value_smoothness(inputs):
        seen.append(inputs.batch.sequences.n_seq)
        return {"smooth": 0.0 * inputs.outputs.values.sum()}

    model = RecurrentPPO("MlpLstmPolicy", "Pendulum-v1", seed=0, device="cpu", use_sde=True, sde_sample_freq=4,
                         normalize_observations=True, extra_losses=[value_smoothness], **SMALL).learn(64)
    assert seen and all(n >= 1 for n in seen)
    assert model.policy.normalizer.stats["obs"].count > 1


def test_action_masks_are_applied_when_acting_and_training() -> None:
    from tests.integration.test_action_masking import HiddenValidity  # noqa: PLC0415

    model = RecurrentPPO("MlpLstmPolicy", lambda: HiddenValidity(mask_in_info=True), seed=0, device="cpu",
                         n_envs=2, **SMALL)
    model.learn(64)
    assert model.rollout_buffer.masked
    batch = next(model.rollout_buffer.minibatches(None, model.generator))
    log_probs = model._batch_outputs(batch).distribution.log_prob(batch.actions)
    assert torch.all(torch.isfinite(log_probs))  # every action taken was valid under its mask
    only_zero = np.array([True, False, False, False, False])
    assert model.predict(np.zeros(1, np.float32), action_masks=only_zero)[0] == 0


def test_rollout_values_match_the_update_s_forward_pass() -> None:
    """The rollout's stored log-probabilities are those the first update computes: the ratio starts at 1."""
    model = RecurrentPPO("MlpLstmPolicy", "CartPoleNoVel-v1", seed=0, device="cpu", n_envs=3, **SMALL)
    model._reset_env()
    callback = BaseCallback()
    callback.init_callback(model)
    with model.torch_stream:
        collect_rollout(model, model.rollout_buffer, callback)
    for batch in model.rollout_buffer.minibatches(20, model.generator):
        with torch.no_grad():
            out = model._batch_outputs(batch)
        torch.testing.assert_close(out.distribution.log_prob(batch.actions), batch.old_log_prob, atol=1e-6, rtol=0)
        torch.testing.assert_close(out.values, batch.old_values, atol=1e-6, rtol=0)


class CueMemory(gym.Env):
    """A cue (+1 or -1) shown at the first step only; at the last step, flagged in the observation, the
    action must name the cue (+1 reward, else -1). Without memory no policy beats chance (mean 0)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)
    length = 4

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t, self.cue = 0, int(self.np_random.integers(2))
        return np.array([2.0 * self.cue - 1.0, 0.0], np.float32), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        if self.t == self.length:
            return np.zeros(2, np.float32), 1.0 if int(action) == self.cue else -1.0, True, False, {}
        return np.array([0.0, float(self.t == self.length - 1)], np.float32), 0.0, False, False, {}


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_memory_lets_recurrent_ppo_recall_a_cue_that_feed_forward_ppo_cannot(cell: str) -> None:
    """The answer depends on an observation three steps back: RecurrentPPO learns it (seeds 0-4 all reach
    1.0 with these settings, on torch 2.13 and 2.4), feed-forward PPO with the same settings stays at chance."""
    settings = dict(n_envs=8, n_steps=32, batch_size=256, n_epochs=10, learning_rate=3e-3, seed=0, device="cpu")
    recurrent = RecurrentPPO("MlpLstmPolicy", CueMemory, policy_kwargs=dict(lstm_hidden_size=16, net_arch=[16],
                                                                           recurrent_cell=cell), **settings)
    feed_forward = PPO("MlpPolicy", CueMemory, policy_kwargs=dict(net_arch=[16]), **settings)
    with_memory, _ = evaluate_policy(recurrent.learn(6000), CueMemory, n_eval_episodes=50, seed=100)
    without, _ = evaluate_policy(feed_forward.learn(6000), CueMemory, n_eval_episodes=50, seed=100)
    assert with_memory > 0.9 and without < 0.5, (with_memory, without)
