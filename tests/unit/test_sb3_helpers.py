"""SB3's helper names that Ballast adds at SB3's paths: set_random_seed, results_plotter, the noise path."""

import random

import numpy as np
import pandas
import pytest
import torch

from ballast.common.results_plotter import X_EPISODES, X_TIMESTEPS, X_WALLTIME, rolling_window, ts2xy, window_func
from ballast.common.utils import set_random_seed
from ballast.errors import ConfigurationError


def test_set_random_seed_seeds_python_numpy_and_torch():
    set_random_seed(7)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    set_random_seed(7)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
    set_random_seed(8)
    assert random.random() != first[0]


def test_ts2xy_gives_sb3_s_axes():
    frame = pandas.DataFrame({"r": [1.0, 2.0, 4.0], "l": [10, 20, 30], "t": [3600.0, 7200.0, 9000.0]})
    x, y = ts2xy(frame, X_TIMESTEPS)
    assert x.tolist() == [10, 30, 60] and y.tolist() == [1.0, 2.0, 4.0]
    assert ts2xy(frame, X_EPISODES)[0].tolist() == [0, 1, 2]
    assert ts2xy(frame, X_WALLTIME)[0].tolist() == [1.0, 2.0, 2.5]
    with pytest.raises(ConfigurationError, match="x_axis"):
        ts2xy(frame, "steps")


def test_window_func_pairs_each_window_with_its_last_x():
    windows = rolling_window(np.arange(5.0), 3)
    assert windows.tolist() == [[0, 1, 2], [1, 2, 3], [2, 3, 4]]
    x, y = window_func(np.array([10, 20, 30, 40, 50]), np.array([1.0, 3.0, 5.0, 7.0, 9.0]), 3, np.mean)
    assert x.tolist() == [30, 40, 50] and y.tolist() == [3.0, 5.0, 7.0]


def test_sb3_noise_and_vec_env_submodule_paths_are_ballast_s_classes():
    from ballast.common.noise import NormalActionNoise
    from ballast.common.vec_env.base_vec_env import VecEnvWrapper
    from ballast.common.vec_env.vec_normalize import VecNormalize
    from ballast.envs import VecEnvWrapper as Wrapper
    from ballast.envs import VecNormalize as Normalize
    from ballast.noise import NormalActionNoise as Noise

    assert NormalActionNoise is Noise and VecEnvWrapper is Wrapper and VecNormalize is Normalize
