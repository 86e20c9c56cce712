"""SB3's test envs (``ballast.common.envs``): spaces, rewards, episode ends and ``compute_reward``,
checked against values worked out by hand, and Gymnasium's and Ballast's env checker on each."""

import re
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from ballast.common.env_checker import check_env
from ballast.common.envs import (
    BitFlippingEnv,
    FakeImageEnv,
    IdentityEnv,
    IdentityEnvBox,
    IdentityEnvMultiBinary,
    IdentityEnvMultiDiscrete,
    SimpleMultiObsEnv,
)
from ballast.errors import ConfigurationError

LEFT, DOWN, RIGHT, UP = range(4)


def run(env, actions):
    """Step ``env`` through ``actions``; the rewards, terminated and truncated flags and infos, per step."""
    out = []
    for action in actions:
        _, reward, terminated, truncated, info = env.step(action)
        out.append((reward, terminated, truncated, info))
    return out


# --- module paths --------------------------------------------------------------------------------------
def test_sb3_module_paths_re_export_the_same_classes():
    from ballast.common.envs import bit_flipping_env, identity_env, multi_input_envs
    from ballast.envs import testing

    assert bit_flipping_env.BitFlippingEnv is testing.BitFlippingEnv is BitFlippingEnv
    assert multi_input_envs.SimpleMultiObsEnv is testing.SimpleMultiObsEnv is SimpleMultiObsEnv
    for name in ("IdentityEnv", "IdentityEnvBox", "IdentityEnvMultiBinary", "IdentityEnvMultiDiscrete", "FakeImageEnv"):
        assert getattr(identity_env, name) is getattr(testing, name)
    with pytest.raises(gym.error.NameNotFound):  # SB3 registers none of them
        gym.spec("BitFlippingEnv-v0")


# --- the env checker -----------------------------------------------------------------------------------
ENVS = {
    "IdentityEnv": lambda: IdentityEnv(),
    "IdentityEnv(dim=3)": lambda: IdentityEnv(dim=3),
    "IdentityEnv(space=Box)": lambda: IdentityEnv(space=spaces.Box(-1, 1, (3,), dtype=np.float32)),
    "IdentityEnvBox": lambda: IdentityEnvBox(),
    "IdentityEnvMultiBinary": lambda: IdentityEnvMultiBinary(dim=3),
    "IdentityEnvMultiDiscrete": lambda: IdentityEnvMultiDiscrete(dim=3),
    "FakeImageEnv": lambda: FakeImageEnv(),
    "FakeImageEnv(channel_first, Box)": lambda: FakeImageEnv(channel_first=True, discrete=False),
    "BitFlippingEnv": lambda: BitFlippingEnv(),
    "BitFlippingEnv(continuous)": lambda: BitFlippingEnv(continuous=True),
    "BitFlippingEnv(discrete_obs_space)": lambda: BitFlippingEnv(discrete_obs_space=True),
    "BitFlippingEnv(image, channel first)": lambda: BitFlippingEnv(image_obs_space=True, channel_first=True),
    "BitFlippingEnv(image, channel last)": lambda: BitFlippingEnv(image_obs_space=True, channel_first=False),
    "SimpleMultiObsEnv": lambda: SimpleMultiObsEnv(),
    "SimpleMultiObsEnv(channel first, fixed start)": lambda: SimpleMultiObsEnv(channel_last=False, random_start=False),
}


@pytest.mark.parametrize("name", ENVS)
def test_each_env_passes_the_env_checker_without_a_warning(name):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        check_env(ENVS[name]())
    assert [str(w.message) for w in record] == []


def test_simple_multi_obs_env_with_box_actions_passes_with_the_warning_about_its_action_bounds():
    with pytest.warns(UserWarning, match=r"is not \[-1, 1\] in every dimension"):
        check_env(SimpleMultiObsEnv(discrete_actions=False))


@pytest.mark.parametrize(("space", "message"), [
    (spaces.Box(-1, 1, (2, 3), dtype=np.float32), "has rank 2: MlpPolicy flattens it"),
    (spaces.Box(0, 255, (32, 32, 3), dtype=np.uint8), "smaller than the 36 x 36 pixels"),
    (spaces.Box(0, 255, (3, 32, 32), dtype=np.uint8), "smaller than the 36 x 36 pixels"),
    (spaces.Box(0, 255, (64, 64, 3), dtype=np.float32), "not treated as an image"),
])
def test_observation_spaces_the_default_encoders_take_badly_are_warned_about(space, message):
    with pytest.warns(UserWarning, match=re.escape(message)):
        check_env(IdentityEnv(space=space))


@pytest.mark.parametrize("bounds", [(-0.1, 0.1), (0.0, 1.0), (-2.0, 2.0), (np.array([-1, -1]), np.array([1, 0.99]))])
def test_box_actions_other_than_minus_one_to_one_are_warned_about(bounds):
    env = IdentityEnvBox()
    env.action_space = spaces.Box(*bounds, shape=(2,), dtype=np.float32)
    with pytest.warns(UserWarning, match=r"is not \[-1, 1\] in every dimension"):
        check_env(env)


# --- IdentityEnv and its variants ----------------------------------------------------------------------
def test_identity_env_spaces_and_defaults():
    env = IdentityEnv()
    assert env.observation_space == spaces.Discrete(1)
    assert env.action_space is env.observation_space
    assert env.ep_length == 100 and env.num_resets == 0  # reset once by the constructor
    env.reset()
    assert env.num_resets == 1
    assert IdentityEnv(dim=5).observation_space == spaces.Discrete(5)
    box = spaces.Box(0, 2, (3,), dtype=np.float32)
    assert IdentityEnv(space=box).action_space is box
    with pytest.raises(ConfigurationError, match="dim or space"):
        IdentityEnv(dim=2, space=box)


def test_identity_env_rewards_copying_and_truncates_at_ep_length():
    env = IdentityEnv(dim=4, ep_length=3)
    obs, info = env.reset(seed=0)
    assert info == {}
    rewards, truncated = [], []
    for copy in (True, False, True):
        action = obs if copy else (obs + 1) % 4
        obs, reward, terminated, trunc, info = env.step(action)
        assert terminated is False and info == {}
        rewards.append(reward)
        truncated.append(trunc)
    assert rewards == [1.0, 0.0, 1.0]
    assert truncated == [False, False, True]


def test_identity_env_is_reproduced_by_its_seed_and_not_by_its_action_space():
    env = IdentityEnv(dim=1000)

    def states(seed):
        first, _ = env.reset(seed=seed)
        return [int(first)] + [int(env.step(0)[0]) for _ in range(20)]

    a = states(3)
    env.action_space.seed(3)
    env.action_space.sample()
    assert states(3) == a
    assert states(4) != a
    # A random agent seeded like the env does not copy the states by chance.
    env.action_space.seed(3)
    assert [int(env.action_space.sample()) for _ in range(21)] != a


def test_identity_env_box_rewards_actions_within_eps():
    env = IdentityEnvBox(low=-2.0, high=3.0, eps=0.25, ep_length=10)
    assert env.observation_space == spaces.Box(-2.0, 3.0, (1,), dtype=np.float32)
    assert env.action_space is env.observation_space
    rewards = []
    for offset in (0.0, 0.2, -0.2, 0.3, -0.3):
        state = env.state.copy()
        rewards.append(env.step(state + offset)[1])
    assert rewards == [1.0, 1.0, 1.0, 0.0, 0.0]
    assert env.state.dtype == np.float32 and env.state.shape == (1,)


def test_identity_env_multi_discrete_and_multi_binary_reward_only_a_full_copy():
    env = IdentityEnvMultiDiscrete(dim=3)
    assert env.observation_space == spaces.MultiDiscrete([3, 3])
    one_component_off = env.state.copy()
    one_component_off[1] = (one_component_off[1] + 1) % 3
    assert env.step(one_component_off)[1] == 0.0
    assert env.step(env.state.copy())[1] == 1.0

    env = IdentityEnvMultiBinary(dim=5)
    assert env.observation_space == spaces.MultiBinary(5)
    state = env.state.copy()
    assert env.step(state)[1] == 1.0
    one_bit_off = env.state.copy()
    one_bit_off[0] = 1 - one_bit_off[0]
    assert env.step(one_bit_off)[1] == 0.0
    assert IdentityEnvMultiBinary().observation_space == spaces.MultiBinary(1)


# --- FakeImageEnv --------------------------------------------------------------------------------------
@pytest.mark.parametrize("channel_first, shape", [(False, (40, 50, 3)), (True, (3, 40, 50))])
def test_fake_image_env_shapes(channel_first, shape):
    env = FakeImageEnv(action_dim=4, screen_height=40, screen_width=50, n_channels=3, channel_first=channel_first)
    assert env.observation_space == spaces.Box(0, 255, shape, dtype=np.uint8)
    assert env.action_space == spaces.Discrete(4)
    obs, _ = env.reset(seed=0)
    assert obs.shape == shape and obs.dtype == np.uint8


def test_fake_image_env_defaults_rewards_and_truncation():
    env = FakeImageEnv()
    assert env.observation_space.shape == (84, 84, 1)
    assert env.action_space == spaces.Discrete(6)
    # The Box action space has five components whatever action_dim is, as in SB3.
    assert FakeImageEnv(action_dim=3, discrete=False).action_space == spaces.Box(-1, 1, (5,), dtype=np.float32)
    first, _ = env.reset(seed=1)
    steps = run(env, [0] * 10)
    assert [s[0] for s in steps] == [0.0] * 10
    assert [s[1] for s in steps] == [False] * 10
    assert [s[2] for s in steps] == [False] * 9 + [True]
    again, _ = env.reset(seed=1)
    np.testing.assert_array_equal(first, again)


# --- BitFlippingEnv ------------------------------------------------------------------------------------
def test_bit_flipping_spaces():
    env = BitFlippingEnv()
    assert set(env.observation_space.spaces) == {"observation", "achieved_goal", "desired_goal"}
    assert all(s == spaces.MultiBinary(10) for s in env.observation_space.spaces.values())
    assert env.action_space == spaces.Discrete(10)
    assert env.max_steps == 10
    assert BitFlippingEnv(n_bits=6, continuous=True).action_space == spaces.Box(-1, 1, (6,), dtype=np.float32)
    assert BitFlippingEnv(n_bits=6, max_steps=20).max_steps == 20
    discrete = BitFlippingEnv(n_bits=6, discrete_obs_space=True)
    assert discrete.observation_space["observation"] == spaces.Discrete(64)
    first = BitFlippingEnv(image_obs_space=True)
    last = BitFlippingEnv(image_obs_space=True, channel_first=False)
    assert first.observation_space["desired_goal"] == spaces.Box(0, 255, (1, 36, 36), dtype=np.uint8)
    assert last.observation_space["desired_goal"] == spaces.Box(0, 255, (36, 36, 1), dtype=np.uint8)
    with pytest.raises(ConfigurationError, match="not both"):
        BitFlippingEnv(discrete_obs_space=True, image_obs_space=True)
    with pytest.raises(ConfigurationError, match="at most 1296 bits"):
        BitFlippingEnv(n_bits=1300, image_obs_space=True)


def test_bit_flipping_reaches_the_goal_by_flipping_the_last_zero():
    env = BitFlippingEnv(n_bits=4)
    env.reset(seed=0)
    env.state = np.array([1, 1, 0, 0], dtype=np.int8)
    obs, reward, terminated, truncated, info = env.step(3)
    assert obs["observation"].tolist() == obs["achieved_goal"].tolist() == [1, 1, 0, 1]
    assert obs["desired_goal"].tolist() == [1, 1, 1, 1]
    assert (reward, terminated, truncated, info) == (-1.0, False, False, {"is_success": False})
    obs, reward, terminated, truncated, info = env.step(2)
    assert obs["achieved_goal"].tolist() == [1, 1, 1, 1]
    assert (reward, terminated, truncated, info) == (0.0, True, False, {"is_success": True})


def test_bit_flipping_continuous_flips_every_bit_with_a_positive_action():
    env = BitFlippingEnv(n_bits=4, continuous=True)
    env.reset(seed=0)
    env.state = np.array([0, 1, 0, 1], dtype=np.int8)
    obs, reward, terminated, _, _ = env.step(np.array([0.5, -0.5, 0.2, 0.0], dtype=np.float32))
    assert obs["observation"].tolist() == [1, 1, 1, 1]
    assert reward == 0.0 and terminated


def test_bit_flipping_is_truncated_after_max_steps():
    env = BitFlippingEnv(n_bits=4, max_steps=3)
    env.reset(seed=0)
    env.state = np.zeros(4, dtype=np.int8)
    steps = run(env, [0, 0, 0])  # 1000, 0000, 1000: never the goal
    assert [s[:3] for s in steps] == [(-1.0, False, False), (-1.0, False, False), (-1.0, False, True)]


def test_bit_flipping_discrete_and_image_observations():
    env = BitFlippingEnv(n_bits=4, discrete_obs_space=True)
    env.reset(seed=0)
    env.state = np.array([1, 0, 1, 0], dtype=np.int8)
    obs, *_ = env.step(3)  # bits 1011 (bit i is worth 2**i): 1 + 4 + 8
    assert obs == {"observation": 13, "achieved_goal": 13, "desired_goal": 15}

    for channel_first in (True, False):
        env = BitFlippingEnv(n_bits=3, image_obs_space=True, channel_first=channel_first)
        env.reset(seed=0)
        env.state = np.array([1, 1, 1], dtype=np.int8)
        obs, *_ = env.step(1)
        image = obs["observation"]
        assert image.shape == ((1, 36, 36) if channel_first else (36, 36, 1)) and image.dtype == np.uint8
        assert image.reshape(-1)[:4].tolist() == [255, 0, 255, 0]
        assert int(image.sum()) == 2 * 255
        assert obs["desired_goal"].reshape(-1)[:4].tolist() == [255, 255, 255, 0]


def test_compute_reward_on_single_and_batched_bit_vectors():
    env = BitFlippingEnv(n_bits=4)
    ones = np.ones(4, dtype=np.int8)
    single = env.compute_reward(ones, ones, None)
    assert single.dtype == np.float32 and single.shape == (1,) and single.tolist() == [0.0]
    assert env.compute_reward(np.array([1, 0, 1, 1]), ones, None).tolist() == [-1.0]
    achieved = np.array([[1, 1, 1, 1], [0, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0]], dtype=np.int8)
    desired = np.array([[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 0], [0, 0, 0, 0]], dtype=np.int8)
    assert env.compute_reward(achieved, desired, [{}] * 4).tolist() == [0.0, -1.0, -1.0, 0.0]
    # One desired goal against a batch of achieved ones.
    assert env.compute_reward(achieved, ones, None).tolist() == [0.0, -1.0, 0.0, -1.0]


def test_compute_reward_on_integers_and_images():
    env = BitFlippingEnv(n_bits=4, discrete_obs_space=True)
    assert env.compute_reward(15, 15, None).tolist() == [0.0]
    assert env.compute_reward(13, 15, None).tolist() == [-1.0]
    assert env.compute_reward(np.array([15, 3, 0]), np.array([15, 15, 0]), None).tolist() == [0.0, -1.0, 0.0]
    assert env.compute_reward(np.array([[15], [3]]), np.array([[15], [15]]), None).tolist() == [0.0, -1.0]
    assert env.convert_to_bit_vector(np.array([13, 2]), 2).tolist() == [[1, 0, 1, 1], [0, 1, 0, 0]]

    env = BitFlippingEnv(n_bits=4, image_obs_space=True)
    goal = env.convert_if_needed(np.ones(4, dtype=np.int8))
    near = env.convert_if_needed(np.array([1, 1, 0, 1], dtype=np.int8))
    assert env.compute_reward(goal, goal, None).tolist() == [0.0]
    assert env.compute_reward(np.stack([goal, near, goal]), np.stack([goal] * 3), None).tolist() == [0.0, -1.0, 0.0]


def test_compute_reward_recomputes_the_rewards_of_an_episode():
    """What hindsight relabelling relies on: the stored goals give back the rewards the env paid."""
    for kwargs in ({}, {"discrete_obs_space": True}, {"image_obs_space": True}):
        env = BitFlippingEnv(n_bits=5, **kwargs)
        env.reset(seed=2)
        env.action_space.seed(2)
        achieved, desired, rewards, done = [], [], [], False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            achieved.append(obs["achieved_goal"])
            desired.append(obs["desired_goal"])
            rewards.append(reward)
            done = terminated or truncated
        batch = env.compute_reward(np.array(achieved), np.array(desired), None)
        assert batch.shape == (len(rewards),) and batch.tolist() == rewards


def test_bit_flipping_seeding_spec_and_render(capsys):
    env = BitFlippingEnv(n_bits=8)
    first = env.reset(seed=5)[0]["observation"]
    env.reset(seed=6)
    np.testing.assert_array_equal(env.reset(seed=5)[0]["observation"], first)
    assert env.spec.id == "BitFlippingEnv-v0"
    rebuilt = gym.make(env.spec).unwrapped
    assert isinstance(rebuilt, BitFlippingEnv) and rebuilt.observation_space == env.observation_space
    env.render()
    assert capsys.readouterr().out.strip() == str(env.state)
    pixels = BitFlippingEnv(n_bits=3, render_mode="rgb_array")
    pixels.reset(seed=0)
    np.testing.assert_array_equal(pixels.render(), pixels.state)


# --- SimpleMultiObsEnv ---------------------------------------------------------------------------------
def test_simple_multi_obs_env_spaces():
    env = SimpleMultiObsEnv()
    assert env.observation_space == spaces.Dict({
        "vec": spaces.Box(0, 1, (5,), dtype=np.float64),
        "img": spaces.Box(0, 255, (64, 64, 1), dtype=np.uint8),
    })
    assert env.action_space == spaces.Discrete(4)
    assert SimpleMultiObsEnv(channel_last=False).observation_space["img"].shape == (1, 64, 64)
    assert SimpleMultiObsEnv(discrete_actions=False).action_space == spaces.Box(0, 1, (4,), dtype=np.float32)
    assert env.max_state == 15 and env.max_count == 100


def test_the_4x4_grid_has_sb3s_transitions():
    env = SimpleMultiObsEnv()
    assert set(env.left_possible) == {1, 2, 3, 13, 14, 15}
    assert set(env.down_possible) == {0, 4, 8, 3, 7, 11}
    assert set(env.right_possible) == {0, 1, 2, 12, 13, 14}
    assert set(env.up_possible) == {4, 8, 12, 7, 11, 15}


@pytest.mark.parametrize("path", [[RIGHT] * 3 + [DOWN] * 3, [DOWN] * 3 + [RIGHT] * 3])
def test_a_shortest_path_from_the_start_reaches_the_goal_with_return_one_half(path):
    env = SimpleMultiObsEnv(random_start=False)
    env.reset(seed=0)
    assert env.state == 0
    steps = run(env, path)
    assert [s[0] for s in steps] == [-0.1] * 5 + [1.0]
    assert sum(s[0] for s in steps) == pytest.approx(0.5)
    assert [s[1] for s in steps] == [False] * 5 + [True]
    assert not any(s[2] for s in steps)
    assert steps[-1][3] == {"got_to_end": True} and env.state == 15


def test_walls_and_edges_block_moves():
    env = SimpleMultiObsEnv(random_start=False)
    env.reset(seed=0)
    run(env, [UP, LEFT])
    assert env.state == 0
    run(env, [RIGHT, DOWN])  # 1, then the wall at 5
    assert env.state == 1
    assert env.log == "Went down in state 1, got to state 1"
    env.state = 5  # inside the walls no move is possible (a random start can put the agent there)
    run(env, [LEFT, DOWN, RIGHT, UP])
    assert env.state == 5


def test_box_actions_move_by_their_largest_component():
    env = SimpleMultiObsEnv(random_start=False, discrete_actions=False)
    env.reset(seed=0)
    env.step(np.array([0.1, 0.2, 0.9, 0.3], dtype=np.float32))
    assert env.state == 1


def test_an_episode_is_truncated_at_its_101st_step():
    env = SimpleMultiObsEnv(random_start=False)
    env.reset(seed=0)
    steps = run(env, [UP] * 101)
    assert [s[2] for s in steps[-2:]] == [False, True]
    assert not any(s[1] for s in steps)
    assert sum(s[0] for s in steps) == pytest.approx(-10.1)


def test_each_cell_shows_its_columns_vector_and_its_rows_image():
    env = SimpleMultiObsEnv(random_start=False)
    env.reset(seed=0)
    seen = [env.get_state_mapping()]
    for action in [RIGHT] * 3 + [DOWN] * 3:
        seen.append(env.step(action)[0])
    cells = [0, 1, 2, 3, 7, 11, 15]
    by_cell = dict(zip(cells, seen))
    np.testing.assert_array_equal(by_cell[0]["img"], by_cell[3]["img"])     # row 0
    np.testing.assert_array_equal(by_cell[3]["vec"], by_cell[15]["vec"])    # column 3
    assert not np.array_equal(by_cell[0]["vec"], by_cell[1]["vec"])
    assert not np.array_equal(by_cell[3]["img"], by_cell[7]["img"])
    obs = env.get_state_mapping()
    obs["vec"][:] = -1.0  # a returned observation is a copy, not the env's own arrays
    assert np.all(env.get_state_mapping()["vec"] >= 0.0)


def test_random_starts_are_seeded_and_never_the_goal():
    env = SimpleMultiObsEnv()
    starts = []
    for seed in range(200):
        env.reset(seed=seed)
        starts.append(env.state)
    assert set(starts) == set(range(15))
    again = []
    for seed in range(200):
        env.reset(seed=seed)
        again.append(env.state)
    assert again == starts


def test_the_observations_follow_numpys_global_seed_as_in_sb3():
    np.random.seed(7)
    a = SimpleMultiObsEnv().state_mapping
    np.random.seed(7)
    b = SimpleMultiObsEnv().state_mapping
    for cell_a, cell_b in zip(a, b):
        np.testing.assert_array_equal(cell_a["vec"], cell_b["vec"])
        np.testing.assert_array_equal(cell_a["img"], cell_b["img"])


def test_other_grid_sizes_open_their_border():
    env = SimpleMultiObsEnv(num_col=3, num_row=2, random_start=False)
    env.reset(seed=0)
    assert env.max_state == 5
    steps = run(env, [RIGHT, RIGHT, DOWN])
    assert [s[0] for s in steps] == [-0.1, -0.1, 1.0] and steps[-1][1]
    wide = SimpleMultiObsEnv(num_col=5, num_row=3, random_start=False)
    assert set(wide.down_possible) == {0, 4, 5, 9}  # the columns at the edges; the middle row's inner cells are walls
    with pytest.raises(ConfigurationError, match="at least two cells"):
        SimpleMultiObsEnv(num_col=1, num_row=1)


DETAILED_ERRORS = [
    (spaces.Box(0.0, np.array([2.0, 1.0, 1.0], np.float32), (3,), np.float32), np.array([1.0, 1.5, 0.5], np.float32),
     r"1 invalid indices:\nExpected: 0.0 <= obs\[1\] <= 1.0, actual value: 1.5"),
    (spaces.Box(-1.0, 2.0, (2, 3, 3, 1), np.float32), 3.0 * np.ones((2, 3, 3, 1), np.float32),
     r"18 invalid indices:\nExpected: -1.0 <= obs\[0,0,0,0\] <= 2.0, actual value: 3.0(.|\n)*obs\[1,2,1,0\]"),
    (spaces.Box(-1.0, 2.0, (100,), np.float32), 3.0 * np.ones(100, np.float32),
     r"100 invalid indices(.|\n)*and 80 more"),
    (spaces.Box(-1.0, 2.0, (3,), np.float32), np.ones(3, np.float64), r"Expected: float32, actual dtype: float64"),
    (spaces.Dict({"obs": spaces.Box(-1.0, 2.0, (3,), np.float32)}), {"obs": np.ones((2, 3), np.float32)},
     r"Error while checking key=obs: .*Expected: \(3,\), actual shape: \(2, 3\)"),
    (spaces.MultiBinary(3), np.array([[1, 0, 0]], np.int8), r"Expected: \(3,\), actual shape: \(1, 3\)"),
]


@pytest.mark.parametrize("method", ["reset", "step"])
@pytest.mark.parametrize("space, wrong, message", DETAILED_ERRORS)
def test_check_env_names_what_is_outside_the_observation_space(space, wrong, message, method):
    from ballast.errors import EnvCheckError

    good = space.sample()

    class Returns(gym.Env):
        observation_space = space
        action_space = spaces.Discrete(2)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return (wrong if method == "reset" else good), {}

        def step(self, action):
            return wrong, 0.0, False, False, {}

    with pytest.raises(EnvCheckError, match=rf"returned by the `{method}\(\)` method is not within(.|\n)*{message}"):
        check_env(Returns())


def test_check_env_leaves_api_errors_to_gymnasium_s_checker():
    class OldStep(gym.Env):  # the Gym 0.21 step: 4 values
        observation_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        action_space = spaces.Discrete(2)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return np.zeros(2, np.float32), {}

        def step(self, action):
            return np.zeros(2, np.float32), 0.0, False, {}

    with pytest.raises(Exception, match="5") as raised:
        check_env(OldStep())
    assert "not within" not in str(raised.value)
