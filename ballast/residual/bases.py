"""Frozen base controllers for residual policies: a Ballast model, an ONNX file, or a Python callable.

A base maps a batch of raw env observations to a batch of env actions (in the env's units). It is
owned by the model (design principle 2) and never trained:

* :class:`ModelBase`: a Ballast model (in memory or a saved ``.zip``); runs its policy's
  deterministic ``act`` in PyTorch, so it moves with the model to a device and is exported with it.
  Saved as the base model's own checkpoint, nested in the residual model's checkpoint.
* :class:`OnnxBase`: an ONNX file run with onnxruntime (``pip install ballast-rl[export]``).
  Saved as the file's bytes (a uint8 safetensors tensor).
* :class:`ModuleBase`: a ``torch.nn.Module`` ``obs_batch -> action_batch`` on tensors, frozen and run
  under ``no_grad``; it moves with the model and is exported with it. Saved as its class's import
  path (the class is built again without arguments at load, or the module is passed to
  ``load(..., base_policy=module)``) and its weights, which are part of the policy's state dict.
* :class:`CallableBase`: any Python function or callable object ``obs_batch -> action_batch``
  taking NumPy arrays (e.g. a PID or LQR law). Saved as its import path ``module:name``, imported
  again at load time (or passed explicitly to ``load(..., base_policy=fn)``).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from ballast.errors import CheckpointError, ConfigurationError, SpaceMismatchError
from ballast.import_path import import_path

_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def _numpy_obs(obs: Any) -> Any:
    if isinstance(obs, dict):
        return {k: v.detach().cpu().numpy() for k, v in obs.items()}
    return obs.detach().cpu().numpy()


def _batch_size(obs: Any) -> int:
    return len(next(iter(obs.values()))) if isinstance(obs, dict) else len(obs)


class BaseController(nn.Module):
    """A frozen controller: raw observations ``(batch, ...)`` -> env actions ``(batch, action_dim)``."""

    kind: ClassVar[str] = ""
    #: Whether the base is a PyTorch computation that export can put into the artifact's graph.
    exportable: ClassVar[bool] = False

    def __init__(self, action_dim: int) -> None:
        super().__init__()
        self.action_dim = action_dim

    def compute(self, obs: Any) -> torch.Tensor:
        """The base's actions for raw observations (subclasses)."""
        raise NotImplementedError

    def forward(self, obs: Any) -> torch.Tensor:
        return self.compute(obs)

    def _checked(self, actions: np.ndarray, obs: Any) -> np.ndarray:
        """``actions`` as ``(batch, action_dim)`` float32, or a clear error when they do not fit."""
        n = _batch_size(obs)
        array = np.asarray(actions, dtype=np.float32)
        if array.size != n * self.action_dim:
            raise self._shape_error(array.shape, n)
        if not np.isfinite(array).all():
            raise ConfigurationError(
                f"the {self.kind} base policy returned non-finite actions; fix it so that it returns finite "
                "values for every observation")
        return array.reshape(n, self.action_dim)

    def _shape_error(self, shape: tuple[int, ...], n: int) -> ConfigurationError:
        return ConfigurationError(
            f"the {self.kind} base policy returned actions of shape {tuple(shape)} for a batch of {n} "
            f"observations; expected ({n}, {self.action_dim}) (one env action per observation)")

    def to_json(self) -> dict[str, Any]:
        """What the checkpoint's config records about the base."""
        return {"kind": self.kind}

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Tensors that rebuild the base at load time (none for a callable)."""
        return {}


class CallableBase(BaseController):
    """A Python callable ``obs_batch (NumPy) -> action_batch``; see the module docstring.

    ``import_path`` (``"module:name"``) is what the checkpoint records; by default it is found from
    the function's module and qualified name. A lambda or a function defined inside another function
    has no import path: such a model can be saved, but must be loaded with ``base_policy=fn``.
    """

    kind = "callable"

    def __init__(self, fn: Any, action_dim: int, import_path: str | None = None) -> None:
        super().__init__(action_dim)
        if not callable(fn):
            raise ConfigurationError(f"base_policy must be callable, got {type(fn).__name__}")
        self.fn = fn
        self.import_path = import_path if import_path is not None else callable_import_path(fn)

    def compute(self, obs: Any) -> torch.Tensor:
        device = next(iter(obs.values())).device if isinstance(obs, dict) else obs.device
        out = self.fn(_numpy_obs(obs))
        if isinstance(out, torch.Tensor):
            out = out.detach().cpu().numpy()
        return torch.as_tensor(self._checked(out, obs), device=device)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "import_path": self.import_path}


class ModuleBase(BaseController):
    """A frozen ``torch.nn.Module``: raw observation tensors in, env actions out; see the module docstring."""

    kind = "module"
    exportable = True

    def __init__(self, module: nn.Module, action_dim: int, import_path: str | None = None) -> None:
        super().__init__(action_dim)
        self.module = module.eval().requires_grad_(False)
        self.import_path = import_path if import_path is not None else callable_import_path(type(module))

    def train(self, mode: bool = True) -> ModuleBase:
        super().train(mode)
        self.module.eval()  # the base acts the same way whether the residual trains or not
        return self

    def compute(self, obs: Any) -> torch.Tensor:
        with torch.no_grad():
            out = self.module(obs)
        if not isinstance(out, torch.Tensor):
            raise ConfigurationError(f"the module base policy returned {type(out).__name__}; it must return a "
                                     "tensor of actions (batch, action_dim)")
        n = _batch_size(obs)
        if out.numel() != n * self.action_dim:
            raise self._shape_error(out.shape, n)
        # -1, not n: an exported graph must take any batch size.
        return out.reshape(-1, self.action_dim).to(torch.float32)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "import_path": self.import_path}


class ModelBase(BaseController):
    """A Ballast model's deterministic policy, frozen; see the module docstring."""

    kind = "ballast"
    exportable = True

    def __init__(self, model: Any, action_dim: int) -> None:
        super().__init__(action_dim)
        from ballast.checkpoint import checkpoint_to_bytes

        self.algorithm = model.algorithm_name
        self.checkpoint_bytes = checkpoint_to_bytes(model.to_checkpoint())
        policy = copy.deepcopy(model.policy).cpu().eval()  # moves with the residual model afterwards
        policy.requires_grad_(False)
        self.policy = policy

    def train(self, mode: bool = True) -> ModelBase:
        super().train(mode)
        self.policy.eval()  # the base acts the same way whether the residual trains or not
        return self

    def compute(self, obs: Any) -> torch.Tensor:
        # The base model was built for the same action space (checked when it was given), so its
        # output fits; a data-dependent check here would fix the batch size in exported graphs.
        actions = self.policy.act(obs, deterministic=True)
        return actions.reshape(actions.shape[0], self.action_dim).to(torch.float32)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "algorithm": self.algorithm}

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {"checkpoint": torch.frombuffer(bytearray(self.checkpoint_bytes), dtype=torch.uint8)}


class OnnxBase(BaseController):
    """An ONNX model with one input (the observation batch) whose first output is the action batch."""

    kind = "onnx"

    def __init__(self, onnx_bytes: bytes, action_dim: int) -> None:
        super().__init__(action_dim)
        self.onnx_bytes = bytes(onnx_bytes)
        self._start_session()

    def _start_session(self) -> None:
        try:
            import onnxruntime
        except ImportError:
            raise ConfigurationError(
                "an ONNX base policy needs onnxruntime: pip install 'ballast-rl[export]'") from None
        try:
            self.session = onnxruntime.InferenceSession(self.onnx_bytes, providers=["CPUExecutionProvider"])
        except Exception as err:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise ConfigurationError(f"the ONNX base policy cannot be loaded by onnxruntime ({err})") from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ConfigurationError(
                f"an ONNX base policy must take one input (the observation batch); this one takes "
                f"{[i.name for i in inputs]}. Export a single-input model, or wrap it in a Python callable")
        self.input_name = inputs[0].name
        self.input_dtype = np.float32 if "float" in inputs[0].type and "16" not in inputs[0].type else None

    def __deepcopy__(self, memo: dict[int, Any]) -> OnnxBase:
        clone = OnnxBase(self.onnx_bytes, self.action_dim)
        clone.train(self.training)
        return clone

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("an ONNX base policy is not picklable; Ballast saves it as ONNX bytes")

    def compute(self, obs: Any) -> torch.Tensor:
        if isinstance(obs, dict):
            raise ConfigurationError("an ONNX base policy takes one array; Dict observations need a callable base")
        array = obs.detach().cpu().numpy()
        if self.input_dtype is not None:
            array = array.astype(self.input_dtype, copy=False)
        out = self.session.run(None, {self.input_name: np.ascontiguousarray(array)})[0]
        return torch.as_tensor(self._checked(out, obs), device=obs.device)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind}

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {"onnx": torch.frombuffer(bytearray(self.onnx_bytes), dtype=torch.uint8)}


def callable_import_path(fn: Any) -> str | None:
    """``module:qualname`` of ``fn`` when importing that path gives ``fn`` back, else None."""
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        return None
    path = f"{module}:{qualname}"
    try:
        return path if import_object(path) is fn else None
    except CheckpointError:
        return None


def import_object(path: str) -> Any:
    """Import ``module:name`` (dotted names allowed on both sides)."""
    try:
        return import_path(path)
    except (ImportError, AttributeError) as err:
        raise CheckpointError(f"cannot import {path!r} ({err})") from None


def _is_ballast_model(obj: Any) -> bool:
    return callable(getattr(obj, "to_checkpoint", None)) and isinstance(getattr(obj, "policy", None), nn.Module)


def _load_model(path: Path) -> Any:
    from ballast.registry import load_model

    return load_model(path, device="cpu")


def as_base_policy(base: Any, observation_space: spaces.Space, action_space: spaces.Box) -> BaseController:
    """Turn what a user passed as ``base_policy`` into a :class:`BaseController`, checked against the spaces.

    Accepted: a :class:`BaseController`; a Ballast model; a path to a saved Ballast model (``.zip``) or
    to an ONNX file (``.onnx``); an import path ``"module:function"``; a ``torch.nn.Module`` (copied);
    any callable.
    The base is run once on sampled observations, so that a base that does not fit the env fails
    here with a clear message rather than in the middle of training.
    """
    action_dim = int(np.prod(action_space.shape))
    # Whatever resolving the base draws (building or loading a model) stays out of the residual
    # model's own seeded stream.
    with torch.random.fork_rng(devices=[]):
        result = _resolve(base, action_dim)
    if isinstance(result, ModelBase):
        from ballast.spaces import spaces_equal

        for kind, mine, theirs in (("observation", observation_space, result.policy.observation_space),
                                   ("action", action_space, result.policy.action_space)):
            if not spaces_equal(mine, theirs):
                raise SpaceMismatchError(
                    f"the base model was trained with the {kind} space {theirs}, but the residual model has "
                    f"{mine}; a Ballast base must act in the same env")
    _probe(result, observation_space)
    return result


def _resolve(base: Any, action_dim: int) -> BaseController:
    if isinstance(base, BaseController):
        if base.action_dim != action_dim:
            raise ConfigurationError(f"the base policy returns {base.action_dim} action values, the env takes "
                                     f"{action_dim}")
        return base
    if _is_ballast_model(base):
        return ModelBase(base, action_dim)
    if isinstance(base, (str, Path)):
        text = str(base)
        path = Path(text)
        if path.suffix == ".onnx":
            if not path.exists():
                raise ConfigurationError(f"base_policy={text!r}: no ONNX file there")
            return OnnxBase(path.read_bytes(), action_dim)
        if path.exists() or path.with_name(path.name + ".zip").exists():
            return ModelBase(_load_model(path), action_dim)
        if _IMPORT_PATH.match(text):
            try:
                fn = import_object(text)
            except CheckpointError as err:
                raise ConfigurationError(f"base_policy={text!r}: {err}") from None
            return CallableBase(fn, action_dim, import_path=text)
        raise ConfigurationError(
            f"base_policy={text!r} is neither an existing file (a Ballast .zip or an .onnx) nor an import path "
            "'module:function'")
    if isinstance(base, nn.Module):  # a copy: the model owns its base, later changes to the module do not reach it
        return ModuleBase(copy.deepcopy(base), action_dim)
    if callable(base):
        return CallableBase(base, action_dim)
    raise ConfigurationError(
        f"base_policy must be a Ballast model, a path to a saved model or an ONNX file, an import path "
        f"'module:function', a torch.nn.Module, or a callable obs_batch -> action_batch; got {type(base).__name__}")


def _probe(base: BaseController, observation_space: spaces.Space) -> None:
    from ballast.space_sampling import sample_observations

    sample = sample_observations(observation_space, 2, seed=0)
    if isinstance(sample, dict):
        obs: Any = {k: torch.as_tensor(np.asarray(v)) for k, v in sample.items()}
    else:
        obs = torch.as_tensor(np.asarray(sample))
    with torch.no_grad():
        base(obs)


def base_from_checkpoint(data: dict[str, Any], tensors: dict[str, torch.Tensor], action_dim: int) -> BaseController:
    """Rebuild the base a checkpoint recorded (see :meth:`BaseController.to_json` and ``state_tensors``)."""
    kind = data.get("kind")
    if kind == "ballast":
        from ballast.checkpoint import read_checkpoint_bytes
        from ballast.registry import model_from_checkpoint

        raw = tensors["checkpoint"].numpy().tobytes()
        source = "the nested base checkpoint"
        with torch.random.fork_rng(devices=[]):
            model = model_from_checkpoint(read_checkpoint_bytes(raw, source), device="cpu", source=source)
            return ModelBase(model, action_dim)
    if kind == "onnx":
        return OnnxBase(tensors["onnx"].numpy().tobytes(), action_dim)
    if kind == "module":
        path = data.get("import_path")
        how = "load with base_policy=your_module (its weights then come from the file)"
        if not path:
            raise CheckpointError(f"the model's base policy is a torch module whose class has no import path "
                                  f"(defined inside a function); {how}")
        try:
            module = import_object(path)()
        except Exception as err:  # noqa: BLE001 - the user's class may raise anything when built without arguments
            raise CheckpointError(f"the model's base module class {path!r} cannot be built without arguments "
                                  f"({type(err).__name__}: {err}); {how}") from None
        return ModuleBase(module, action_dim, import_path=path)
    if kind == "callable":
        path = data.get("import_path")
        if not path:
            raise CheckpointError(
                "the model's base policy is a Python callable without an import path (a lambda or a local "
                "function), so it cannot be imported: load with base_policy=your_function")
        try:
            fn = import_object(path)
        except CheckpointError as err:
            raise CheckpointError(
                f"the model's base policy {path!r} cannot be imported ({err}); make its module importable "
                "(e.g. on PYTHONPATH) or load with base_policy=your_function") from None
        return CallableBase(fn, action_dim, import_path=path)
    raise CheckpointError(f"unknown base policy kind {kind!r} in the checkpoint")
