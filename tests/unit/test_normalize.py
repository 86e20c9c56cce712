import numpy as np
import pytest
import torch
from gymnasium import spaces

from ballast.policies.normalize import ObservationNormalizer, RewardNormalizer, RunningMeanStd


def pooled_with_prior(data, epsilon):
    """Mean and variance of ``data`` pooled with a prior of weight ``epsilon``, mean 0 and variance 1."""
    n = len(data)
    mean = data.sum(axis=0) / (n + epsilon)
    m2 = epsilon * (1.0 + mean**2) + ((data - mean) ** 2).sum(axis=0)
    return mean, m2 / (n + epsilon)


def test_running_mean_std_merges_batches_like_the_concatenation():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 3)) for n in (5, 7, 1, 20)]
    rms = RunningMeanStd((3,), epsilon=1e-4)
    for batch in batches:
        rms.update(torch.as_tensor(batch))
    data = np.concatenate(batches)
    mean, var = pooled_with_prior(data, 1e-4)
    np.testing.assert_allclose(rms.mean.numpy(), mean, rtol=1e-10)
    np.testing.assert_allclose(rms.var.numpy(), var, rtol=1e-10)
    assert rms.count.item() == pytest.approx(len(data) + 1e-4)


def test_running_mean_std_without_prior_is_numpy_mean_and_var():
    rng = np.random.default_rng(1)
    batches = [rng.uniform(-5, 5, size=(n,)) for n in (3, 4, 10)]
    rms = RunningMeanStd((), epsilon=0.0)
    for batch in batches:
        rms.update(torch.as_tensor(batch, dtype=torch.float32))
    data = np.concatenate(batches).astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(rms.mean.item(), data.mean(), rtol=1e-10)
    np.testing.assert_allclose(rms.var.item(), data.var(), rtol=1e-10)


def test_running_mean_std_small_hand_example():
    rms = RunningMeanStd((), epsilon=0.0)
    rms.update(torch.tensor([1.0, 3.0]))
    rms.update(torch.tensor([5.0]))
    # [1, 3, 5]: mean 3, population variance (4 + 0 + 4) / 3
    assert rms.mean.item() == pytest.approx(3.0)
    assert rms.var.item() == pytest.approx(8.0 / 3.0)


def dict_space():
    return spaces.Dict({
        "image": spaces.Box(0, 255, (3, 8, 8), np.uint8),
        "vec": spaces.Box(-np.inf, np.inf, (3,), np.float32),
        "disc": spaces.Discrete(4),
    })


def test_observation_normalizer_skips_images_and_discrete_keys():
    norm = ObservationNormalizer(dict_space())
    assert norm.keys == ["vec"]
    assert norm.is_dict


def test_observation_normalizer_hand_values_in_a_dict():
    norm = ObservationNormalizer(dict_space(), clip_obs=10.0)
    norm.stats["vec"].mean.copy_(torch.tensor([1.0, 2.0, 3.0]))
    norm.stats["vec"].var.copy_(torch.tensor([4.0, 1.0, 0.25]))
    image = torch.full((1, 3, 8, 8), 200, dtype=torch.uint8)
    disc = torch.tensor([3])
    out = norm({"image": image, "vec": torch.tensor([[3.0, 2.0, 10.0]]), "disc": disc})
    # (3 - 1) / 2 = 1, (2 - 2) / 1 = 0, (10 - 3) / 0.5 = 14 -> clipped to 10
    torch.testing.assert_close(out["vec"], torch.tensor([[1.0, 0.0, 10.0]]))
    assert out["image"] is image
    assert out["disc"] is disc


def test_observation_normalizer_update_changes_only_vector_stats_and_forward_changes_none():
    norm = ObservationNormalizer(dict_space())
    batch = {
        "image": torch.zeros(2, 3, 8, 8, dtype=torch.uint8),
        "vec": torch.tensor([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]]),
        "disc": torch.tensor([0, 1]),
    }
    norm(batch)
    assert norm.stats["vec"].count.item() == pytest.approx(1e-4)
    norm.update(batch)
    mean, var = pooled_with_prior(batch["vec"].double().numpy(), 1e-4)
    np.testing.assert_allclose(norm.stats["vec"].mean.numpy(), mean)
    np.testing.assert_allclose(norm.stats["vec"].var.numpy(), var)


def test_observation_normalizer_leaves_a_plain_image_space_alone():
    norm = ObservationNormalizer(spaces.Box(0, 255, (36, 36, 3), np.uint8))
    assert norm.keys == []
    image = torch.randint(0, 255, (2, 36, 36, 3), dtype=torch.uint8)
    assert norm(image) is image


def test_reward_normalizer_tracks_discounted_returns_and_resets_at_episode_end():
    norm = RewardNormalizer(n_envs=2, gamma=0.5, clip_reward=10.0)
    norm.update_and_normalize(np.array([1.0, 2.0]), np.array([False, True]))
    # R = [1, 2]; env 1 ended -> [1, 0]
    np.testing.assert_allclose(norm.returns.numpy(), [1.0, 0.0])
    norm.update_and_normalize(np.array([2.0, 4.0]), np.array([False, False]))
    # R = [.5*1 + 2, .5*0 + 4] = [2.5, 4]
    np.testing.assert_allclose(norm.returns.numpy(), [2.5, 4.0])
    scaled = norm.update_and_normalize(np.array([1.0, 1.0]), np.array([True, False]))
    # R = [.5*2.5 + 1, .5*4 + 1] = [2.25, 3]; env 0 ended -> [0, 3]
    np.testing.assert_allclose(norm.returns.numpy(), [0.0, 3.0])
    seen_returns = np.array([1.0, 2.0, 2.5, 4.0, 2.25, 3.0])
    _, var = pooled_with_prior(seen_returns, 1e-4)
    np.testing.assert_allclose(norm.return_rms.var.item(), var, rtol=1e-10)
    np.testing.assert_allclose(scaled, np.array([1.0, 1.0]) / np.sqrt(var + 1e-8), rtol=1e-10)


def test_reward_normalizer_clips_and_normalize_does_not_update():
    norm = RewardNormalizer(n_envs=2, gamma=0.9, clip_reward=5.0)
    norm.update_and_normalize(np.array([1.0, 3.0]), np.array([False, False]))
    count = norm.return_rms.count.item()
    std = np.sqrt(norm.return_rms.var.item() + 1e-8)
    np.testing.assert_allclose(norm.normalize(np.array([0.3, 1e6, -1e6])), [0.3 / std, 5.0, -5.0])
    assert norm.return_rms.count.item() == count


def test_sb3s_numpy_running_mean_std_merges_batches_and_other_statistics() -> None:
    from ballast.common.running_mean_std import RunningMeanStd as NumpyRunningMeanStd

    batches = [np.array([[1.0, 2.0], [3.0, 6.0]]), np.array([[5.0, -2.0]]), np.array([[0.0, 0.0], [1.0, 4.0]])]
    stream = NumpyRunningMeanStd(epsilon=0.0, shape=(2,))
    for batch in batches:
        stream.update(batch)
    # the five rows by hand: means (2, 2), population variances (16 / 5, 40 / 5)
    np.testing.assert_allclose(stream.mean, [2.0, 2.0])
    np.testing.assert_allclose(stream.var, [3.2, 8.0])
    assert stream.count == 5.0
    first, second = NumpyRunningMeanStd(epsilon=0.0, shape=(2,)), NumpyRunningMeanStd(epsilon=0.0, shape=(2,))
    first.update(batches[0])
    for batch in batches[1:]:
        second.update(batch)
    copy = first.copy()
    first.combine(second)
    np.testing.assert_allclose(first.mean, stream.mean)
    np.testing.assert_allclose(first.var, stream.var)
    np.testing.assert_allclose(copy.mean, [2.0, 4.0])  # the copy kept the statistics it was taken with
    assert NumpyRunningMeanStd().count == 1e-4
