"""SB3's README example and "Getting Started" page."""

import numpy as np


def test_readme_example():
    import gymnasium as gym

    from ballast import PPO

    env = gym.make("CartPole-v1", render_mode="rgb_array")

    model = PPO("MlpPolicy", env, verbose=1, n_steps=256)  # compat: n_steps 2048 -> 256
    model.learn(total_timesteps=1_024)  # compat: 10_000 -> 1_024

    vec_env = model.get_env()
    obs = vec_env.reset()
    for i in range(200):  # compat: 1000 -> 200
        action, _states = model.predict(obs, deterministic=True)
        obs, reward, done, info = vec_env.step(action)
        # compat: vec_env.render() left out (rgb_array rendering of CartPole needs pygame)
        # VecEnv resets automatically
        # if done:
        #   obs = env.reset()

    env.close()
    assert obs.shape == (1, 4) and action.shape == (1,) and reward.dtype == np.float32 and done.dtype == bool


def test_getting_started_a2c():
    import gymnasium as gym

    from ballast import A2C

    env = gym.make("CartPole-v1", render_mode="rgb_array")

    model = A2C("MlpPolicy", env, verbose=1)
    model.learn(total_timesteps=1_000)  # compat: 10_000 -> 1_000

    vec_env = model.get_env()
    obs = vec_env.reset()
    for i in range(200):  # compat: 1000 -> 200
        actions, _states = model.predict(obs, deterministic=True)
        obs, rewards, dones, info = vec_env.step(actions)
        # compat: vec_env.render("human") left out (no display)

    assert vec_env.num_envs == 1 and obs.shape == (1, 4) and actions.dtype == np.int64


def test_getting_started_one_liner():
    from ballast import A2C

    model = A2C("MlpPolicy", "CartPole-v1").learn(1_000)  # compat: 10_000 -> 1_000
    assert isinstance(model, A2C) and model.num_timesteps == 1_000


def test_cartpole_is_learned_with_the_documented_api():
    """A learned result: PPO with SB3's defaults but 4 copies and 16k steps balances CartPole."""
    from ballast import PPO
    from ballast.common.env_util import make_vec_env
    from ballast.common.evaluation import evaluate_policy

    vec_env = make_vec_env("CartPole-v1", n_envs=4, seed=0)
    model = PPO("MlpPolicy", vec_env, n_steps=256, seed=0)  # compat: n_steps 2048 -> 256
    model.learn(total_timesteps=16_384)
    mean_reward, std_reward = evaluate_policy(model, make_vec_env("CartPole-v1", n_envs=1, seed=1),
                                              n_eval_episodes=5)
    assert mean_reward > 150
