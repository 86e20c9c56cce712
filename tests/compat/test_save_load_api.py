"""SB3's save/load API as its documentation gives it ("Examples", "Saving and loading", the
BaseAlgorithm reference): ``save(path, exclude, include)`` to a path or a file object,
``load(path, env, device, custom_objects, print_system_info, force_reset)``, ``get_parameters`` /
``set_parameters``, the policy's ``predict``, ``save`` and ``load``."""

import io
import os

import numpy as np
import pytest


def test_save_and_load_with_a_path_and_the_documented_keywords():
    from ballast import PPO

    model = PPO("MlpPolicy", "CartPole-v1", n_steps=64)
    model.learn(64)
    model.save("ppo_cartpole")
    assert os.path.isfile("ppo_cartpole.zip")
    loaded = PPO.load("ppo_cartpole", env=None, device="cpu")
    obs = np.zeros(4, np.float32)
    assert loaded.predict(obs, deterministic=True)[0] == model.predict(obs, deterministic=True)[0]


def test_save_to_a_file_object_and_load_with_every_documented_keyword():
    from ballast import PPO

    model = PPO("MlpPolicy", "CartPole-v1", n_steps=64)
    buffer = io.BytesIO()
    model.save(buffer, exclude=["tensorboard_log"])
    buffer.seek(0)
    loaded = PPO.load(buffer, env=None, device="cpu", custom_objects={"learning_rate": 1e-4},
                      print_system_info=False, force_reset=True)
    assert loaded.learning_rate == 1e-4


def test_load_with_an_unknown_keyword_is_a_type_error():
    from ballast import PPO

    PPO("MlpPolicy", "CartPole-v1", n_steps=64).save("m")
    with pytest.raises(TypeError):
        PPO.load("m.zip", not_a_keyword=1)


def test_get_and_set_parameters():
    from ballast import PPO

    model = PPO("MlpPolicy", "CartPole-v1", n_steps=64, seed=0)
    other = PPO("MlpPolicy", "CartPole-v1", n_steps=64, seed=1)
    params = model.get_parameters()
    assert "policy" in params and "policy.optimizer" in params
    other.set_parameters(params, exact_match=True)
    obs = np.linspace(-0.1, 0.1, 4).astype(np.float32)
    assert other.predict(obs, deterministic=True)[0] == model.predict(obs, deterministic=True)[0]


def test_policy_predict():
    from ballast import PPO

    model = PPO("MlpPolicy", "CartPole-v1", n_steps=64)
    obs = np.zeros((3, 4), np.float32)
    actions, state = model.policy.predict(obs, deterministic=True)
    assert actions.shape == (3,) and state is None
    np.testing.assert_array_equal(actions, model.predict(obs, deterministic=True)[0])


def test_predict_on_the_reset_tuple_is_refused_with_a_clear_error():
    import gymnasium as gym

    from ballast import PPO
    from ballast.errors import ObservationError

    env = gym.make("CartPole-v1")
    model = PPO("MlpPolicy", env, n_steps=64)
    with pytest.raises(ObservationError, match="reset"):
        model.predict(env.reset())


def test_predict_keeps_a_float64_action_space_dtype():
    import gymnasium as gym

    from ballast import SAC

    env = gym.wrappers.TransformAction(gym.make("Pendulum-v1"), lambda a: a.astype(np.float32),
                                       gym.spaces.Box(-2.0, 2.0, (1,), np.float64))
    model = SAC("MlpPolicy", env, learning_starts=10)
    action, _ = model.predict(env.reset()[0])
    assert action.dtype == np.float64


def test_hyperparameter_attributes_and_network_handles():
    import torch

    from ballast import DQN, PPO, SAC

    ppo = PPO("MlpPolicy", "CartPole-v1", n_steps=64, learning_rate=1e-3, gamma=0.98, clip_range=0.1)
    assert ppo.gamma == 0.98 and ppo.learning_rate == 1e-3 and ppo.lr_schedule(0.5) == 1e-3
    assert ppo.clip_range(1.0) == 0.1 and ppo.n_steps == 64 and ppo.batch_size == 64 and ppo.n_epochs == 10
    sac = SAC("MlpPolicy", "Pendulum-v1")
    assert isinstance(sac.actor, torch.nn.Module) and isinstance(sac.critic_target, torch.nn.Module)
    assert sac.tau == 0.005 and sac.batch_size == 256 and sac.buffer_size == 1_000_000
    dqn = DQN("MlpPolicy", "CartPole-v1")
    assert isinstance(dqn.q_net, torch.nn.Module) and isinstance(dqn.q_net_target, torch.nn.Module)
    # SB3's exploration_rate is 0.0 until the first step sets it from the schedule
    assert dqn.exploration_rate == 0.0 and dqn.target_update_interval == 10000
    dqn.learn(100)
    assert dqn.exploration_rate == pytest.approx(dqn.exploration_schedule(dqn._current_progress_remaining))
    assert dqn.exploration_rate == pytest.approx(0.05)  # exploration_fraction=0.1 of 100 steps is over
    assert ppo.policy.device == torch.device("cpu") or ppo.policy.device.type in ("cpu", "cuda")


def test_optimizer_class_and_kwargs_are_used():
    import torch

    from ballast import PPO

    model = PPO("MlpPolicy", "CartPole-v1", n_steps=64,
                policy_kwargs=dict(optimizer_class=torch.optim.SGD, optimizer_kwargs=dict(momentum=0.5)))
    optimizer = model.policy.optimizer
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.param_groups[0]["momentum"] == 0.5


def test_invalid_hyperparameters_are_refused_as_sb3_refuses_them():
    from ballast import PPO

    with pytest.raises((AssertionError, ValueError)):
        PPO("MlpPolicy", "CartPole-v1", n_steps=1)
