import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from ballast import A2C, PPO, evaluate_policy
from ballast.errors import ObservationError


class FixedSpacesEnv(gym.Env):
    def __init__(self, observation_space, action_space):
        self.observation_space, self.action_space = observation_space, action_space

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, True, {}


VECTOR_OBS = spaces.Box(-1.0, 1.0, (4,), np.float32)
DICT_OBS = spaces.Dict({"pos": spaces.Box(-1.0, 1.0, (2,), np.float32), "mode": spaces.Discrete(3)})

CASES = {
    "discrete": (VECTOR_OBS, spaces.Discrete(3), ()),
    "box": (VECTOR_OBS, spaces.Box(-1.0, 1.0, (2,), np.float32), (2,)),
    "box_2d": (VECTOR_OBS, spaces.Box(-1.0, 1.0, (2, 2), np.float32), (2, 2)),
    "multi_discrete": (VECTOR_OBS, spaces.MultiDiscrete([2, 3, 4]), (3,)),
    "multi_binary": (VECTOR_OBS, spaces.MultiBinary(3), (3,)),
    "dict_obs": (DICT_OBS, spaces.Discrete(2), ()),
}


def model_for(name, algo=PPO):
    obs_space, action_space, _ = CASES[name]
    return algo("auto", lambda: FixedSpacesEnv(obs_space, action_space), n_steps=8, seed=0, device="cpu")


def batch_of(space, n):
    space.seed(1)
    items = [space.sample() for _ in range(n)]
    if isinstance(space, spaces.Dict):
        return {k: np.stack([item[k] for item in items]) for k in space.spaces}
    return np.stack(items)


@pytest.mark.parametrize("deterministic", [True, False])
@pytest.mark.parametrize("name", list(CASES))
def test_single_and_batched_action_shapes(name, deterministic):
    model = model_for(name)
    obs_space, action_space, action_shape = CASES[name]
    obs_space.seed(0)
    action, state = model.predict(obs_space.sample(), deterministic=deterministic)
    assert state is None
    assert np.shape(action) == action_shape
    assert action_space.contains(action)
    actions, _ = model.predict(batch_of(obs_space, 5), deterministic=deterministic)
    assert actions.shape == (5, *action_shape)
    assert all(action_space.contains(a) for a in actions)


def test_a2c_predict_shapes():
    model = model_for("box", A2C)
    assert model.predict(np.zeros(4, np.float32))[0].shape == (2,)
    assert model.predict(np.zeros((3, 4), np.float32))[0].shape == (3, 2)


def test_deterministic_predictions_repeat():
    model = PPO("MlpPolicy", "CartPole-v1", seed=0, device="cpu")
    obs = batch_of(model.observation_space, 16)
    first, _ = model.predict(obs, deterministic=True)
    second, _ = model.predict(obs, deterministic=True)
    np.testing.assert_array_equal(first, second)


def test_stochastic_predictions_sample():
    model = PPO("MlpPolicy", "CartPole-v1", seed=0, device="cpu")
    obs = np.zeros(4, np.float32)
    actions = {int(model.predict(obs)[0]) for _ in range(50)}
    assert actions == {0, 1}


@pytest.mark.parametrize("bad_shape", [(3,), (2, 5), (4, 4, 1)])
def test_wrong_shape_names_expected_and_received_shapes(bad_shape):
    model = PPO("MlpPolicy", "CartPole-v1", seed=0, device="cpu")
    with pytest.raises(ObservationError) as info:
        model.predict(np.zeros(bad_shape, np.float32))
    message = str(info.value)
    assert str(bad_shape) in message
    assert "(4,)" in message
    assert "(batch, 4)" in message
    action, _ = model.predict(np.zeros(4, np.float32), deterministic=True)
    assert action.shape == ()


def test_dict_observation_errors_name_the_key():
    model = model_for("dict_obs")
    with pytest.raises(ObservationError, match=r"lacks the keys \['pos'\]"):
        model.predict({"mode": 1})
    with pytest.raises(ObservationError, match=r"'pos'.*\(3,\).*\(2,\)"):
        model.predict({"pos": np.zeros(3, np.float32), "mode": 1})
    with pytest.raises(ObservationError, match="dict observation"):
        model.predict(np.zeros(2, np.float32))
    with pytest.raises(ObservationError, match="batched"):
        model.predict({"pos": np.zeros((2, 2), np.float32), "mode": 1})
    action, _ = model.predict({"pos": np.zeros(2, np.float32), "mode": 2})
    assert action.shape == ()


def test_non_numeric_observation_is_an_observation_error():
    model = PPO("MlpPolicy", "CartPole-v1", seed=0, device="cpu")
    with pytest.raises(ObservationError):
        model.predict({"not": "an array"})


def test_evaluate_policy_returns_episodes_and_is_reproducible_with_a_seed():
    model = PPO("MlpPolicy", "CartPole-v1", seed=0, device="cpu")
    returns, lengths = evaluate_policy(model, "CartPole-v1", 4, seed=3, return_episode_rewards=True)
    assert len(returns) == len(lengths) == 4
    # CartPole pays 1 a step, so each return is its episode's length
    assert returns == [float(n) for n in lengths]
    again, _ = evaluate_policy(model, "CartPole-v1", 4, seed=3, return_episode_rewards=True)
    assert again == returns
    mean, std = evaluate_policy(model, "CartPole-v1", n_eval_episodes=4, seed=3)
    assert mean == pytest.approx(np.mean(returns))
    assert std == pytest.approx(np.std(returns))


def test_evaluate_policy_on_a_vector_env_counts_every_episode_once():
    model = PPO("MlpPolicy", "CartPole-v1", seed=0, device="cpu")
    vec = gym.make_vec("CartPole-v1", num_envs=3)
    returns, lengths = evaluate_policy(model, vec, n_eval_episodes=7, seed=0, return_episode_rewards=True)
    assert len(returns) == len(lengths) == 7
    assert returns == [float(n) for n in lengths]
