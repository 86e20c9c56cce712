"""SB3's ``stable_baselines3.common.results_plotter``: learning curves from monitor files
(:mod:`ballast.envs.monitor_plots`)."""

from ballast.envs.monitor import load_results
from ballast.envs.monitor_plots import (
    EPISODES_WINDOW,
    POSSIBLE_X_AXES,
    X_EPISODES,
    X_TIMESTEPS,
    X_WALLTIME,
    plot_curves,
    plot_results,
    rolling_window,
    ts2xy,
    window_func,
)

__all__ = ["EPISODES_WINDOW", "POSSIBLE_X_AXES", "X_EPISODES", "X_TIMESTEPS", "X_WALLTIME", "load_results",
           "plot_curves", "plot_results", "rolling_window", "ts2xy", "window_func"]
