"""SB3's ``results_plotter``: learning curves from the files a :class:`~ballast.envs.monitor.Monitor` writes.

``ts2xy(load_results(folder), "timesteps")`` gives the x (cumulative steps, episodes or hours) and
y (episode returns) arrays of a training run; ``plot_results`` draws them with matplotlib, which is
needed only for plotting.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ballast.envs.monitor import load_results
from ballast.errors import ConfigurationError, MissingDependencyError

X_TIMESTEPS = "timesteps"
X_EPISODES = "episodes"
X_WALLTIME = "walltime_hrs"
POSSIBLE_X_AXES = [X_TIMESTEPS, X_EPISODES, X_WALLTIME]
EPISODES_WINDOW = 100


def rolling_window(array: np.ndarray, window: int) -> np.ndarray:
    """A read-only view of ``array`` whose last axis holds every run of ``window`` consecutive values:
    shape ``(*array.shape[:-1], n - window + 1, window)``."""
    return np.lib.stride_tricks.sliding_window_view(array, window, axis=-1)


def window_func(var_1: np.ndarray, var_2: np.ndarray, window: int,
                func: Callable[..., np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``func`` (e.g. ``np.mean``) over each window of ``window`` values of ``var_2``, paired with the
    x value at the window's end: ``(var_1[window - 1:], func(windows, axis=-1))``."""
    return var_1[window - 1:], func(rolling_window(np.asarray(var_2), window), axis=-1)


def ts2xy(data_frame: Any, x_axis: str) -> tuple[np.ndarray, np.ndarray]:
    """The x and y arrays of a monitor DataFrame (:func:`load_results`): x is the cumulative number of
    steps at each episode's end (``"timesteps"``), the episode index (``"episodes"``) or the hours since
    the start (``"walltime_hrs"``); y is each episode's return."""
    if x_axis == X_TIMESTEPS:
        x = np.cumsum(data_frame.l.values)
    elif x_axis == X_EPISODES:
        x = np.arange(len(data_frame))
    elif x_axis == X_WALLTIME:
        x = data_frame.t.values / 3600.0
    else:
        raise ConfigurationError(f"x_axis must be one of {POSSIBLE_X_AXES}, got {x_axis!r}")
    return x, data_frame.r.values


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingDependencyError("plotting learning curves needs matplotlib: pip install matplotlib") from None
    return plt


def plot_curves(xy_list: Sequence[tuple[np.ndarray, np.ndarray]], x_axis: str, title: str,
                figsize: tuple[int, int] = (8, 2)) -> None:
    """One figure: each run's episode returns as points, and their mean over the last
    ``EPISODES_WINDOW`` episodes as a line."""
    plt = _pyplot()
    plt.figure(title, figsize=figsize)
    max_x = max(x[-1] for x, _ in xy_list if len(x))
    for x, y in xy_list:
        plt.scatter(x, y, s=2)
        if len(x) >= EPISODES_WINDOW:
            x_end, y_mean = window_func(x, y, EPISODES_WINDOW, np.mean)
            plt.plot(x_end, y_mean)
    plt.xlim(0, max_x)
    plt.title(title)
    plt.xlabel(x_axis)
    plt.ylabel("Episode Rewards")
    plt.tight_layout()


def plot_results(dirs: Sequence[str | os.PathLike[str]], num_timesteps: int | None, x_axis: str, task_name: str,
                 figsize: tuple[int, int] = (8, 2)) -> None:
    """Plot the monitor files of each folder in ``dirs``, up to ``num_timesteps`` steps (all if None)."""
    xy_list = []
    for folder in dirs:
        frame = load_results(folder)
        if num_timesteps is not None:
            frame = frame[frame.l.cumsum() <= num_timesteps]
        xy_list.append(ts2xy(frame, x_axis))
    plot_curves(xy_list, x_axis, task_name, figsize)
