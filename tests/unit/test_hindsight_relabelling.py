"""Hindsight relabelling: the pure rules against hand-computed values, and the HER buffer's
episode bookkeeping (which goals each transition may get, its rewards, n_envs, wrapping, saving)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from ballast.buffers.her import GoalFunctions, HerReplayBuffer, check_goal_space, check_her_kwargs
from ballast.buffers.hindsight import (
    GoalSelectionStrategy,
    ages,
    as_strategy,
    goal_steps,
    her_ratio,
    last_usable_steps,
    relabel_mask,
)
from ballast.errors import ConfigurationError

FUTURE, FINAL, EPISODE = GoalSelectionStrategy.FUTURE, GoalSelectionStrategy.FINAL, GoalSelectionStrategy.EPISODE
GOAL = spaces.Box(-1000.0, 1000.0, (1,), np.float32)
SPACE = spaces.Dict({"observation": GOAL, "achieved_goal": GOAL, "desired_goal": GOAL})
NEVER = -1.0  # the desired goal of every collected step: never achieved, so every stored reward is -1


# --- the pure rules ------------------------------------------------------------------------------------
def test_future_draws_from_the_step_itself_to_the_episode_end() -> None:
    # [lo, hi] = [2, 4]: u * 3 -> 0, 1, 2; the step itself is included (SB3's inclusive future)
    steps = goal_steps(FUTURE, np.array([2, 2, 2, 2]), np.zeros(4), np.full(4, 4), np.array([0.0, 0.34, 0.67, 0.9999]))
    np.testing.assert_array_equal(steps, [2, 3, 4, 4])
    assert goal_steps(FUTURE, np.array([5]), np.array([3]), np.array([5]), np.array([0.99]))[0] == 5


def test_final_is_the_episode_end_and_episode_draws_from_its_start() -> None:
    np.testing.assert_array_equal(goal_steps(FINAL, np.array([1, 7]), np.array([0, 6]), np.array([4, 9]),
                                             np.array([0.0, 0.5])), [4, 9])
    # [0, 4]: floor(0.5 * 5) = 2, floor(0.1 * 5) = 0, floor(0.99 * 5) = 4, whatever the step
    np.testing.assert_array_equal(goal_steps(EPISODE, np.array([3, 3, 3]), np.zeros(3), np.full(3, 4),
                                             np.array([0.5, 0.1, 0.99])), [2, 0, 4])


def test_a_uniform_rounding_up_never_leaves_the_episode() -> None:
    assert goal_steps(FUTURE, np.array([0]), np.array([0]), np.array([2]), np.array([np.nextafter(1.0, 0)]))[0] == 2


def test_relabel_mask_keeps_one_real_transition_in_n_sampled_goal_plus_one() -> None:
    np.testing.assert_array_equal(relabel_mask(7, 2), [False, True, True, False, True, True, False])
    assert relabel_mask(256, 4).sum() == int(her_ratio(4) * 256) == 204  # SB3's count for its default
    assert not relabel_mask(5, 0).any()
    assert her_ratio(4) == pytest.approx(0.8)


def test_ages_and_the_last_usable_step_of_running_and_ended_episodes() -> None:
    np.testing.assert_array_equal(ages(np.array([5, 0, 9]), oldest=6, capacity=10), [9, 4, 3])
    # newest row at age 8: its next observation is unwritten, so nothing past age 7 is used
    np.testing.assert_array_equal(last_usable_steps(np.array([-1, 3, 8]), newest_age=8), [7, 3, 7])


def test_strategies_by_name_and_kwargs_checks() -> None:
    assert as_strategy("Future") is FUTURE and as_strategy(FINAL) is FINAL
    assert GoalSelectionStrategy.EPISODE.value == 2  # SB3's values
    with pytest.raises(ConfigurationError, match="'future'"):
        as_strategy("later")
    assert check_her_kwargs({}) == {"n_sampled_goal": 4, "goal_selection_strategy": "future"}
    assert check_her_kwargs({"goal_selection_strategy": EPISODE, "copy_info_dict": False})["goal_selection_strategy"] \
        == "episode"
    with pytest.raises(ConfigurationError, match="copy_info_dict"):
        check_her_kwargs({"copy_info_dict": True})
    with pytest.raises(ConfigurationError, match="n_sampled_goal"):
        check_her_kwargs({"n_sampled_goal": -1})
    with pytest.raises(ConfigurationError, match="does not take"):
        check_her_kwargs({"max_episode_length": 100})


def test_observation_spaces_without_goal_keys_are_refused_by_name() -> None:
    with pytest.raises(ConfigurationError, match="Dict observation space"):
        check_goal_space(GOAL)
    with pytest.raises(ConfigurationError, match=r"lacks \['desired_goal'\]"):
        check_goal_space(spaces.Dict({"observation": GOAL, "achieved_goal": GOAL}))
    with pytest.raises(ConfigurationError, match="one space"):
        check_goal_space(spaces.Dict({"achieved_goal": GOAL, "desired_goal": spaces.Box(0, 1, (2,))}))


# --- the buffer --------------------------------------------------------------------------------------
def reward(achieved: np.ndarray, desired: np.ndarray, _info: object) -> np.ndarray:
    """0 where the goal is reached, else -1 (the sparse reward of goal-conditioned envs), for a batch."""
    return np.where(np.abs(achieved - desired).reshape(len(achieved), -1).max(axis=1) < 0.5, 0.0, -1.0)


def reached(achieved: np.ndarray, desired: np.ndarray, info: object) -> np.ndarray:
    return reward(achieved, desired, info) == 0.0


def obs(row: int, n_envs: int) -> dict[str, np.ndarray]:
    """Env ``e``'s observation at row ``r`` achieves the goal ``10 * e + r``: each goal tells where it came from."""
    achieved = (10.0 * np.arange(n_envs) + row).reshape(n_envs, 1).astype(np.float32)
    return {"observation": achieved, "achieved_goal": achieved, "desired_goal": np.full((n_envs, 1), NEVER, np.float32)}


def write(buffer: HerReplayBuffer, rows: int, ends: dict[int, list[int]], terminal: bool = False) -> None:
    """``rows`` NEXT_STEP rows: env ``e``'s episode ends at the rows ``ends[e]`` (truncated, or terminated
    with ``terminal``), and the row after each end only resets it (invalid)."""
    n_envs = buffer.n_envs
    for _ in range(rows):
        row = buffer.pos
        end = np.array([row in ends.get(e, []) for e in range(n_envs)])
        valid = np.array([row - 1 not in ends.get(e, []) for e in range(n_envs)])
        buffer.add(obs(row, n_envs), np.zeros((n_envs, 1), np.float32), np.full(n_envs, -1.0),
                   end & terminal, end & ~terminal, valid)


def her(strategy: str, capacity: int = 20, n_envs: int = 2, terminated: bool = False) -> HerReplayBuffer:
    functions = GoalFunctions(reward, reached if terminated else None)
    return HerReplayBuffer(SPACE, spaces.Box(-1, 1, (1,)), capacity * n_envs, n_envs, n_sampled_goal=4,
                           goal_selection_strategy=strategy, goal_functions=functions)


def goals_of(buffer: HerReplayBuffer, row: int, env: int, n: int = 400) -> set[float]:
    generator = torch.Generator().manual_seed(0)
    rows, envs = np.full(n, row), np.full(n, env)
    return set(buffer.new_goals(rows, envs, generator).reshape(-1).tolist())


# env 0: episode A is rows 0-2 (ends at 2), row 3 resets, episode B runs from row 4;
# env 1: episode C is rows 0-4 (ends at 4), row 5 resets, episode D runs from row 6. Rows 0-7 written.
SCENARIO = {0: [2], 1: [4]}


@pytest.mark.parametrize("strategy", ["future", "final", "episode"])
def test_goals_come_from_the_transitions_own_episode_and_env(strategy: str) -> None:
    buffer = her(strategy)
    write(buffer, 8, SCENARIO)
    # the goal of step j is the achieved goal of the observation after it: 10 * env + j + 1
    expected = {
        "future": {(1, 0): {2, 3}, (0, 0): {1, 2, 3}, (4, 0): {5, 6, 7}, (2, 1): {13, 14, 15}, (6, 1): {17}},
        "final": {(1, 0): {3}, (0, 0): {3}, (4, 0): {7}, (2, 1): {15}, (6, 1): {17}},
        "episode": {(1, 0): {1, 2, 3}, (0, 0): {1, 2, 3}, (5, 0): {5, 6, 7}, (2, 1): {11, 12, 13, 14, 15},
                    (6, 1): {17}},
    }[strategy]
    for (row, env), goals in expected.items():
        assert goals_of(buffer, row, env) == goals, (strategy, row, env)


def test_a_running_episode_gets_no_goal_past_the_newest_written_observation() -> None:
    buffer = her("future")
    write(buffer, 8, SCENARIO)
    assert max(goals_of(buffer, 4, 0)) == 7  # row 7 is the newest: its next observation (row 8) is unwritten
    write(buffer, 3, {})
    assert goals_of(buffer, 4, 0) == {5, 6, 7, 8, 9, 10}
    assert goals_of(buffer, 1, 0) == {2, 3}  # an ended episode keeps its end


def test_sampled_batches_relabel_four_in_five_with_one_reward_computation() -> None:
    buffer = her("future")
    write(buffer, 8, SCENARIO)
    calls = []

    def counted(achieved: np.ndarray, desired: np.ndarray, info: object) -> np.ndarray:
        calls.append(len(achieved))
        return reward(achieved, desired, info)

    buffer.goal_functions = GoalFunctions(counted)
    batch = buffer.sample(250, torch.Generator().manual_seed(3), gamma=0.9)
    assert calls == [200]  # one vectorised call for the 200 relabelled transitions
    desired = batch.observations["desired_goal"].reshape(-1).numpy()
    real = ~relabel_mask(250, 4)
    assert (desired[real] == NEVER).all() and (desired[~real] != NEVER).all()
    np.testing.assert_array_equal(batch.next_observations["desired_goal"], batch.observations["desired_goal"])
    achieved = batch.next_observations["achieved_goal"].numpy()
    np.testing.assert_array_equal(batch.rewards.numpy(), reward(achieved, desired[:, None], None))
    assert (batch.rewards[~torch.from_numpy(real)] == 0).any()  # the future includes the step itself
    # the new goal is achieved in the transition's own env (goals 10 * env + row)
    owner = (batch.indices.numpy() % 2)[~real]
    np.testing.assert_array_equal(desired[~real] // 10, owner)
    assert torch.all(batch.discounts == 0.9)  # no compute_terminated: the stored flags (none terminal)


def test_compute_terminated_decides_the_discounts_of_relabelled_transitions() -> None:
    buffer = her("future", terminated=True)
    write(buffer, 8, SCENARIO)
    batch = buffer.sample(500, torch.Generator().manual_seed(0), gamma=0.9)
    np.testing.assert_array_equal(batch.discounts.numpy(), np.where(batch.rewards.numpy() == 0, 0.0, np.float32(0.9)))
    assert (batch.discounts == 0).any()


def test_overwriting_an_episode_start_drops_the_rest_of_it() -> None:
    buffer = her("episode", capacity=8, n_envs=1)
    write(buffer, 8, {0: [2, 6]})  # A: rows 0-2, reset 3, B: rows 4-6, reset 7
    write(buffer, 1, {})           # row 0 (A's start) overwritten by a new episode's first step
    assert not buffer.valid[1:3, 0].any() and buffer.valid[4:7, 0].all()
    assert goals_of(buffer, 5, 0) == {5, 6, 7}
    write(buffer, 3, {})           # rows 1-3: the new episode runs on; B (rows 4-6) is intact
    assert goals_of(buffer, 1, 0) == {1, 2, 3}  # the new episode's own goals (rows 1-3), across the wrap


def test_an_episode_longer_than_the_buffer_is_refused() -> None:
    buffer = her("future", capacity=6, n_envs=1)
    with pytest.raises(ConfigurationError, match="as long as the replay buffer"):
        write(buffer, 7, {})


def test_ending_stored_episodes_closes_them_before_an_outside_reset() -> None:
    buffer = her("final")
    write(buffer, 8, SCENARIO)
    buffer.end_episodes(None)  # the newest row (7) is dropped: B and D end at row 6
    assert not buffer.valid[7].any()
    write(buffer, 3, {})
    assert goals_of(buffer, 4, 0) == {7} and goals_of(buffer, 6, 1) == {17}
    assert goals_of(buffer, 9, 0) == {10}  # the episode after the reset starts at row 8


def test_the_bookkeeping_is_saved_and_restored() -> None:
    buffer = her("future")
    write(buffer, 8, SCENARIO)
    copy = her("future")
    copy.load_state_tensors(buffer.state_tensors())
    for name in ("episode_start", "episode_end", "running_length", "valid"):
        np.testing.assert_array_equal(getattr(copy, name), getattr(buffer, name))
    a = buffer.sample(64, torch.Generator().manual_seed(5))
    b = copy.sample(64, torch.Generator().manual_seed(5))
    assert torch.equal(a.rewards, b.rewards) and torch.equal(a.observations["desired_goal"],
                                                             b.observations["desired_goal"])
    from ballast.buffers.replay import ReplayBuffer

    uniform = ReplayBuffer(SPACE, spaces.Box(-1, 1, (1,)), 40, 2)
    with pytest.raises(ConfigurationError, match="no episode bookkeeping"):
        copy.load_state_tensors(uniform.state_tensors())


def test_sampling_without_the_env_functions_says_what_is_missing() -> None:
    buffer = HerReplayBuffer(SPACE, spaces.Box(-1, 1, (1,)), 40, 2)
    write(buffer, 4, {})
    with pytest.raises(ConfigurationError, match="compute_reward"):
        buffer.sample(8, torch.Generator())
