"""Callbacks: code that runs at fixed points of training and can stop it, as in Stable-Baselines3.

The points: ``on_training_start``, ``on_rollout_start``, ``on_step`` (after every vector-env step;
return False to stop training), ``on_rollout_end`` (the rollout is collected, returns and
advantages computed, the update not started) and ``on_training_end``. A callback sees the model as
``self.model``, its env as ``self.training_env`` (``model.get_env()``), its logger as
``self.logger``, the step count as ``self.num_timesteps``, and in ``self.locals`` what the
collection loop has of the last step: ``new_obs``, ``rewards``, ``dones``, ``infos`` (SB3's list
of dicts, see :mod:`ballast.callback_locals`), ``actions`` and ``self`` (the model).

Update hooks, a Ballast extra for extending an algorithm (all return True to go on, False to stop
training after the current gradient step); a :class:`CallbackList` passes them to its members:

* ``on_minibatch(batch)``: before the losses of a minibatch are computed; may change the batch's
  tensors in place (e.g. augment observations), nothing else;
* ``before_gradient_step(terms)``: after ``backward``, before the optimizer steps; ``terms`` are the
  named loss terms; may read or change the gradients (``p.grad``) in place;
* ``after_gradient_step(terms)``: after the optimizer step; may change parameters in place
  (e.g. constraints), or record ``terms``.
"""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ballast.checkpoint import atomic_write_bytes
from ballast.envs.vec_normalize import sync_envs_normalization, unwrap_vec_normalize
from ballast.errors import ConfigurationError
from ballast.evaluation import as_eval_env, evaluate_policy

LocalsCallback = Callable[[dict[str, Any], dict[str, Any]], Any]


class BaseCallback:
    """Subclass and override the ``_on_*`` methods you need; ``_on_step`` returns whether to go on."""

    def __init__(self, verbose: int = 0) -> None:
        self.verbose = verbose
        self.model: Any = None
        self.training_env: Any = None
        self.logger: Any = None
        self.n_calls = 0
        self.num_timesteps = 0
        self.locals: dict[str, Any] = {}
        self.globals: dict[str, Any] = {}
        self.parent: BaseCallback | None = None
        self._training_started: float | None = None

    def init_callback(self, model: Any) -> None:
        """Attach the callback to ``model`` (``learn`` calls it before ``on_training_start``)."""
        self.model = model
        self.training_env = model.get_env()
        self.logger = model.logger
        self._init_callback()

    def _init_callback(self) -> None:
        pass

    def on_training_start(self, locals_: dict[str, Any], globals_: dict[str, Any] | None = None) -> None:
        """``locals_`` and ``globals_`` are ``learn``'s; without ``globals_``, the caller's module globals."""
        # References: the collection loops update this same dict at every step (update_locals).
        self.locals = locals_
        self.globals = globals_ if globals_ is not None else sys._getframe(1).f_globals
        self.num_timesteps = self.model.num_timesteps
        self._training_started = time.perf_counter()
        self._on_training_start()

    def _on_training_start(self) -> None:
        pass

    def on_rollout_start(self) -> None:
        self._on_rollout_start()

    def _on_rollout_start(self) -> None:
        pass

    def on_step(self) -> bool:
        """Called after every ``env.step``; for the child of an :class:`EventCallback`, at each event."""
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
        """Take the collection loop's entries for the last step (and pass them to sub-callbacks)."""
        self.locals.update(locals_)
        self.update_child_locals(locals_)

    def update_child_locals(self, locals_: dict[str, Any]) -> None:
        pass

    # --- update hooks (Ballast) -----------------------------------------------------------
    def on_minibatch(self, batch: Any) -> bool:
        return True

    def before_gradient_step(self, terms: dict[str, Any]) -> bool:
        return True

    def after_gradient_step(self, terms: dict[str, Any]) -> bool:
        return True


class EventCallback(BaseCallback):
    """A callback that runs another one, ``callback``, when an event happens (``_on_event``)."""

    def __init__(self, callback: BaseCallback | None = None, verbose: int = 0) -> None:
        super().__init__(verbose=verbose)
        self.callback = callback
        if callback is not None:
            callback.parent = self

    def init_callback(self, model: Any) -> None:
        super().init_callback(model)
        if self.callback is not None:
            self.callback.init_callback(self.model)

    def _on_training_start(self) -> None:
        if self.callback is not None:
            self.callback.on_training_start(self.locals, self.globals)

    def _on_event(self) -> bool:
        return self.callback.on_step() if self.callback is not None else True

    def _on_step(self) -> bool:
        return True

    def update_child_locals(self, locals_: dict[str, Any]) -> None:
        if self.callback is not None:
            self.callback.update_locals(locals_)


class CallbackList(BaseCallback):
    """Runs several callbacks in order; training stops if any of them asks to."""

    def __init__(self, callbacks: Sequence[BaseCallback]) -> None:
        super().__init__()
        self.callbacks = list(callbacks)

    def _init_callback(self) -> None:
        for callback in self.callbacks:
            callback.init_callback(self.model)
            # The list's parent is its callbacks' parent: an EvalCallback's StopTrainingOnRewardThreshold
            # in a CallbackList reads the EvalCallback's best_mean_reward, as in SB3.
            callback.parent = self.parent

    def _on_training_start(self) -> None:
        for callback in self.callbacks:
            callback.on_training_start(self.locals, self.globals)

    def _on_rollout_start(self) -> None:
        for callback in self.callbacks:
            callback.on_rollout_start()

    def _on_step(self) -> bool:
        go_on = True
        for callback in self.callbacks:
            go_on = callback.on_step() and go_on  # every member runs, even after one asked to stop
        return go_on

    def _on_rollout_end(self) -> None:
        for callback in self.callbacks:
            callback.on_rollout_end()

    def _on_training_end(self) -> None:
        for callback in self.callbacks:
            callback.on_training_end()

    def update_child_locals(self, locals_: dict[str, Any]) -> None:
        for callback in self.callbacks:
            callback.update_locals(locals_)

    def on_minibatch(self, batch: Any) -> bool:
        return all([callback.on_minibatch(batch) for callback in self.callbacks])

    def before_gradient_step(self, terms: dict[str, Any]) -> bool:
        return all([callback.before_gradient_step(terms) for callback in self.callbacks])

    def after_gradient_step(self, terms: dict[str, Any]) -> bool:
        return all([callback.after_gradient_step(terms) for callback in self.callbacks])


class ConvertCallback(BaseCallback):
    """Runs a function ``callback(locals, globals)`` at every step; its result says whether to go on."""

    def __init__(self, callback: LocalsCallback | None, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.callback = callback

    def _on_step(self) -> bool:
        return self.callback(self.locals, self.globals) if self.callback is not None else True


class FunctionCallback(ConvertCallback):
    """What ``learn(callback=fn)`` makes of a function ``fn(locals, globals)``: as
    :class:`ConvertCallback`, except that ``None`` (a function without ``return``) means go on."""

    def __init__(self, fn: LocalsCallback) -> None:
        super().__init__(fn)
        self.fn = fn

    def _on_step(self) -> bool:
        result = self.fn(self.locals, self.globals)
        return True if result is None else bool(result)


class EvalCallback(EventCallback):
    """Evaluates the model every ``eval_freq`` calls, logs the results and keeps the best model.

    One call steps every env copy, so with ``n_envs`` copies an evaluation comes every
    ``eval_freq * n_envs`` timesteps (SB3 suggests ``eval_freq = max(eval_freq // n_envs, 1)``).
    Each evaluation runs :func:`ballast.evaluation.evaluate_policy` for ``n_eval_episodes``
    episodes on ``eval_env`` (an env id, an Env, a factory or a vector env), then:

    - keeps the results in ``evaluations_timesteps``, ``evaluations_results`` (the episode returns),
      ``evaluations_length`` and, when the env reports ``info["is_success"]`` at episode ends,
      ``evaluations_successes``; with ``log_path``, writes them to ``log_path/evaluations.npz``
      (arrays ``timesteps``, ``results``, ``ep_lengths`` and ``successes``; atomically);
    - records ``eval/mean_reward``, ``eval/std_reward``, ``eval/mean_ep_length`` (and
      ``eval/success_rate``) and ``time/total_timesteps``, and dumps the log at the current step,
      so each evaluation is a row of the log at the step it was measured;
    - sets ``last_mean_reward``; when the mean return beats ``best_mean_reward``, updates it, saves
      ``best_model_save_path/best_model.zip`` and runs ``callback_on_new_best`` (e.g.
      :class:`StopTrainingOnRewardThreshold`);
    - runs ``callback_after_eval`` (e.g. :class:`StopTrainingOnNoModelImprovement`).

    Either callback returning False stops training. ``render`` and ``warn`` go to
    ``evaluate_policy``. Ballast's extras: ``seed`` resets the eval env with that seed before each
    evaluation, so that every evaluation plays the same episodes; ``use_masking`` is
    ``evaluate_policy``'s (by default, masks are used when the env gives them). SB3's warning about the training
    and eval envs' types, and its synchronisation of ``VecNormalize`` statistics, have no
    counterpart: normalisation is part of the model.
    """

    def __init__(
        self,
        eval_env: Any,
        callback_on_new_best: BaseCallback | None = None,
        callback_after_eval: BaseCallback | None = None,
        n_eval_episodes: int = 5,
        eval_freq: int = 10000,
        log_path: str | Path | None = None,
        best_model_save_path: str | Path | None = None,
        deterministic: bool = True,
        render: bool = False,
        verbose: int = 1,
        warn: bool = True,
        *,
        seed: int | None = None,
        use_masking: bool | None = None,
    ) -> None:
        super().__init__(callback_after_eval, verbose=verbose)
        self.callback_on_new_best = callback_on_new_best
        if callback_on_new_best is not None:
            callback_on_new_best.parent = self
        self.n_eval_episodes = n_eval_episodes
        self.eval_freq = eval_freq
        self.best_mean_reward = -np.inf
        self.last_mean_reward = -np.inf
        self.deterministic = deterministic
        self.render = render
        self.warn = warn
        self.seed = seed
        self.use_masking = use_masking
        self.eval_env = as_eval_env(eval_env, render)
        self._eval_vec_normalize = unwrap_vec_normalize(eval_env)
        self.best_model_save_path = best_model_save_path
        self.log_path = os.path.join(log_path, "evaluations") if log_path is not None else None
        self.evaluations_results: list[list[float]] = []
        self.evaluations_timesteps: list[int] = []
        self.evaluations_length: list[list[int]] = []
        self._is_success_buffer: list[bool] = []
        self.evaluations_successes: list[list[bool]] = []

    @property
    def evaluations(self) -> list[tuple[int, float, float]]:
        """``(timesteps, mean return, std of the returns)`` of each evaluation so far."""
        return [(steps, float(np.mean(returns)), float(np.std(returns)))
                for steps, returns in zip(self.evaluations_timesteps, self.evaluations_results)]

    def _init_callback(self) -> None:
        if self.best_model_save_path is not None:
            os.makedirs(self.best_model_save_path, exist_ok=True)
        if self.log_path is not None:
            os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        if self.callback_on_new_best is not None:
            self.callback_on_new_best.init_callback(self.model)

    def _log_success_callback(self, locals_: dict[str, Any], globals_: dict[str, Any]) -> None:
        """Given to ``evaluate_policy``: collects ``info["is_success"]`` at each episode end."""
        if locals_["done"]:
            success = locals_["info"].get("is_success")
            if success is not None:
                self._is_success_buffer.append(bool(success))

    def _on_step(self) -> bool:
        if self.eval_freq <= 0 or self.n_calls % self.eval_freq != 0:
            return True
        self._is_success_buffer = []
        train_normalize = self.model.get_vec_normalize_env()
        if train_normalize is not None and self._eval_vec_normalize is not None:
            # The model evaluates with its own statistics; the eval env's VecNormalize gets them too (SB3
            # synchronises them here), for code that reads them there.
            sync_envs_normalization(train_normalize, self._eval_vec_normalize)
        episode_rewards, episode_lengths = evaluate_policy(
            self.model, self.eval_env, n_eval_episodes=self.n_eval_episodes, deterministic=self.deterministic,
            render=self.render, callback=self._log_success_callback, return_episode_rewards=True,
            warn=self.warn, seed=self.seed, use_masking=self.use_masking,
        )
        self.evaluations_timesteps.append(self.num_timesteps)
        self.evaluations_results.append(list(episode_rewards))
        self.evaluations_length.append(list(episode_lengths))
        if self._is_success_buffer:
            self.evaluations_successes.append(list(self._is_success_buffer))
        if self.log_path is not None:
            self._write_evaluations()

        mean_reward, std_reward = float(np.mean(episode_rewards)), float(np.std(episode_rewards))
        mean_length, std_length = float(np.mean(episode_lengths)), float(np.std(episode_lengths))
        self.last_mean_reward = mean_reward
        if self.verbose >= 1:
            print(f"Eval num_timesteps={self.num_timesteps}, episode_reward={mean_reward:.2f} +/- {std_reward:.2f}")
            print(f"Episode length: {mean_length:.2f} +/- {std_length:.2f}")
        self.logger.record("eval/mean_reward", mean_reward)
        self.logger.record("eval/std_reward", std_reward)
        self.logger.record("eval/mean_ep_length", mean_length)
        if self._is_success_buffer:
            success_rate = float(np.mean(self._is_success_buffer))
            if self.verbose >= 1:
                print(f"Success rate: {100 * success_rate:.2f}%")
            self.logger.record("eval/success_rate", success_rate)
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        self.logger.dump(self.num_timesteps)

        go_on = True
        if mean_reward > self.best_mean_reward:
            if self.verbose >= 1:
                print("New best mean reward!")
            if self.best_model_save_path is not None:
                self.model.save(os.path.join(self.best_model_save_path, "best_model.zip"))
            self.best_mean_reward = mean_reward
            if self.callback_on_new_best is not None:
                go_on = self.callback_on_new_best.on_step()
        if self.callback is not None:
            go_on = self._on_event() and go_on
        return go_on

    def _write_evaluations(self) -> None:
        """``evaluations.npz`` with every evaluation so far, written atomically."""
        arrays = {"timesteps": np.asarray(self.evaluations_timesteps), "results": np.asarray(self.evaluations_results),
                  "ep_lengths": np.asarray(self.evaluations_length)}
        if self.evaluations_successes:
            arrays["successes"] = np.asarray(self.evaluations_successes)
        data = io.BytesIO()
        np.savez(data, **arrays)
        atomic_write_bytes(f"{self.log_path}.npz", data.getvalue())


class StopTrainingOnRewardThreshold(BaseCallback):
    """Stops training once the best mean reward of the :class:`EvalCallback` it belongs to
    (``callback_on_new_best=`` or ``callback_after_eval=``) reaches ``reward_threshold``."""

    def __init__(self, reward_threshold: float, verbose: int = 0) -> None:
        super().__init__(verbose=verbose)
        self.reward_threshold = reward_threshold

    def _on_step(self) -> bool:
        best = _parent_best_mean_reward(self)
        go_on = bool(best < self.reward_threshold)
        if self.verbose >= 1 and not go_on:
            print(f"Stopping training because the mean reward {best:.2f}  is above the threshold "
                  f"{self.reward_threshold}")
        return go_on


class StopTrainingOnNoModelImprovement(BaseCallback):
    """Stops training when ``max_no_improvement_evals`` evaluations in a row (after the first
    ``min_evals``) brought no new best mean reward; use as ``EvalCallback(callback_after_eval=...)``.

    At each evaluation past the first ``min_evals``: a new best resets the count of evaluations
    without improvement, anything else increments it, and training stops once it exceeds
    ``max_no_improvement_evals``.
    """

    def __init__(self, max_no_improvement_evals: int, min_evals: int = 0, verbose: int = 0) -> None:
        super().__init__(verbose=verbose)
        self.max_no_improvement_evals = max_no_improvement_evals
        self.min_evals = min_evals
        self.last_best_mean_reward = -np.inf
        self.no_improvement_evals = 0

    def _on_step(self) -> bool:
        best = _parent_best_mean_reward(self)
        go_on = True
        if self.n_calls > self.min_evals:
            if best > self.last_best_mean_reward:
                self.no_improvement_evals = 0
            else:
                self.no_improvement_evals += 1
                go_on = self.no_improvement_evals <= self.max_no_improvement_evals
        self.last_best_mean_reward = best
        if self.verbose >= 1 and not go_on:
            print(f"Stopping training because there was no new best model in the last "
                  f"{self.no_improvement_evals:d} evaluations")
        return go_on


def _parent_best_mean_reward(callback: BaseCallback) -> float:
    parent = callback.parent
    if parent is None or not hasattr(parent, "best_mean_reward"):
        raise ConfigurationError(
            f"{type(callback).__name__} reads the results of an EvalCallback: pass it as "
            "EvalCallback(..., callback_on_new_best=...) or callback_after_eval=..., not to learn() directly")
    return parent.best_mean_reward


class StopTrainingOnMaxEpisodes(BaseCallback):
    """Stops training after ``max_episodes`` episodes per env copy (``max_episodes * n_envs`` in all)."""

    def __init__(self, max_episodes: int, verbose: int = 0) -> None:
        super().__init__(verbose=verbose)
        self.max_episodes = max_episodes
        self._total_max_episodes = max_episodes
        self.n_episodes = 0

    def _init_callback(self) -> None:
        self._total_max_episodes = self.max_episodes * self.training_env.num_envs

    def _on_step(self) -> bool:
        if "dones" not in self.locals:
            raise ConfigurationError("StopTrainingOnMaxEpisodes needs self.locals['dones']; run it inside learn()")
        self.n_episodes += int(np.sum(self.locals["dones"]))
        go_on = self.n_episodes < self._total_max_episodes
        if self.verbose >= 1 and not go_on:
            n_envs = self.training_env.num_envs
            per_env = f" with an average of {self.n_episodes / n_envs:.2f} episodes per env" if n_envs > 1 else ""
            print(f"Stopping training with a total of {self.num_timesteps} steps because the "
                  f"{self.locals.get('tb_log_name')} model reached max_episodes={self.max_episodes}, "
                  f"by playing for {self.n_episodes} episodes{per_env}")
        return go_on


class EveryNTimesteps(EventCallback):
    """Runs ``callback`` whenever ``n_steps`` more timesteps have passed since it last ran."""

    def __init__(self, n_steps: int, callback: BaseCallback) -> None:
        super().__init__(callback)
        self.n_steps = n_steps
        self.last_time_trigger = 0

    def _on_step(self) -> bool:
        if self.num_timesteps - self.last_time_trigger >= self.n_steps:
            self.last_time_trigger = self.num_timesteps
            return self._on_event()
        return True


class LogEveryNTimesteps(EveryNTimesteps):
    """Writes the model's training log (``rollout/ep_rew_mean``, ...) every ``n_steps`` timesteps;
    pair it with ``learn(log_interval=None)`` to log by steps rather than by iterations."""

    def __init__(self, n_steps: int) -> None:
        super().__init__(n_steps, ConvertCallback(self._log_data))

    def _log_data(self, _locals: dict[str, Any], _globals: dict[str, Any]) -> bool:
        dump_logs = getattr(self.model, "dump_logs", None)
        if callable(dump_logs):
            dump_logs()
        else:
            self.model._log_rollout_stats()
            self.model.logger.dump(self.model.num_timesteps)
        return True


class CheckpointCallback(BaseCallback):
    """Saves the model every ``save_freq`` calls as ``{save_path}/{name_prefix}_{num_timesteps}_steps.zip``.

    One call steps every env copy, so with ``n_envs`` copies a checkpoint comes every
    ``save_freq * n_envs`` timesteps (SB3 suggests ``save_freq = max(save_freq // n_envs, 1)``).

    ``save_replay_buffer=True`` (off-policy models) also saves the replay buffer with the model's
    ``save_replay_buffer`` to ``{name_prefix}_replay_buffer_{num_timesteps}_steps.pkl``, and
    ``save_vecnormalize=True`` the statistics of the model's ``VecNormalize`` (when it was given one,
    see ``get_vec_normalize_env``) to ``{name_prefix}_vecnormalize_{num_timesteps}_steps.pkl``: SB3's
    names, read back by ``load_replay_buffer`` and ``VecNormalize.load``. The files hold JSON and
    safetensors, no pickle, whatever the suffix says. The model's checkpoint holds its normalisation
    statistics in any case. ``verbose=2`` prints each path.
    """

    def __init__(self, save_freq: int, save_path: str | Path, name_prefix: str = "rl_model",
                 save_replay_buffer: bool = False, save_vecnormalize: bool = False, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.save_freq = save_freq
        self.save_path = save_path
        self.name_prefix = name_prefix
        self.save_replay_buffer = save_replay_buffer
        self.save_vecnormalize = save_vecnormalize

    def _init_callback(self) -> None:
        if self.save_path is not None:
            os.makedirs(self.save_path, exist_ok=True)

    def _checkpoint_path(self, checkpoint_type: str = "", extension: str = "") -> str:
        """``{save_path}/{name_prefix}_{checkpoint_type}{num_timesteps}_steps[.{extension}]``."""
        suffix = f".{extension}" if extension else ""
        return os.path.join(self.save_path, f"{self.name_prefix}_{checkpoint_type}{self.num_timesteps}_steps{suffix}")

    def _on_step(self) -> bool:
        if self.n_calls % self.save_freq != 0:
            return True
        model_path = self._checkpoint_path(extension="zip")
        self.model.save(model_path)
        if self.verbose >= 2:
            print(f"Saving model checkpoint to {model_path}")
        if self.save_replay_buffer and getattr(self.model, "replay_buffer", None) is not None:
            buffer_path = self._checkpoint_path("replay_buffer_", extension="pkl")
            self.model.save_replay_buffer(buffer_path)
            if self.verbose >= 2:
                print(f"Saving model replay buffer checkpoint to {buffer_path}")
        vec_normalize = self.model.get_vec_normalize_env() if self.save_vecnormalize else None
        if vec_normalize is not None:
            statistics_path = self._checkpoint_path("vecnormalize_", extension="pkl")
            vec_normalize.save(statistics_path)
            if self.verbose >= 2:
                print(f"Saving model VecNormalize to {statistics_path}")
        return True


class SaveLatestCallback(BaseCallback):
    """Keeps one up-to-date checkpoint at ``path``, rewritten every ``every_steps`` env steps.

    Saves happen between iterations (when a rollout is about to start), so the file never holds a
    half-collected rollout, and at the end of training. Each write is atomic, so a process killed
    at any moment leaves the previous checkpoint or the new one. ``include_replay_buffer`` keeps an
    off-policy model's replay buffer in the file, so that a resume continues the same run.
    """

    def __init__(self, every_steps: int, path: str | Path, verbose: int = 0, *,
                 include_replay_buffer: bool = False) -> None:
        super().__init__(verbose)
        self.every_steps, self.path = int(every_steps), Path(path)
        self.include_replay_buffer = include_replay_buffer
        self._last_saved = 0

    def _on_training_start(self) -> None:
        self._last_saved = self.model.num_timesteps

    def _on_rollout_start(self) -> None:
        if self.model.num_timesteps - self._last_saved >= self.every_steps:
            self._save()

    def _on_training_end(self) -> None:
        self._save()

    def _save(self) -> None:
        self.model.save(self.path, include_replay_buffer=self.include_replay_buffer)
        self._last_saved = self.model.num_timesteps
        if self.verbose:
            print(f"Saved a checkpoint at {self.model.num_timesteps} steps to {self.path}")


class ProgressBarCallback(BaseCallback):
    """A rich progress bar with steps per second and the time left (``learn(progress_bar=True)``)."""

    def __init__(self) -> None:
        super().__init__()

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

