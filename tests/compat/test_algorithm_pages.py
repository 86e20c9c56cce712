"""The "Example" of each algorithm page of SB3's documentation (PPO, A2C, SAC, TD3, DDPG, DQN).

Each test body is the page's script: its imports (changed to ``ballast``) come first, inside the test.
"""

import os

import numpy as np


def test_ppo_page():
    from ballast import PPO
    from ballast.common.env_util import make_vec_env

    # Parallel environments
    vec_env = make_vec_env("CartPole-v1", n_envs=4)

    model = PPO("MlpPolicy", vec_env, verbose=1, n_steps=128)  # compat: n_steps 2048 -> 128
    model.learn(total_timesteps=1024)  # compat: 25000 -> 1024
    model.save("ppo_cartpole")

    del model  # remove to demonstrate saving and loading

    model = PPO.load("ppo_cartpole")

    obs = vec_env.reset()
    for _ in range(100):  # compat: while True
        action, _states = model.predict(obs)
        obs, rewards, dones, info = vec_env.step(action)

    assert os.path.isfile("ppo_cartpole.zip")
    assert action.shape == (4,) and action.dtype == np.int64
    assert obs.shape == (4, 4) and obs.dtype == np.float32
    assert rewards.shape == (4,) and rewards.dtype == np.float32 and dones.dtype == bool
    assert len(info) == 4 and _states is None


def test_ppo_page_subproc_note():
    from ballast import PPO
    from ballast.common.env_util import make_vec_env
    from ballast.common.vec_env import SubprocVecEnv

    env = make_vec_env("CartPole-v1", n_envs=2, vec_env_cls=SubprocVecEnv)  # compat: n_envs 8 -> 2
    model = PPO("MlpPolicy", env, device="cpu", n_steps=64)  # compat: n_steps 2048 -> 64
    model.learn(total_timesteps=256)  # compat: 25_000 -> 256
    assert model.num_timesteps == 256
    env.close()


def test_a2c_page():
    from ballast import A2C
    from ballast.common.env_util import make_vec_env

    # Parallel environments
    vec_env = make_vec_env("CartPole-v1", n_envs=4)

    model = A2C("MlpPolicy", vec_env, verbose=1)
    model.learn(total_timesteps=2000)  # compat: 25000 -> 2000
    model.save("a2c_cartpole")

    del model  # remove to demonstrate saving and loading

    model = A2C.load("a2c_cartpole")

    obs = vec_env.reset()
    for _ in range(100):  # compat: while True
        action, _states = model.predict(obs)
        obs, rewards, dones, info = vec_env.step(action)

    assert os.path.isfile("a2c_cartpole.zip")
    assert action.shape == (4,) and action.dtype == np.int64


def test_sac_page():
    import gymnasium as gym

    from ballast import SAC

    env = gym.make("Pendulum-v1")  # compat: render_mode="human" left out

    model = SAC("MlpPolicy", env, verbose=1)
    model.learn(total_timesteps=200, log_interval=4)  # compat: 10000 -> 200
    model.save("sac_pendulum")

    del model  # remove to demonstrate saving and loading

    model = SAC.load("sac_pendulum")

    obs, info = env.reset()
    for _ in range(250):  # compat: while True
        action, _states = model.predict(obs, deterministic=True)
        obs, reward, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            obs, info = env.reset()

    assert os.path.isfile("sac_pendulum.zip")
    assert action.shape == (1,) and action.dtype == np.float32 and -2.0 <= action[0] <= 2.0


def _td3_ddpg_page(algo, name):
    import gymnasium as gym

    from ballast.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise  # noqa: F401

    env = gym.make("Pendulum-v1", render_mode="rgb_array")

    # The noise objects for TD3
    n_actions = env.action_space.shape[-1]
    action_noise = NormalActionNoise(mean=np.zeros(n_actions), sigma=0.1 * np.ones(n_actions))

    model = algo("MlpPolicy", env, action_noise=action_noise, verbose=1)
    model.learn(total_timesteps=200, log_interval=10)  # compat: 10000 -> 200
    model.save(name)
    vec_env = model.get_env()

    del model  # remove to demonstrate saving and loading

    model = algo.load(name)

    obs = vec_env.reset()
    for _ in range(50):  # compat: while True
        action, _states = model.predict(obs)
        obs, rewards, dones, info = vec_env.step(action)
        # compat: vec_env.render("human") left out (no display)

    assert os.path.isfile(f"{name}.zip")
    assert action.shape == (1, 1) and action.dtype == np.float32
    assert obs.shape == (1, 3) and rewards.shape == (1,)


def test_td3_page():
    from ballast import TD3

    _td3_ddpg_page(TD3, "td3_pendulum")


def test_ddpg_page():
    from ballast import DDPG

    _td3_ddpg_page(DDPG, "ddpg_pendulum")


def test_dqn_page():
    import gymnasium as gym

    from ballast import DQN

    env = gym.make("CartPole-v1")  # compat: render_mode="human" left out

    model = DQN("MlpPolicy", env, verbose=1)
    model.learn(total_timesteps=1000, log_interval=4)  # compat: 10000 -> 1000
    model.save("dqn_cartpole")

    del model  # remove to demonstrate saving and loading

    model = DQN.load("dqn_cartpole")

    obs, info = env.reset()
    for _ in range(100):  # compat: while True
        action, _states = model.predict(obs, deterministic=True)
        obs, reward, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            obs, info = env.reset()

    assert os.path.isfile("dqn_cartpole.zip")
    assert np.asarray(action).shape == () and np.asarray(action).dtype == np.int64
