"""Callbacks: code that runs at fixed points of training and can stop it.

The points, as in Stable-Baselines3: ``on_training_start``, ``on_rollout_start``, ``on_step``
(after every vector-env step; return False to stop training), ``on_rollout_end`` (the rollout
is collected, returns and advantages computed, the update not started) and ``on_training_end``.
A callback sees the model as ``self.model`` and the step count as ``self.num_timesteps``.

Update hooks, for extending an algorithm (all return True to go on, False to stop training
after the current gradient step):

* ``on_minibatch(batch)``: before the losses of a minibatch are computed; may change the batch's
  tensors in place (e.g. augment observations), nothing else;
* ``before_gradient_step(terms)``: after ``backward``, before the optimizer steps; ``terms`` are the
  named loss terms; may read or change the gradients (``p.grad``) in place;
* ``after_gradient_step(terms)``: after the optimizer step; may change parameters in place
  (e.g. constraints), or record ``terms``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ballast.envs.adopt import as_vector_env
from ballast.envs.make import EnvLike
from ballast.evaluation import evaluate_policy


class BaseCallback:
    """Subclass and override the ``_on_*`` methods you need; ``_on_step`` returns whether to go on."""

    def __init__(self, verbose: int = 0) -> None:
        self.verbose = verbose
        self.model: Any = None
        self.n_calls = 0
        self.num_timesteps = 0
        self.locals: dict[str, Any] = {}
        self.parent: BaseCallback | None = None

    def init_callback(self, model: Any) -> None:
        self.model = model
        self._init_callback()

    def _init_callback(self) -> None:
        pass

    def on_training_start(self, locals_: dict[str, Any]) -> None:
        self.locals = locals_
        self.num_timesteps = self.model.num_timesteps
        self._on_training_start()

    def _on_training_start(self) -> None:
        pass

    def on_rollout_start(self) -> None:
        self._on_rollout_start()

    def _on_rollout_start(self) -> None:
        pass

    def on_step(self) -> bool:
        self.n_calls += 1
        self.num_timesteps = self.model.num_timesteps
        return bool(self._on_step())

    def _on_step(self) -> bool:
        return True

    def on_rollout_end(self) -> None:
        self._on_rollout_end()

    def _on_rollout_end(self) -> None:
        pass

    def on_training_end(self) -> None:
        self._on_training_end()

    def _on_training_end(self) -> None:
        pass

    def update_locals(self, locals_: dict[str, Any]) -> None:
        self.locals.update(locals_)

    def on_minibatch(self, batch: Any) -> bool:
        return True

    def before_gradient_step(self, terms: dict[str, Any]) -> bool:
        return True

    def after_gradient_step(self, terms: dict[str, Any]) -> bool:
        return True


class CallbackList(BaseCallback):
    """Runs several callbacks in order; training stops if any of them asks to."""

    def __init__(self, callbacks: Sequence[BaseCallback]) -> None:
        super().__init__()
        self.callbacks = list(callbacks)

    def _init_callback(self) -> None:
        for cb in self.callbacks:
            cb.init_callback(self.model)

    def on_training_start(self, locals_: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_training_start(locals_)

    def on_rollout_start(self) -> None:
        for cb in self.callbacks:
            cb.on_rollout_start()

    def on_step(self) -> bool:
        go_on = True
        for cb in self.callbacks:
            go_on = cb.on_step() and go_on
        return go_on

    def on_rollout_end(self) -> None:
        for cb in self.callbacks:
            cb.on_rollout_end()

    def on_training_end(self) -> None:
        for cb in self.callbacks:
            cb.on_training_end()

    def update_locals(self, locals_: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.update_locals(locals_)

    def on_minibatch(self, batch: Any) -> bool:
        return all([cb.on_minibatch(batch) for cb in self.callbacks])

    def before_gradient_step(self, terms: dict[str, Any]) -> bool:
        return all([cb.before_gradient_step(terms) for cb in self.callbacks])

    def after_gradient_step(self, terms: dict[str, Any]) -> bool:
        return all([cb.after_gradient_step(terms) for cb in self.callbacks])


class FunctionCallback(BaseCallback):
    """Wraps an SB3-style function ``fn(locals, globals) -> bool | None`` (None means go on)."""

    def __init__(self, fn: Callable[[dict[str, Any], dict[str, Any]], bool | None]) -> None:
        super().__init__()
        self.fn = fn

    def _on_step(self) -> bool:
        result = self.fn(self.locals, globals())
        return True if result is None else bool(result)


class StopTrainingOnRewardThreshold(BaseCallback):
    """Used as ``EvalCallback(callback_on_new_best=...)``: stops once the best mean reward reaches the threshold."""

    def __init__(self, reward_threshold: float, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.reward_threshold = reward_threshold

    def _on_step(self) -> bool:
        best = self.parent.best_mean_reward if self.parent is not None else -np.inf
        if best >= self.reward_threshold and self.verbose:
            print(f"Stopping training: the mean reward {best:.2f} reached the threshold {self.reward_threshold}")
        return best < self.reward_threshold


class EvalCallback(BaseCallback):
    """Evaluates the model every ``eval_freq`` calls and keeps the best one.

    The best model is saved as ``best_model_save_path/best_model.zip``; evaluations are logged
    under ``eval/`` and kept in ``self.evaluations``. ``callback_on_new_best`` runs when the mean
    reward improves and can stop training (e.g. :class:`StopTrainingOnRewardThreshold`).
    """

    def __init__(self, eval_env: EnvLike, *, callback_on_new_best: BaseCallback | None = None,
                 n_eval_episodes: int = 5, eval_freq: int = 10000, best_model_save_path: str | Path | None = None,
                 deterministic: bool = True, seed: int | None = None, verbose: int = 1) -> None:
        super().__init__(verbose)
        self.eval_env = as_vector_env(eval_env)
        self.callback_on_new_best = callback_on_new_best
        if callback_on_new_best is not None:
            callback_on_new_best.parent = self
        self.n_eval_episodes, self.eval_freq = n_eval_episodes, eval_freq
        self.best_model_save_path = Path(best_model_save_path) if best_model_save_path else None
        self.deterministic, self.seed = deterministic, seed
        self.best_mean_reward = -np.inf
        self.last_mean_reward = -np.inf
        self.evaluations: list[tuple[int, float, float]] = []

    def _init_callback(self) -> None:
        if self.callback_on_new_best is not None:
            self.callback_on_new_best.init_callback(self.model)

    def _on_step(self) -> bool:
        if self.eval_freq <= 0 or self.n_calls % self.eval_freq != 0:
            return True
        returns, _ = evaluate_policy(self.model, self.eval_env, self.n_eval_episodes, self.deterministic,
                                     seed=self.seed, return_episode_rewards=True)
        mean, std = float(np.mean(returns)), float(np.std(returns))
        self.last_mean_reward = mean
        self.evaluations.append((self.num_timesteps, mean, std))
        self.model.logger.record("eval/mean_reward", mean)
        self.model.logger.record("eval/std_reward", std)
        if self.verbose:
            print(f"Eval at {self.num_timesteps} steps: return {mean:.2f} +/- {std:.2f}")
        if mean > self.best_mean_reward:
            self.best_mean_reward = mean
            if self.best_model_save_path is not None:
                self.model.save(self.best_model_save_path / "best_model.zip")
            if self.callback_on_new_best is not None:
                return self.callback_on_new_best.on_step()
        return True


class CheckpointCallback(BaseCallback):
    """Saves the model every ``save_freq`` calls as ``{name_prefix}_{steps}_steps.zip`` in ``save_path``."""

    def __init__(self, save_freq: int, save_path: str | Path, name_prefix: str = "model", verbose: int = 0) -> None:
        super().__init__(verbose)
        self.save_freq, self.save_path, self.name_prefix = save_freq, Path(save_path), name_prefix

    def _on_step(self) -> bool:
        if self.n_calls % self.save_freq == 0:
            path = self.save_path / f"{self.name_prefix}_{self.num_timesteps}_steps.zip"
            self.model.save(path)
            if self.verbose:
                print(f"Saved a checkpoint to {path}")
        return True


class SaveLatestCallback(BaseCallback):
    """Keeps one up-to-date checkpoint at ``path``, rewritten every ``every_steps`` env steps.

    Saves happen between iterations (when a rollout is about to start), so the file never holds a
    half-collected rollout, and at the end of training. Each write is atomic, so a process killed
    at any moment leaves the previous checkpoint or the new one.
    """

    def __init__(self, every_steps: int, path: str | Path, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.every_steps, self.path = int(every_steps), Path(path)
        self._last_saved = 0

    def _on_training_start(self) -> None:
        self._last_saved = self.model.num_timesteps

    def _on_rollout_start(self) -> None:
        if self.model.num_timesteps - self._last_saved >= self.every_steps:
            self._save()

    def _on_training_end(self) -> None:
        self._save()

    def _save(self) -> None:
        self.model.save(self.path)
        self._last_saved = self.model.num_timesteps
        if self.verbose:
            print(f"Saved a checkpoint at {self.model.num_timesteps} steps to {self.path}")


class ProgressBarCallback(BaseCallback):
    """A rich progress bar with steps per second and the time left."""

    def _on_training_start(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                                  MofNCompleteColumn(), TextColumn("{task.fields[sps]} steps/s"),
                                  TimeElapsedColumn(), TimeRemainingColumn())
        self._start = self.model.num_timesteps
        self._task = self._progress.add_task("training", total=self.model.total_timesteps - self._start, sps="-")
        self._progress.start()

    def _on_step(self) -> bool:
        done = self.model.num_timesteps - self._start
        elapsed = self._progress.tasks[0].elapsed or 1e-9
        self._progress.update(self._task, completed=done, sps=f"{done / elapsed:,.0f}")
        return True

    def _on_training_end(self) -> None:
        self._progress.stop()


def overrides_hooks(callback: BaseCallback | None, *names: str) -> bool:
    """Whether ``callback`` (or one in a :class:`CallbackList`) overrides any of the hooks ``names``:
    where none does, an update may skip work that only those hooks could observe or change."""
    if callback is None:
        return False
    if isinstance(callback, CallbackList):
        return any(overrides_hooks(cb, *names) for cb in callback.callbacks)
    cls = type(callback)
    return any(getattr(cls, name) is not getattr(BaseCallback, name) for name in names)


def has_gradient_hooks(callback: BaseCallback | None) -> bool:
    """Whether ``callback`` (or one in a :class:`CallbackList`) overrides ``before_gradient_step`` or
    ``after_gradient_step``: an update that skips these hooks may then not be used."""
    return overrides_hooks(callback, "before_gradient_step", "after_gradient_step")


def as_callback(callback: BaseCallback | Callable | Sequence[Any] | None, progress_bar: bool = False) -> BaseCallback:
    """Normalise what ``learn(callback=...)`` accepts into one :class:`BaseCallback`."""
    if callback is None:
        callbacks: list[BaseCallback] = []
    elif isinstance(callback, BaseCallback):
        callbacks = [callback]
    elif isinstance(callback, (list, tuple)):
        callbacks = [as_callback(c) for c in callback]
    elif callable(callback):
        callbacks = [FunctionCallback(callback)]
    else:
        raise TypeError(f"callback must be a BaseCallback, a function or a list of them, got {type(callback).__name__}")
    if progress_bar:
        callbacks.append(ProgressBarCallback())
    return callbacks[0] if len(callbacks) == 1 else CallbackList(callbacks)
