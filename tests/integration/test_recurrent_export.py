"""Export of RecurrentPPO policies: the state as explicit inputs and outputs, checked over whole episodes.

Each artifact is checked twice: by the export's own parity check (whole episodes, the state
carried), and here, independently, by driving a real env with the artifact's own actions and its
own carried state (reset to zeros at each episode start, as its README says) and comparing every
step with ``model.predict(obs, state, episode_start, deterministic=True)``.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from ballast import RecurrentPPO
from ballast.errors import ExportError
from ballast.export.episodes import carry_state, check_recurrent_parity
from ballast.export.onnx import onnx_runner
from ballast.export.recurrent import make_recurrent_plan

ort = pytest.importorskip("onnxruntime")
OCTAVE = shutil.which("octave-cli")
needs_octave = pytest.mark.skipif(OCTAVE is None, reason="GNU Octave (octave-cli) is not installed")
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated:DeprecationWarning")

ENVS = {"discrete": "CartPoleNoVel-v1", "box": "PendulumNoVel-v1"}
# (recurrent cell, shared_lstm, action kind, n_lstm_layers)
CASES = [("lstm", False, "discrete", 1), ("gru", False, "box", 2), ("lstm", True, "box", 2),
         ("gru", True, "discrete", 1)]


def _model(cell: str, shared: bool, kind: str, layers: int) -> RecurrentPPO:
    kwargs: dict[str, Any] = dict(lstm_hidden_size=8, net_arch=[8], recurrent_cell=cell, n_lstm_layers=layers)
    if shared:
        kwargs.update(shared_lstm=True, enable_critic_lstm=False)
    model = RecurrentPPO("MlpLstmPolicy", ENVS[kind], seed=0, n_steps=16, batch_size=16, n_epochs=1,
                         normalize_observations=True, policy_kwargs=kwargs, device="cpu")
    model.learn(32)  # non-trivial normalisation statistics
    return model


def _ts_step(path: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(path))

    def step(obs: np.ndarray, *state: np.ndarray) -> list[np.ndarray]:
        with torch.no_grad():
            return [o.numpy() for o in module(torch.from_numpy(obs), *(torch.from_numpy(s) for s in state))]

    return step


def _onnx_step(path: Path) -> Any:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return lambda obs, *state: session.run(None, dict(zip(names, (obs, *state))))


def _episode_matches_predict(model: RecurrentPPO, step: Any, parts: int, steps: int = 150) -> int:
    """Drive the env with the artifact's actions and carried state; every step must equal predict's. Returns
    the number of episode starts seen after the first (so the reset rule was exercised)."""
    env = gym.make(model.env_id)
    obs, _ = env.reset(seed=3)
    layers, hidden = model.policy.config.n_lstm_layers, model.policy.config.lstm_hidden_size
    state = [np.zeros((layers, 1, hidden), np.float32) for _ in range(parts)]
    predict_state, start, resets = None, True, 0
    for _ in range(steps):
        if start:
            state = [np.zeros_like(s) for s in state]  # an episode start: zeros, as the README says
        batch = np.asarray(obs, np.float32)[None]
        action, *state = step(batch, *state)
        expected, predict_state = model.predict(batch, state=predict_state, episode_start=np.array([start]),
                                                deterministic=True)
        np.testing.assert_allclose(np.asarray(action).reshape(expected.shape), expected, atol=1e-5)
        for got, want in zip(state, predict_state):
            np.testing.assert_allclose(got, want, atol=1e-5)
        obs, _, terminated, truncated, _ = env.step(np.asarray(action)[0])
        start = bool(terminated or truncated)
        if start:
            resets += 1
            obs, _ = env.reset()
    return resets


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize(("cell", "shared", "kind", "layers"), CASES)
def test_artifact_over_an_episode_equals_predict_with_the_state_carried(
        tmp_path: Path, fmt: str, cell: str, shared: bool, kind: str, layers: int) -> None:
    model = _model(cell, shared, kind, layers)
    out = model.export(tmp_path, fmt)
    meta = json.loads((out / "metadata.json").read_text())
    parts = 2 if cell == "lstm" else 1
    state_names = ["h_in", "c_in"][:parts]
    assert [i["name"] for i in meta["inputs"]] == ["obs", *state_names]
    assert [o["name"] for o in meta["outputs"]] == ["action", "h_out", "c_out"][: parts + 1]
    assert meta["inputs"][1]["shape"] == [layers, "batch", 8]  # the batch is the state's second axis
    assert meta["recurrent"]["initial_state"] == "zeros" and "episode start" in meta["recurrent"]["episode_start"]
    parity = meta["parity"]
    assert parity["passed"] and parity["n_episodes"] >= 1 and parity["state_max_abs_diff"] < 1e-4
    assert "The recurrent state" in (out / "README.md").read_text()
    step = _onnx_step(out / "policy.onnx") if fmt == "onnx" else _ts_step(out / "policy.pt")
    resets = _episode_matches_predict(model, step, parts, steps=60 if kind == "discrete" else 210)
    assert resets >= 1
    # Any batch size: 5 env copies at once, each from its own state.
    rng = np.random.default_rng(1)
    obs = rng.uniform(-1, 1, (5, *model.observation_space.shape)).astype(np.float32)
    state = tuple(rng.normal(size=(layers, 5, 8)).astype(np.float32) for _ in range(parts))
    action, *next_state = step(obs, *state)
    expected, expected_state = model.predict(obs, state=state, deterministic=True)
    np.testing.assert_allclose(np.asarray(action).reshape(expected.shape), expected, atol=1e-5)
    np.testing.assert_allclose(next_state[0], expected_state[0], atol=1e-5)


def test_a_wrong_state_shape_is_refused_by_the_artifacts(tmp_path: Path) -> None:
    """ONNX Runtime names the input whose fixed sizes differ; TorchScript names the expected and the given sizes."""
    model = _model("lstm", False, "discrete", 1)
    model.export(tmp_path / "onnx", "onnx")
    model.export(tmp_path / "ts", "torchscript")
    obs = np.zeros((2, 4), np.float32)
    wrong = np.zeros((1, 2, 5), np.float32)  # hidden size 5 instead of 8
    right = np.zeros((1, 2, 8), np.float32)
    with pytest.raises(Exception, match=r"invalid dimensions for input: h_in"):
        _onnx_step(tmp_path / "onnx" / "policy.onnx")(obs, wrong, right)
    with pytest.raises(Exception, match=r"invalid dimensions for input: c_in"):
        _onnx_step(tmp_path / "onnx" / "policy.onnx")(obs, right, np.zeros((2, 2, 8), np.float32))  # 2 layers
    ts = _ts_step(tmp_path / "ts" / "policy.pt")
    with pytest.raises(RuntimeError, match=r"Target sizes: \[1, 2, 8\]\.  Tensor sizes: \[1, 2, 5\]"):
        ts(obs, wrong, right)
    with pytest.raises(RuntimeError, match=r"Target sizes: \[1, 2, 8\]\.  Tensor sizes: \[1, 3, 8\]"):
        ts(obs, right, np.zeros((1, 3, 8), np.float32))  # a state for 3 env copies, observations of 2


def test_parity_fails_for_an_artifact_that_drops_or_never_resets_its_state(tmp_path: Path) -> None:
    """The check runs episodes with the state carried: an artifact fed zeros every step (a single-step
    check would pass it) fails, and so does one whose state is not reset at episode starts."""
    model = _model("lstm", False, "box", 1)
    out = model.export(tmp_path, "onnx")
    plan = make_recurrent_plan(model, include_value=False, action_masks=False)
    runner, runtime = onnx_runner(out / "policy.onnx")

    def zero_state(arrays: list[np.ndarray]) -> list[np.ndarray]:
        return runner([arrays[0], *(np.zeros_like(a) for a in arrays[1:])])

    dropped = check_recurrent_parity(model, plan, runner, carry_state(zero_state, plan), runtime)
    assert dropped.passed is False and "actions differ" in " ".join(dropped.details)

    def never_reset(steps: list[list[np.ndarray]], starts: np.ndarray) -> list[list[np.ndarray]]:
        return carry_state(runner, plan)(steps, np.zeros_like(starts))

    stale = check_recurrent_parity(model, plan, runner, never_reset, runtime)
    assert stale.passed is False
    assert check_recurrent_parity(model, plan, runner, carry_state(runner, plan), runtime).passed


def test_what_a_recurrent_export_refuses(tmp_path: Path) -> None:
    model = _model("lstm", False, "discrete", 1)
    with pytest.raises(ExportError, match="include_value=True is not supported for a recurrent policy"):
        model.export(tmp_path, "onnx", include_value=True)
    with pytest.raises(ExportError, match="action_masks=True is not supported for a recurrent policy"):
        model.export(tmp_path, "onnx", action_masks=True)


@needs_octave
@pytest.mark.parametrize(("cell", "shared", "kind", "layers"), [CASES[1], ("lstm", False, "discrete", 2)])
def test_matlab_artifact_passes_octave_parity_over_episodes(tmp_path: Path, cell: str, shared: bool, kind: str,
                                                            layers: int) -> None:
    from ballast.export.matlab import run_octave

    model = _model(cell, shared, kind, layers)
    out = model.export(tmp_path, "matlab", function_name="ctrl")
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["parity"]["passed"] and meta["parity"]["n_episodes"] >= 1 and "Octave" in meta["parity"]["runtime"]
    code = (out / "ctrl.m").read_text()
    parts = "h_out, c_out" if cell == "lstm" else "h_out"
    assert f"function [action, {parts}] = ctrl(obs, h_in" in code
    # A state of the wrong width is refused with the expected size named.
    states = ", ".join(["zeros(2, 3)"] * len(parts.split(",")))
    script = (f"try, ctrl(zeros(2, {model.observation_space.shape[0]}), {states}); "
              "msg = 'none'; catch err, msg = err.message; end;")
    message = str(run_octave(OCTAVE, out, script, {"unused": np.zeros((1, 1))}, ["msg"])["msg"][0])
    assert f"h_in must be batch x {layers * 8}" in message
