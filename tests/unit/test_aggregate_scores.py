"""Aggregate scores across envs (after rliable): IQM, normalisation, stratified bootstrap, the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from ballast.aggregate_scores import (
    aggregate_scores,
    interquartile_mean,
    markdown_table,
    normalise,
    parse_score_ranges,
    stratified_bootstrap_interval,
)
from ballast.cli import main
from ballast.errors import ConfigurationError


@pytest.mark.parametrize("scores, expected", [
    ([1, 2, 3, 4, 5, 6, 7, 8], 4.5),   # 2 dropped at each end: mean of 3, 4, 5, 6
    ([0, 0, 10, 100], 5.0),            # 1 dropped at each end: mean of 0, 10
    ([100, 1, 3, 2, 4], 3.0),          # n = 5: floor(5 / 4) = 1 dropped at each end: mean of 2, 3, 4
    ([7, 1, 4], 4.0),                  # n = 3: nothing dropped
])
def test_interquartile_mean_drops_a_quarter_at_each_end(scores: list[float], expected: float) -> None:
    assert interquartile_mean(np.array(scores)) == pytest.approx(expected)


def test_normalise_uses_given_ranges_or_the_runs_extremes() -> None:
    scores = {"A": {"x": np.array([10.0, 20.0]), "y": np.array([0.0, 30.0])},
              "B": {"x": np.array([5.0]), "y": np.array([1.0])}}
    out = normalise(scores, {"B": (0.0, 10.0)})
    np.testing.assert_allclose(out["A"]["x"], [1 / 3, 2 / 3])
    np.testing.assert_allclose(out["A"]["y"], [0.0, 1.0])
    np.testing.assert_allclose(out["B"]["x"], [0.5])
    np.testing.assert_allclose(out["B"]["y"], [0.1])
    with pytest.raises(ConfigurationError, match=r"env\(s\) \['C'\] that no run was trained on"):
        normalise(scores, {"C": (0.0, 1.0)})
    with pytest.raises(ConfigurationError, match="all runs scored the same: give --score-range B=LOW:HIGH"):
        normalise({"B": {"x": np.array([3.0, 3.0])}})


def test_the_bootstrap_resamples_within_each_env() -> None:
    # Env 1's runs all score 0 and env 2's all 1: every stratified resample keeps two runs of each,
    # so the pooled mean is exactly 0.5 in all of them (a pooled bootstrap would vary).
    low, high = stratified_bootstrap_interval([np.zeros(2), np.ones(2)], lambda x: float(x.mean()))
    assert low == high == 0.5
    rng = np.random.default_rng(3)
    per_env = [rng.normal(size=5), rng.normal(size=5) + 1.0]
    low, high = stratified_bootstrap_interval(per_env, interquartile_mean)
    assert low < interquartile_mean(np.concatenate(per_env)) < high
    assert (low, high) == stratified_bootstrap_interval(per_env, interquartile_mean)  # seeded


def test_aggregate_scores_per_algorithm() -> None:
    scores = {"A": {"x": np.array([10.0, 20.0]), "y": np.array([0.0, 30.0])},
              "B": {"x": np.array([5.0]), "y": np.array([1.0])}}
    x, y = aggregate_scores(scores, {"B": (0.0, 10.0)}, resamples=200)
    assert (x.algorithm, x.n_envs, x.n_runs) == ("x", 2, 3)
    assert x.iqm == pytest.approx(0.5) and x.mean == pytest.approx(0.5) and x.median == pytest.approx(0.5)
    assert y.mean == pytest.approx((0.0 + 1.0 + 0.1) / 3) and y.median == pytest.approx(0.1)
    assert y.iqm_low <= y.iqm <= y.iqm_high and x.mean_low <= x.mean <= x.mean_high
    table = markdown_table([x, y])
    assert table.splitlines()[2].startswith("| x | 2 | 3 | 0.500 [")


def test_parse_score_ranges() -> None:
    assert parse_score_ranges(["CartPole-v1=9:500", "ALE/Pong-v5=-21:21"]) == {
        "CartPole-v1": (9.0, 500.0), "ALE/Pong-v5": (-21.0, 21.0)}
    for bad in ("CartPole-v1", "CartPole-v1=9", "=1:2", "CartPole-v1=a:b"):
        with pytest.raises(ConfigurationError, match="a score range is ENV_ID=LOW:HIGH"):
            parse_score_ranges([bad])


def _fake_run(folder: Path, algorithm: str, env_id: str, seed: int, final: float) -> None:
    run = folder / f"{algorithm}_{env_id}_s{seed}"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"algorithm": algorithm, "env_id": env_id, "seed": seed}))
    with open(run / "progress.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["time/total_timesteps", "time/time_elapsed", "rollout/ep_rew_mean"])
        writer.writerows([[100, 1.0, final / 2], [200, 2.0, final]])


def test_cli_plot_aggregate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for seed, (ppo, a2c) in enumerate([(500.0, 200.0), (400.0, 300.0)]):
        _fake_run(tmp_path / "runs", "ppo", "CartPole-v1", seed, ppo)
        _fake_run(tmp_path / "runs", "a2c", "CartPole-v1", seed, a2c)
    _fake_run(tmp_path / "runs", "ppo", "Acrobot-v1", 0, -80.0)
    _fake_run(tmp_path / "runs", "a2c", "Acrobot-v1", 0, -500.0)
    assert main(["plot", str(tmp_path / "runs"), "--out", str(tmp_path / "curves.png"), "--aggregate",
                 str(tmp_path / "aggregate.png"), "--score-range", "CartPole-v1=0:500",
                 "--score-range", "Acrobot-v1=-500:0"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "aggregate.png").stat().st_size > 0 and (tmp_path / "curves.png").is_file()
    # a2c: CartPole 0.4, 0.6 and Acrobot 0.0 -> mean 1/3; ppo: 1.0, 0.8 and 0.84 -> mean 0.88.
    assert "| a2c | 2 | 3 | 0.333 [" in out and "| ppo | 2 | 3 | 0.880 [" in out
    assert main(["plot", str(tmp_path / "runs"), "--out", str(tmp_path / "c.png"), "--score-range",
                 "CartPole-v1=0:500"]) == 2
    assert "give --aggregate FILE too" in capsys.readouterr().err
