"""The parity check: run the exported artifact and compare it with ``model.predict(..., deterministic=True)``.

Observations come from two sources: a few hundred sampled from the observation space (seeded;
uniform inside finite bounds, exponential beyond a one-sided bound, standard normal on unbounded
dimensions) and those of a short deterministic rollout in the model's env, which cover the
region the policy actually visits. An artifact with an ``action_mask`` input gets random masks
(seeded, at least one valid action per dimension), and ``model.predict`` the same masks.

Continuous actions (and exported values) are compared with a float64 evaluation of the model's own
policy (the call ``model.predict`` makes, on a float64 copy), which is the answer any float32
implementation approximates. The tolerance is ``1e-5`` (scaled by the largest action bound when
that exceeds 1) plus ten times the float32 rounding of the model itself on those inputs (how far
``model.predict`` is from the float64 answer): large raw observations (readings in the
thousands, no normalisation) make every float32 implementation round more, and are not refused,
while a real mismatch (a forgotten ``unscale_action``, a wrong normaliser) is orders of magnitude
beyond. A policy that cannot run in float64 is compared with ``model.predict`` at ``1e-5``
(scaled). Discrete actions must agree with ``model.predict`` exactly.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torch.overrides import TorchFunctionMode

from ballast.export.module import ExportPlan, as_input_arrays, observation_inputs, sample_masks
from ballast.space_sampling import Observations, sample_observations

N_SAMPLED = 256
ROLLOUT_STEPS = 128
SEED = 0
TOLERANCE = 1e-5
#: An artifact may round up to this many times as much as the model's own float32 evaluation does.
ROUNDING_FACTOR = 10.0
Runner = Callable[[list[np.ndarray]], list[np.ndarray]]


def stack_observations(items: list[Any]) -> Observations:
    if isinstance(items[0], dict):
        return {k: np.stack([np.asarray(i[k]) for i in items]) for k in items[0]}
    return np.stack([np.asarray(i) for i in items])


def unstack_observations(batch: Any) -> list[Any]:
    if isinstance(batch, dict):
        n = len(next(iter(batch.values())))
        return [{k: v[i] for k, v in batch.items()} for i in range(n)]
    return list(batch)


def rollout_observations(model: Any, steps: int = ROLLOUT_STEPS, seed: int = SEED) -> tuple[Observations | None, str]:
    """Observations of a deterministic rollout of ``steps`` steps, and a note on where they came from.

    A fresh env is made from the model's env id; a model with an env but no id uses its own env,
    which is then reset on the next ``learn`` (as ``set_env`` does). Without either, ``None``.
    """
    env_id, vec = getattr(model, "env_id", None), getattr(model, "env", None)
    observations: list[Any] = []
    try:
        if env_id is not None:
            env = gym.make(env_id, **dict(getattr(model, "env_kwargs", None) or {}))
            try:
                obs, _ = env.reset(seed=seed)
                for _ in range(steps):
                    observations.append(obs)
                    action, _ = model.predict(obs, deterministic=True)
                    obs, _, terminated, truncated, _ = env.step(action)
                    if terminated or truncated:
                        obs, _ = env.reset()
            finally:
                env.close()
            source = f"a fresh {env_id} env"
        elif vec is not None:
            obs, _ = vec.reset(seed=seed)
            for _ in range(max(1, steps // vec.num_envs)):
                observations.extend(unstack_observations(obs))
                actions, _ = model.predict(obs, deterministic=True)
                obs, *_ = vec.step(actions)
            model.set_env(vec)
            source = "the model's env (reset; the next learn() starts from a fresh reset)"
        else:
            return None, "no rollout: the model has no env and no env id"
    except Exception as err:  # noqa: BLE001 - any env failure only skips the rollout part of the check
        return None, f"no rollout: the env failed ({type(err).__name__}: {err})"
    return stack_observations(observations), f"{len(observations)} observations of a deterministic rollout in {source}"


def concat(a: Observations, b: Observations | None) -> Observations:
    if b is None:
        return a
    if isinstance(a, dict):
        return {k: np.concatenate([np.asarray(a[k]), np.asarray(b[k]).astype(np.asarray(a[k]).dtype)]) for k in a}
    return np.concatenate([np.asarray(a), np.asarray(b).astype(np.asarray(a).dtype)])


@dataclass
class ParityResult:
    """What the check ran, what it found, and whether it passed (``None``: not checked)."""

    checked: bool
    passed: bool | None
    runtime: str
    message: str
    n_sampled: int = 0
    n_rollout: int = 0
    rollout: str = ""
    action_kind: str = ""
    max_abs_diff: float | None = None
    mismatches: int | None = None
    tolerance: float | None = None
    reference: str = ""
    float32_rounding: float | None = None
    value_max_abs_diff: float | None = None
    n_episodes: int | None = None
    state_max_abs_diff: float | None = None
    details: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and v != [] and v != ""}


def tolerance_for(action_space: spaces.Space) -> float:
    """``TOLERANCE`` scaled by the largest action bound when that exceeds 1 (float32 has ~7 significant digits)."""
    if isinstance(action_space, spaces.Box):
        scale = float(np.max(np.abs(np.concatenate([action_space.low.reshape(-1), action_space.high.reshape(-1)]))))
        return TOLERANCE * max(1.0, scale)
    return 0.0


def reference_outputs(model: Any, plan: ExportPlan, obs: Observations,
                      masks: np.ndarray | None = None) -> list[np.ndarray]:
    """``model.predict(obs, deterministic=True)`` and, when exported, the value from the model's own policy."""
    if masks is None:
        action, _ = model.predict(obs, deterministic=True)
    else:
        action, _ = model.predict(obs, deterministic=True, action_masks=masks)
    outputs = [np.asarray(action)]
    if plan.module.value is not None:
        policy = model.policy
        device = next(policy.parameters()).device
        batch = ({k: torch.as_tensor(np.asarray(v), device=device) for k, v in obs.items()} if isinstance(obs, dict)
                 else torch.as_tensor(np.asarray(obs), device=device))
        with torch.inference_mode():
            normalized = policy.normalize(batch)
            value = (policy.predict_values(normalized).squeeze(-1) if plan.module.value == "value"
                     else policy.q_net(normalized))
        outputs.append(value.cpu().numpy())
    return outputs


class Float64Mode(TorchFunctionMode):
    """Every float32 cast and float32 tensor a policy makes (its encoders and normalisers cast their
    inputs to float32 on purpose) becomes float64, so a float64 copy of the policy runs in float64."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = dict(kwargs or {})
        if func is torch.Tensor.float:
            return args[0].double()
        args = tuple(torch.float64 if a is torch.float32 else a for a in args)
        if kwargs.get("dtype") is torch.float32:
            kwargs["dtype"] = torch.float64
        return func(*args, **kwargs)


def float64_reference(model: Any, plan: ExportPlan, obs: Observations,
                      masks: np.ndarray | None = None) -> list[np.ndarray] | None:
    """The model's actions (and exported values) from a float64 CPU copy of its policy, by the call
    ``model.predict`` makes; None for a policy that cannot run in float64."""
    policy = getattr(model, "policy", None)
    if not isinstance(policy, torch.nn.Module):
        return None

    def as_float64(array: Any) -> torch.Tensor:
        array = np.asarray(array)
        return torch.as_tensor(array.astype(np.float64) if np.issubdtype(array.dtype, np.floating) else array)

    try:
        double = copy.deepcopy(policy).to("cpu").double().eval()
        batch = {k: as_float64(v) for k, v in obs.items()} if isinstance(obs, dict) else as_float64(obs)
        with torch.no_grad(), Float64Mode():
            if masks is None:
                action = double.act(batch, deterministic=True)
            else:
                action = double.act(batch, deterministic=True, action_masks=torch.as_tensor(masks))
            outputs = [action.numpy().astype(np.float64)]
            if plan.module.value is not None:
                normalized = double.normalize(batch)
                value = (double.predict_values(normalized).squeeze(-1) if plan.module.value == "value"
                         else double.q_net(normalized))
                outputs.append(value.numpy())
    except Exception:  # noqa: BLE001 - any failure only means the float32 comparison is used instead
        return None
    return outputs


def _rounding(float32: np.ndarray, float64: np.ndarray) -> float:
    """How far the float32 evaluation is from the float64 one, at most (0 when there is nothing to compare)."""
    diff = np.abs(np.asarray(float32, dtype=np.float64).reshape(float64.shape) - float64)
    return float(np.nanmax(diff)) if diff.size else 0.0


def cast_like_inputs(obs: Observations, plan: ExportPlan) -> Observations:
    """The observations as the artifact receives them (its input dtypes), so both sides see the same numbers."""
    arrays = as_input_arrays(obs, observation_inputs(plan.inputs))
    if plan.inputs[0].key is None:
        return arrays[0]
    return {spec.key: a for spec, a in zip(plan.inputs, arrays)}


def check_parity(model: Any, plan: ExportPlan, runner: Runner, runtime: str) -> ParityResult:
    """Run ``runner`` (the artifact) on sampled and rollout observations and compare with the model."""
    sampled = sample_observations(model.observation_space, N_SAMPLED, seed=SEED)
    rollout, rollout_note = rollout_observations(model, ROLLOUT_STEPS, seed=SEED)
    n_rollout = 0 if rollout is None else len(unstack_observations(rollout))
    obs = cast_like_inputs(concat(sampled, rollout), plan)
    masks = sample_masks(model.action_space, len(unstack_observations(obs)), seed=SEED) if plan.module.masked else None
    expected = reference_outputs(model, plan, obs, masks)
    continuous = isinstance(model.action_space, spaces.Box)
    exact = float64_reference(model, plan, obs, masks) if continuous or len(expected) > 1 else None
    got = runner(as_input_arrays(obs, plan.inputs, masks))
    result = ParityResult(checked=True, passed=True, runtime=runtime, message="", n_sampled=N_SAMPLED,
                          n_rollout=n_rollout, rollout=rollout_note)
    compare_actions(result, model.action_space, got[0], expected[0], None if exact is None else exact[0])
    if len(expected) > 1:
        result.value_max_abs_diff = compare_values(result, "values", got[1], expected[1],
                                                   exact[1] if exact is not None and len(exact) > 1 else None)
    result.message = summary_line(result)
    return result


def compare_actions(result: ParityResult, action_space: spaces.Space, got: Any, expected: Any,
                    exact: np.ndarray | None) -> None:
    """Compare the artifact's actions ``got`` with ``model.predict``'s ``expected`` (and, for continuous
    actions, the float64 answer ``exact``), recording the verdict and the differences in ``result``."""
    n = len(expected)
    want_action = np.asarray(expected).reshape(n, -1)
    got_action = np.asarray(got).reshape(n, -1) if np.asarray(got).size == want_action.size else None
    if got_action is None:
        result.passed = False
        result.details.append(f"the artifact returned actions of shape {np.asarray(got).shape}, "
                              f"expected {np.asarray(expected).shape}")
    elif isinstance(action_space, spaces.Box):
        result.action_kind = "continuous"
        result.tolerance = tolerance_for(action_space)
        if exact is not None and exact.size == want_action.size:
            result.reference = "a float64 evaluation of the model"
            result.float32_rounding = _rounding(want_action, exact.reshape(n, -1))
            result.tolerance += ROUNDING_FACTOR * result.float32_rounding
            want_action = exact.reshape(n, -1)
        else:
            result.reference = "model.predict (float32)"
        diff = np.abs(got_action.astype(np.float64) - want_action.astype(np.float64))
        result.max_abs_diff = float(np.nanmax(diff)) if diff.size else 0.0
        bad = ~(diff <= result.tolerance)
        if bad.any():
            result.passed = False
            row = int(np.argwhere(bad)[0][0])
            result.details.append(
                f"{int(bad.any(axis=1).sum())} of {n} actions differ from {result.reference} by more than "
                f"{result.tolerance:.1e} "
                f"(largest {result.max_abs_diff:.3e}); first at row {row}: expected {want_action[row].tolist()}, "
                f"got {got_action[row].tolist()}")
    else:
        result.action_kind = "discrete"
        got_int = np.rint(got_action.astype(np.float64))
        diff = np.abs(got_int - want_action.astype(np.float64))
        result.max_abs_diff = float(diff.max()) if diff.size else 0.0
        rows = (diff != 0).any(axis=1) | (got_int != got_action.astype(np.float64)).any(axis=1)
        result.mismatches = int(rows.sum())
        if result.mismatches:
            result.passed = False
            row = int(np.argwhere(rows)[0][0])
            result.details.append(f"{result.mismatches} of {n} discrete actions differ; first at row {row}: "
                                  f"expected {want_action[row].tolist()}, got {got_action[row].tolist()}")


def compare_values(result: ParityResult, what: str, got: Any, expected: Any, exact: np.ndarray | None
                   ) -> float | None:
    """Compare real-valued outputs (values, recurrent states) with the model's, relative beyond magnitude 1,
    plus ten times the model's own float32 rounding (from ``exact``, the float64 answer); returns the
    largest difference (None when the shapes differ) and marks ``result`` failed beyond the tolerance."""
    want, got = np.asarray(expected, dtype=np.float64), np.asarray(got, dtype=np.float64)
    rounding = 0.0
    if exact is not None and exact.size == want.size:
        rounding = _rounding(want, exact.reshape(want.shape))
        want = exact.reshape(want.shape)
    if got.size != want.size:
        result.passed = False
        result.details.append(f"the artifact returned {what} of shape {got.shape}, expected {want.shape}")
        return None
    diff = np.abs(got.reshape(want.shape) - want)
    largest = float(np.nanmax(diff)) if diff.size else 0.0
    allowed = TOLERANCE * np.maximum(1.0, np.abs(want)) + ROUNDING_FACTOR * rounding
    if not (diff <= allowed).all():
        result.passed = False
        result.details.append(f"{what} differ by up to {largest:.3e} (tolerance {TOLERANCE:.0e}, relative beyond "
                              f"magnitude 1, plus {ROUNDING_FACTOR:g} x the model's float32 rounding {rounding:.1e})")
    return largest


def summary_line(result: ParityResult) -> str:
    """One line: what ran on how many observations, the largest difference, and the verdict."""
    if not result.checked:
        return result.message
    what = f"{result.n_sampled} sampled + {result.n_rollout} rollout observations"
    if result.n_episodes is not None:
        what = (f"{result.n_sampled} sampled observations (random states) + {result.n_rollout} observations of "
                f"{result.n_episodes} episodes run step by step, the state carried")
    if not result.n_rollout and result.rollout:
        what += f" ({result.rollout})"
    if result.action_kind == "continuous":
        diff = f"max |action difference| = {result.max_abs_diff:.3e} (tolerance {result.tolerance:.1e})"
        if result.float32_rounding is not None:
            diff += (f" from {result.reference}, whose float32 rounding on these inputs is "
                     f"{result.float32_rounding:.1e}")
    elif result.action_kind == "discrete":
        diff = f"{result.mismatches} discrete action mismatches (max |difference| = {result.max_abs_diff:g})"
    else:
        diff = "actions not comparable"
    if result.value_max_abs_diff is not None:
        diff += f", max |value difference| = {result.value_max_abs_diff:.3e}"
    if result.state_max_abs_diff is not None:
        diff += f", max |state difference| = {result.state_max_abs_diff:.3e}"
    verdict = "PASSED" if result.passed else "FAILED"
    return f"parity {verdict} with {result.runtime} on {what}: {diff}"


def unchecked(runtime: str, reason: str) -> ParityResult:
    """A result for a check that did not run, with the reason in capitals so it is not missed."""
    return ParityResult(checked=False, passed=None, runtime=runtime, message=f"parity NOT CHECKED: {reason}")
