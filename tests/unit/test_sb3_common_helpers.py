"""SB3's helper modules at SB3's paths: common.utils, common.preprocessing, common.base_class."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from gymnasium import spaces

from ballast import PPO, SAC
from ballast.common.base_class import BaseAlgorithm, maybe_make_env
from ballast.common.preprocessing import (
    check_for_nested_spaces,
    get_action_dim,
    get_flattened_obs_dim,
    get_obs_shape,
    is_image_space,
    is_image_space_channels_first,
    maybe_transpose,
    preprocess_obs,
)
from ballast.common.utils import (
    constant_fn,
    explained_variance,
    get_latest_run_id,
    get_linear_fn,
    get_schedule_fn,
    obs_as_tensor,
    polyak_update,
    safe_mean,
    update_learning_rate,
    zip_strict,
)

IMAGE_HWC = spaces.Box(0, 255, (36, 36, 3), np.uint8)
IMAGE_CHW = spaces.Box(0, 255, (3, 36, 36), np.uint8)


# --- common.utils ----------------------------------------------------------------------------------
def test_explained_variance_by_hand():
    y_true = np.array([1.0, 2.0, 3.0, 4.0])
    y_pred = np.array([1.0, 2.0, 3.0, 3.0])
    # Var[y] = 1.25, Var[y - y_hat] = Var[0, 0, 0, 1] = 0.1875
    assert explained_variance(y_pred, y_true) == pytest.approx(1 - 0.1875 / 1.25)
    assert explained_variance(y_true, y_true) == 1.0
    assert np.isnan(explained_variance(y_pred, np.ones(4)))


def test_linear_fn_reaches_its_end_at_end_fraction_and_stays():
    schedule = get_linear_fn(1.0, 0.1, 0.5)
    assert schedule(1.0) == 1.0
    assert schedule(0.75) == pytest.approx(1.0 + 0.25 * (0.1 - 1.0) / 0.5)  # a quarter in: half-way down
    assert schedule(0.5) == pytest.approx(0.1)
    assert schedule(0.2) == 0.1 and schedule(0.0) == 0.1


def test_schedules_from_sb3_helpers_are_saved_as_data(tmp_path):
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16, learning_rate=get_linear_fn(3e-3, 1e-4, 0.5),
                clip_range=constant_fn(0.1), device="cpu")
    path = model.save(tmp_path / "schedules.zip")
    loaded = PPO.load(path)
    for progress in (1.0, 0.7, 0.3):
        assert loaded.lr_schedule(progress) == pytest.approx(model.lr_schedule(progress))
    assert loaded.clip_range(0.4) == 0.1
    assert get_schedule_fn(0.5)(0.1) == 0.5 and get_schedule_fn(lambda p: 2 * p)(0.25) == 0.5
    assert json.dumps(get_linear_fn(1.0, 0.0, 0.25).to_json())  # plain data


def test_latest_run_id_reads_the_run_folders_of_learn(tmp_path):
    assert get_latest_run_id(tmp_path, "PPO") == 0
    for name in ("PPO_1", "PPO_3", "PPO_x", "PPO_extra_7", "SAC_9"):
        (tmp_path / name).mkdir()
    assert get_latest_run_id(tmp_path, "PPO") == 3
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16, tensorboard_log=str(tmp_path), device="cpu")
    model.learn(16)
    assert (tmp_path / "PPO_4").is_dir() and get_latest_run_id(tmp_path, "PPO") == 4


def test_polyak_update_moves_targets_by_tau():
    params = [torch.tensor([1.0, 2.0]), torch.tensor([[4.0]])]
    targets = [torch.tensor([0.0, 0.0]), torch.tensor([[2.0]])]
    polyak_update(params, targets, 0.25)
    torch.testing.assert_close(targets[0], torch.tensor([0.25, 0.5]))
    torch.testing.assert_close(targets[1], torch.tensor([[2.5]]))
    with pytest.raises(ValueError, match="1 parameters but 2"):
        polyak_update(params[:1], targets, 0.5)


def test_polyak_update_on_a_model_s_networks():
    model = SAC("MlpPolicy", "Pendulum-v1", device="cpu")
    critic, target = model.critic.parameters(), model.critic_target.parameters()
    before = [t.detach().clone() for t in model.critic_target.parameters()]
    with torch.no_grad():
        for p in model.critic.parameters():
            p.add_(1.0)
    polyak_update(critic, target, 1.0)
    for p, t, old in zip(model.critic.parameters(), model.critic_target.parameters(), before):
        torch.testing.assert_close(t, p)
        assert not torch.equal(t, old)


def test_small_helpers():
    assert np.isnan(safe_mean([])) and safe_mean([1, 2]) == 1.5
    optimizer = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1.0)
    update_learning_rate(optimizer, 0.01)
    assert optimizer.param_groups[0]["lr"] == 0.01
    with pytest.raises(ValueError):
        list(zip_strict([1, 2], [1]))
    tensors = obs_as_tensor({"a": np.zeros(2, np.float32)}, "cpu")
    assert isinstance(tensors["a"], torch.Tensor) and obs_as_tensor(np.ones(3), "cpu").dtype == torch.float64
    with pytest.raises(TypeError, match="Unrecognized"):
        obs_as_tensor([1.0], "cpu")


# --- common.preprocessing --------------------------------------------------------------------------
def test_image_spaces():
    assert is_image_space(IMAGE_HWC) and is_image_space(IMAGE_CHW, check_channels=True)
    assert not is_image_space(spaces.Box(0, 255, (36, 36, 5), np.uint8), check_channels=True)
    assert not is_image_space(spaces.Box(0.0, 1.0, (36, 36, 3), np.float32))
    assert is_image_space(spaces.Box(0.0, 1.0, (36, 36, 3), np.float32), normalized_image=True)
    assert not is_image_space(spaces.Box(0.0, 1.0, (36, 36, 5), np.float32), check_channels=True, normalized_image=True)
    assert not is_image_space(spaces.Box(0, 255, (36, 36), np.uint8))
    assert is_image_space_channels_first(IMAGE_CHW) and not is_image_space_channels_first(IMAGE_HWC)
    with pytest.warns(UserWarning, match="second dimension"):
        is_image_space_channels_first(spaces.Box(0, 255, (36, 2, 40), np.uint8))


def test_maybe_transpose_turns_channels_last_images_into_the_space_s_layout():
    image = np.arange(36 * 36 * 3, dtype=np.uint8).reshape(36, 36, 3)
    out = maybe_transpose(image, IMAGE_CHW)
    assert out.shape == (3, 36, 36) and out[2, 0, 1] == image[0, 1, 2]
    assert maybe_transpose(np.stack([image] * 2), IMAGE_CHW).shape == (2, 3, 36, 36)
    assert maybe_transpose(image, IMAGE_HWC) is image


def test_preprocess_obs_one_hot_and_scaling():
    torch.testing.assert_close(preprocess_obs(torch.tensor([2, 0]), spaces.Discrete(3)),
                               torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))
    multi = preprocess_obs(torch.tensor([[1, 0], [0, 2]]), spaces.MultiDiscrete([2, 3]))
    torch.testing.assert_close(multi, torch.tensor([[0.0, 1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0, 1.0]]))
    image = preprocess_obs(torch.full((1, 3, 36, 36), 255, dtype=torch.uint8), IMAGE_CHW)
    assert image.dtype == torch.float32 and image.max().item() == 1.0
    unscaled = preprocess_obs(torch.full((1, 3, 36, 36), 255, dtype=torch.uint8), IMAGE_CHW, normalize_images=False)
    assert unscaled.max().item() == 255.0
    both = preprocess_obs({"d": torch.tensor([1]), "b": torch.tensor([[1, 0]])},
                          spaces.Dict({"d": spaces.Discrete(2), "b": spaces.MultiBinary(2)}))
    torch.testing.assert_close(both["d"], torch.tensor([[0.0, 1.0]]))
    assert both["b"].dtype == torch.float32
    with pytest.raises(NotImplementedError):
        preprocess_obs(torch.zeros(1), spaces.Text(5))


def test_shapes_and_dims():
    assert get_obs_shape(spaces.Discrete(4)) == (1,)
    assert get_obs_shape(spaces.MultiDiscrete([2, 3, 4])) == (3,)
    assert get_obs_shape(spaces.Dict({"a": IMAGE_HWC, "b": spaces.MultiBinary(3)})) == {"a": (36, 36, 3), "b": (3,)}
    assert get_flattened_obs_dim(spaces.MultiDiscrete([2, 3])) == 5
    assert get_flattened_obs_dim(spaces.Discrete(4)) == 4
    assert get_flattened_obs_dim(spaces.Box(-1, 1, (2, 3))) == 6
    assert get_action_dim(spaces.Box(-1, 1, (2, 3))) == 6 and get_action_dim(spaces.Discrete(5)) == 1
    assert get_action_dim(spaces.MultiDiscrete([2, 2])) == 2 and get_action_dim(spaces.MultiBinary(4)) == 4
    with pytest.raises(ValueError, match="flatten"):
        get_action_dim(spaces.MultiBinary([2, 2]))


def test_nested_spaces_are_refused():
    check_for_nested_spaces(spaces.Dict({"a": spaces.Discrete(2)}))
    with pytest.raises(NotImplementedError, match="Nested"):
        check_for_nested_spaces(spaces.Dict({"a": spaces.Dict({"b": spaces.Discrete(2)})}))


# --- common.base_class -----------------------------------------------------------------------------
def test_every_algorithm_is_a_base_algorithm():
    model = PPO("MlpPolicy", "CartPole-v1", device="cpu")
    assert isinstance(model, BaseAlgorithm)
    env = maybe_make_env("CartPole-v1", verbose=0)
    assert env.spec.id == "CartPole-v1" and maybe_make_env(env, verbose=0) is env


# --- common.save_util and FloatSchedule ------------------------------------------------------------
def test_open_path_adds_the_suffix_and_creates_folders(tmp_path):
    from ballast.common.save_util import load_from_pkl, open_path, save_to_pkl
    from ballast.errors import CheckpointError

    with pytest.warns(UserWarning, match="does not exist"), open_path(tmp_path / "new" / "t1", "w", suffix="bin") as f:
        f.write(b"abc")
    assert (tmp_path / "new" / "t1.bin").read_bytes() == b"abc"
    with open_path(str(tmp_path / "new" / "t1"), "r", suffix="bin") as f:  # found with the suffix
        assert f.read() == b"abc"
    with open(tmp_path / "new" / "t1.bin", "rb") as raw, pytest.raises(ValueError, match="writable"):
        open_path(raw, "w")
    with pytest.raises(TypeError):
        open_path(123, "r")
    with pytest.raises(ValueError, match="'w' or 'r'"):
        open_path(tmp_path / "x", "append")
    for call in (lambda: save_to_pkl(tmp_path / "x.pkl", {"a": 1}), lambda: load_from_pkl(tmp_path / "x.pkl")):
        with pytest.raises(CheckpointError, match="never pickles"):
            call()


def test_float_schedule_wraps_numbers_and_schedules_and_models_keep_the_schedule(tmp_path):
    from ballast.common.utils import FloatSchedule, LinearSchedule

    assert FloatSchedule(0.2)(0.5) == 0.2 and isinstance(FloatSchedule(1)(0.3), float)
    linear = FloatSchedule(FloatSchedule(LinearSchedule(1.0, 0.0, 0.5)))
    assert isinstance(linear.value_schedule, LinearSchedule) and linear(0.75) == pytest.approx(0.5)
    with pytest.raises(TypeError):
        FloatSchedule("fast")
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16, learning_rate=linear, device="cpu")
    loaded = PPO.load(model.save(tmp_path / "m"))
    assert loaded.lr_schedule(0.75) == pytest.approx(0.5) and loaded.lr_schedule(0.2) == 0.0


def test_is_vectorized_observation_tells_one_from_a_batch_and_refuses_other_shapes():
    from ballast.common.utils import is_vectorized_observation

    box, discrete = spaces.Box(-1, 1, shape=(2,)), spaces.Discrete(2)
    multi_discrete, multi_binary = spaces.MultiDiscrete([2, 3]), spaces.MultiBinary(3)
    both = spaces.Dict({"box": box, "discrete": discrete})
    cases = [(np.ones((1, 2)), box, True), (np.ones(2), box, False), (np.ones(3, dtype=np.int8), discrete, True),
             (np.int8(1), discrete, False), (1, discrete, False), (np.ones((4, 2)), multi_discrete, True),
             (np.ones(2), multi_discrete, False), (np.ones((1, 3)), multi_binary, True),
             (np.ones(3), multi_binary, False), ({"box": np.ones((5, 2)), "discrete": np.ones(5)}, both, True),
             ({"box": np.ones(2), "discrete": np.ones(())}, both, False),
             ({"box": np.ones((1, 2)), "discrete": np.ones(3)}, both, True)]  # SB3 compares no batch sizes
    for observation, space, batched in cases:
        assert is_vectorized_observation(observation, space) is batched, (observation, space)
    refused = [(np.ones((1, 2, 2)), box, "(2,) for one observation or (batch, 2) for a batch"),
               (np.ones((1, 2)), discrete, "()"), (np.ones((2, 1)), multi_discrete, "(2,)"),
               ({"box": np.ones(2), "discrete": np.ones(1)}, both, "batched and others are not"),
               ({"box": np.ones((1, 2))}, both, "lacks the keys ['discrete']")]
    for observation, space, message in refused:
        with pytest.raises(ValueError, match=re.escape(message)):
            is_vectorized_observation(observation, space)


def test_space_checks_name_what_differs():
    import gymnasium as gym

    from ballast.common.utils import check_for_correct_spaces, check_shape_equal
    from ballast.errors import SpaceMismatchError

    env = gym.make("CartPole-v1")
    check_for_correct_spaces(env, env.observation_space, env.action_space)
    with pytest.raises(SpaceMismatchError, match=r"action spaces do not match: expected Discrete\(3\)"):
        check_for_correct_spaces(env, env.observation_space, spaces.Discrete(3))
    check_shape_equal(spaces.Box(0, 1, (3,)), spaces.Box(-5, 5, (3,)))  # bounds are not compared
    with pytest.raises(AssertionError, match=r"\(3,\) != \(4,\)"):
        check_shape_equal(spaces.Dict({"a": spaces.Box(0, 1, (3,))}), spaces.Dict({"a": spaces.Box(0, 1, (4,))}))
    with pytest.raises(AssertionError, match="same keys"):
        check_shape_equal(spaces.Dict({"a": spaces.Box(0, 1, (3,))}), spaces.Dict({"b": spaces.Box(0, 1, (3,))}))


def test_parameters_by_name_include_batch_norm_statistics():
    from ballast.common.utils import get_parameters_by_name

    model = torch.nn.Sequential(torch.nn.Linear(5, 5), torch.nn.BatchNorm1d(5))
    model(torch.ones(3, 5))
    found = get_parameters_by_name(model, ["weight", "bias", "running_"])
    assert len(found) == 6  # two weights, two biases, the running mean and variance; not num_batches_tracked
    torch.testing.assert_close(found[4], model[1].running_mean)
    assert [t.data_ptr() for t in get_parameters_by_name(model, ["running_"])] == [
        model[1].running_mean.data_ptr(), model[1].running_var.data_ptr()]


def test_train_frequency_and_system_info():
    import ballast
    from ballast.common.type_aliases import TrainFreq, TrainFrequencyUnit
    from ballast.common.utils import get_system_info, should_collect_more_steps

    every_4_steps, every_episode = TrainFreq(4, TrainFrequencyUnit.STEP), TrainFreq(1, TrainFrequencyUnit.EPISODE)
    assert [should_collect_more_steps(every_4_steps, steps, 9) for steps in (3, 4)] == [True, False]
    assert [should_collect_more_steps(every_episode, 9, episodes) for episodes in (0, 1)] == [True, False]
    info, text = get_system_info(print_info=False)
    assert info["Ballast"] == ballast.__version__ and info["PyTorch"] == torch.__version__
    assert text.splitlines()[2] == f"- Ballast: {ballast.__version__}"
    assert ballast.get_system_info is get_system_info
