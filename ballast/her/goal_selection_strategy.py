"""SB3's ``stable_baselines3.her.goal_selection_strategy``."""

from ballast.buffers.hindsight import KEY_TO_GOAL_STRATEGY, GoalSelectionStrategy

__all__ = ["KEY_TO_GOAL_STRATEGY", "GoalSelectionStrategy"]
