"""SB3's "Vectorized Environments" page: the VecEnv API, env_method on a custom env, a custom
VecEnvWrapper, make_vec_env with a Gymnasium wrapper class."""

import numpy as np


def test_vecenv_api_as_the_page_describes():
    from ballast.common.env_util import make_vec_env

    vec_env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
    obs = vec_env.reset()
    assert obs.shape == (2, 4) and obs.dtype == np.float32 and len(vec_env.reset_infos) == 2
    for _ in range(600):
        obs, rewards, dones, infos = vec_env.step(np.array([vec_env.action_space.sample() for _ in range(2)]))
        if dones.any():
            break
    i = int(np.flatnonzero(dones)[0])
    assert "terminal_observation" in infos[i] and infos[i]["terminal_observation"].shape == (4,)
    terminated = dones[i] and not infos[i]["TimeLimit.truncated"]
    assert terminated  # CartPole's pole falls long before its 500-step limit with random actions
    vec_env.seed(seed=3)
    first = vec_env.reset()
    vec_env.seed(seed=3)
    np.testing.assert_array_equal(vec_env.reset(), first)


def test_modifying_vectorized_environments_attributes():
    from itertools import cycle

    import gymnasium as gym
    from gymnasium import spaces

    from ballast import PPO
    from ballast.common.callbacks import BaseCallback
    from ballast.common.env_util import make_vec_env

    class MyMultiTaskEnv(gym.Env):

        def __init__(self):
            super().__init__()
            # compat: the page elides the body ("..."); a minimal one with mu
            self.observation_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
            self.action_space = spaces.Discrete(2)
            self.mu = 0.5

        def _get_obs(self):
            return np.array([self.mu], np.float32)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return self._get_obs(), {}

        def step(self, action):
            # Do something, depending on the action and current value of mu the next state is computed
            reward, terminated, truncated, info = self.mu, False, False, {}
            return self._get_obs(), reward, terminated, truncated, info

        def set_mu(self, new_mu: float) -> None:
            # Note: this value should be used only at the next reset
            self.mu = new_mu

    # Example of wrapped env
    env = gym.make("CartPole-v1")
    # To access the base env, without wrapper, you should use `.unwrapped`
    assert env.unwrapped.gravity == 9.8
    # SB3 uses VecEnv for training, where `env.unwrapped.x = new_value` cannot be used to set an attribute
    # therefore, you should expose a setter like `set_mu` to properly set an attribute
    vec_env = make_vec_env(MyMultiTaskEnv)
    # Print current mu value
    # Note: you should use vec_env.env_method("get_wrapper_attr", "mu") in Gymnasium v1.0
    print(vec_env.env_method("get_wrapper_attr", "mu"))
    assert vec_env.env_method("get_wrapper_attr", "mu") == [0.5]
    # Change `mu` attribute via the setter
    vec_env.env_method("set_mu", 0.1)
    assert vec_env.env_method("get_wrapper_attr", "mu") == [0.1]
    # If the variable exists, you can also use `set_wrapper_attr` to set it
    assert vec_env.has_attr("mu")
    vec_env.env_method("set_wrapper_attr", "mu", 0.2)
    assert vec_env.get_attr("mu") == [0.2]

    class ChangeMuCallback(BaseCallback):
        """
        This callback changes the value of mu during training looping
        through a list of values until training is aborted.
        """
        def __init__(self):
            super().__init__()
            # An iterator that contains the different of the friction coefficient
            self.mus = cycle([0.1, 0.2, 0.5, 0.13, 0.9])

        def _on_step(self):
            # Note: in practice, you should not change this value at every step
            self.training_env.env_method("set_mu", next(self.mus))
            return True  # compat: the page's callback returns None, which stops SB3's training at once

    model = PPO("MlpPolicy", vec_env, n_steps=16, batch_size=16)
    model.learn(16, callback=ChangeMuCallback())
    assert vec_env.get_attr("mu") == [0.1]  # the 16th value of the cycle (set 16 times: 3 cycles + 1)


def test_vec_env_wrapper_example():
    import gymnasium as gym
    from gymnasium import spaces

    from ballast.common.vec_env import DummyVecEnv
    from ballast.common.vec_env.base_vec_env import VecEnv, VecEnvStepReturn, VecEnvWrapper

    class VecExtractDictObs(VecEnvWrapper):
        """
        A vectorized wrapper for filtering a specific key from dictionary observations.

        :param venv: The vectorized environment
        :param key: The key of the dictionary observation
        """

        def __init__(self, venv: VecEnv, key: str):
            self.key = key
            super().__init__(venv=venv, observation_space=venv.observation_space.spaces[self.key])

        def reset(self) -> np.ndarray:
            obs = self.venv.reset()
            return obs[self.key]

        def step_async(self, actions: np.ndarray) -> None:
            self.venv.step_async(actions)

        def step_wait(self) -> VecEnvStepReturn:
            obs, rewards, dones, info = self.venv.step_wait()
            return obs[self.key], rewards, dones, info

    class GoalEnv(gym.Env):  # compat: "FetchReach-v1" (gymnasium-robotics, MuJoCo) -> a small dict env
        observation_space = spaces.Dict({"observation": spaces.Box(-1, 1, (10,), np.float32),
                                         "desired_goal": spaces.Box(-1, 1, (3,), np.float32)})
        action_space = spaces.Box(-1, 1, (4,), np.float32)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return self.observation_space.sample(), {}

        def step(self, action):
            return self.observation_space.sample(), 0.0, False, False, {}

    env = DummyVecEnv([lambda: GoalEnv()])
    # Wrap the VecEnv
    env = VecExtractDictObs(env, key="observation")

    assert env.observation_space.shape == (10,)
    assert env.reset().shape == (1, 10)
    obs, rewards, dones, infos = env.step(np.zeros((1, 4), np.float32))
    assert obs.shape == (1, 10) and rewards.shape == (1,) and dones.shape == (1,)


def test_make_vec_env_with_a_gym_wrapper():
    from gymnasium.wrappers import RescaleAction

    from ballast.common.env_util import make_vec_env

    # Use gym wrapper for each sub-env of the VecEnv
    wrapper_kwargs = dict(min_action=-1.0, max_action=1.0)
    vec_env = make_vec_env(
        "Pendulum-v1", n_envs=2, wrapper_class=RescaleAction, wrapper_kwargs=wrapper_kwargs
    )
    assert vec_env.num_envs == 2
    assert vec_env.action_space.low.tolist() == [-1.0] and vec_env.action_space.high.tolist() == [1.0]
