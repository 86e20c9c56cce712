"""Export to ONNX, TorchScript and MATLAB: every artifact reproduces ``model.predict(obs, deterministic=True)``.

Models are built untrained with small networks (parity does not need a trained policy). Each
artifact is checked twice: by the export's own parity check, and here, independently, by running
the written files on batches of 1 and 257 observations. The MATLAB artifacts run in GNU Octave
(``octave-cli``); those tests are skipped only where Octave is not installed.
"""

from __future__ import annotations

import inspect
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from torch import nn

import ballast
from ballast.export import ExportError, export_model
from ballast.export.onnx import TORCH_EXPORT_BASED_MIN, check_exported_graph, has_torch_export_based_exporter
from ballast.export.writer import run_export
from ballast.spaces import space_from_json, space_to_json

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
scipy_io = pytest.importorskip("scipy.io")

OCTAVE = shutil.which("octave-cli")
needs_octave = pytest.mark.skipif(OCTAVE is None, reason="GNU Octave (octave-cli) is not installed")

VECTOR = spaces.Box(-1.0, 1.0, (3,), np.float32)
ASYMMETRIC = spaces.Box(np.array([0.0, -2.0], np.float32), np.array([5.0, 1.0], np.float32))
ACTION_SPACES = {
    "discrete": spaces.Discrete(3, start=1),
    "box": ASYMMETRIC,
    "multidiscrete": spaces.MultiDiscrete([2, 3], start=[0, -1]),
    "multibinary": spaces.MultiBinary(3),
}
DICT_SPACE = spaces.Dict({
    "position": spaces.Box(-2.0, 2.0, (2,), np.float32),
    "mode": spaces.Discrete(3),
    "flags": spaces.MultiBinary(2),
    "gear": spaces.MultiDiscrete([2, 4]),
})
# (algorithm, action kind): every algorithm with the action spaces it supports.
CASES = [("PPO", "discrete"), ("PPO", "box"), ("PPO", "multidiscrete"), ("PPO", "multibinary"),
         ("A2C", "discrete"), ("A2C", "box"), ("SAC", "box"), ("TD3", "box"), ("DDPG", "box"), ("DQN", "discrete"),
         ("QRDQN", "discrete"), ("TQC", "box"), ("CrossQ", "box")]
FORMATS = ["onnx", "torchscript", "matlab"]
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated:DeprecationWarning")


class RandomEnv(gym.Env):
    """An env of the given spaces with random observations, for rollouts."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        self.observation_space, self.action_space = observation_space, action_space
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.observation_space.seed(seed)
        self._t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        assert self.action_space.contains(np.asarray(action, dtype=self.action_space.dtype)), action
        self._t += 1
        return self.observation_space.sample(), 0.0, False, self._t >= 20, {}


def algorithm(name: str) -> type:
    cls = getattr(ballast, name, None)
    if cls is None:
        pytest.skip(f"ballast.{name} does not exist in this version of Ballast")
    return cls


def make_model(name: str, observation_space: spaces.Space, action_space: spaces.Space, *, env: bool = True,
               policy: str = "auto", net_arch=(16,), **kwargs):
    """An untrained model with a small network; with an env (a factory, so no env id) unless ``env=False``."""
    cls = algorithm(name)
    params = inspect.signature(cls).parameters
    small = {"buffer_size": 256} if "buffer_size" in params else {"n_steps": 8}
    if env:
        factory = lambda: RandomEnv(observation_space, action_space)
        return cls(policy, factory, seed=0, device="cpu", policy_kwargs={"net_arch": list(net_arch)}, **small,
                   **kwargs)
    return cls(policy, None, observation_space=observation_space, action_space=action_space, seed=0, device="cpu",
               policy_kwargs={"net_arch": list(net_arch)}, **small, **kwargs)


def observations(space: spaces.Space, n: int, seed: int = 1):
    space = space_from_json(space_to_json(space))
    space.seed(seed)
    items = [space.sample() for _ in range(n)]
    if isinstance(space, spaces.Dict):
        return {k: np.stack([i[k] for i in items]) for k in space.spaces}
    return np.stack(items)


def input_arrays(meta: dict, obs) -> list[np.ndarray]:
    if isinstance(obs, dict):
        return [np.asarray(obs[spec["key"]]).astype(spec["dtype"]) for spec in meta["inputs"]]
    return [np.asarray(obs).astype(meta["inputs"][0]["dtype"])]


def run_octave(out: Path, function_name: str, arrays: list[np.ndarray], n_outputs: int) -> list[np.ndarray]:
    work = out.parent / f"{out.name}_octave"
    work.mkdir(exist_ok=True)
    scipy_io.savemat(work / "in.mat", {f"x{i}": np.asarray(a, np.float64).reshape(len(a), -1)
                                       for i, a in enumerate(arrays)}, format="5")
    outs = [f"y{i}" for i in range(n_outputs)]
    script = (f"addpath('{out.resolve()}'); S = load('in.mat'); "
              f"[{', '.join(outs)}] = {function_name}({', '.join(f'S.x{i}' for i in range(len(arrays)))}); "
              f"save('-v6', 'out.mat', {', '.join(repr(o) for o in outs)});")
    proc = subprocess.run([OCTAVE, "--norc", "--quiet", "--eval", script], cwd=work, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = scipy_io.loadmat(work / "out.mat")
    return [result[o] for o in outs]


def run_artifact(out: Path, fmt: str, meta: dict, obs, function_name: str = "policy_step") -> list[np.ndarray]:
    """Run the written files (not Ballast's own runners) on a batch of observations."""
    arrays = input_arrays(meta, obs)
    if fmt == "onnx":
        session = ort.InferenceSession(str(out / "policy.onnx"), providers=["CPUExecutionProvider"])
        return session.run(None, {spec["name"]: a for spec, a in zip(meta["inputs"], arrays)})
    if fmt == "torchscript":
        module = torch.jit.load(str(out / "policy.pt"))
        result = module(*(torch.from_numpy(a) for a in arrays))
        return [r.numpy() for r in (result if isinstance(result, tuple) else (result,))]
    return run_octave(out, function_name, arrays, len(meta["outputs"]))


def assert_same_actions(model, got: np.ndarray, obs) -> None:
    want, _ = model.predict(obs, deterministic=True)
    got = np.asarray(got).reshape(want.shape)
    if isinstance(model.action_space, spaces.Box):
        scale = max(1.0, float(np.abs(np.concatenate([model.action_space.low, model.action_space.high])).max()))
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * scale)
    else:
        np.testing.assert_array_equal(np.rint(got).astype(np.int64), want.astype(np.int64))


def load_meta(out: Path) -> dict:
    return json.loads((out / "metadata.json").read_text())


def check_format_available(fmt: str) -> None:
    if fmt == "matlab" and OCTAVE is None:
        pytest.skip("GNU Octave (octave-cli) is not installed")


# --- parity, every algorithm x action space x format -------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("algo", "kind"), CASES, ids=[f"{a}-{k}" for a, k in CASES])
def test_artifact_reproduces_predict(algo: str, kind: str, fmt: str, tmp_path: Path) -> None:
    check_format_available(fmt)
    model = make_model(algo, VECTOR, ACTION_SPACES[kind])
    out = export_model(model, tmp_path / "export", fmt)
    meta = load_meta(out)
    assert meta["parity"]["checked"] and meta["parity"]["passed"], meta["parity"]
    assert meta["parity"]["n_rollout"] > 0, "the model's env gives rollout observations"
    assert meta["algorithm"] == algo.upper()
    for n in (1, 257):
        obs = observations(model.observation_space, n)
        (action,) = run_artifact(out, fmt, meta, obs)
        assert len(action) == n
        assert_same_actions(model, action, obs)


def test_onnx_graph_batch_axis_names_opset_and_metadata(tmp_path: Path) -> None:
    model = make_model("PPO", VECTOR, ASYMMETRIC, env=False, use_sde=True)
    out = export_model(model, tmp_path, "onnx")
    proto = onnx.load(str(out / "policy.onnx"))
    onnx.checker.check_model(proto, full_check=True)
    assert [i.name for i in proto.graph.input] == ["obs"]
    assert [o.name for o in proto.graph.output] == ["action"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic batch axis
    assert {o.domain: o.version for o in proto.opset_import}[""] == 17
    assert {n.domain for n in proto.graph.node} <= {"", "ai.onnx"}
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["ballast_version"] == ballast.__version__
    assert space_from_json(json.loads(props["action_space"])) == ASYMMETRIC
    assert json.loads(props["action_bounds"])["low"] == [0.0, -2.0]
    session = ort.InferenceSession(str(out / "policy.onnx"), providers=["CPUExecutionProvider"])
    for n in (1, 257):
        obs = observations(VECTOR, n, seed=n)
        assert_same_actions(model, session.run(None, {"obs": obs})[0], obs)


HAS_TORCH_EXPORT_BASED = has_torch_export_based_exporter()
needs_torch_export_based = pytest.mark.skipif(
    not HAS_TORCH_EXPORT_BASED,
    reason=f"the torch.export-based ONNX exporter needs torch >= {TORCH_EXPORT_BASED_MIN}, this is {torch.__version__}")


@needs_torch_export_based
def test_onnx_opset_18_uses_the_torch_export_based_exporter(tmp_path: Path) -> None:
    pytest.importorskip("onnxscript")
    model = make_model("PPO", DICT_SPACE, ASYMMETRIC, env=False, normalize_observations=True)
    out = export_model(model, tmp_path, "onnx", opset=18, include_value=True)
    proto = onnx.load(str(out / "policy.onnx"))
    assert {o.domain: o.version for o in proto.opset_import}[""] == 18
    meta = load_meta(out)
    assert meta["onnx"]["exporter"] == "dynamo" and meta["onnx"]["opset"] == 18 and meta["parity"]["passed"]
    for n in (1, 257):
        obs = observations(DICT_SPACE, n)
        assert_same_actions(model, run_artifact(out, "onnx", meta, obs)[0], obs)


@pytest.mark.skipif(HAS_TORCH_EXPORT_BASED, reason=f"torch {torch.__version__} has the torch.export-based exporter")
def test_onnx_opset_18_on_an_older_torch_is_written_by_the_torchscript_based_exporter(tmp_path: Path) -> None:
    model = make_model("PPO", DICT_SPACE, ASYMMETRIC, env=False, normalize_observations=True)
    out = export_model(model, tmp_path, "onnx", opset=18, include_value=True)
    proto = onnx.load(str(out / "policy.onnx"))
    assert {o.domain: o.version for o in proto.opset_import}[""] == 18
    meta = load_meta(out)
    assert meta["onnx"]["exporter"] == "torchscript-based" and meta["parity"]["passed"]
    (reason,) = meta["onnx"]["exporter_fallback_reasons"]
    assert f"needs torch >= {TORCH_EXPORT_BASED_MIN}, this is torch {torch.__version__}" in reason
    for n in (1, 257):
        obs = observations(DICT_SPACE, n)
        assert_same_actions(model, run_artifact(out, "onnx", meta, obs)[0], obs)
    with pytest.raises(ExportError, match=f"needs torch >= {TORCH_EXPORT_BASED_MIN}"):
        run_export(model, tmp_path / "forced", "onnx", opset=18, check=False, function_name="policy",
                   include_value=False, onnx_exporter="dynamo")


def test_an_onnx_graph_with_a_fixed_batch_size_is_refused() -> None:
    # What some versions of the torch.export-based exporter write despite dynamic_shapes.
    buffer = io.BytesIO()
    torch.onnx.export(nn.Linear(3, 2), (torch.zeros(4, 3),), buffer, input_names=["obs"], output_names=["action"],
                      opset_version=17, dynamo=False)
    proto = onnx.load_from_string(buffer.getvalue())
    with pytest.raises(ExportError, match=r"fixed the batch size of \['obs', 'action'\]"):
        check_exported_graph(proto, 17)
    proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    check_exported_graph(proto, 17)
    with pytest.raises(ExportError, match="not the requested 18"):
        check_exported_graph(proto, 18)


def test_torchscript_and_onnx_run_without_ballast(tmp_path: Path) -> None:
    model = make_model("PPO", VECTOR, ASYMMETRIC, env=False, normalize_observations=True)
    export_model(model, tmp_path / "ts", "torchscript")
    export_model(model, tmp_path / "onnx", "onnx")
    obs = observations(VECTOR, 5)
    np.save(tmp_path / "obs.npy", obs)
    script = f"""
import sys
sys.modules["ballast"] = None  # any import of ballast now fails
try:
    import ballast
except ImportError:
    pass
else:
    raise SystemExit("ballast is importable")
import numpy as np, torch, onnxruntime
obs = np.load({str(tmp_path / "obs.npy")!r})
ts = torch.jit.load({str(tmp_path / "ts" / "policy.pt")!r})(torch.from_numpy(obs)).numpy()
session = onnxruntime.InferenceSession({str(tmp_path / "onnx" / "policy.onnx")!r}, providers=["CPUExecutionProvider"])
np.save({str(tmp_path / "ts.npy")!r}, ts)
np.save({str(tmp_path / "onnx.npy")!r}, session.run(None, {{"obs": obs}})[0])
"""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.run([sys.executable, "-I", "-c", script], cwd=elsewhere, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert_same_actions(model, np.load(tmp_path / "ts.npy"), obs)
    assert_same_actions(model, np.load(tmp_path / "onnx.npy"), obs)


# --- observations: Dict, images, normalisation ----------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_dict_observations_are_one_input_per_key(fmt: str, tmp_path: Path) -> None:
    check_format_available(fmt)
    model = make_model("PPO", DICT_SPACE, ASYMMETRIC, normalize_observations=True)
    rms = model.policy.normalizer.stats["position"]
    rms.mean.copy_(torch.tensor([0.5, -0.25], dtype=torch.float64))
    rms.var.copy_(torch.tensor([0.3, 2.0], dtype=torch.float64))
    out = export_model(model, tmp_path / "export", fmt)
    meta = load_meta(out)
    assert [s["name"] for s in meta["inputs"]] == list(DICT_SPACE.spaces)
    assert meta["parity"]["passed"]
    if fmt == "onnx":
        proto = onnx.load(str(out / "policy.onnx"))
        assert [i.name for i in proto.graph.input] == list(DICT_SPACE.spaces)
    if fmt == "matlab":
        code = (out / "policy_step.m").read_text()
        args = ", ".join(f"obs_{key}" for key in DICT_SPACE.spaces)  # Gymnasium sorts the keys
        assert f"function action = policy_step({args}, P)" in code
    for n in (1, 257):
        obs = observations(DICT_SPACE, n)
        assert_same_actions(model, run_artifact(out, fmt, meta, obs)[0], obs)


IMAGE = spaces.Box(0, 255, (36, 36, 3), np.uint8)  # channels last


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_image_observations_export_with_scaling(fmt: str, tmp_path: Path) -> None:
    model = make_model("PPO", IMAGE, spaces.Discrete(4), env=False, net_arch=())
    out = export_model(model, tmp_path, fmt)
    meta = load_meta(out)
    assert meta["inputs"][0]["dtype"] == "uint8" and meta["inputs"][0]["shape"] == ["batch", 36, 36, 3]
    assert meta["preprocessing"]["image_scaling"]
    obs = observations(IMAGE, 17)
    assert_same_actions(model, run_artifact(out, fmt, meta, obs)[0], obs)


def test_matlab_export_of_a_cnn_policy_names_the_unsupported_module(tmp_path: Path) -> None:
    model = make_model("PPO", IMAGE, spaces.Discrete(4), env=False, net_arch=())
    with pytest.raises(ExportError, match=r"MATLAB export does not support NatureCNN.*format='onnx'"):
        export_model(model, tmp_path, "matlab")


@pytest.mark.parametrize("fmt", FORMATS)
def test_normalisation_statistics_are_exported(fmt: str, tmp_path: Path) -> None:
    check_format_available(fmt)
    model = make_model("PPO", VECTOR, ASYMMETRIC, env=False, normalize_observations=True, net_arch=(32,))
    for param in model.policy.action_head.parameters():  # a visible dependence of the action on the input
        param.data.normal_(0.0, 1.0)
    obs = observations(VECTOR, 64)
    rms = model.policy.normalizer.stats["obs"]
    before, _ = model.predict(obs, deterministic=True)
    rms.mean.copy_(torch.tensor([0.5, -0.3, 0.1], dtype=torch.float64))
    rms.var.copy_(torch.tensor([0.01, 0.2, 3.0], dtype=torch.float64))
    after, _ = model.predict(obs, deterministic=True)
    assert np.abs(after - before).max() > 1e-2, "the statistics change the model's actions"
    out = export_model(model, tmp_path / "export", fmt)
    meta = load_meta(out)
    assert meta["preprocessing"]["observation_normalization"]["clip"] == 10.0
    got = np.asarray(run_artifact(out, fmt, meta, obs)[0]).reshape(after.shape)
    np.testing.assert_allclose(got, after, atol=5e-5)
    assert np.abs(got - before).max() > 1e-2


# --- the value output -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_include_value_adds_v_of_s(fmt: str, tmp_path: Path) -> None:
    check_format_available(fmt)
    model = make_model("A2C", VECTOR, spaces.Discrete(3), env=False, normalize_observations=True, net_arch=())
    out = export_model(model, tmp_path / "export", fmt, include_value=True)
    meta = load_meta(out)
    assert [s["name"] for s in meta["outputs"]] == ["action", "value"]
    obs = observations(VECTOR, 33)
    action, value = run_artifact(out, fmt, meta, obs)
    assert_same_actions(model, action, obs)
    with torch.no_grad():
        want = model.policy.predict_values(model.policy.normalize(torch.as_tensor(obs))).squeeze(-1).numpy()
    np.testing.assert_allclose(np.asarray(value).reshape(-1), want, atol=1e-5)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["DQN", "QRDQN"])
def test_include_value_adds_q_values_for_dqn(name: str, fmt: str, tmp_path: Path) -> None:
    """The Q-values (QR-DQN: the means over the quantiles) are the second output; the action is their argmax."""
    check_format_available(fmt)
    model = make_model(name, VECTOR, spaces.Discrete(4), env=False)
    out = export_model(model, tmp_path / "export", fmt, include_value=True)
    meta = load_meta(out)
    assert meta["outputs"][1]["shape"] == ["batch", 4]
    obs = observations(VECTOR, 9)
    action, q_values = run_artifact(out, fmt, meta, obs)
    with torch.no_grad():
        want = model.policy.q_net(model.policy.normalize(torch.as_tensor(obs))).numpy()
    np.testing.assert_allclose(np.asarray(q_values).reshape(want.shape), want, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(action).reshape(-1), want.argmax(axis=1))


def test_include_value_for_a_policy_without_values_says_so(tmp_path: Path) -> None:
    model = make_model("SAC", VECTOR, ASYMMETRIC, env=False)
    with pytest.raises(ExportError, match="include_value=True is supported for"):
        export_model(model, tmp_path, "onnx", include_value=True)


# --- MATLAB in Octave, the three required policies -------------------------------------------------------------
@needs_octave
@pytest.mark.parametrize("case", ["ppo-discrete", "ppo-continuous-normalized", "sac-asymmetric"])
def test_matlab_code_matches_pytorch_in_octave(case: str, tmp_path: Path) -> None:
    if case == "ppo-discrete":
        model = ballast.PPO("MlpPolicy", "CartPole-v1", n_steps=16, seed=0, device="cpu",
                            policy_kwargs={"net_arch": [16, 16]})
    elif case == "ppo-continuous-normalized":
        model = ballast.PPO("MlpPolicy", "Pendulum-v1", n_steps=16, seed=0, device="cpu", normalize_observations=True,
                            policy_kwargs={"net_arch": [16, 16]})
        rms = model.policy.normalizer.stats["obs"]
        rms.mean.copy_(torch.tensor([0.2, -0.1, 0.5], dtype=torch.float64))
        rms.var.copy_(torch.tensor([0.5, 0.4, 9.0], dtype=torch.float64))
    else:
        model = make_model("SAC", VECTOR, ASYMMETRIC, net_arch=(16, 16))
    out = export_model(model, tmp_path / "matlab", "matlab", function_name="controller")
    meta = load_meta(out)
    assert {"controller.m", "controller_params.mat"} <= set(meta["files"])
    assert meta["parity"]["passed"] and meta["parity"]["runtime"].startswith("GNU Octave")
    assert meta["parity"]["n_rollout"] > 0
    obs = observations(model.observation_space, 200, seed=3)
    (action,) = run_artifact(out, "matlab", meta, obs, function_name="controller")
    assert_same_actions(model, action, obs)
    if case == "sac-asymmetric":
        assert action.min(axis=0)[0] >= 0.0 and action.max(axis=0)[0] <= 5.0
        assert action.min(axis=0)[1] >= -2.0 and action.max(axis=0)[1] <= 1.0


@needs_octave
def test_matlab_code_takes_one_observation_as_a_row_or_a_column_and_refuses_other_shapes(tmp_path: Path) -> None:
    model = ballast.PPO("MlpPolicy", "Pendulum-v1", n_steps=16, seed=0, device="cpu", normalize_observations=True,
                        policy_kwargs={"net_arch": [16]})
    rms = model.policy.normalizer.stats["obs"]
    rms.mean.copy_(torch.tensor([0.2, -0.1, 0.5], dtype=torch.float64))  # normalisation on: a column used to
    rms.var.copy_(torch.tensor([0.5, 0.4, 9.0], dtype=torch.float64))    # broadcast into a 3 x 3 matrix
    out = export_model(model, tmp_path / "matlab", "matlab", function_name="controller")
    obs = np.array([0.6, -0.8, 1.5])
    script = (f"addpath('{out.resolve()}'); r = controller([0.6, -0.8, 1.5]); c = controller([0.6; -0.8; 1.5]); "
              "printf('%.9g %.9g %d %d\\n', r, c, numel(r), numel(c)); "
              "try, controller([0.6, -0.8]); catch err, disp(err.message); end; "
              "try, controller(ones(3, 2)); catch err, disp(err.message); end")
    proc = subprocess.run([OCTAVE, "--norc", "--quiet", "--eval", script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first, short, wide = proc.stdout.strip().splitlines()[-3:]
    row, column, n_row, n_column = first.split()
    want, _ = model.predict(obs.astype(np.float32), deterministic=True)
    assert float(row) == float(column) and n_row == n_column == "1"
    assert abs(float(row) - float(want[0])) < 1e-5
    assert "obs must be batch x 3" in short and "[1 2]" in short
    assert "obs must be batch x 3" in wide and "[3 2]" in wide


# --- the parity check itself --------------------------------------------------------------------------------------
def test_parity_check_catches_a_broken_artifact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ballast.export import module

    model = make_model("PPO", VECTOR, ASYMMETRIC, env=False)
    original = module.ExportedPolicy.step
    monkeypatch.setattr(module.ExportedPolicy, "step", lambda self, obs: original(self, obs) + 1e-3)
    with pytest.raises(ExportError, match="parity FAILED"):
        export_model(model, tmp_path, "torchscript")
    meta = load_meta(tmp_path)
    assert meta["parity"]["passed"] is False and meta["parity"]["max_abs_diff"] > 1e-5


#: Raw sensor readings in the thousands, no normalisation: float32 rounds more on them in every implementation.
RAW_READINGS = spaces.Box(-2000.0, 2000.0, (12,), np.float32)
WIDE_ACTIONS = spaces.Box(np.array([-3.0, 0.0], np.float32), np.array([3.0, 10.0], np.float32))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["SAC", "TD3"])
def test_parity_accepts_a_correct_artifact_on_large_raw_observations(name: str, fmt: str, tmp_path: Path) -> None:
    check_format_available(fmt)
    model = make_model(name, RAW_READINGS, spaces.Box(-1.0, 1.0, (2,), np.float32), env=False, net_arch=(256, 256))
    export_model(model, tmp_path, fmt)
    parity = load_meta(tmp_path)["parity"]
    assert parity["passed"] is True and parity["reference"] == "a float64 evaluation of the model"
    # The model's own float32 rounding on these inputs is beyond the fixed tolerance, and so is the artifact's.
    assert parity["float32_rounding"] > 1e-6
    assert parity["max_abs_diff"] <= parity["tolerance"]


def _broken_copies(monkeypatch: pytest.MonkeyPatch, breakage: str) -> None:
    """Make every export carry a policy copy with ``breakage``: its action mapping onto the bounds
    forgotten (``unscale_action``), or its observation statistics reset (a wrong normaliser)."""
    from ballast.export import module

    real = module.cpu_policy_copy

    def broken(policy: nn.Module) -> nn.Module:
        clone = real(policy)
        if breakage == "unscale_action":
            clone.action_adapter.low.fill_(-1.0)
            clone.action_adapter.high.fill_(1.0)
        else:
            for stats in clone.normalizer.stats.values():
                stats.mean.zero_()
                stats.var.fill_(1.0)
        return clone

    monkeypatch.setattr(module, "cpu_policy_copy", broken)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("breakage", ["unscale_action", "normaliser"])
def test_parity_refuses_a_broken_artifact_on_large_raw_observations(breakage: str, fmt: str, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    check_format_available(fmt)
    normalize = breakage == "normaliser"
    model = make_model("SAC", RAW_READINGS, WIDE_ACTIONS, env=False, net_arch=(256, 256),
                       normalize_observations=normalize)
    if normalize:  # statistics of readings around 1000, as a trained model has them
        readings = torch.as_tensor(np.random.default_rng(0).uniform(800, 1200, (500, 12)).astype(np.float32))
        model.policy.normalizer.update(readings)
    _broken_copies(monkeypatch, breakage)
    with pytest.raises(ExportError, match="parity FAILED.*\\n.*actions differ from a float64 evaluation"):
        export_model(model, tmp_path, fmt)
    parity = load_meta(tmp_path)["parity"]
    assert parity["passed"] is False and parity["max_abs_diff"] > 100 * parity["tolerance"]


@pytest.mark.parametrize("fmt", ["onnx", "torchscript", "matlab"])
def test_parity_check_catches_a_single_wrong_discrete_action(fmt: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    check_format_available(fmt)
    from ballast.export import matlab, torchscript
    from ballast.export import onnx as export_onnx

    owner, name = {"onnx": (export_onnx, "onnx_runner"), "torchscript": (torchscript, "torchscript_runner"),
                   "matlab": (matlab, "octave_runner")}[fmt]
    real = getattr(owner, name)

    def broken(*args, **kwargs):
        run, runtime = real(*args, **kwargs)

        def run_wrong(arrays):
            outputs = run(arrays)
            outputs[0] = np.array(outputs[0], copy=True)
            outputs[0].reshape(-1)[7] += 1  # one action of the batch is off by one
            return outputs

        return run_wrong, runtime

    monkeypatch.setattr(owner, name, broken)
    model = make_model("PPO", VECTOR, spaces.Discrete(5), env=False)
    with pytest.raises(ExportError, match="1 of 256 discrete actions differ"):
        export_model(model, tmp_path, fmt)


def test_check_false_skips_the_check_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model = make_model("PPO", VECTOR, spaces.Discrete(3), env=False)
    export_model(model, tmp_path, "onnx", check=False)
    meta = load_meta(tmp_path)
    assert meta["parity"]["checked"] is False and "check=False" in meta["parity"]["message"]
    assert "NOT CHECKED" in capsys.readouterr().out


def test_missing_octave_is_reported_loudly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture) -> None:
    from ballast.export import matlab

    monkeypatch.setattr(matlab, "octave_path", lambda: None)
    model = make_model("PPO", VECTOR, spaces.Discrete(3), env=False)
    with pytest.warns(UserWarning, match="Octave"):
        export_model(model, tmp_path, "matlab")
    meta = load_meta(tmp_path)
    assert meta["parity"]["checked"] is False and "octave-cli" in meta["parity"]["message"]
    printed = capsys.readouterr().out
    assert "WARNING" in printed and "NOT CHECKED" in printed and "UNCHECKED" in printed


def test_rollout_in_the_models_own_env_keeps_the_model_trainable(tmp_path: Path) -> None:
    model = make_model("PPO", VECTOR, spaces.Discrete(3))
    model.learn(16)
    export_model(model, tmp_path, "torchscript")
    assert "the model's env" in load_meta(tmp_path)["parity"]["rollout"]
    model.learn(16, reset_num_timesteps=False)
    assert model.num_timesteps == 32


# --- files and errors -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_metadata_and_readme_describe_the_artifact(fmt: str, tmp_path: Path) -> None:
    model = make_model("PPO", VECTOR, ASYMMETRIC, env=False)
    out = export_model(model, tmp_path / "export", fmt, check=fmt != "matlab" or OCTAVE is not None)
    meta = load_meta(out)
    assert meta["format"] == fmt and meta["ballast_version"] == ballast.__version__
    assert space_from_json(meta["observation_space"]) == VECTOR
    assert space_from_json(meta["action_space"]) == ASYMMETRIC
    assert meta["action_bounds"] == {"type": "Box", "low": [0.0, -2.0], "high": [5.0, 1.0], "clipped": True}
    assert meta["inputs"] == [{"name": "obs", "shape": ["batch", 3], "dtype": "float32"}]
    assert meta["outputs"][0]["name"] == "action" and meta["outputs"][0]["shape"] == ["batch", 2]
    assert sorted(p.name for p in out.iterdir()) == sorted(meta["files"]), "no stray temporary files"
    readme = (out / "README.md").read_text()
    for needle in ("## Inputs", "## Outputs", "## Action bounds", "## How to run it", "[0.0, -2.0]", "Parity"):
        assert needle in readme
    if fmt == "matlab":
        assert "coder.extrinsic" in readme and "MATLAB Function block" in readme


def test_unbounded_spaces_give_strict_json(tmp_path: Path) -> None:
    model = ballast.PPO("MlpPolicy", "CartPole-v1", n_steps=16, seed=0, device="cpu", policy_kwargs={"net_arch": [8]})
    out = export_model(model, tmp_path, "onnx")
    text = (out / "metadata.json").read_text()
    assert "Infinity" not in text and '"inf"' in text
    json.loads(text, parse_constant=lambda name: pytest.fail(f"non-standard JSON constant {name}"))
    assert load_meta(out)["parity"]["n_rollout"] == 128


class LayerNormEncoder(nn.Module):
    """A custom encoder with a module the MATLAB translator does not know."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.features_dim = dim

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.norm(obs.float())


def test_matlab_export_names_an_unsupported_custom_module(tmp_path: Path) -> None:
    policy = ballast.policies.ActorCriticPolicy(VECTOR, spaces.Discrete(2), encoder=LayerNormEncoder(3))
    model = ballast.PPO(policy, None, observation_space=VECTOR, action_space=spaces.Discrete(2), n_steps=8, seed=0)
    with pytest.raises(ExportError, match=r"does not support LayerNormEncoder \(policy\.encoder\).*LayerNorm"):
        export_model(model, tmp_path / "m", "matlab")
    export_model(model, tmp_path / "onnx", "onnx")  # the same policy exports to ONNX
    assert load_meta(tmp_path / "onnx")["parity"]["passed"]


def test_bad_arguments_raise_clear_errors(tmp_path: Path) -> None:
    model = make_model("PPO", VECTOR, spaces.Discrete(2), env=False)
    with pytest.raises(ExportError, match="unknown export format"):
        export_model(model, tmp_path, "tflite")
    with pytest.raises(ExportError, match="not a valid MATLAB function name"):
        export_model(model, tmp_path, "matlab", function_name="2fast")
    with pytest.raises(ExportError, match="needs a Ballast model"):
        export_model(object(), tmp_path, "onnx")
    assert issubclass(ExportError, ballast.BallastError)


def test_algorithm_export_method(tmp_path: Path) -> None:
    model = make_model("PPO", VECTOR, spaces.Discrete(2), env=False)
    assert model.export(tmp_path, "torchscript") == tmp_path
    assert (tmp_path / "policy.pt").exists()
