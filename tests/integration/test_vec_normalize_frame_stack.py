"""VecNormalize and VecFrameStack become settings of the model: SB3's documented scripts, layout, files."""

import json
import pickle
import zipfile

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import ballast
from ballast import PPO, SAC, evaluate_policy
from ballast.common.env_util import make_vec_env
from ballast.common.vec_env import DummyVecEnv, VecFrameStack, VecNormalize, sync_envs_normalization
from ballast.errors import CheckpointError, ConfigurationError

SMALL = dict(n_steps=32, batch_size=32, n_epochs=1, seed=0, device="cpu")


def test_sb3_vec_normalize_script_train_save_load_evaluate(tmp_path):
    # SB3's "Examples" page: train with VecNormalize, save both, load both, evaluate.
    vec_env = make_vec_env("Pendulum-v1", n_envs=2, seed=0)
    vec_env = VecNormalize(vec_env, norm_obs=True, norm_reward=True, clip_obs=10.0)
    model = PPO("MlpPolicy", vec_env, **SMALL)
    assert model.policy.normalizer is not None and model.reward_normalizer is not None
    model.learn(total_timesteps=256)
    trained_mean = model.policy.normalizer.stats["obs"].mean.numpy().copy()
    assert trained_mean.any()  # learn updated the model's statistics ...
    np.testing.assert_allclose(vec_env.obs_rms.mean, trained_mean)  # ... which the wrapper reads
    assert vec_env.ret_rms.var == pytest.approx(model.reward_normalizer.return_rms.var.item())
    model.save(tmp_path / "ppo_pendulum")
    stats_path = tmp_path / "vec_normalize.pkl"
    vec_env.save(stats_path)
    assert zipfile.is_zipfile(stats_path)  # JSON + safetensors, whatever the name says
    del model, vec_env

    vec_env = make_vec_env("Pendulum-v1", n_envs=1)
    vec_env = VecNormalize.load(stats_path, vec_env)
    np.testing.assert_allclose(vec_env.obs_rms.mean, trained_mean)
    vec_env.training = False
    vec_env.norm_reward = False
    model = PPO.load(tmp_path / "ppo_pendulum", env=vec_env)
    np.testing.assert_allclose(model.policy.normalizer.stats["obs"].mean.numpy(), trained_mean)
    returns, lengths = evaluate_policy(model, vec_env, n_eval_episodes=2, return_episode_rewards=True)
    assert lengths == [200, 200] and all(-2000 < r < 0 for r in returns)  # raw Pendulum returns

    obs = vec_env.reset()
    action, _ = model.predict(obs, deterministic=True)
    obs, reward, done, info = vec_env.step(action)
    # the wrapper returns raw observations (the model normalises them itself) ...
    np.testing.assert_array_equal(obs, vec_env.get_original_obs())
    assert np.all(np.abs(obs[:, :2]) <= 1.0)
    # ... and normalize_obs gives what the model sees
    expected = np.clip((obs - trained_mean) / np.sqrt(vec_env.obs_rms.var + 1e-8), -10, 10)
    np.testing.assert_allclose(vec_env.normalize_obs(obs), expected, rtol=1e-5)
    np.testing.assert_allclose(vec_env.unnormalize_obs(vec_env.normalize_obs(obs)), obs, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(reward, vec_env.get_original_reward())  # norm_reward=False


def test_vec_normalize_settings_become_the_models_and_are_saved(tmp_path, capsys):
    venv = VecNormalize(DummyVecEnv([lambda: gym.make("Pendulum-v1")]), clip_obs=5.0, clip_reward=3.0, gamma=0.9,
                        epsilon=1e-6, norm_reward=True)
    model = SAC("MlpPolicy", venv, learning_starts=10, seed=0, device="cpu", verbose=1)
    assert "statistics live in the model and are saved with it" in capsys.readouterr().out
    normalizer, rewards = model.policy.normalizer, model.reward_normalizer
    assert (normalizer.clip_obs, normalizer.epsilon) == (5.0, 1e-6)
    assert (rewards.clip_reward, rewards.gamma, rewards.epsilon) == (3.0, 0.9, 1e-6)
    model.learn(32)
    path = model.save(tmp_path / "sac")
    loaded = SAC.load(path)
    assert (loaded.policy.normalizer.clip_obs, loaded.reward_normalizer.gamma) == (5.0, 0.9)
    assert loaded.env_settings.normalization == model.env_settings.normalization
    obs = np.array([[0.5, -0.5, 1.0]], np.float32)
    np.testing.assert_allclose(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])


def test_norm_obs_keys_restrict_the_models_normalisation():
    class DictEnv(gym.Env):
        observation_space = spaces.Dict({"a": spaces.Box(-1, 1, (2,), np.float32),
                                         "b": spaces.Box(-1, 1, (3,), np.float32)})
        action_space = spaces.Discrete(2)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return self.observation_space.sample(), {}

        def step(self, action):
            return self.observation_space.sample(), 0.0, False, False, {}

    model = PPO("MultiInputPolicy", VecNormalize(DummyVecEnv([DictEnv]), norm_obs_keys=["b"]), **SMALL)
    assert model.policy.normalizer.keys == ["b"]
    with pytest.raises(ConfigurationError, match="not a Box key"):
        VecNormalize(DummyVecEnv([DictEnv]), norm_obs_keys=["c"])


def test_a_loaded_vec_normalize_gives_a_new_model_its_statistics(tmp_path):
    venv = VecNormalize(DummyVecEnv([lambda: gym.make("CartPole-v1")]))
    first = PPO("MlpPolicy", venv, **SMALL).learn(64)
    venv.save(tmp_path / "stats")
    fresh = PPO("MlpPolicy", VecNormalize.load(tmp_path / "stats", DummyVecEnv([lambda: gym.make("CartPole-v1")])),
                **SMALL)
    np.testing.assert_allclose(fresh.policy.normalizer.stats["obs"].var.numpy(),
                               first.policy.normalizer.stats["obs"].var.numpy())
    evaluation = VecNormalize(DummyVecEnv([lambda: gym.make("CartPole-v1")]))
    sync_envs_normalization(venv, evaluation)
    np.testing.assert_allclose(evaluation.obs_rms.mean, venv.obs_rms.mean)


class Boom:
    """Unpickling this would write a file: the refusal must not run it."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_an_sb3_vec_normalize_pickle_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "unpickled"
    path = tmp_path / "vec_normalize.pkl"
    path.write_bytes(pickle.dumps({"obs_rms": Boom(str(marker))}))
    with pytest.raises(CheckpointError, match="import_sb3"):
        VecNormalize.load(path, DummyVecEnv([lambda: gym.make("CartPole-v1")]))
    assert not marker.exists()
    model_path = PPO("MlpPolicy", "CartPole-v1", **SMALL).save(tmp_path / "model")
    with pytest.raises(CheckpointError, match="a Ballast model"):
        VecNormalize.load(model_path, DummyVecEnv([lambda: gym.make("CartPole-v1")]))


# --- frame stacking ---------------------------------------------------------------------------
class Frames(gym.Env):
    """Observation ``t + 1`` everywhere in ``shape``; the episode ends (truncated) after ``length`` steps."""

    action_space = spaces.Discrete(2)

    def __init__(self, shape=(2,), length=3, dtype=np.float32, high=100):
        self.observation_space = spaces.Box(0, high, shape, dtype)
        self.length, self.t = length, 0

    def _obs(self):
        return np.full(self.observation_space.shape, self.t + 1, self.observation_space.dtype)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        return self._obs(), 1.0, False, self.t >= self.length, {}


def hand_stack(frames, axis):
    return np.concatenate(frames, axis=axis)


@pytest.mark.parametrize(("shape", "order", "axis"), [
    ((2,), None, -1),                       # vectors: last axis
    ((5, 5, 1), None, -1),                  # channels-last image
    ((1, 5, 5), None, 0),                   # channels-first image
    ((1, 5, 5), "last", -1),                # forced
])
def test_vec_frame_stack_layout_matches_a_hand_built_stack(shape, order, axis):
    image = len(shape) == 3
    dtype, high = (np.uint8, 255) if image else (np.float32, 100)
    env = VecFrameStack(DummyVecEnv([lambda: Frames(shape, 3, dtype, high)]), n_stack=3, channels_order=order)

    def frame(value):
        return np.full(shape, value, dtype)

    zero = frame(0)
    assert env.observation_space.shape == hand_stack([zero] * 3, axis).shape
    obs = env.reset()
    np.testing.assert_array_equal(obs[0], hand_stack([zero, zero, frame(1)], axis))
    obs, _, _, _ = env.step(np.zeros(1, dtype=np.int64))
    np.testing.assert_array_equal(obs[0], hand_stack([zero, frame(1), frame(2)], axis))
    env.step(np.zeros(1, dtype=np.int64))
    obs, _, dones, infos = env.step(np.zeros(1, dtype=np.int64))
    assert dones.tolist() == [True]
    np.testing.assert_array_equal(infos[0]["terminal_observation"], hand_stack([frame(2), frame(3), frame(4)], axis))
    np.testing.assert_array_equal(obs[0], hand_stack([zero, zero, frame(1)], axis))


def test_frame_stacking_is_a_setting_of_the_model(tmp_path, capsys):
    env = VecFrameStack(DummyVecEnv([lambda: gym.make("CartPole-v1")]), n_stack=4)
    model = PPO("MlpPolicy", env, verbose=1, **SMALL)
    assert "VecFrameStack(n_stack=4, channels_order='last') is now a setting of the model" in capsys.readouterr().out
    assert model.observation_space.shape == (16,)
    assert model.env_settings.frame_stack.n_stack == 4
    model.learn(64)
    path = model.save(tmp_path / "stacked")
    with zipfile.ZipFile(path) as zf:
        config = json.loads(zf.read("config.json"))
    assert config["env_settings"]["observation_wrappers"] == [
        {"frame_stack": {"n_stack": 4, "channels_order": "last"}}]

    loaded = PPO.load(path, env="CartPole-v1")  # builds the env itself: the stacking is re-applied
    assert loaded.env.single_observation_space.shape == (16,)
    sb3_env = loaded.get_env()
    obs = sb3_env.reset()
    assert obs.shape == (1, 16) and not obs[0, :12].any()  # zeros, then the first frame
    action, _ = loaded.predict(obs, deterministic=True)  # predict takes stacked observations
    mean, _ = evaluate_policy(loaded, "CartPole-v1", n_eval_episodes=2)  # evaluate builds and stacks it too
    assert mean > 0
    loaded.set_env(gym.make("CartPole-v1"))
    assert loaded.env.single_observation_space.shape == (16,)
    no_env = ballast.load(path)
    assert evaluate_policy(no_env, gym.make("CartPole-v1"), n_eval_episodes=1)[0] > 0
    restacked = PPO.load(path, env=DummyVecEnv([lambda: gym.make("CartPole-v1")]))
    assert isinstance(restacked.get_env(), VecFrameStack)


def test_get_vec_normalize_env_is_the_wrapper_the_model_was_given():
    env = VecNormalize(make_vec_env("Pendulum-v1", n_envs=1, seed=0), norm_obs=True, norm_reward=True)
    eval_env = VecNormalize(make_vec_env("Pendulum-v1", n_envs=1, seed=1), training=False, norm_reward=False)
    model = SAC("MlpPolicy", env, learning_starts=20, batch_size=16, policy_kwargs=dict(net_arch=[16]), seed=0,
                device="cpu")
    assert model.get_vec_normalize_env() is env
    model.set_env(eval_env)
    assert model.get_vec_normalize_env() is eval_env
    model.set_env(env)
    model.learn(40)
    stats = model.get_vec_normalize_env()
    assert stats is env and stats.obs_rms.count > 1  # the statistics the model learnt with
    np.testing.assert_allclose(stats.obs_rms.mean, model.policy.normalizer.stats["obs"].mean.numpy())
    assert SAC("MlpPolicy", "Pendulum-v1", normalize_observations=True, device="cpu").get_vec_normalize_env() is None
