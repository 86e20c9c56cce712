"""Learning curves from run folders: smoothing, the seed band, grouping, the figure file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ballast import ConfigurationError
from ballast.plotting import (
    Curve,
    aggregate,
    bootstrap_interval,
    find_runs,
    group_curves,
    load_curve,
    plot_runs,
    trailing_mean,
)

pytest.importorskip("matplotlib")


def write_run(folder: Path, algorithm: str, env_id: str, seed: int, rows: list[tuple[float, float, str]]) -> Path:
    """A run folder as ``ballast train`` writes it: (steps, seconds, reward) rows; '' is a missing reward."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"algorithm": algorithm, "env_id": env_id, "seed": seed}))
    lines = ["rollout/ep_rew_mean,time/time_elapsed,time/total_timesteps"]
    lines += [f"{reward},{seconds},{steps}" for steps, seconds, reward in rows]
    (folder / "progress.csv").write_text("\n".join(lines) + "\n")
    return folder


def curve(steps: list[float], values: list[float], algorithm: str = "ppo") -> Curve:
    steps_array = np.asarray(steps, dtype=float)
    return Curve(algorithm, "CartPole-v1", 0, steps_array, steps_array / 100.0, np.asarray(values, dtype=float),
                 Path("."))


def test_trailing_mean_by_hand() -> None:
    np.testing.assert_allclose(trailing_mean(np.array([1.0, 3.0, 5.0, 7.0]), 2), [1.0, 2.0, 4.0, 6.0])
    np.testing.assert_allclose(trailing_mean(np.array([1.0, 3.0, 5.0, 7.0]), 3), [1.0, 2.0, 3.0, 5.0])
    np.testing.assert_allclose(trailing_mean(np.array([4.0, 2.0]), 1), [4.0, 2.0])


def test_bootstrap_interval_of_the_mean() -> None:
    one = np.array([[1.0, 2.0]])
    low, high = bootstrap_interval(one)
    np.testing.assert_array_equal(low, [1.0, 2.0])
    np.testing.assert_array_equal(high, [1.0, 2.0])
    same = np.full((5, 3), 7.0)
    low, high = bootstrap_interval(same)
    np.testing.assert_allclose(low, 7.0)
    np.testing.assert_allclose(high, 7.0)
    spread = np.array([[0.0], [10.0], [20.0], [30.0]])
    low, high = bootstrap_interval(spread)
    assert 0.0 <= low[0] < 15.0 < high[0] <= 30.0  # around the mean 15, inside the range of resampled means


def test_aggregate_interpolates_over_the_range_every_seed_covers() -> None:
    band = aggregate([curve([0, 100, 200], [0, 10, 20]), curve([50, 150], [5, 25])], points=3)
    np.testing.assert_allclose(band.x, [50, 100, 150])
    # first curve at 50, 100, 150: 5, 10, 15; second: 5, 15, 25
    np.testing.assert_allclose(band.mean, [5.0, 12.5, 20.0])
    assert band.n_runs == 2 and np.all(band.low <= band.mean) and np.all(band.mean <= band.high)
    time_band = aggregate([curve([0, 100, 200], [0, 10, 20])], x="time", points=2)
    np.testing.assert_allclose(time_band.x, [0.0, 2.0])
    with pytest.raises(ConfigurationError, match="x must be one of"):
        aggregate([curve([0, 1], [0, 1])], x="episodes")


def test_runs_are_found_loaded_and_grouped(tmp_path: Path) -> None:
    write_run(tmp_path / "bench" / "a", "ppo", "CartPole-v1", 0, [(100, 1.0, ""), (200, 2.0, "20.5"), (300, 3, "30")])
    write_run(tmp_path / "bench" / "b", "a2c", "CartPole-v1", 0, [(100, 1.0, "5")])
    write_run(tmp_path / "c", "ppo", "Acrobot-v1", 1, [(100, 1.0, "-500")])
    (tmp_path / "bench" / "not_a_run").mkdir()
    runs = find_runs([tmp_path / "bench", tmp_path / "c"])
    assert [r.name for r in runs] == ["a", "b", "c"]
    first = load_curve(runs[0])
    np.testing.assert_array_equal(first.steps, [200, 300])  # the row without a reward is skipped
    np.testing.assert_array_equal(first.values, [20.5, 30.0])
    groups = group_curves([load_curve(r) for r in runs])
    assert {env: sorted(algos) for env, algos in groups.items()} == {"CartPole-v1": ["a2c", "ppo"],
                                                                     "Acrobot-v1": ["ppo"]}
    with pytest.raises(ConfigurationError, match="no run folders"):
        find_runs([tmp_path / "bench" / "not_a_run"])
    with pytest.raises(ConfigurationError, match="does not exist"):
        find_runs([tmp_path / "missing"])


def test_plot_runs_writes_the_figure(tmp_path: Path) -> None:
    for seed in range(3):
        write_run(tmp_path / f"ppo_s{seed}", "ppo", "CartPole-v1", seed,
                  [(s, s / 100, str(s / 10 + seed)) for s in range(100, 1100, 100)])
    out = plot_runs([tmp_path], tmp_path / "figures" / "curves.png", smooth=2)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_runs([tmp_path], tmp_path / "curves.svg", x="time").read_text().lstrip().startswith("<?xml")
    with pytest.raises(ConfigurationError, match="must end in"):
        plot_runs([tmp_path], tmp_path / "curves.jpg")
    with pytest.raises(ConfigurationError, match="logged 'eval/mean_reward'.*rollout/ep_rew_mean"):
        plot_runs([tmp_path], tmp_path / "curves.png", metric="eval/mean_reward")
