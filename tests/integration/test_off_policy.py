import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from ballast import DDPG, DQN, SAC, TD3, BaseCallback, evaluate_policy, load
from ballast.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise
from ballast.policies.continuous import actor_critic_sizes
from ballast.policies.q_network import numpy_greedy_actor

SMALL = dict(policy_kwargs=dict(net_arch=[32, 32]), learning_starts=50, batch_size=32, buffer_size=5000,
             device="cpu")


class DictCartPole(gym.ObservationWrapper):
    """CartPole with its observation split into a Dict of positions and velocities."""

    def __init__(self):
        super().__init__(gym.make("CartPole-v1"))
        box = self.env.observation_space
        self.observation_space = spaces.Dict({
            "position": spaces.Box(box.low[[0, 2]], box.high[[0, 2]], dtype=np.float32),
            "velocity": spaces.Box(box.low[[1, 3]], box.high[[1, 3]], dtype=np.float32),
        })

    def observation(self, obs):
        return {"position": obs[[0, 2]], "velocity": obs[[1, 3]]}


class DotImageEnv(gym.Env):
    """36x36 grey images of a dot that action 1 moves right; 12-step episodes, reward 1 in the right half."""

    observation_space = spaces.Box(0, 255, (36, 36, 1), np.uint8)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.t = 0, 0
        return self._obs(), {}

    def _obs(self):
        image = np.zeros((36, 36, 1), np.uint8)
        image[16:20, self.x:self.x + 4] = 255
        return image

    def step(self, action):
        self.x = min(32, self.x + 3 * int(action))
        self.t += 1
        return self._obs(), float(self.x >= 16), False, self.t >= 12, {}


# --- learning ---------------------------------------------------------------------------------------
def test_dqn_learns_cartpole():
    # rl-baselines3-zoo's CartPole-v1 settings with a smaller network and budget
    model = DQN("MlpPolicy", "CartPole-v1", learning_rate=2.3e-3, batch_size=64, buffer_size=100_000,
                learning_starts=1000, target_update_interval=10, train_freq=256, gradient_steps=128,
                exploration_fraction=0.16, exploration_final_eps=0.04, policy_kwargs=dict(net_arch=[64, 64]),
                seed=0, device="cpu")
    model.learn(15_000)
    mean, _ = evaluate_policy(model, "CartPole-v1", n_eval_episodes=10, seed=100)
    assert mean > 80  # a random policy scores about 22; seeds 0-3 score 106-143 here


def test_sac_learns_pendulum():
    model = SAC("MlpPolicy", "Pendulum-v1", learning_rate=1e-3, policy_kwargs=dict(net_arch=[64, 64]), seed=0,
                device="cpu")
    model.learn(4000)
    mean, _ = evaluate_policy(model, "Pendulum-v1", n_eval_episodes=5, seed=100)
    assert mean > -700  # a random policy scores about -1200
    assert model.logger.history[-1]["train/ent_coef"] < 1.0


# --- several env copies ------------------------------------------------------------------------------
@pytest.mark.parametrize("algo", [SAC, TD3, DDPG, DQN])
def test_two_env_copies(algo):
    env_id = "CartPole-v1" if algo is DQN else "Pendulum-v1"
    kwargs = dict(SMALL)
    if algo in (TD3, DDPG):
        kwargs["action_noise"] = OrnsteinUhlenbeckActionNoise(np.zeros(1), 0.2 * np.ones(1))
    model = algo("MlpPolicy", env_id, n_envs=2, seed=0, **kwargs).learn(400)
    assert model.num_timesteps == 400
    buffer = model.replay_buffer
    assert buffer.n_envs == 2 and buffer.size() == 200 and buffer.valid[:200].any(axis=0).all()
    assert model._n_updates > 0
    obs = np.stack([model.observation_space.sample() for _ in range(2)])
    actions, _ = model.predict(obs, deterministic=True)
    assert actions.shape == (2, *model.action_space.shape)
    if algo in (TD3, DDPG):
        assert model.action_noise.n_envs == 2


# --- observation kinds -------------------------------------------------------------------------------
def test_dqn_dict_observations(tmp_path):
    model = DQN("MultiInputPolicy", DictCartPole, n_envs=2, seed=0, **SMALL).learn(300)
    obs = {"position": np.zeros((3, 2), np.float32), "velocity": np.ones((3, 2), np.float32)}
    actions, _ = model.predict(obs, deterministic=True)
    assert actions.shape == (3,)
    loaded = load(model.save(tmp_path / "dqn_dict"))
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], actions)
    batch = model.replay_buffer.sample(8, torch.Generator().manual_seed(0))
    assert set(batch.observations) == {"position", "velocity"}


def test_dqn_cnn_policy():
    model = DQN("CnnPolicy", DotImageEnv(), buffer_size=500, learning_starts=30, batch_size=8, train_freq=4,
                policy_kwargs=dict(features_extractor_kwargs=dict(features_dim=32)), seed=0, device="cpu")
    model.learn(120)
    assert type(model.policy.q_net.encoder).__name__ == "NatureCNN"
    assert model.replay_buffer.observations.array.dtype == np.uint8  # images stay one byte a pixel
    action, _ = model.predict(DotImageEnv().reset()[0], deterministic=True)
    assert action.shape == ()


@pytest.mark.parametrize("share", [False, True])
def test_sac_cnn_policy_encoders(share):
    box = spaces.Box(-1, 1, (1,), np.float32)
    env = gym.wrappers.TransformAction(DotImageEnv(), lambda a: int(a[0] > 0), box)
    model = SAC("CnnPolicy", env, buffer_size=200, learning_starts=20, batch_size=8, seed=0, device="cpu",
                tau=0.5, policy_kwargs=dict(net_arch=[16], features_extractor_kwargs=dict(features_dim=16),
                                            share_features_extractor=share))
    policy = model.policy
    actor_cnn_before = [p.detach().clone() for p in policy.actor.encoder.parameters()]
    target_cnn_before = [p.detach().clone() for p in policy.critic_target.encoder.parameters()]
    model.learn(40)
    if share:  # the critics read the actor's CNN without training it; the target CNN follows it
        assert policy.critic.encoder is None
        online = list(policy.actor.encoder.parameters())
    else:
        assert policy.critic.encoder is not policy.actor.encoder
        online = list(policy.critic.encoder.parameters())
    assert not all(torch.equal(a, p) for a, p in zip(actor_cnn_before, policy.actor.encoder.parameters()))
    target = list(policy.critic_target.encoder.parameters())
    assert not all(torch.equal(a, p) for a, p in zip(target_cnn_before, target))
    assert all(torch.allclose(t, o, atol=0.2) for t, o in zip(target, online))


class DictPendulum(gym.ObservationWrapper):
    def __init__(self):
        super().__init__(gym.make("Pendulum-v1"))
        self.observation_space = spaces.Dict({"angle": spaces.Box(-1, 1, (2,), np.float32),
                                              "speed": spaces.Box(-8, 8, (1,), np.float32)})

    def observation(self, obs):
        return {"angle": obs[:2], "speed": obs[2:]}


@pytest.mark.parametrize("algo", [SAC, TD3])
def test_continuous_dict_observations(algo, tmp_path):
    model = algo("MultiInputPolicy", DictPendulum, seed=0, n_steps=2, **SMALL).learn(150)
    obs = {"angle": np.zeros((4, 2), np.float32), "speed": np.ones((4, 1), np.float32)}
    actions, _ = model.predict(obs, deterministic=True)
    assert actions.shape == (4, 1) and np.all(np.abs(actions) <= 2)
    loaded = algo.load(model.save(tmp_path / "model"))
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], actions)


# --- options --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [
    dict(ent_coef=0.05),
    dict(ent_coef="auto_0.1", target_entropy=-2.0, target_update_interval=2),
    dict(use_sde=True, sde_sample_freq=4),
    dict(use_sde=True, use_sde_at_warmup=True,
         policy_kwargs=dict(net_arch=[32], use_expln=True, full_std=False)),
    dict(n_steps=3, train_freq=(1, "episode"), gradient_steps=-1),
    dict(action_noise=NormalActionNoise(np.zeros(1), 0.1 * np.ones(1)), normalize_observations=True,
         normalize_rewards=True),
])
def test_sac_options(kwargs):
    settings = {**SMALL, **kwargs}
    model = SAC("MlpPolicy", "Pendulum-v1", seed=0, **settings).learn(300)
    row = model.logger.history[-1]
    assert np.isfinite(row["train/critic_loss"]) and np.isfinite(row["train/actor_loss"])
    if kwargs.get("ent_coef") == 0.05:
        assert row["train/ent_coef"] == pytest.approx(0.05)
        assert "train/ent_coef_loss" not in row
    if "train_freq" in kwargs:
        # one episode per collection, then as many gradient steps as env steps: 200, twice; an
        # episode is not cut at the budget, as in SB3
        assert model.num_timesteps == model._n_updates == 400


@pytest.mark.parametrize("kwargs", [dict(double_q=True), dict(n_steps=3),
                                    dict(double_q=True, n_steps=2, tau=0.5)])
def test_dqn_options(kwargs):
    model = DQN("MlpPolicy", "CartPole-v1", seed=0, target_update_interval=50, **SMALL, **kwargs).learn(400)
    assert np.isfinite(model.logger.history[-1]["train/loss"])
    assert model.exploration_rate == pytest.approx(0.05)


def test_td3_delays_the_actor_and_follows_targets_by_polyak():
    model = TD3("MlpPolicy", "Pendulum-v1", seed=0, policy_delay=3, tau=0.25, **SMALL).learn(60)
    policy = model.policy
    critic_before = [p.detach().clone() for p in policy.critic.parameters()]
    target_before = [p.detach().clone() for p in policy.critic_target.parameters()]
    actor_before = [p.detach().clone() for p in policy.actor.parameters()]
    model._n_updates = 0
    model.train(2)  # updates 1 and 2: critic only
    assert all(torch.equal(a, p) for a, p in zip(actor_before, policy.actor.parameters()))
    assert all(torch.equal(a, p) for a, p in zip(target_before, policy.critic_target.parameters()))
    critic_now = [p.detach().clone() for p in policy.critic.parameters()]
    model.train(1)  # update 3: actor and targets
    assert not all(torch.equal(a, p) for a, p in zip(actor_before, policy.actor.parameters()))
    for old, new in zip(target_before, policy.critic_target.parameters()):
        assert not torch.equal(old, new)
    # the targets follow the critic as updated by update 3 (the critic steps before the targets)
    assert not all(torch.equal(a, p) for a, p in zip(critic_now, policy.critic.parameters()))
    del critic_before
    updated = [p.detach() for p in policy.critic.parameters()]
    for old, online, new in zip(target_before, updated, policy.critic_target.parameters()):
        torch.testing.assert_close(new, 0.75 * old + 0.25 * online)


def test_ddpg_is_td3_with_one_critic_and_no_delay():
    model = DDPG("MlpPolicy", "Pendulum-v1", seed=0, **SMALL)
    assert model.policy.critic.n_critics == 1
    assert (model.config.policy_delay, model.config.target_policy_noise) == (1, 0.1)
    assert TD3("MlpPolicy", "Pendulum-v1", seed=0, **SMALL).policy.critic.n_critics == 2
    td3 = TD3("MlpPolicy", "Pendulum-v1", seed=0, device="cpu", buffer_size=100)
    assert actor_critic_sizes(td3.policy.config) == ([400, 300], [400, 300])  # SB3's defaults
    sac = SAC("MlpPolicy", "Pendulum-v1", seed=0, device="cpu", buffer_size=100,
              policy_kwargs=dict(net_arch=dict(pi=[64], qf=[32, 32])))
    assert actor_critic_sizes(sac.policy.config) == ([64], [32, 32])
    assert sac.policy.critic.mlp.weights[0].shape == (2, 3 + 1, 32)


def test_numpy_greedy_actor_matches_the_network():
    model = DQN("MlpPolicy", "CartPole-v1", seed=0, normalize_observations=True, **SMALL).learn(200)
    actor = numpy_greedy_actor(model.policy)
    assert actor is not None
    obs = np.random.default_rng(0).normal(size=(256, 4)).astype(np.float32) * 2
    with torch.no_grad():
        expected = model.policy(model.policy.normalize(torch.as_tensor(obs))).numpy()
    np.testing.assert_array_equal(actor(obs), expected)


def test_callback_stops_training():
    class StopAt(BaseCallback):
        def _on_step(self):
            return self.num_timesteps < 120

    model = DQN("MlpPolicy", "CartPole-v1", seed=0, **SMALL).learn(1000, callback=StopAt())
    assert model.num_timesteps == 120


# --- save / load ----------------------------------------------------------------------------------
@pytest.mark.parametrize("algo", [SAC, TD3, DDPG, DQN])
def test_save_load_round_trip(algo, tmp_path):
    env_id = "CartPole-v1" if algo is DQN else "Pendulum-v1"
    kwargs = dict(SMALL)
    if algo in (TD3, DDPG):
        kwargs["action_noise"] = OrnsteinUhlenbeckActionNoise(np.zeros(1), 0.2 * np.ones(1))
    if algo is SAC:
        kwargs["use_sde"] = True
    model = algo("MlpPolicy", env_id, seed=0, **kwargs).learn(300)
    obs = np.stack([model.observation_space.sample() for _ in range(16)])
    expected, _ = model.predict(obs, deterministic=True)
    path = model.save(tmp_path / "model")
    loaded = algo.load(path, env=env_id)
    assert type(loaded) is algo
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], expected)
    assert loaded.num_timesteps == model.num_timesteps and loaded._n_updates == model._n_updates
    for name, tensor in model.policy.state_dict().items():
        torch.testing.assert_close(loaded.policy.state_dict()[name], tensor, rtol=0, atol=0)
    if algo is SAC:
        torch.testing.assert_close(loaded.log_ent_coef, model.log_ent_coef)
        torch.manual_seed(3)
        stochastic, _ = model.predict(obs)
        torch.manual_seed(3)
        np.testing.assert_array_equal(loaded.predict(obs)[0], stochastic)
    if algo in (TD3, DDPG):
        assert loaded.action_noise.state_dict() == model.action_noise.state_dict()
    if algo is DQN:
        assert loaded.exploration_rate == model.exploration_rate
    loaded.learn(100, reset_num_timesteps=False)  # training continues
    assert loaded.num_timesteps == model.num_timesteps + 100
