"""The parity check of a recurrent artifact: whole episodes, with the state carried from step to step.

A recurrent policy's action depends on everything it has seen in the episode, so checking single
steps from a zero state would miss a wrong state update. The check therefore

- runs :data:`N_COPIES` copies of the model's env together, acting with ``model.predict(obs, state,
  episode_start, deterministic=True)`` and carrying its state, until every copy has finished an
  episode, at least ``ROLLOUT_STEPS`` steps have passed, and a few steps have run after a copy
  started its next episode (so the reset to zeros is exercised; at most :data:`MAX_STEPS` steps);
- runs the artifact over the same observations step by step, carrying ITS OWN state (the state
  outputs fed back as the next step's inputs, zeros for a copy whose episode starts, as the
  artifact's README tells a deployment to do), and a float64 copy of the policy likewise;
- also runs the artifact once on ``N_SAMPLED`` observations sampled from the space with random
  states, which reach inputs the episodes may not.

Actions are compared as for every policy (:func:`ballast.export.parity.compare_actions`: exactly
for discrete actions, against the float64 answer with the float32 rounding allowance for
continuous ones), and the returned states against the float64 states the same way
(:func:`ballast.export.parity.compare_values`). Any mismatch fails the export.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from ballast.export.module import ExportPlan, as_input_arrays, state_inputs
from ballast.export.parity import (
    N_SAMPLED,
    ROLLOUT_STEPS,
    SEED,
    Float64Mode,
    ParityResult,
    Runner,
    cast_like_inputs,
    compare_actions,
    compare_values,
    stack_observations,
    summary_line,
    unstack_observations,
)
from ballast.space_sampling import Observations, sample_observations

#: Env copies run side by side (so the artifact sees batches whose columns reset at different steps).
N_COPIES = 4
#: Steps run after the first episode start that follows another episode (so the reset rule is exercised).
STEPS_AFTER_RESET = 8
#: The most steps the episodes may take (an env whose episodes never end is cut here).
MAX_STEPS = 1000
#: Runs the artifact over steps: ``(inputs of each step without the state, episode starts (steps, copies))``
#: -> the outputs of each step (action, then the next state).
SequenceRunner = Callable[[list[list[np.ndarray]], np.ndarray], list[list[np.ndarray]]]


@dataclass
class Episodes:
    """What ``model.predict`` saw and returned over the episodes: one entry per step, ``N_COPIES`` rows each."""

    observations: list[Observations]
    starts: np.ndarray
    actions: list[np.ndarray]
    states: list[tuple[np.ndarray, ...]]
    n_episodes: int
    source: str


def zero_reset(state: list[np.ndarray], starts: np.ndarray) -> list[np.ndarray]:
    """``state`` (each ``(layers, copies, hidden)``) with the columns of the copies whose episode starts set to zero."""
    keep = ~np.asarray(starts, dtype=bool).reshape(1, -1, 1)
    return [np.where(keep, part, 0.0).astype(part.dtype) for part in state]


def carry_state(runner: Runner, plan: ExportPlan) -> SequenceRunner:
    """A :data:`SequenceRunner` calling the artifact's ``runner`` once per step, feeding back its own state."""
    specs = state_inputs(plan.inputs)

    def run(steps: list[list[np.ndarray]], starts: np.ndarray) -> list[list[np.ndarray]]:
        state = [np.zeros((spec.shape[0], starts.shape[1], *spec.shape[1:]), np.float32) for spec in specs]
        outputs = []
        for arrays, start in zip(steps, starts):
            state = zero_reset(state, start)
            out = [np.asarray(o) for o in runner([*arrays, *state])]
            outputs.append(out)
            state = [o.astype(np.float32).reshape(s.shape) for o, s in zip(out[1:], state)]
        return outputs

    return run


def record_episodes(model: Any, plan: ExportPlan) -> tuple[Episodes | None, str]:
    """Run ``model.predict`` over whole episodes of ``N_COPIES`` fresh env copies (the model's own env when it
    has no env id), carrying the state; ``None`` and the reason when no env can be run."""
    env_id, vec = getattr(model, "env_id", None), getattr(model, "env", None)
    try:
        if env_id is not None:
            envs = [gym.make(env_id, **dict(getattr(model, "env_kwargs", None) or {})) for _ in range(N_COPIES)]
            try:
                return _run_episodes(model, plan, _SeparateEnvs(envs)), ""
            finally:
                for env in envs:
                    env.close()
        if vec is not None:
            episodes = _run_episodes(model, plan, vec)
            model.set_env(vec)
            return episodes, ""
        return None, "no episodes: the model has no env and no env id"
    except Exception as err:  # noqa: BLE001 - any env failure only skips the episode part of the check
        return None, f"no episodes: the env failed ({type(err).__name__}: {err})"


class _SeparateEnvs:
    """Single envs stepped side by side, each reset as soon as its episode ends (a vector env's interface)."""

    def __init__(self, envs: list[gym.Env]) -> None:
        self.envs = envs
        self.num_envs = len(envs)

    def reset(self, seed: int) -> tuple[list[Any], dict]:
        return [env.reset(seed=seed + i)[0] for i, env in enumerate(self.envs)], {}

    def step(self, actions: Any) -> tuple[list[Any], np.ndarray, np.ndarray, np.ndarray, dict]:
        out, terminated, truncated = [], np.zeros(self.num_envs, bool), np.zeros(self.num_envs, bool)
        for i, env in enumerate(self.envs):
            obs, _, terminated[i], truncated[i], _ = env.step(actions[i])
            out.append(env.reset()[0] if terminated[i] or truncated[i] else obs)
        return out, np.zeros(self.num_envs), terminated, truncated, {}


def _run_episodes(model: Any, plan: ExportPlan, envs: Any) -> Episodes:
    obs, _ = envs.reset(seed=SEED)
    n = envs.num_envs
    starts, finished = np.ones(n, dtype=bool), np.zeros(n, dtype=int)
    record = Episodes([], np.zeros((0, n), dtype=bool), [], [], 0, "")
    all_starts, state, after_reset = [], None, -1
    for t in range(MAX_STEPS):
        if t >= ROLLOUT_STEPS and finished.min() >= 1 and after_reset >= STEPS_AFTER_RESET:
            break
        batch = cast_like_inputs(stack_observations(obs) if isinstance(obs, list) else obs, plan)
        action, state = model.predict(batch, state=state, episode_start=starts, deterministic=True)
        record.observations.append(batch)
        record.actions.append(np.asarray(action))
        record.states.append(tuple(np.asarray(s) for s in state))
        all_starts.append(starts.copy())
        after_reset = after_reset + 1 if after_reset >= 0 else (0 if t > 0 and starts.any() else -1)
        obs, _, terminated, truncated, _ = envs.step(action)
        starts = np.asarray(terminated, dtype=bool) | np.asarray(truncated, dtype=bool)
        finished += starts
    record.starts = np.stack(all_starts)
    record.n_episodes = int(finished.sum())
    steps = len(record.actions)
    cut = "" if finished.min() >= 1 else f", cut at {MAX_STEPS} steps before every copy finished an episode"
    record.source = (f"{n} env copies x {steps} steps ({record.n_episodes} episodes ended{cut}), the state carried "
                     "step to step and reset to zeros at each episode start")
    return record


def float64_steps(model: Any, steps: list[Observations], starts: np.ndarray | None,
                  given: tuple[np.ndarray, ...] | None = None) -> list[tuple[np.ndarray, ...]] | None:
    """A float64 CPU copy of the policy run over ``steps`` (each a batch), carrying its own state from zeros
    (reset where ``starts``), or one step from ``given``; each step's ``(action, *next state)``, or None
    when the policy cannot run in float64."""
    try:
        double = copy.deepcopy(model.policy).to("cpu").double().eval()
        state = None if given is None else tuple(torch.as_tensor(np.asarray(s, dtype=np.float64)) for s in given)
        outputs = []
        with torch.no_grad(), Float64Mode():
            for t, obs in enumerate(steps):
                batch = ({k: _as_float64(v) for k, v in obs.items()} if isinstance(obs, dict) else _as_float64(obs))
                if state is None:
                    state = double.initial_state(len(unstack_observations(obs)), "cpu").pi
                if starts is not None:
                    keep = torch.as_tensor(~starts[t], dtype=torch.float64).view(1, -1, 1)
                    state = tuple(part * keep for part in state)
                action, state = double.act_from_state(batch, state, deterministic=True)
                outputs.append((action.numpy().astype(np.float64), *(s.numpy() for s in state)))
    except Exception:  # noqa: BLE001 - any failure only means the float32 comparison is used instead
        return None
    return outputs


def _as_float64(array: Any) -> torch.Tensor:
    array = np.asarray(array)
    return torch.as_tensor(array.astype(np.float64) if np.issubdtype(array.dtype, np.floating) else array)


def _rows(state: Any) -> np.ndarray:
    """A state ``(layers, batch, hidden)`` as one row per batch entry: ``(batch, layers * hidden)``."""
    state = np.asarray(state)
    return state.transpose(1, 0, 2).reshape(state.shape[1], -1)


def check_recurrent_parity(model: Any, plan: ExportPlan, runner: Runner, sequence_runner: SequenceRunner,
                           runtime: str) -> ParityResult:
    """Run the artifact on sampled observations (random states) and over whole episodes (its own state
    carried), and compare its actions and states with ``model.predict`` (see the module docstring)."""
    specs = state_inputs(plan.inputs)
    sampled = cast_like_inputs(sample_observations(model.observation_space, N_SAMPLED, seed=SEED), plan)
    rng = np.random.default_rng(SEED)
    states = tuple((0.5 * rng.standard_normal((spec.shape[0], N_SAMPLED, *spec.shape[1:]))).astype(np.float32)
                   for spec in specs)
    want_action, want_state = model.predict(sampled, state=states, deterministic=True)
    got = runner([*as_input_arrays(sampled, plan.inputs), *states])
    exact = float64_steps(model, [sampled], None, states)
    want = [[np.asarray(want_action), *want_state]]
    gots = [[np.asarray(o) for o in got]]
    exacts = None if exact is None else [list(exact[0])]

    episodes, note = record_episodes(model, plan)
    result = ParityResult(checked=True, passed=True, runtime=runtime, message="", n_sampled=N_SAMPLED)
    if episodes is not None:
        steps = [as_input_arrays(obs, plan.inputs) for obs in episodes.observations]
        gots += sequence_runner(steps, episodes.starts)
        want += [[a, *s] for a, s in zip(episodes.actions, episodes.states)]
        carried = float64_steps(model, episodes.observations, episodes.starts)
        exacts = None if exacts is None or carried is None else exacts + [list(o) for o in carried]
        result.n_rollout = len(episodes.actions) * episodes.starts.shape[1]
        result.n_episodes = episodes.n_episodes
        note = episodes.source
    result.rollout = note
    want_action = np.concatenate([np.asarray(w[0]).reshape(len(w[0]), -1) for w in want])
    try:
        got_action = np.concatenate([np.asarray(g[0]).reshape(len(w[0]), -1) for g, w in zip(gots, want)])
    except ValueError:  # an action of the wrong size: compare_actions reports the shape
        got_action = np.asarray(gots[0][0])
    exact_action = None if exacts is None else np.concatenate([e[0].reshape(len(e[0]), -1) for e in exacts])
    compare_actions(result, model.action_space, got_action, want_action, exact_action)
    largest = 0.0
    for i, spec in enumerate(specs, start=1):
        if any(len(g) <= i or np.asarray(g[i]).size != np.asarray(w[i]).size for g, w in zip(gots, want)):
            result.passed = False
            result.details.append(f"the artifact did not return {spec.name.replace('_in', '_out')} of the shape of "
                                  f"the state {list(spec.full_shape)} at every step")
            continue
        got_state = np.concatenate([_rows(np.asarray(g[i]).reshape(np.shape(w[i]))) for g, w in zip(gots, want)])
        want_state = np.concatenate([_rows(w[i]) for w in want])
        exact_state = None if exacts is None else np.concatenate([_rows(e[i]) for e in exacts])
        diff = compare_values(result, f"states {spec.name.replace('_in', '_out')}", got_state, want_state,
                              exact_state)
        largest = max(largest, diff or 0.0)
    result.state_max_abs_diff = largest
    result.message = summary_line(result)
    return result


__all__ = ["MAX_STEPS", "N_COPIES", "Episodes", "SequenceRunner", "carry_state", "check_recurrent_parity",
           "record_episodes"]
