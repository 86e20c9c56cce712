"""predict and evaluate_policy refuse input that would give meaningless actions, with a Ballast error."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from ballast import PPO, SAC, evaluate_policy
from ballast.errors import BallastError, ObservationError, SpaceMismatchError

DICT_SPACE = spaces.Dict({"level": spaces.Discrete(3, start=1), "code": spaces.MultiDiscrete([2, 4]),
                          "reading": spaces.Box(-1.0, 1.0, (2,), np.float32)})


class DictEnv(gym.Env):
    """A Dict observation with a shifted Discrete entry, a MultiDiscrete one and a Box."""

    observation_space = DICT_SPACE
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, True, {}


@pytest.fixture(scope="module")
def cartpole() -> PPO:
    return PPO("MlpPolicy", "CartPole-v1", n_steps=32, batch_size=32, seed=0, device="cpu")


@pytest.fixture(scope="module")
def dict_model() -> PPO:
    return PPO("MultiInputPolicy", DictEnv, n_steps=32, batch_size=32, seed=0, device="cpu")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_nan_or_infinite_observation_is_refused(cartpole, bad):
    obs = np.zeros(4, np.float32)
    obs[2] = bad
    with pytest.raises(ObservationError, match="NaN or infinite.*check_finite=False"):
        cartpole.predict(obs)
    batch = np.zeros((3, 4), np.float32)
    batch[1, 0] = bad
    with pytest.raises(ObservationError):
        cartpole.predict(batch, deterministic=True)
    action, _ = cartpole.predict(obs, check_finite=False)  # the check off: no error, an action of the space
    assert cartpole.action_space.contains(action)


def test_a_nan_inside_a_dict_observation_names_its_key(dict_model):
    obs = {"level": 1, "code": np.array([0, 3]), "reading": np.array([0.0, np.nan], np.float32)}
    with pytest.raises(ObservationError, match="'reading'.*NaN"):
        dict_model.predict(obs)


@pytest.mark.parametrize(("key", "value"), [("level", 0), ("level", 4), ("level", 1.5), ("code", [2, 0]),
                                            ("code", [0, -1])])
def test_discrete_entries_out_of_range_are_refused(dict_model, key, value):
    obs = {"level": 2, "code": np.array([1, 3]), "reading": np.zeros(2, np.float32)}
    dict_model.predict(obs)  # in range: fine
    obs[key] = np.asarray(value)
    with pytest.raises(ObservationError, match=f"'{key}'.*integers from"):
        dict_model.predict(obs)


def test_an_extra_dict_key_is_warned_about_once(dict_model):
    obs = {"level": 2, "code": np.array([1, 3]), "reading": np.zeros(2, np.float32), "velocity_typo": 1.0}
    with pytest.warns(UserWarning, match="velocity_typo"):
        dict_model.predict(obs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dict_model.predict(obs)


def test_evaluate_policy_refuses_an_env_with_other_actions():
    model = SAC("MlpPolicy", "Pendulum-v1", seed=0, device="cpu")
    mean, _ = evaluate_policy(model, gym.make("Pendulum-v1"), n_eval_episodes=1)
    assert np.isfinite(mean)
    rescaled = gym.wrappers.RescaleAction(gym.make("Pendulum-v1"), -1.0, 1.0)  # torque bounds +-1, not +-2
    with pytest.raises(SpaceMismatchError, match="action space"):
        evaluate_policy(model, rescaled, n_eval_episodes=1)
    with pytest.raises(SpaceMismatchError):
        evaluate_policy(PPO("MlpPolicy", "CartPole-v1", device="cpu"), gym.make("Acrobot-v1").unwrapped, 1)


def _malformed(rng: np.random.Generator):
    """A random observation that may be malformed: wrong shapes, dtypes, values, containers."""
    kind = rng.integers(8)
    shape = tuple(int(x) for x in rng.integers(0, 5, size=rng.integers(0, 4)))
    if kind == 0:
        return rng.normal(size=shape).astype(rng.choice([np.float32, np.float64, np.float16]))
    if kind == 1:
        array = rng.normal(size=shape)
        if array.size:
            array.flat[rng.integers(array.size)] = rng.choice([np.nan, np.inf, -np.inf])
        return array
    if kind == 2:
        return rng.integers(-5, 5, size=shape)
    if kind == 3:
        return [list(rng.normal(size=int(rng.integers(0, 6)))) for _ in range(int(rng.integers(0, 3)))]
    if kind == 4:
        return {"level": int(rng.integers(-1, 5)), "code": rng.integers(-1, 5, size=int(rng.integers(1, 4))),
                "reading": rng.normal(size=int(rng.integers(1, 4)))}
    if kind == 5:
        return [None, "obs", 3, 2.5, b"x"][rng.integers(5)]
    if kind == 6:
        return (rng.normal(size=4), {})  # Gymnasium's reset pair
    return {"level": 1, "reading": np.zeros(2)}  # a key missing


@pytest.mark.parametrize("which", ["cartpole", "dict_model"])
def test_fuzzed_observations_end_in_a_ballast_error_or_a_valid_action(which, request):
    model = request.getfixturevalue(which)
    rng = np.random.default_rng(0)
    answered = refused = 0
    for _ in range(1500):
        obs = _malformed(rng)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                action, _ = model.predict(obs)
        except BallastError:
            refused += 1
            continue
        batch = np.atleast_1d(action)
        assert all(model.action_space.contains(a) for a in batch), (obs, action)
        answered += 1
    assert refused > 0 and answered + refused == 1500


def test_evaluating_on_the_training_env_id_uses_its_env_kwargs(tmp_path):
    model = PPO("MlpPolicy", "CartPole-v1", env_kwargs={"max_episode_steps": 3}, n_steps=32, batch_size=32,
                seed=0, device="cpu")
    loaded = PPO.load(model.save(tmp_path / "short"))
    for m in (model, loaded):
        _, lengths = evaluate_policy(m, "CartPole-v1", n_eval_episodes=3, return_episode_rewards=True)
        assert max(lengths) <= 3  # CartPole's default limit is 500: the saved settings were used
    fresh = PPO("MlpPolicy", "CartPole-v1", seed=0, device="cpu")
    _, lengths = evaluate_policy(fresh, "CartPole-v1", n_eval_episodes=2, return_episode_rewards=True)
    assert min(lengths) > 3  # a CartPole episode lasts at least 8 steps
