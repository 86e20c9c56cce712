"""The MATLAB code generator: what the generated code may contain, its parameters file, its translations.

Running the code needs GNU Octave; those tests are skipped where ``octave-cli`` is missing. The rest
checks the generator itself: only base MATLAB functions, no ``arguments`` blocks or ``string``
values, valid parameter names in a MAT v5 file, and activation formulas equal to PyTorch's.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from gymnasium import spaces
from torch import nn

from ballast import PPO
from ballast.export import ExportError, export_model
from ballast.export.matlab import _activation_expr, register_module_translator, translate
from ballast.export.module import make_plan
from ballast.policies.heads import ActionAdapter

scipy_io = pytest.importorskip("scipy.io")
scipy_special = pytest.importorskip("scipy.special")

OCTAVE = shutil.which("octave-cli")
VECTOR = spaces.Box(-1.0, 1.0, (4,), np.float32)
# Functions of base MATLAB (and Octave) that the generator may use; anything else could need a toolbox.
BASE_FUNCTIONS = {"double", "min", "max", "bsxfun", "tanh", "exp", "log", "erf", "sqrt", "abs", "sum", "mean", "fix",
                  "load", "fullfile", "fileparts", "mfilename", "isempty", "function",
                  "size", "numel", "iscolumn", "ismatrix", "error", "mat2str"}  # the input checks


def _model(action_space: spaces.Space, **kwargs) -> PPO:
    return PPO("auto", None, observation_space=kwargs.pop("observation_space", VECTOR), action_space=action_space,
               n_steps=8, seed=0, device="cpu", **kwargs)


def _export(tmp_path: Path, model, **kwargs) -> Path:
    return export_model(model, tmp_path, "matlab", check=OCTAVE is not None, **kwargs)


def _code_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip() and not line.lstrip().startswith("%")]


@pytest.mark.parametrize("action_space", [spaces.Discrete(3), spaces.Box(-2.0, 3.0, (2,), np.float32),
                                          spaces.MultiDiscrete([2, 5]), spaces.MultiBinary(3)],
                         ids=["discrete", "box", "multidiscrete", "multibinary"])
def test_generated_code_is_plain_matlab(action_space: spaces.Space, tmp_path: Path) -> None:
    model = _model(action_space, normalize_observations=True, use_sde=isinstance(action_space, spaces.Box),
                   policy_kwargs={"net_arch": {"pi": [8, 8], "vf": [4]}, "activation_fn": "ReLU"})
    out = _export(tmp_path, model, include_value=True)
    lines = _code_lines(out / "policy_step.m")
    text = "\n".join(lines)
    assert lines[0] == "function [action, value] = policy_step(obs, P)"
    assert lines[-1] == "end"
    assert "persistent params" in text and "nargin < 2" in text
    assert '"' not in text, "no string literals (char arrays only)"
    assert not re.search(r"^\s*arguments\b", text, re.MULTILINE)
    assert "string(" not in text
    called = set(re.findall(r"\b([A-Za-z_]\w*)\s*\(", text))
    variables = {"policy_step", "obs", "P", "params", "action", "value"} | set(re.findall(r"\b(t\d+)\b", text))
    assert called - variables <= BASE_FUNCTIONS, called - variables - BASE_FUNCTIONS


def test_parameters_file_is_mat_v5_with_valid_names(tmp_path: Path) -> None:
    model = _model(spaces.Discrete(2), normalize_observations=True)
    out = _export(tmp_path, model, function_name="ctrl")
    data = (out / "ctrl_params.mat").read_bytes()
    assert data[:19] == b"MATLAB 5.0 MAT-file"
    params = scipy_io.loadmat(out / "ctrl_params.mat")
    names = [k for k in params if not k.startswith("__")]
    assert names
    for name in names:
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,62}", name), name
        assert params[name].ndim == 2 and params[name].dtype == np.float64
    code = (out / "ctrl.m").read_text()
    assert set(re.findall(r"\bP\.(\w+)", code)) == set(names), "every parameter is used, every use is stored"
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["matlab"]["function"] == "ctrl" and {"ctrl.m", "ctrl_params.mat"} <= set(meta["files"])


def test_dict_observations_become_one_argument_per_key(tmp_path: Path) -> None:
    space = spaces.Dict({"b-key": spaces.Box(-1.0, 1.0, (2,), np.float32), "a": spaces.Discrete(3)})
    model = _model(spaces.Discrete(2), observation_space=space)
    translation = translate(make_plan(model, include_value=False))
    assert translation.input_names == ["obs_a", "obs_b_key"]  # Gymnasium's key order, names made valid
    out = _export(tmp_path, model)
    assert "function action = policy_step(obs_a, obs_b_key, P)" in (out / "policy_step.m").read_text()
    assert "obs_b_key" in (out / "README.md").read_text()


def test_shared_computations_are_written_once() -> None:
    model = _model(spaces.Discrete(3), normalize_observations=True, policy_kwargs={"net_arch": [8]})
    lines = translate(make_plan(model, include_value=True)).program.lines
    assert sum("normalizer" in line for line in lines) == 1
    assert sum("trunk_0_W1" in line for line in lines) == 1


def test_unsupported_modules_are_named() -> None:
    image = spaces.Box(0, 255, (36, 36, 3), np.uint8)
    model = PPO("CnnPolicy", None, observation_space=image, action_space=spaces.Discrete(2), n_steps=8, seed=0)
    with pytest.raises(ExportError, match=r"does not support NatureCNN \(policy\.encoder\).*format='onnx'"):
        translate(make_plan(model, include_value=False))


def test_invalid_function_names_are_refused(tmp_path: Path) -> None:
    model = _model(spaces.Discrete(2))
    for bad in ("policy-step", "_x", "a" * 60, "1x"):
        with pytest.raises(ExportError, match="not a valid MATLAB function name"):
            export_model(model, tmp_path, "matlab", function_name=bad)


@pytest.mark.parametrize("module", [nn.Tanh(), nn.ReLU(), nn.Sigmoid(), nn.SiLU(), nn.ELU(alpha=0.7),
                                    nn.LeakyReLU(0.2), nn.GELU(), nn.Softplus(beta=2.0, threshold=5.0), nn.Identity()],
                         ids=lambda m: type(m).__name__)
def test_activation_formulas_equal_pytorch(module: nn.Module) -> None:
    x = np.linspace(-12.0, 12.0, 97)
    expr = _activation_expr(type(module).__name__, "x", module)
    # The generated expressions use elementwise operators only; evaluate them with NumPy.
    python = expr.replace(".*", "*").replace("./", "/")
    value = eval(python, {"x": x, "tanh": np.tanh, "exp": np.exp, "log": np.log, "sqrt": np.sqrt,
                          "erf": scipy_special.erf, "max": np.maximum, "min": np.minimum})
    want = module(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(np.broadcast_to(value, want.shape), want, rtol=1e-6, atol=1e-6)


class Glue(nn.Module):
    """A protocol-following policy whose action goes through many operations between modules."""

    def __init__(self) -> None:
        super().__init__()
        self.observation_space = spaces.Box(-1.0, 1.0, (2, 2), np.float32)
        self.action_space = spaces.Box(np.array([-1.0, 0.0, 2.0], np.float32), np.array([1.0, 4.0, 3.0], np.float32))
        self.linear = nn.Linear(4, 6)
        self.register_buffer("gain", torch.tensor([0.5, 2.0, -1.0]))
        self.action_adapter = ActionAdapter(self.action_space, squashed=True)

    def normalize(self, obs: torch.Tensor) -> torch.Tensor:
        return obs

    def act(self, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        h = self.linear(obs.reshape(obs.shape[0], -1).float())
        a, b = torch.split(h, 3, dim=-1)
        x = torch.sigmoid(a) * self.gain - torch.relu(b).clamp(max=0.7)
        x = torch.cat([x[:, :2], torch.softmax(x, dim=-1)[:, 2:]], dim=1)
        x = x + x.sum(dim=-1, keepdim=True) / 10.0
        return self.action_adapter(torch.tanh(2.0 * x - self.gain.exp()))


class GlueModel:
    """The part of an algorithm that export uses: spaces, the policy, and ``predict``."""

    algorithm_name = "custom"

    def __init__(self) -> None:
        torch.manual_seed(0)
        self.policy = Glue()
        self.observation_space, self.action_space = self.policy.observation_space, self.policy.action_space

    def predict(self, obs, state=None, episode_start=None, deterministic=False):
        with torch.no_grad():
            return self.policy.act(torch.as_tensor(np.asarray(obs)), deterministic).numpy(), state


@pytest.mark.parametrize("fmt", ["onnx", "torchscript", "matlab"])
def test_operations_between_modules_are_translated(fmt: str, tmp_path: Path) -> None:
    if fmt == "matlab" and OCTAVE is None:
        pytest.skip("GNU Octave (octave-cli) is not installed")
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    out = export_model(GlueModel(), tmp_path, fmt)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["parity"]["passed"] and meta["parity"]["max_abs_diff"] < 1e-5


class Scale(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


def test_translators_can_be_registered_for_new_modules() -> None:
    from ballast.export.matlab import MODULE_TRANSLATORS

    model = GlueModel()
    model.policy.linear = nn.Sequential(Scale(3.0), nn.Linear(4, 6))
    before = list(MODULE_TRANSLATORS)
    try:
        register_module_translator(
            Scale, lambda program, module, path, args, example: program.assign(
                f"{args[0].var} * {module.factor!r}", args[0].shape, args[0].dtype))
        lines = translate(make_plan(model, include_value=False)).program.lines
    finally:
        MODULE_TRANSLATORS[:] = before
    assert any(line.endswith("* 3.0;") for line in lines)
