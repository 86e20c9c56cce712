import gymnasium as gym
import numpy as np
import pytest
import torch

import ballast
from ballast import A2C, PPO, BaseCallback
from ballast.errors import CheckpointError, ConfigurationError, SpaceMismatchError

SETTINGS = {
    PPO: dict(n_steps=32, batch_size=32, n_epochs=2, learning_rate="lin_0.001", clip_range=0.3),
    A2C: dict(n_steps=8, learning_rate=1e-3),
}


def trained(algo, env_id, n_envs=2, steps=256, **extra):
    model = algo("MlpPolicy", env_id, n_envs=n_envs, seed=0, device="cpu", normalize_observations=True,
                 normalize_rewards=True, **{**SETTINGS[algo], **extra})
    return model.learn(steps)


def observations(env_id, n=32):
    space = gym.make(env_id).observation_space
    space.seed(0)
    return np.stack([space.sample() for _ in range(n)])


def assert_same_tensors(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("algo", [PPO, A2C])
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_round_trip_gives_identical_predictions(tmp_path, algo, env_id):
    model = trained(algo, env_id)
    path = model.save(tmp_path / "model")
    loaded = algo.load(path, device="cpu")
    obs = observations(env_id)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0],
                                  model.predict(obs, deterministic=True)[0])
    torch.manual_seed(123)
    stochastic = model.predict(obs, deterministic=False)[0]
    torch.manual_seed(123)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=False)[0], stochastic)
    assert_same_tensors(loaded.policy.state_dict(), model.policy.state_dict())


@pytest.mark.parametrize("algo", [PPO, A2C])
def test_normalisation_statistics_are_restored(tmp_path, algo):
    model = trained(algo, "CartPole-v1")
    obs_stats = model.policy.normalizer.stats["obs"]
    assert obs_stats.count.item() > 100
    loaded = ballast.load(model.save(tmp_path / "m.zip"), device="cpu")
    loaded_stats = loaded.policy.normalizer.stats["obs"]
    assert_same_tensors(dict(loaded_stats.named_buffers()), dict(obs_stats.named_buffers()))
    assert loaded.reward_normalizer is not None
    assert_same_tensors(dict(loaded.reward_normalizer.return_rms.named_buffers()),
                        dict(model.reward_normalizer.return_rms.named_buffers()))


def test_hyperparameters_counters_and_optimizer_are_restored(tmp_path):
    model = trained(PPO, "CartPole-v1", gamma=0.97, clip_range_vf=0.5)
    loaded = PPO.load(model.save(tmp_path / "m"), device="cpu")
    assert loaded.config == model.config
    assert loaded.num_timesteps == model.num_timesteps
    assert loaded._n_updates == model._n_updates
    assert loaded.n_envs == 2
    assert loaded.env_id == "CartPole-v1"
    saved_opt, loaded_opt = model.optimizer.state_dict(), loaded.optimizer.state_dict()
    for index, state in saved_opt["state"].items():
        for name, value in state.items():
            restored = loaded_opt["state"][index][name]
            assert torch.equal(torch.as_tensor(restored), torch.as_tensor(value)), name


@pytest.mark.parametrize("policy_kwargs", [
    dict(net_arch=dict(pi=[32], vf=[16]), activation_fn=torch.nn.ReLU),
    dict(net_arch=[8], share_features_extractor=False, ortho_init=False, log_std_init=-1.0),
])
def test_policy_kwargs_survive_save_and_load(tmp_path, policy_kwargs):
    model = PPO("MlpPolicy", "Pendulum-v1", n_steps=32, batch_size=32, policy_kwargs=policy_kwargs, seed=0,
                device="cpu").learn(64)
    loaded = ballast.load(model.save(tmp_path / "m"), device="cpu")
    assert loaded.policy_config == model.policy_config
    assert_same_tensors(loaded.policy.state_dict(), model.policy.state_dict())
    obs = observations("Pendulum-v1")
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0],
                                  model.predict(obs, deterministic=True)[0])


def test_load_overrides_hyperparameters(tmp_path):
    path = trained(PPO, "CartPole-v1", steps=64).save(tmp_path / "m")
    loaded = PPO.load(path, device="cpu", learning_rate=0.0, n_epochs=3)
    assert loaded.config.learning_rate(1.0) == 0.0
    assert loaded.config.n_epochs == 3


def test_ballast_load_finds_the_algorithm(tmp_path):
    ppo_path = trained(PPO, "CartPole-v1", steps=64).save(tmp_path / "ppo")
    a2c_path = trained(A2C, "CartPole-v1", steps=64).save(tmp_path / "a2c")
    assert type(ballast.load(ppo_path)) is PPO
    assert type(ballast.load(a2c_path)) is A2C


def test_loading_with_the_wrong_algorithm_class_is_a_checkpoint_error(tmp_path):
    a2c_path = trained(A2C, "CartPole-v1", steps=64).save(tmp_path / "a2c")
    with pytest.raises(CheckpointError, match="A2C model, not PPO"):
        PPO.load(a2c_path)
    ppo_path = trained(PPO, "CartPole-v1", steps=64).save(tmp_path / "ppo")
    with pytest.raises(CheckpointError, match="PPO model, not A2C"):
        A2C.load(ppo_path)


@pytest.mark.parametrize("other", ["Acrobot-v1", "MountainCar-v0"])
def test_loading_with_env_of_other_spaces_shows_both_spaces(tmp_path, other):
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16, seed=0, device="cpu")
    path = model.save(tmp_path / "m")
    new_space = gym.make(other).observation_space
    with pytest.raises(SpaceMismatchError) as info:
        PPO.load(path, env=other)
    message = str(info.value)
    assert str(model.observation_space) in message
    assert str(new_space) in message


def test_set_env_with_other_spaces_is_refused():
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16, seed=0, device="cpu")
    with pytest.raises(SpaceMismatchError, match="differs from the model"):
        model.set_env("MountainCarContinuous-v0")


def test_an_env_with_other_action_bounds_is_refused(tmp_path):
    model = PPO("MlpPolicy", "Pendulum-v1", n_steps=16, batch_size=16, seed=0, device="cpu")
    path = model.save(tmp_path / "m")
    narrower = gym.wrappers.RescaleAction(gym.make("Pendulum-v1"), -1.0, 1.0)
    with pytest.raises(SpaceMismatchError, match="other bounds") as info:
        PPO.load(path, env=narrower)
    assert "RescaleAction" in str(info.value)
    with pytest.raises(SpaceMismatchError, match="other bounds"):
        model.set_env(narrower)


class RecordStart(BaseCallback):
    def _on_training_start(self):
        self.start = self.model.num_timesteps


def test_learn_after_load_continues_the_step_counter(tmp_path):
    model = trained(PPO, "CartPole-v1", steps=128)
    saved_steps = model.num_timesteps
    loaded = PPO.load(model.save(tmp_path / "m"), env="CartPole-v1", device="cpu")
    assert loaded.n_envs == 2
    recorder = RecordStart()
    loaded.learn(128, reset_num_timesteps=False, callback=recorder)
    assert recorder.start == saved_steps
    assert loaded.num_timesteps >= saved_steps + 128
    assert loaded.total_timesteps == saved_steps + 128


def test_loaded_model_without_env_predicts_but_cannot_learn(tmp_path):
    path = trained(PPO, "CartPole-v1", steps=64).save(tmp_path / "m")
    loaded = PPO.load(path)
    assert loaded.get_env() is None
    assert loaded.predict(np.zeros(4, np.float32))[0].shape == ()
    with pytest.raises(ConfigurationError, match="no env"):
        loaded.learn(64)


@pytest.mark.parametrize("algo", [PPO, A2C])
def test_resumed_training_matches_uninterrupted_training(tmp_path, algo):
    model = algo("MlpPolicy", "CartPole-v1", n_envs=2, seed=3, device="cpu", **SETTINGS[algo]).learn(128)
    loaded = algo.load(model.save(tmp_path / "m"), env="CartPole-v1", device="cpu")
    torch_state = torch.get_rng_state()
    model.set_env("CartPole-v1")
    model.learn(128, reset_num_timesteps=False)
    torch.set_rng_state(torch_state)
    loaded.learn(128, reset_num_timesteps=False)
    assert_same_tensors(loaded.policy.state_dict(), model.policy.state_dict())


def test_load_with_an_env_instance_after_training_on_several_copies(tmp_path):
    path = trained(PPO, "CartPole-v1", n_envs=4, steps=128).save(tmp_path / "m")
    loaded = PPO.load(path, env=gym.make("CartPole-v1"), device="cpu")
    assert loaded.n_envs == 1
    loaded.learn(64, reset_num_timesteps=False)
    assert loaded.num_timesteps >= 128 + 64


def test_gsde_stochastic_predictions_survive_save_and_load(tmp_path):
    model = PPO("MlpPolicy", "Pendulum-v1", use_sde=True, n_steps=64, batch_size=64, seed=0, device="cpu")
    model.learn(128)
    loaded = PPO.load(model.save(tmp_path / "sde"), device="cpu")
    obs = observations("Pendulum-v1", 8)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0],
                                  model.predict(obs, deterministic=True)[0])
    torch.manual_seed(1)
    stochastic = model.predict(obs)[0]
    torch.manual_seed(1)
    np.testing.assert_array_equal(loaded.predict(obs)[0], stochastic)


@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_gsde_models_trained_on_several_copies_load_with_any_number(tmp_path, algo):
    # gSDE keeps one noise matrix per env copy; a file from 2 copies loads with 2, 3 or no env.
    cls = {"ppo": PPO, "sac": ballast.SAC}[algo]
    extra = dict(n_steps=16, batch_size=32) if algo == "ppo" else dict(learning_starts=10, buffer_size=200)
    model = cls("MlpPolicy", "Pendulum-v1", n_envs=2, use_sde=True, seed=0, device="cpu", **extra).learn(40)
    path = model.save(tmp_path / "sde")
    obs = observations("Pendulum-v1", 8)
    for n_envs in (2, 3, None):
        env = None if n_envs is None else ballast.make_vec_env("Pendulum-v1", n_envs=n_envs)
        loaded = cls.load(path, env=env, device="cpu")
        np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0],
                                      model.predict(obs, deterministic=True)[0])
        if n_envs is not None:
            loaded.learn(8, reset_num_timesteps=False)


def test_a_model_trained_on_an_id_with_env_kwargs_loads_with_an_env_instance(tmp_path):
    model = PPO("MlpPolicy", "CartPole-v1", env_kwargs={"max_episode_steps": 50}, n_steps=16, batch_size=16,
                        seed=0, device="cpu")
    path = model.save(tmp_path / "m.zip")
    loaded = PPO.load(path, env=gym.make("CartPole-v1"))
    assert loaded.env_kwargs == {"max_episode_steps": 50}
    loaded.learn(32)
    assert PPO.load(path, env="CartPole-v1").env.envs[0].spec.max_episode_steps == 50


@pytest.mark.parametrize("algo, env_id", [("ppo", "CartPole-v1"), ("sac", "Pendulum-v1")])
def test_a_model_saved_with_a_compiled_policy_loads(tmp_path, algo, env_id):
    # SB3 GH#2137: model.policy = torch.compile(model.policy), then save and load.
    cls = {"ppo": PPO, "sac": ballast.SAC}[algo]
    model = cls("MlpPolicy", env_id, seed=0, device="cpu")
    obs = model.observation_space.sample()
    action = model.predict(obs, deterministic=True)[0]
    model.policy = torch.compile(model.policy)
    model.save(tmp_path / "compiled.zip")
    assert all(not name.startswith("_orig_mod.") for name in model.get_parameters()["policy"])
    loaded = cls.load(tmp_path / "compiled.zip")
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], action)
