"""The rules of hindsight experience replay (Andrychowicz et al., 2017, "Hindsight Experience
Replay", NeurIPS, arXiv:1707.01495), as pure functions on arrays.

A transition ``(s_t, a_t, r_t, s_{t+1})`` of a goal-conditioned env was collected for the desired
goal ``g``; the goal ``g'`` the agent reached at another step of the same episode is relabelled
into it, with the reward ``compute_reward(achieved_goal(s_{t+1}), g', info)`` recomputed for it.
Which step's achieved goal becomes ``g'`` is the goal selection strategy (SB3's names and values):

- ``future``: a step ``j`` drawn uniformly in ``[t, end]`` (``t`` included, as SB3 does);
- ``final``: the episode's last step ``end``;
- ``episode``: a step drawn uniformly in ``[start, end]``.

The goal is then the achieved goal of the observation that followed step ``j``. Steps are
counted here in "ages" (rows since the oldest row of the circular buffer), so that an episode
is the contiguous range ``[start, end]`` of ages whatever the buffer's wrapping; ``end`` of an
episode that is still running is the newest step whose next observation is written, so that no
goal is taken past what the episode has reached so far.

Of a sampled batch, ``n_sampled_goal`` transitions in every ``n_sampled_goal + 1`` are relabelled
(SB3's ``her_ratio = 1 - 1 / (n_sampled_goal + 1)``), by position (:func:`relabel_mask`).
"""

from __future__ import annotations

from enum import Enum

import numpy as np

from ballast.errors import ConfigurationError


class GoalSelectionStrategy(Enum):
    """SB3's strategies for choosing the goals of relabelled transitions (same names and values)."""

    #: a goal achieved at the transition's step or after it, in the same episode
    FUTURE = 0
    #: the goal achieved at the end of the episode
    FINAL = 1
    #: a goal achieved at any step of the episode
    EPISODE = 2


#: SB3's ``KEY_TO_GOAL_STRATEGY``: the strategies by their names in ``replay_buffer_kwargs``.
KEY_TO_GOAL_STRATEGY = {strategy.name.lower(): strategy for strategy in GoalSelectionStrategy}


def as_strategy(value: GoalSelectionStrategy | str) -> GoalSelectionStrategy:
    """A strategy from itself or its name (any case), else a :class:`ConfigurationError` listing the names."""
    if isinstance(value, GoalSelectionStrategy):
        return value
    if isinstance(value, str) and value.lower() in KEY_TO_GOAL_STRATEGY:
        return KEY_TO_GOAL_STRATEGY[value.lower()]
    raise ConfigurationError(f"goal_selection_strategy={value!r} is not a strategy; pass one of "
                             f"{sorted(KEY_TO_GOAL_STRATEGY)} (SB3's default: 'future')")


def her_ratio(n_sampled_goal: int) -> float:
    """The fraction of relabelled transitions in a batch: ``1 - 1 / (n_sampled_goal + 1)`` (SB3's)."""
    return 1.0 - 1.0 / (n_sampled_goal + 1)


def relabel_mask(batch_size: int, n_sampled_goal: int) -> np.ndarray:
    """Which positions of a batch are relabelled: all but every ``(n_sampled_goal + 1)``-th one
    (positions 0, k+1, 2(k+1), ... keep their goal). A batch of ``B`` rows has
    ``B - ceil(B / (k + 1)) = floor(B * her_ratio)`` relabelled rows, as SB3's; spreading them by
    position keeps every slice of a drawn chunk about as relabelled as the whole."""
    return np.arange(batch_size) % (n_sampled_goal + 1) != 0


def goal_steps(strategy: GoalSelectionStrategy, steps: np.ndarray, starts: np.ndarray, ends: np.ndarray,
               uniforms: np.ndarray) -> np.ndarray:
    """The steps whose next achieved goals become the new goals of the transitions at ``steps``.

    All arrays are ages (see the module docstring) of one shape; ``starts <= steps <= ends`` is
    the episode of each transition (``ends``: its last usable step). ``uniforms`` in ``[0, 1)``
    choose among the allowed steps: step ``lo + floor(u * (hi - lo + 1))`` of ``[lo, hi]``.
    """
    steps, starts, ends = (np.asarray(a, dtype=np.int64) for a in (steps, starts, ends))
    if strategy is GoalSelectionStrategy.FINAL:
        return ends.copy()
    low = steps if strategy is GoalSelectionStrategy.FUTURE else starts
    width = ends - low + 1
    # min(): a uniform just below 1 may round to the width in floating point
    return low + np.minimum((np.asarray(uniforms, dtype=np.float64) * width).astype(np.int64), width - 1)


def ages(rows: np.ndarray, oldest: int, capacity: int) -> np.ndarray:
    """Rows of a circular buffer as ages: ``(row - oldest) mod capacity``, 0 for the oldest row."""
    return (np.asarray(rows, dtype=np.int64) - oldest) % capacity


def last_usable_steps(episode_ends: np.ndarray, newest_age: int) -> np.ndarray:
    """The last step of each transition's episode whose next observation is written, as an age.

    ``episode_ends``: ages of the episodes' last transitions, -1 for episodes still running. The
    newest row's next observation is not written yet, so no episode is used past ``newest - 1``;
    a running episode ends there for now.
    """
    last = newest_age - 1
    ends = np.asarray(episode_ends, dtype=np.int64)
    return np.where(ends >= 0, np.minimum(ends, last), last)
