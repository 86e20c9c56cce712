"""The zoo's two ways of writing HER: her.yml's model_class entries and replay_buffer_class/kwargs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ballast.errors import ConfigurationError
from ballast.zoo import load_hyperparams, parse_hyperparams, translate_her_entry


def test_shipped_her_yml_entries_name_their_algorithm_and_the_buffer() -> None:
    bits = load_hyperparams("her.yml", "ballast/BitFlipping-v0")
    assert bits.algorithm == "dqn" and bits.policy == "MultiInputPolicy" and bits.n_timesteps == 30_000
    assert bits.kwargs["replay_buffer_class"] == "HerReplayBuffer"
    assert bits.kwargs["replay_buffer_kwargs"] == {"n_sampled_goal": 4, "goal_selection_strategy": "future"}
    fetch = load_hyperparams("hyperparams/her.yml", "FetchReach-v4", "her")
    assert fetch.algorithm == "sac" and fetch.kwargs["normalize_observations"] is True
    assert "online_sampling" not in fetch.kwargs
    parking = load_hyperparams("her.yml", "parking-v0")
    assert parking.algorithm == "tqc" and "max_episode_length" not in parking.kwargs


def test_the_per_algorithm_format_parses_replay_buffer_kwargs_without_running_them() -> None:
    entry = {"policy": "MultiInputPolicy", "replay_buffer_class": "HerReplayBuffer",
             "replay_buffer_kwargs": "dict(\n goal_selection_strategy='episode',\n n_sampled_goal=2,\n )"}
    settings = parse_hyperparams(entry, "FetchReach-v4", "sac")
    assert settings.kwargs["replay_buffer_kwargs"] == {"goal_selection_strategy": "episode", "n_sampled_goal": 2}
    with pytest.raises(ConfigurationError, match="replay_buffer_kwargs"):
        parse_hyperparams({"replay_buffer_kwargs": "__import__('os')"}, "FetchReach-v4", "sac")


def test_her_entries_that_cannot_run_are_refused_by_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="model_class"):
        translate_her_entry({"n_sampled_goal": 4}, "her.yml [X]")
    with pytest.raises(ConfigurationError, match="online_sampling: False"):
        translate_her_entry({"model_class": "sac", "online_sampling": False}, "her.yml [X]")
    with pytest.raises(ConfigurationError, match="not both"):
        translate_her_entry({"model_class": "sac", "replay_buffer_kwargs": {}}, "her.yml [X]")
    (tmp_path / "her.yml").write_text("X-v0:\n  model_class: sac\n  n_episodes_rollout: 1\n")
    with pytest.raises(ConfigurationError, match="n_episodes_rollout"):
        load_hyperparams(tmp_path / "her.yml", "X-v0")
