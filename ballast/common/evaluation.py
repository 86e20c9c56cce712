"""``stable_baselines3.common.evaluation``: ``evaluate_policy``, implemented in :mod:`ballast.evaluation`."""

from ballast.evaluation import evaluate_policy

__all__ = ["evaluate_policy"]
