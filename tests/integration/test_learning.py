import numpy as np
import pytest
import torch

from ballast import A2C, PPO, evaluate_policy

ZOO_CARTPOLE_PPO = dict(n_envs=8, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20,
                        learning_rate="lin_0.001", clip_range="lin_0.2", ent_coef=0.0)


def eval_return(model, env_id="CartPole-v1"):
    mean, _ = evaluate_policy(model, env_id, n_eval_episodes=10, deterministic=True, seed=0)
    return mean


def test_ppo_learns_cartpole():
    model = PPO("MlpPolicy", "CartPole-v1", seed=0, device="cpu", **ZOO_CARTPOLE_PPO)
    # an untrained policy falls within about 10 steps (a random one within about 20)
    assert eval_return(model) < 50
    model.learn(30_000)
    assert eval_return(model) > 150


def test_a2c_learns_cartpole():
    model = A2C("MlpPolicy", "CartPole-v1", n_envs=8, seed=0, device="cpu")
    assert eval_return(model) < 50
    model.learn(25_000)
    assert eval_return(model) > 50


def parameters(model):
    return {k: v.clone() for k, v in model.policy.state_dict().items()}


def run(algo, seed, **kwargs):
    model = algo("MlpPolicy", "CartPole-v1", n_envs=2, seed=seed, device="cpu", **kwargs)
    return parameters(model.learn(512))


@pytest.mark.parametrize(("algo", "kwargs"), [
    (PPO, dict(n_steps=64, batch_size=32, n_epochs=3)),
    (A2C, dict(n_steps=8)),
])
def test_same_seed_gives_identical_weights(algo, kwargs):
    first, second, other = run(algo, 7, **kwargs), run(algo, 7, **kwargs), run(algo, 8, **kwargs)
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key
    assert any(not torch.equal(first[key], other[key]) for key in first)


def test_learning_changes_the_weights():
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=32, seed=0, device="cpu")
    before = parameters(model)
    model.learn(64)
    after = parameters(model)
    assert any(not torch.equal(before[k], after[k]) for k in before)


def normalizer_state(model):
    stats = model.policy.normalizer.stats["obs"]
    rms = model.reward_normalizer.return_rms
    return [t.clone() for t in (stats.mean, stats.var, stats.count, rms.mean, rms.var, rms.count)]


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("algo", [PPO, A2C])
def test_normalisation_statistics_change_in_learn_only(algo):
    kwargs = dict(n_steps=32, batch_size=32) if algo is PPO else dict(n_steps=8)
    model = algo("MlpPolicy", "CartPole-v1", n_envs=2, seed=0, device="cpu", normalize_observations=True,
                 normalize_rewards=True, **kwargs)
    initial = normalizer_state(model)
    model.learn(128)
    learned = normalizer_state(model)
    assert not same(initial, learned)
    assert learned[2].item() >= model.num_timesteps
    model.predict(np.zeros((5, 4), np.float32))
    model.predict(np.ones(4, np.float32), deterministic=True)
    evaluate_policy(model, "CartPole-v1", n_eval_episodes=2)
    assert same(learned, normalizer_state(model))


def test_normalised_observations_reach_the_network():
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=64, seed=0, device="cpu",
                normalize_observations=True)
    model.learn(256)
    stored = model.rollout_buffer.observations.array.reshape(-1, 4)
    assert np.abs(stored).max() <= 10.0
    assert np.abs(stored.mean(axis=0)).max() < 1.0


@pytest.mark.parametrize("algo", [PPO, A2C])
@pytest.mark.parametrize("sde_sample_freq", [-1, 4])
def test_gsde_on_pendulum(algo, sde_sample_freq):
    kwargs = dict(n_steps=64, batch_size=64, n_epochs=2) if algo is PPO else dict(n_steps=8)
    model = algo("MlpPolicy", "Pendulum-v1", n_envs=2, use_sde=True, sde_sample_freq=sde_sample_freq, seed=0,
                 device="cpu", **kwargs)
    log_std_before = model.policy.action_head.log_std.detach().clone()
    model.learn(512)
    assert model.num_timesteps >= 512
    assert not torch.equal(model.policy.action_head.log_std.detach(), log_std_before)
    assert all(np.isfinite(p.detach().numpy()).all() for p in model.policy.parameters())
    obs = np.array([1.0, 0.0, 0.5], np.float32)
    model.policy.reset_noise(1)
    first = model.predict(obs)[0]
    # between noise draws the exploration is a deterministic function of the state
    np.testing.assert_array_equal(model.predict(obs)[0], first)
    mean_action = model.predict(obs, deterministic=True)[0]
    assert not np.array_equal(first, mean_action)
    assert model.action_space.contains(first)
