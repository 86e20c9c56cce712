import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from ballast import A2C, PPO, BaseCallback, evaluate_policy
from ballast.common.vec_env import VecEnv
from ballast.envs.make import autoreset_mode
from ballast.errors import ConfigurationError, EnvError, UnsupportedSpaceError

GAMMA, LAMBDA = 0.99, 0.95


class CountingEnv(gym.Env):
    """Observation = steps taken; reward 1 a step; the episode ends after ``length`` steps."""

    observation_space = spaces.Box(0.0, 100.0, (1,), np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, length=3, terminate=False):
        self.length, self.terminate = length, terminate
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        done = self.t >= self.length
        return np.array([self.t], np.float32), 1.0, done and self.terminate, done and not self.terminate, {}


class SpaceEnv(gym.Env):
    """Vector observations and any action space; refuses actions outside it."""

    def __init__(self, action_space=None, observation_space=None, reward=0.0):
        self.action_space = action_space or spaces.Discrete(2)
        self.observation_space = observation_space or spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.reward = reward
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.observation_space.seed(seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        assert self.action_space.contains(action), f"{action!r} is not in {self.action_space}"
        self.t += 1
        return self.observation_space.sample(), self.reward, False, self.t >= 5, {}


DICT_OBS = spaces.Dict({
    "vec": spaces.Box(-1.0, 1.0, (3,), np.float32),
    "disc": spaces.Discrete(3, start=1),
    "flags": spaces.MultiBinary(2),
})
IMAGE_OBS = spaces.Box(0, 255, (36, 36, 3), np.uint8)
SMALL = dict(n_steps=16, batch_size=16, n_epochs=1, seed=0, device="cpu")


def one_rollout(model):
    model.learn(total_timesteps=1)
    return model.rollout_buffer


def column(array):
    return np.asarray(array)[:, 0]


def reference_advantages(rewards, values, next_values, terminated, episode_end):
    advantages, running = np.zeros(len(rewards)), 0.0
    for t in reversed(range(len(rewards))):
        delta = rewards[t] + GAMMA * (0.0 if terminated[t] else next_values[t]) - values[t]
        running = delta + GAMMA * LAMBDA * (0.0 if episode_end[t] else running)
        advantages[t] = running
    return advantages


def next_step_env(make_env):
    """A user's vector env with Gymnasium's default NEXT_STEP autoreset (Ballast's own envs reset in the same step)."""
    return SyncVectorEnv([make_env], autoreset_mode=AutoresetMode.NEXT_STEP)


@pytest.mark.parametrize("env", ["CartPole-v1", lambda: gym.make("CartPole-v1"), gym.make("CartPole-v1")],
                         ids=["id", "factory", "instance"])
def test_vector_envs_built_by_ballast_reset_in_the_same_step(env):
    assert autoreset_mode(PPO("MlpPolicy", env, device="cpu").env) == AutoresetMode.SAME_STEP


def test_numpy_batched_vector_envs_keep_gymnasium_s_next_step_autoreset():
    model = PPO("MlpPolicy", "CartPole-v1", n_envs=8, vectorization="vector_entry_point", device="cpu")
    assert autoreset_mode(model.env) == AutoresetMode.NEXT_STEP


@pytest.mark.parametrize("terminate", [False, True])
def test_next_step_autoreset_marks_the_reset_step_invalid(terminate):
    model = PPO("MlpPolicy", next_step_env(lambda: CountingEnv(3, terminate)), n_steps=8, batch_size=8, gamma=GAMMA,
                gae_lambda=LAMBDA, seed=0, device="cpu")
    buffer = one_rollout(model)
    assert column(buffer.observations.array[..., 0]).tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    assert column(buffer.valid).tolist() == [True, True, True, False] * 2
    assert column(buffer.episode_end).tolist() == [False, False, True, False] * 2
    assert column(buffer.terminated).tolist() == [False, False, terminate, False] * 2
    assert column(buffer.rewards).tolist() == [1, 1, 1, 0] * 2
    assert model.num_timesteps == 8
    assert [(info["r"], info["l"]) for info in model.ep_info_buffer] == [(3.0, 3), (3.0, 3)]

    values = column(buffer.values).astype(np.float64)
    advantages = column(buffer.advantages)
    # the reset step holds V(final obs): a truncated step bootstraps from it, a terminated one does not
    bootstrap = 0.0 if terminate else GAMMA * values[3]
    assert advantages[2] == pytest.approx(1.0 + bootstrap - values[2], abs=1e-5)
    next_values = np.append(values[1:], np.nan)
    expected = reference_advantages(column(buffer.rewards), values, next_values, column(buffer.terminated),
                                    column(buffer.episode_end))
    valid = column(buffer.valid)
    np.testing.assert_allclose(advantages[valid], expected[valid], rtol=1e-5, atol=1e-5)

    (batch,) = buffer.minibatches(None, torch.Generator())
    assert sorted(batch.observations[:, 0].tolist()) == [0, 0, 1, 1, 2, 2]


class Snapshot(BaseCallback):
    """Copies the rollout buffer, and V(final observation), at the end of every rollout."""

    def __init__(self, final_obs=3.0):
        super().__init__()
        self.final_obs = final_obs
        self.rollouts = []

    def _on_rollout_end(self):
        buf = self.model.rollout_buffer
        data = {name: np.copy(getattr(buf, name)) for name in
                ("values", "rewards", "advantages", "valid", "episode_end", "terminated")}
        data["obs"] = np.copy(buf.observations.array)
        with torch.no_grad():
            data["final_value"] = self.model.policy.predict_values(torch.tensor([[self.final_obs]])).item()
        self.rollouts.append(data)

    @property
    def data(self):
        return self.rollouts[0]

    @property
    def final_value(self):
        return self.rollouts[0]["final_value"]


@pytest.mark.parametrize("terminate", [False, True])
def test_same_step_autoreset_bootstraps_from_final_obs(terminate):
    vec = SyncVectorEnv([lambda: CountingEnv(3, terminate)], autoreset_mode=AutoresetMode.SAME_STEP)
    model = PPO("MlpPolicy", vec, n_steps=8, batch_size=8, gamma=GAMMA, gae_lambda=LAMBDA, seed=0,
                device="cpu")
    snapshot = Snapshot()
    model.learn(total_timesteps=1, callback=snapshot)
    data = snapshot.data
    assert column(data["obs"][..., 0]).tolist() == [0, 1, 2, 0, 1, 2, 0, 1]
    assert column(data["valid"]).all()
    assert column(data["episode_end"]).tolist() == [False, False, True] * 2 + [False, False]
    assert model.num_timesteps == 8
    assert [(info["r"], info["l"]) for info in model.ep_info_buffer] == [(3.0, 3), (3.0, 3)]
    values = column(data["values"]).astype(np.float64)
    bootstrap = 0.0 if terminate else GAMMA * snapshot.final_value
    advantages = column(data["advantages"])
    assert advantages[2] == pytest.approx(1.0 + bootstrap - values[2], abs=1e-5)
    assert advantages[5] == pytest.approx(1.0 + bootstrap - values[5], abs=1e-5)


def test_truncation_on_the_last_rollout_step_bootstraps_from_the_final_obs():
    snapshot = Snapshot(final_obs=4.0)
    model = PPO("MlpPolicy", next_step_env(lambda: CountingEnv(4)), n_steps=4, batch_size=4, gamma=GAMMA,
                gae_lambda=LAMBDA, seed=0, device="cpu")
    model.learn(8, callback=snapshot)
    first, second = snapshot.rollouts
    assert column(first["episode_end"]).tolist() == [False, False, False, True]
    values = column(first["values"]).astype(np.float64)
    advantages = column(first["advantages"])
    assert advantages[3] == pytest.approx(1.0 + GAMMA * first["final_value"] - values[3], abs=1e-5)
    # the next rollout opens with the reset step, which holds the final observation and is not a transition
    assert column(second["obs"][..., 0]).tolist() == [4, 0, 1, 2]
    assert column(second["valid"]).tolist() == [False, True, True, True]
    assert column(second["values"])[0] == pytest.approx(second["final_value"], abs=1e-5)


def test_reward_statistics_see_only_real_transitions():
    model = PPO("MlpPolicy", next_step_env(lambda: CountingEnv(3)), n_steps=8, batch_size=8, gamma=0.5,
                normalize_rewards=True, seed=0, device="cpu")
    model.learn(1)
    # discounted returns of the real steps, 1, 1 + .5, 1 + .5 * 1.5, twice; the reset steps are no transitions
    returns = np.array([1.0, 1.5, 1.75] * 2)
    eps = 1e-4
    mean = returns.sum() / (len(returns) + eps)
    var = (eps * (1.0 + mean**2) + ((returns - mean) ** 2).sum()) / (len(returns) + eps)
    rms = model.reward_normalizer.return_rms
    assert rms.count.item() == pytest.approx(len(returns) + eps)
    assert rms.mean.item() == pytest.approx(mean)
    assert rms.var.item() == pytest.approx(var)


def test_same_step_vector_env_learns_cartpole_steps():
    vec = SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2, autoreset_mode=AutoresetMode.SAME_STEP)
    model = PPO("MlpPolicy", vec, **SMALL).learn(64)
    assert model.num_timesteps == 64
    assert len(model.ep_info_buffer) > 0


def test_disabled_autoreset_is_refused():
    vec = SyncVectorEnv([lambda: gym.make("CartPole-v1")], autoreset_mode=AutoresetMode.DISABLED)
    with pytest.raises(ConfigurationError, match="autoreset"):
        PPO("MlpPolicy", vec)


def env_as(kind):
    if kind == "id":
        return "CartPole-v1"
    if kind == "instance":
        return gym.make("CartPole-v1")
    if kind == "factory":
        return lambda: gym.make("CartPole-v1")
    return gym.make_vec("CartPole-v1", num_envs=2)


@pytest.mark.parametrize(("kind", "n_envs"), [("id", 2), ("instance", 1), ("factory", 2), ("vector", 2)])
def test_env_forms(kind, n_envs):
    model = PPO("MlpPolicy", env_as(kind), n_envs=n_envs if kind != "vector" else 1, **SMALL)
    assert isinstance(model.env, gym.vector.VectorEnv)
    assert isinstance(model.get_env(), VecEnv) and model.get_env().vector_env.env is model.env
    assert model.n_envs == n_envs
    if kind in ("id", "instance"):
        assert model.env_id == "CartPole-v1"
    model.learn(2 * 16 * n_envs)
    assert model.num_timesteps >= 2 * 16 * n_envs - n_envs


def test_env_instance_with_several_copies_is_refused():
    with pytest.raises(ConfigurationError, match="n_envs=4"):
        PPO("MlpPolicy", gym.make("CartPole-v1"), n_envs=4)


@pytest.mark.parametrize("policy", ["MultiInputPolicy", "auto"])
def test_dict_observations(policy):
    model = PPO(policy, lambda: SpaceEnv(observation_space=DICT_OBS), n_envs=2, **SMALL)
    assert model.policy_name == "MultiInputPolicy"
    model.learn(64)
    assert model.num_timesteps >= 64
    obs = DICT_OBS.sample()
    action, _ = model.predict(obs)
    assert model.action_space.contains(action)


@pytest.mark.parametrize("policy", ["CnnPolicy", "auto"])
def test_image_observations(policy):
    model = PPO(policy, lambda: SpaceEnv(observation_space=IMAGE_OBS), **SMALL)
    assert model.policy_name == "CnnPolicy"
    model.learn(32)
    assert model.num_timesteps >= 32
    assert model.rollout_buffer.observations.array.dtype == np.uint8


def test_mlp_policy_on_images_flattens():
    model = PPO("MlpPolicy", lambda: SpaceEnv(observation_space=IMAGE_OBS), **SMALL).learn(16)
    assert model.policy.encoder.features_dim == 36 * 36 * 3


def test_cnn_policy_needs_images():
    with pytest.raises(ConfigurationError, match="CnnPolicy"):
        PPO("CnnPolicy", "CartPole-v1")


ACTION_SPACES = {
    "discrete_start": spaces.Discrete(3, start=-1),
    "multi_discrete": spaces.MultiDiscrete([3, 2], start=[0, 5]),
    "multi_binary": spaces.MultiBinary(3),
    "box": spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 0.5], np.float32)),
}


@pytest.mark.parametrize("algo", [PPO, A2C])
@pytest.mark.parametrize("name", list(ACTION_SPACES))
def test_action_spaces_run(algo, name):
    space = ACTION_SPACES[name]
    kwargs = {**SMALL} if algo is PPO else {"n_steps": 8, "seed": 0, "device": "cpu"}
    model = algo("MlpPolicy", lambda: SpaceEnv(action_space=space), n_envs=2, **kwargs)
    model.learn(48)
    assert model.num_timesteps >= 48
    for deterministic in (True, False):
        action, _ = model.predict(np.zeros(2, np.float32), deterministic=deterministic)
        assert space.contains(action), action


def test_box_action_with_infinite_bounds_is_refused():
    space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
    with pytest.raises(UnsupportedSpaceError, match="infinite"):
        PPO("MlpPolicy", lambda: SpaceEnv(action_space=space))


@pytest.mark.parametrize(("space", "named"), [
    (spaces.Text(5), "Text"),
    (spaces.Dict({"a": spaces.Dict({"b": spaces.Discrete(2)})}), "nested Dict"),
])
def test_unsupported_observation_space_is_refused_at_construction(space, named):
    with pytest.raises(UnsupportedSpaceError, match=named):
        PPO("MlpPolicy", lambda: SpaceEnv(observation_space=space))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_reward_raises_env_error(bad):
    model = PPO("MlpPolicy", lambda: SpaceEnv(reward=bad), **SMALL)
    with pytest.raises(EnvError, match="non-finite"):
        model.learn(16)
    with pytest.raises(EnvError, match="non-finite"):
        evaluate_policy(model, SpaceEnv(reward=bad), n_eval_episodes=1)


class NanObservationEnv(SpaceEnv):
    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return np.full_like(obs, np.nan), reward, terminated, truncated, info


def test_nan_observation_raises_env_error():
    model = PPO("MlpPolicy", NanObservationEnv, **SMALL)
    with pytest.raises(EnvError, match="NaN"):
        model.learn(16)


class RolloutCheck(BaseCallback):
    def _on_rollout_end(self):
        buffer = self.model.rollout_buffer
        batch = buffer.batch(torch.arange(buffer.n_steps * buffer.n_envs))
        with torch.no_grad():
            values, log_prob, _ = self.model.policy.evaluate_actions(batch.observations, batch.actions)
            values = values.squeeze(-1)
        self.log_prob_error = (log_prob - batch.old_log_prob).abs().max().item()
        self.value_error = (values - batch.old_values).abs().max().item()


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize(("env", "policy"), [
    ("CartPole-v1", "MlpPolicy"),
    ("Pendulum-v1", "MlpPolicy"),
    (lambda: SpaceEnv(action_space=ACTION_SPACES["multi_discrete"]), "MlpPolicy"),
    (lambda: SpaceEnv(action_space=ACTION_SPACES["multi_binary"]), "MlpPolicy"),
    (lambda: SpaceEnv(observation_space=DICT_OBS), "MultiInputPolicy"),
    (lambda: SpaceEnv(observation_space=IMAGE_OBS), "CnnPolicy"),
], ids=["cartpole", "pendulum", "multi_discrete", "multi_binary", "dict", "image"])
def test_stored_log_probs_and_values_match_the_policy(env, policy, normalize):
    check = RolloutCheck()
    model = PPO(policy, env, n_envs=2, normalize_observations=normalize, **SMALL)
    model.learn(1, callback=check)
    assert check.log_prob_error < 1e-5
    assert check.value_error < 1e-5
