"""SB3's list of per-copy infos, built from Gymnasium's dict of arrays (ballast.callback_locals)."""

from __future__ import annotations

import time
from collections import deque

import numpy as np

from ballast.callback_locals import StepInfos, copy_info

OBS = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]], dtype=np.float32)


def test_copy_info_keeps_the_keys_present_for_that_copy_including_nested_ones() -> None:
    infos = {
        "lives": np.array([3, 0, 2]), "_lives": np.array([True, False, True]),
        "episode": {"r": np.array([0.0, 7.5, 0.0]), "_r": np.array([False, True, False]),
                    "l": np.array([0, 4, 0]), "_l": np.array([False, True, False])},
        "_episode": np.array([False, True, False]),
    }
    assert copy_info(infos, 0) == {"lives": 3}
    assert copy_info(infos, 1) == {"episode": {"r": 7.5, "l": 4}}
    assert copy_info(infos, 2) == {"lives": 2}


def test_next_step_autoreset_infos_with_episode_statistics_from_the_model() -> None:
    dones = np.array([True, False, True])
    terminated = np.array([True, False, False])
    truncated = np.array([False, False, True])
    infos = {"lives": np.array([0, 2, 1]), "_lives": np.array([True, True, True])}
    # The model appended the two finished episodes, in copy order, before the callbacks ran.
    episodes = deque([{"r": 9.0, "l": 9, "t": 0.5}, {"r": 1.5, "l": 3, "t": 2.5}, {"r": -2.0, "l": 200, "t": 2.5}],
                     maxlen=100)
    started = time.perf_counter() - 2.0
    step = StepInfos(infos, dones, terminated, truncated, OBS, same_step=False, episodes=episodes, started=started)
    episodes.append({"r": 100.0, "l": 100, "t": 3.0})  # a later step's episode: not this step's
    assert len(step) == 3
    first, second, third = step
    assert first["lives"] == 0 and first["TimeLimit.truncated"] is False
    np.testing.assert_array_equal(first["terminal_observation"], OBS[0])
    assert (first["episode"]["r"], first["episode"]["l"]) == (1.5, 3)
    assert first["episode"]["t"] == 2.5
    assert second == {"lives": 2, "TimeLimit.truncated": False}
    assert third["TimeLimit.truncated"] is True
    assert (third["episode"]["r"], third["episode"]["l"]) == (-2.0, 200)
    assert step[0] is step.as_list()[0]  # built once


def test_the_env_s_own_episode_statistics_are_kept() -> None:
    infos = {"episode": {"r": np.array([5.0]), "l": np.array([5]), "t": np.array([0.1]),
                         "_r": np.array([True]), "_l": np.array([True]), "_t": np.array([True])},
             "_episode": np.array([True])}
    step = StepInfos(infos, np.array([True]), np.array([True]), np.array([False]), OBS[:1], same_step=False,
                     episodes=deque([{"r": 99.0, "l": 99, "t": 1.0}]), started=0.0)
    assert step[0]["episode"] == {"r": 5.0, "l": 5, "t": 0.1}


def test_same_step_autoreset_takes_the_final_info_and_observation() -> None:
    final_obs = np.empty(2, dtype=object)
    final_obs[0] = np.array([7.0, 7.0], dtype=np.float32)
    infos = {
        "reset_key": np.array([1, 1]), "_reset_key": np.array([True, False]),  # the reset's info of copy 0
        "final_obs": final_obs, "_final_obs": np.array([True, False]),
        "final_info": {"is_success": np.array([True, False]), "_is_success": np.array([True, False])},
        "_final_info": np.array([True, False]),
    }
    step = StepInfos(infos, np.array([True, False]), np.array([True, False]), np.array([False, False]),
                     OBS[:2], same_step=True)
    assert step[0]["is_success"] and "reset_key" not in step[0]
    np.testing.assert_array_equal(step[0]["terminal_observation"], [7.0, 7.0])
    assert "episode" not in step[0]  # no episode buffer given
    assert step[1] == {"TimeLimit.truncated": False}


def test_dict_observations_give_a_dict_terminal_observation() -> None:
    obs = {"a": np.arange(4).reshape(2, 2), "b": np.array([5, 6])}
    step = StepInfos({}, np.array([False, True]), np.array([False, True]), np.array([False, False]), obs,
                     same_step=False)
    terminal = step[1]["terminal_observation"]
    np.testing.assert_array_equal(terminal["a"], [2, 3])
    assert terminal["b"] == 6
