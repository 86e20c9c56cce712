"""Evaluate a model every so many steps while it trains: what a tuning trial reports to its pruner and
what a benchmark run's "best evaluation" is taken from."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ballast.callbacks import BaseCallback
from ballast.cli import evaluate
from ballast.zoo import ZooSettings

#: ``(timesteps, mean return) -> stop?``: a pruner's answer, True to end the run now.
OnEvaluation = Callable[[int, float], bool]


class PeriodicEvaluation(BaseCallback):
    """Deterministic evaluation for ``episodes`` episodes each time training passes a multiple of
    ``every`` steps, on an env built from ``settings`` as ``ballast eval`` builds it.

    ``on_evaluation`` sees each result and may stop training (``stopped`` is then True). The time
    spent evaluating is kept apart, so :attr:`train_seconds` counts training only (for steps/s).
    """

    def __init__(self, every: int, episodes: int, settings: ZooSettings, *, seed: int | None = 0,
                 on_evaluation: OnEvaluation | None = None) -> None:
        super().__init__()
        self.every, self.episodes, self.settings, self.seed = every, episodes, settings, seed
        self.on_evaluation = on_evaluation
        self.evaluations: list[dict[str, float]] = []
        self.stopped = False
        self._next = every
        self._eval_seconds = 0.0
        self._start = self._end = 0.0

    def _on_training_start(self) -> None:
        self._start = time.perf_counter()
        self._next = (self.num_timesteps // self.every + 1) * self.every

    def _on_step(self) -> bool:
        if self.num_timesteps < self._next:
            return True
        self._next = (self.num_timesteps // self.every + 1) * self.every
        return self.evaluate_now()

    def evaluate_now(self) -> bool:
        """Run one evaluation now; returns False when ``on_evaluation`` asks to stop."""
        started = time.perf_counter()
        result = evaluate(self.model, self.settings.env_id, self.episodes, self.seed, deterministic=True,
                          env_kwargs=self.settings.kwargs.get("env_kwargs"), settings=self.settings)
        self._eval_seconds += time.perf_counter() - started
        mean = result["mean_reward"]
        self.evaluations.append({"timesteps": self.num_timesteps, "mean_reward": mean,
                                 "std_reward": result["std_reward"]})
        if self.on_evaluation is not None and self.on_evaluation(self.num_timesteps, mean):
            self.stopped = True
            return False
        return True

    def _on_training_end(self) -> None:
        self._end = time.perf_counter()

    @property
    def train_seconds(self) -> float:
        """Wall time of ``learn`` less the time spent in these evaluations."""
        return max(self._end - self._start - self._eval_seconds, 1e-9)

    def csv(self) -> str:
        """The evaluations as CSV text: ``timesteps,mean_reward,std_reward``."""
        rows = ["timesteps,mean_reward,std_reward"]
        rows += [f"{e['timesteps']},{e['mean_reward']:.6g},{e['std_reward']:.6g}" for e in self.evaluations]
        return "\n".join(rows) + "\n"

    def summary(self) -> dict[str, Any]:
        """Best and last mean return of the evaluations (None when there were none)."""
        means = [e["mean_reward"] for e in self.evaluations]
        return {"best_eval": max(means) if means else None, "last_eval": means[-1] if means else None}
