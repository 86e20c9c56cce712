"""SB3's ``HerReplayBuffer``: a replay buffer that relabels goals in hindsight.

:class:`HerReplayBuffer` is :class:`~ballast.buffers.replay.ReplayBuffer` (the same storage, episode
ends, NEXT_STEP and SAME_STEP autoreset handling, saving) over a ``Dict`` observation space with
``"achieved_goal"`` and ``"desired_goal"`` keys, plus the bookkeeping of episodes: for every
stored entry, the row its episode started at and the row it ended at (-1 while it runs). Of
each sampled batch, the transitions :func:`~ballast.buffers.hindsight.relabel_mask` picks get a
goal achieved in their own episode (:func:`~ballast.buffers.hindsight.goal_steps`), written into
the ``desired_goal`` of both their observation and next observation, and the reward (and, where
the env has ``compute_terminated``, the termination) the env's ``compute_reward`` gives for it:
one call for the whole batch.

Unlike SB3's buffer, which samples only episodes that ended, this one samples running episodes
too (as the uniform buffer does), with goals taken only from the steps they have reached.
When the circular buffer overwrites the first step of an old episode, the rest of that
episode is no longer sampled (as SB3 does): its goals would refer to steps that are gone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from ballast.buffers.hindsight import (
    GoalSelectionStrategy,
    ages,
    as_strategy,
    goal_steps,
    her_ratio,
    last_usable_steps,
    relabel_mask,
)
from ballast.buffers.replay import ReplayBatch, ReplayBuffer, batch_to_device
from ballast.buffers.storage import Batch
from ballast.errors import ConfigurationError

GOAL_KEYS = ("achieved_goal", "desired_goal")
#: The keywords of ``replay_buffer_kwargs`` a HER buffer takes, with SB3's defaults.
HER_DEFAULTS: dict[str, Any] = {"n_sampled_goal": 4, "goal_selection_strategy": "future"}
#: SB3 keywords accepted for compatibility, with the only value Ballast has for each and why.
HER_FIXED = {"copy_info_dict": (False, "Ballast stores no info dicts (arbitrary Python objects cannot be saved "
                                       "without pickle); compute_reward gets empty ones, as with SB3's default"),
             "handle_timeout_termination": (True, "Ballast always bootstraps at truncation and never at "
                                                  "termination"),
             "online_sampling": (True, "goals are always relabelled when a batch is sampled (SB3 >= 1.8 has no "
                                       "other mode)")}
_MAX_REDRAWS = 100


@dataclass(frozen=True)
class GoalFunctions:
    """What relabelling calls on the env: Gymnasium-Robotics' vectorised
    ``compute_reward(achieved_goal, desired_goal, info)`` and, where the env has it,
    ``compute_terminated(achieved_goal, desired_goal, info)``. Built from the model's env by
    :func:`ballast.envs.goals.goal_functions`."""

    compute_reward: Callable[[np.ndarray, np.ndarray, Any], Any]
    compute_terminated: Callable[[np.ndarray, np.ndarray, Any], Any] | None = None


def check_goal_space(observation_space: spaces.Space) -> None:
    """Refuse an observation space HER cannot relabel: not a Dict with equal ``achieved_goal`` and
    ``desired_goal`` spaces."""
    if not isinstance(observation_space, spaces.Dict):
        raise ConfigurationError(
            f"HerReplayBuffer needs a goal-conditioned env: a Dict observation space with the keys 'observation', "
            f"'achieved_goal' and 'desired_goal' (SB3's convention), got {observation_space}")
    missing = [key for key in GOAL_KEYS if key not in observation_space.spaces]
    if missing:
        raise ConfigurationError(
            f"HerReplayBuffer needs the observation keys 'achieved_goal' and 'desired_goal'; the env's Dict "
            f"observation space has {sorted(observation_space.spaces)} and lacks {missing}")
    achieved, desired = (observation_space.spaces[key] for key in GOAL_KEYS)
    if achieved != desired:
        raise ConfigurationError(f"HerReplayBuffer writes achieved goals into 'desired_goal', so both keys need one "
                                 f"space; got achieved_goal {achieved} and desired_goal {desired}")


def check_her_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``replay_buffer_kwargs`` over :data:`HER_DEFAULTS` as JSON data (the strategy by its name),
    refusing unknown names, values that cannot work and SB3 options Ballast has one way only."""
    unknown = sorted(set(kwargs) - HER_DEFAULTS.keys() - HER_FIXED.keys())
    if unknown:
        raise ConfigurationError(
            f"replay_buffer_kwargs has {unknown}, which HerReplayBuffer does not take; it takes "
            f"{sorted(HER_DEFAULTS)} (defaults {HER_DEFAULTS})")
    for name, (only, why) in HER_FIXED.items():
        if name in kwargs and bool(kwargs[name]) != only:
            raise ConfigurationError(f"replay_buffer_kwargs {name}={kwargs[name]!r} is not supported: {why}; "
                                     f"leave it out")
    n_sampled_goal = kwargs.get("n_sampled_goal", HER_DEFAULTS["n_sampled_goal"])
    if isinstance(n_sampled_goal, bool) or not isinstance(n_sampled_goal, (int, np.integer)) or n_sampled_goal < 0:
        raise ConfigurationError(f"replay_buffer_kwargs n_sampled_goal={n_sampled_goal!r} cannot work: expected an "
                                 "integer >= 0, the relabelled transitions per real one; pass e.g. n_sampled_goal=4")
    strategy = as_strategy(kwargs.get("goal_selection_strategy", HER_DEFAULTS["goal_selection_strategy"]))
    return {"n_sampled_goal": int(n_sampled_goal), "goal_selection_strategy": strategy.name.lower()}


class HerReplayBuffer(ReplayBuffer):
    """Hindsight experience replay over the uniform replay buffer; see the module docstring.

    Args:
        observation_space, action_space, buffer_size, n_envs, device: as :class:`ReplayBuffer`;
            the observation space is a Dict with ``achieved_goal`` and ``desired_goal``.
        n_sampled_goal: relabelled transitions per real one (SB3's default 4: 80% of a batch).
        goal_selection_strategy: ``"future"``, ``"final"`` or ``"episode"`` (or a
            :class:`~ballast.buffers.hindsight.GoalSelectionStrategy`).
        goal_functions: the env's ``compute_reward`` (and ``compute_terminated``); the algorithms
            set it from their env (:attr:`goal_functions` may be set later, before sampling).
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, buffer_size: int,
                 n_envs: int = 1, *, device: torch.device | str = "cpu", n_sampled_goal: int = 4,
                 goal_selection_strategy: GoalSelectionStrategy | str = "future",
                 goal_functions: GoalFunctions | None = None) -> None:
        check_goal_space(observation_space)
        options = check_her_kwargs({"n_sampled_goal": n_sampled_goal,
                                    "goal_selection_strategy": goal_selection_strategy})
        super().__init__(observation_space, action_space, buffer_size, n_envs, device=device)
        self.n_sampled_goal = options["n_sampled_goal"]
        self.goal_selection_strategy = as_strategy(options["goal_selection_strategy"])
        self.her_ratio = her_ratio(self.n_sampled_goal)
        self.goal_functions = goal_functions
        shape = (self.capacity, self.n_envs)
        self.episode_start = np.zeros(shape, dtype=np.int64)  # the row each entry's episode started at
        self.episode_end = np.zeros(shape, dtype=np.int64)    # the row it ended at; -1 while it runs
        self.running_length = np.zeros(self.n_envs, dtype=np.int64)  # rows of each env's running episode
        self._achieved = self.observations.storages["achieved_goal"].array
        # Whether a padding row ever fell inside a running episode; until then no goal step can be invalid.
        self._padded_episodes = False
        self._positions: dict[int, np.ndarray] = {}
        self._terminated_warning_given = False

    # --- writing: the episodes' bookkeeping --------------------------------------------------------
    def add_transition(self, actions: np.ndarray, rewards: np.ndarray, terminated: np.ndarray,
                       truncated: np.ndarray, valid: np.ndarray | None = None) -> None:
        pos = self.pos
        valid_now = np.ones(self.n_envs, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
        self._enter_row(pos, valid_now)
        super().add_transition(actions, rewards, terminated, truncated, valid)
        ended = np.flatnonzero(valid_now & (np.asarray(terminated) | np.asarray(truncated)))
        for env in ended:
            self._close_episode(int(env), pos)
        self.running_length[~valid_now] = 0  # a reset step: the next episode starts at the next row

    def add_padding(self, observations: Batch) -> None:
        """:meth:`ReplayBuffer.add_padding`; an episode still running (SAME_STEP autoreset, another
        env copy's end) goes on across the padding row, which is never a goal step."""
        self._padded_episodes |= bool((self.running_length > 0).any())
        self._enter_row(self.pos, np.zeros(self.n_envs, dtype=bool))
        super().add_padding(observations)

    def _enter_row(self, pos: int, valid: np.ndarray) -> None:
        """Before row ``pos`` is written: drop the episodes it overwrites, and record which episode
        each of its entries belongs to (a running one, or none for entries that only reset)."""
        if self.full:
            self._drop_overwritten(pos)
        running = self.running_length
        if (running >= self.capacity - 1).any():
            env = int(np.argmax(running))
            raise ConfigurationError(
                f"an episode of env copy {env} is {int(running[env])} steps long, as long as the replay buffer "
                f"({self.capacity} rows per env copy): HerReplayBuffer needs whole episodes in the buffer; "
                "raise buffer_size (it holds buffer_size // n_envs steps per env copy) or shorten the episodes")
        # Padding rows continue the running episodes (running > 0); other invalid entries start none.
        continues = valid | (running > 0)
        self.episode_start[pos] = np.where(continues, (pos - running) % self.capacity, pos)
        self.episode_end[pos] = np.where(continues, -1, pos)
        running[continues] += 1

    def _drop_overwritten(self, pos: int) -> None:
        """Row ``pos`` is about to be overwritten: an old episode starting there is cut, so its other
        rows are made invalid (never sampled, never goals)."""
        ends = self.episode_end[pos]
        for env in np.flatnonzero((self.episode_start[pos] == pos) & (ends >= 0) & (ends != pos)):
            rows = (pos + 1 + np.arange((int(ends[env]) - pos) % self.capacity)) % self.capacity
            self.valid[rows, env] = False
            self.episode_start[rows, env] = rows
            self.episode_end[rows, env] = rows

    def _close_episode(self, env: int, last: int) -> None:
        """End the running episode of ``env`` at row ``last`` (its newest row, or one before it)."""
        length = int(self.running_length[env]) - (self.pos - 1 - last) % self.capacity
        self.running_length[env] = 0
        self._set_episode_end(env, (last - length + 1) % self.capacity, length)

    def _set_episode_end(self, env: int, start: int, length: int) -> None:
        """Mark the ``length`` rows from ``start`` as one episode of ``env`` that ended at its last valid row."""
        if length <= 0:
            return
        rows = (start + np.arange(length)) % self.capacity
        valid_rows = rows[self.valid[rows, env]]
        if len(valid_rows):
            self.episode_end[rows, env] = valid_rows[-1]

    def end_episodes(self, next_observations: Batch | None) -> None:
        """:meth:`ReplayBuffer.end_episodes`, closing the running episodes: at the newest row with
        the observations that follow it; else the newest row is dropped, and the episodes that
        reached it (running, or ended there) end at the row before."""
        if self.pos == 0 and not self.full:
            return
        newest = (self.pos - 1) % self.capacity
        if next_observations is not None:
            for env in np.flatnonzero(self.running_length > 0):
                self._close_episode(int(env), newest)
        else:
            for env in np.flatnonzero(self.valid[newest] | (self.running_length > 0)):
                start = int(self.episode_start[newest, env])
                self._set_episode_end(int(env), start, (newest - start) % self.capacity)
            self.running_length[:] = 0
            self.episode_start[newest] = newest
            self.episode_end[newest] = newest
        super().end_episodes(next_observations)

    # --- reading -----------------------------------------------------------------------------------
    def sample(self, batch_size: int, generator: torch.Generator, *, n_steps: int = 1, gamma: float = 0.99,
               reward_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
               device: torch.device | str | None = None) -> ReplayBatch:
        """``batch_size`` uniformly drawn transitions, those of :func:`relabel_mask` with new goals."""
        if n_steps > 1:
            raise ConfigurationError("HerReplayBuffer relabels one-step transitions; use n_steps=1 with it")
        rows, envs = self.sample_indices(batch_size, generator)
        batch = self.batch_at(rows, envs, gamma=gamma, device="cpu")
        virtual = self._relabelled_positions(len(rows))
        if len(virtual):
            self.relabel(batch, rows[virtual], envs[virtual], virtual, generator, gamma)
        if reward_fn is not None:
            batch.rewards = reward_fn(batch.rewards)
        target = self.device if device is None else torch.device(device)
        return batch if target.type == "cpu" else batch_to_device(batch, target)

    def _relabelled_positions(self, batch_size: int) -> np.ndarray:
        """The positions :func:`relabel_mask` relabels in a batch of ``batch_size`` (kept per size)."""
        positions = self._positions.get(batch_size)
        if positions is None:
            positions = self._positions[batch_size] = np.flatnonzero(relabel_mask(batch_size, self.n_sampled_goal))
        return positions

    def new_goals(self, rows: np.ndarray, envs: np.ndarray, generator: torch.Generator) -> np.ndarray:
        """The achieved goals chosen (by the strategy, within each transition's episode) for the
        transitions starting at entries ``(rows, envs)``."""
        oldest = self.pos if self.full else 0
        capacity = self.capacity
        ends = self.episode_end[rows, envs]
        end_ages = last_usable_steps(np.where(ends >= 0, ages(ends, oldest, capacity), -1),
                                     int(ages(self.pos - 1, oldest, capacity)))
        for _ in range(_MAX_REDRAWS if self._padded_episodes else 0):  # the last usable row may be padding
            invalid = np.flatnonzero(~self.valid[(end_ages + oldest) % capacity, envs])
            if not len(invalid):
                break
            end_ages[invalid] -= 1
        step_ages = ages(rows, oldest, capacity)
        start_ages = ages(self.episode_start[rows, envs], oldest, capacity)
        steps = np.empty(len(rows), dtype=np.int64)
        todo = np.arange(len(rows))
        for _ in range(_MAX_REDRAWS):  # padding rows inside an episode are no goal steps: draw again
            uniforms = torch.rand(len(todo), generator=generator, dtype=torch.float64).numpy()
            chosen = (goal_steps(self.goal_selection_strategy, step_ages[todo], start_ages[todo], end_ages[todo],
                                 uniforms) + oldest) % capacity
            steps[todo] = chosen
            if not self._padded_episodes:
                break
            todo = todo[~self.valid[chosen, envs[todo]]]
            if not len(todo):
                break
        else:
            raise ConfigurationError("HerReplayBuffer found no valid goal step in an episode; its bookkeeping "
                                     "does not match the stored transitions")
        return self._achieved[(steps + 1) % capacity, envs]

    def relabel(self, batch: ReplayBatch, rows: np.ndarray, envs: np.ndarray, positions: np.ndarray,
                generator: torch.Generator, gamma: float) -> None:
        """Give the transitions at ``positions`` of ``batch`` (starting at ``(rows, envs)``) new goals,
        with rewards and discounts recomputed by one ``compute_reward`` (and ``compute_terminated``) call."""
        functions = self.goal_functions
        if functions is None:
            raise ConfigurationError("HerReplayBuffer needs the env's compute_reward to relabel goals; give the "
                                     "model an env (env=... when loading, or model.set_env(env)) before training")
        goals = self.new_goals(rows, envs, generator)
        next_rows = rows + 1
        next_rows[next_rows == self.capacity] = 0
        achieved = self._achieved[next_rows, envs]
        infos = [{}] * len(positions)  # one shared empty dict, as SB3 gives with copy_info_dict=False
        rewards = np.asarray(functions.compute_reward(achieved, goals, infos), dtype=np.float32).reshape(-1)
        if rewards.shape[0] != len(positions):
            raise ConfigurationError(
                f"the env's compute_reward returned {rewards.shape[0]} rewards for a batch of {len(positions)} goals; "
                "HerReplayBuffer needs it vectorised (one reward per row of achieved_goal, as Gymnasium-Robotics')")
        terminated = self._terminations(functions, achieved, goals, infos, rows * self.n_envs + envs)
        # The batch's tensors are new CPU tensors (gathered copies): written through NumPy views.
        batch.observations["desired_goal"].numpy()[positions] = goals
        batch.next_observations["desired_goal"].numpy()[positions] = goals
        batch.rewards.numpy()[positions] = rewards
        batch.discounts.numpy()[positions] = np.where(terminated, np.float32(0.0), np.float32(gamma))

    def _terminations(self, functions: GoalFunctions, achieved: np.ndarray, goals: np.ndarray, infos: list,
                      entries: np.ndarray) -> np.ndarray:
        """``compute_terminated`` for the new goals where the env has a vectorised one (a scalar is
        broadcast), else the stored flags (SB3's behaviour), with a warning once if it failed."""
        if functions.compute_terminated is not None:
            try:
                flags = np.asarray(functions.compute_terminated(achieved, goals, infos), dtype=bool)
                if flags.shape == (len(entries),):
                    return flags
                return np.broadcast_to(flags.reshape(-1) if flags.ndim else flags, (len(entries),))
            except (ValueError, TypeError) as err:
                if not self._terminated_warning_given:
                    import warnings

                    warnings.warn(f"the env's compute_terminated does not take a batch of goals ({err}); relabelled "
                                  "transitions keep their stored termination flags, as in SB3", UserWarning,
                                  stacklevel=4)
                    self._terminated_warning_given = True
        return self._terminated_flat[entries]

    # --- memory and state ----------------------------------------------------------------------------
    def nbytes(self) -> int:
        return super().nbytes() + int(self.episode_start.nbytes + self.episode_end.nbytes)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """:meth:`ReplayBuffer.state_tensors` with the episodes' bookkeeping."""
        tensors = super().state_tensors()
        tensors["episode_start"] = torch.from_numpy(self.episode_start)
        tensors["episode_end"] = torch.from_numpy(self.episode_end)
        tensors["running_length"] = torch.from_numpy(self.running_length)
        return tensors

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore :meth:`state_tensors`; a file without episode bookkeeping (a uniform buffer's) is refused."""
        if "episode_start" not in tensors:
            raise ConfigurationError("the saved replay buffer has no episode bookkeeping (it was saved from a buffer "
                                     "without HER), so HerReplayBuffer cannot relabel its transitions")
        super().load_state_tensors(tensors)
        for name in ("episode_start", "episode_end", "running_length"):
            getattr(self, name)[...] = tensors[name].detach().cpu().numpy()
        self._padded_episodes = True  # not saved: it only lets sampling skip checks, whose result is the same
