"""The module every format exports, and the names, shapes and dtypes of its inputs and outputs.

:class:`ExportedPolicy` wraps a CPU copy of the policy and calls ``policy.act(obs,
deterministic=True)``: the same call ``model.predict`` makes, so normalisation, image scaling and
the action adapter are in the exported graph because they are in the policy (design principle 2).
Dict observations become one positional input per key, in the space's key order. With
``action_masks=True`` a last input ``action_mask`` (bool, one entry per action choice) restricts
the action to the valid ones, as ``model.predict(obs, action_masks=mask)``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from ballast.export import ExportError
from ballast.node_spaces import NodeChoice

if TYPE_CHECKING:
    from ballast.export.recurrent import RecurrentExportedPolicy

BATCH = "batch"
#: The input a residual export takes the base's action from before the base's graph is joined to it.
BASE_INPUT = "base_action"
BASE_KINDS = {"callable": "a callable base (Python code)", "onnx": "an ONNX base (run by onnxruntime)"}
MASK_INPUT = "action_mask"
#: A recurrent policy's state inputs and outputs (``c`` only for an LSTM), each ``(n_lstm_layers, batch, hidden)``.
STATE_INPUTS = ("h_in", "c_in")
STATE_OUTPUTS = ("h_out", "c_out")


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: its name, the shape of one item, its dtype.

    The batch axis is inserted at ``batch_axis``: first for observations and actions, second for a
    recurrent state (``(n_lstm_layers, batch, hidden)``, the layout of ``torch.nn.LSTM`` and of ONNX's
    ``LSTM`` operator).
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    key: str | None = None
    meaning: str = ""
    batch_axis: int = 0

    @property
    def full_shape(self) -> list[int | str]:
        """The shape with ``"batch"`` at the batch axis."""
        return [*self.shape[:self.batch_axis], BATCH, *self.shape[self.batch_axis:]]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "shape": self.full_shape, "dtype": self.dtype}
        if self.key is not None:
            out["key"] = self.key
        if self.meaning:
            out["meaning"] = self.meaning
        return out


def input_dtype(space: spaces.Space) -> str:
    """The dtype an artifact takes for observations of ``space``.

    uint8 images stay uint8 (the model scales them), other Boxes are float32, integer spaces are
    int64 (Discrete, MultiDiscrete) or int8 (MultiBinary, as Gymnasium samples them).
    """
    if isinstance(space, spaces.Box):
        return "uint8" if space.dtype == np.uint8 else "float32"
    if isinstance(space, (spaces.Discrete, spaces.MultiDiscrete)):
        return "int64"
    if isinstance(space, spaces.MultiBinary):
        return "int8"
    raise ExportError(f"observations of {space} ({type(space).__name__}) cannot be exported")


def leaf_shape(space: spaces.Space) -> tuple[int, ...]:
    return () if isinstance(space, spaces.Discrete) else tuple(int(d) for d in space.shape)


def input_specs(observation_space: spaces.Space) -> list[TensorSpec]:
    """``obs`` for a plain space; one input per key (named by the key) for a Dict space."""
    if not isinstance(observation_space, spaces.Dict):
        return [TensorSpec("obs", leaf_shape(observation_space), input_dtype(observation_space))]
    specs = []
    for key, sub in observation_space.spaces.items():
        name = f"obs_{key}" if key in ("action", "value") else key
        specs.append(TensorSpec(name, leaf_shape(sub), input_dtype(sub), key=key))
    return specs


def action_bounds(action_space: spaces.Space) -> dict[str, Any]:
    """What the exported action can take, for the metadata and the README."""
    if isinstance(action_space, spaces.Box):
        return {"type": "Box", "low": action_space.low.reshape(-1).tolist(),
                "high": action_space.high.reshape(-1).tolist(), "clipped": True}
    if isinstance(action_space, spaces.Discrete):
        start = int(action_space.start)
        return {"type": "Discrete", "low": start, "high": start + int(action_space.n) - 1}
    if isinstance(action_space, spaces.MultiDiscrete):
        start = np.broadcast_to(action_space.start, action_space.nvec.shape)
        return {"type": "MultiDiscrete", "low": start.reshape(-1).tolist(),
                "high": (start + action_space.nvec - 1).reshape(-1).tolist()}
    return {"type": "MultiBinary", "low": 0, "high": 1}


def value_kind(policy: nn.Module) -> str:
    """``"value"`` (V(s), from ``predict_values``) or ``"q_values"`` (Q(s, .), from the ``q_net`` module)."""
    if callable(getattr(policy, "predict_values", None)):
        return "value"
    if isinstance(getattr(policy, "q_net", None), nn.Module):
        return "q_values"
    raise ExportError(
        "include_value=True is supported for actor-critic policies (V(s) from predict_values) and Q-network "
        f"policies (Q(s, .) from q_net); {type(policy).__name__} has neither"
    )


def mask_spec(action_space: spaces.Space) -> TensorSpec:
    """The ``action_mask`` input for a Discrete or MultiDiscrete action space."""
    if isinstance(action_space, spaces.Discrete) and not isinstance(action_space, NodeChoice):
        width = int(action_space.n)
    elif isinstance(action_space, spaces.MultiDiscrete):
        width = int(np.sum(action_space.nvec))
    else:
        raise ExportError(
            f"action_masks=True exports a mask input for Discrete and MultiDiscrete actions, not for {action_space}")
    return TensorSpec(MASK_INPUT, (width,), "bool", meaning="true where the action is valid "
                      "(MultiDiscrete: the masks of each dimension concatenated)")


def sample_masks(action_space: spaces.Space, n: int, seed: int) -> np.ndarray:
    """``n`` random masks (each entry valid with probability 1/2) with at least one valid action per dimension."""
    rng = np.random.default_rng(seed)
    sizes = [int(action_space.n)] if isinstance(action_space, spaces.Discrete) else action_space.nvec.reshape(-1)
    parts = []
    for size in sizes:
        part = rng.random((n, int(size))) < 0.5
        part[np.arange(n), rng.integers(0, int(size), n)] = True
        parts.append(part)
    return np.concatenate(parts, axis=1)


def observation_inputs(inputs: list[TensorSpec]) -> list[TensorSpec]:
    """The inputs that carry observations (all but the mask and a recurrent state)."""
    return [spec for spec in inputs if not (spec.key is None and spec.name in (MASK_INPUT, *STATE_INPUTS))]


def state_inputs(inputs: list[TensorSpec]) -> list[TensorSpec]:
    """The inputs that carry a recurrent state (``h_in``, ``c_in``), in order; none for other policies."""
    return [spec for spec in inputs if spec.key is None and spec.name in STATE_INPUTS]


class ExportedPolicy(nn.Module):
    """Raw observation(s) [and action mask] -> env action (and optionally V(s) or Q(s, .)), for a batch of any size.

    With ``base_as_input`` (a residual policy whose base runs outside PyTorch, e.g. an ONNX base)
    the base's actions are one more input, after the observation(s); the base's own graph is
    joined to that input afterwards (:func:`ballast.export.onnx.merge_onnx_base`). Residual
    policies act in Box spaces, so they never take a mask as well.
    """

    def __init__(self, policy: nn.Module, keys: list[str] | None, include_value: bool,
                 masked: bool = False, base_as_input: bool = False) -> None:
        super().__init__()
        self.policy = policy
        self.keys = keys
        self.value = value_kind(policy) if include_value else None
        self.masked = masked
        self.base_as_input = base_as_input

    def step(self, obs: torch.Tensor | dict[str, torch.Tensor], action_mask: torch.Tensor | None = None
             ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """The exported function for an observation tensor or a dict of them (and a mask)."""
        if action_mask is None:
            action = self.policy.act(obs, deterministic=True)
        else:
            action = self.policy.act(obs, deterministic=True, action_masks=action_mask)
        if self.value is None:
            return action
        normalized = self.policy.normalize(obs)
        if self.value == "value":
            return action, self.policy.predict_values(normalized).squeeze(-1)
        return action, self.policy.q_net(normalized)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if self.base_as_input:
            *obs_inputs, base = inputs
            obs = dict(zip(self.keys, obs_inputs)) if self.keys is not None else obs_inputs[0]
            return self.policy.act_with_base(obs, base, deterministic=True)
        mask = inputs[-1] if self.masked else None
        obs_inputs = inputs[:-1] if self.masked else inputs
        obs = dict(zip(self.keys, obs_inputs)) if self.keys is not None else obs_inputs[0]
        return self.step(obs) if mask is None else self.step(obs, mask)


def cpu_policy_copy(policy: nn.Module) -> nn.Module:
    """A float32 CPU copy of ``policy`` in eval mode, so exporting neither moves nor changes the model's."""
    try:
        clone = copy.deepcopy(policy)
    except Exception as err:  # noqa: BLE001 - any failure means the policy cannot be copied for export
        raise ExportError(f"cannot copy the policy {type(policy).__name__} for export ({err!r})") from None
    clone = clone.to("cpu").eval()
    for param in clone.parameters():
        param.requires_grad_(False)
        param.grad = None
    return clone


@dataclass
class ExportPlan:
    """The wrapped policy (a recurrent policy's takes and returns its state) with its input and output descriptions."""

    module: ExportedPolicy | RecurrentExportedPolicy
    observation_space: spaces.Space
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    action_space: spaces.Space | None = None
    base: nn.Module | None = None

    def example_inputs(self, batch: int = 3) -> tuple[torch.Tensor, ...]:
        """Valid observations (from the space) to trace with; ``batch`` > 1 so no size is specialised.

        When the base's actions are an input (``base`` is set), they are the base's for those observations.
        """
        from ballast.space_sampling import sample_observations

        obs = sample_observations(self.observation_space, batch, seed=0)
        if self.base is not None:
            (array,) = [torch.as_tensor(a) for a in as_input_arrays(obs, self.inputs[:-1])]
            with torch.no_grad():
                base = self.base(array)
            return array, base.to(torch.float32)
        masks = sample_masks(self.action_space, batch, seed=0) if self.module.masked else None
        arrays = tuple(torch.as_tensor(a) for a in as_input_arrays(obs, self.inputs, masks))
        generator = torch.Generator().manual_seed(0)
        states = tuple(0.5 * torch.randn(spec.shape[0], batch, *spec.shape[1:], generator=generator)
                       for spec in state_inputs(self.inputs))
        return arrays + states


def as_input_arrays(obs: Any, inputs: list[TensorSpec], masks: np.ndarray | None = None) -> list[np.ndarray]:
    """A batch of observations (array or dict of arrays), and masks when the artifact takes them, as the
    artifact's inputs, in order and dtype."""
    obs_inputs = observation_inputs(inputs)
    arrays = [np.asarray(obs)] if obs_inputs[0].key is None else [np.asarray(obs[spec.key]) for spec in obs_inputs]
    if masks is not None:
        arrays.append(np.asarray(masks))
    return [np.ascontiguousarray(a.astype(spec.dtype, copy=False)) for a, spec in zip(arrays, inputs)]


def make_plan(model: Any, include_value: bool, action_masks: bool = False, base_as_input: bool = False
              ) -> ExportPlan:
    """Wrap a CPU copy of ``model.policy`` and describe the artifact's inputs and outputs.

    ``action_masks``: the mask becomes the last input. ``base_as_input``: a residual policy's base
    actions become the last input (see :class:`ExportedPolicy`).
    """
    policy = getattr(model, "policy", None)
    if not isinstance(policy, nn.Module) or not callable(getattr(policy, "act", None)):
        raise ExportError(
            f"export needs a Ballast model whose policy has act(obs, deterministic); got {type(model).__name__}"
        )
    residual = getattr(policy, "residual", None)
    if action_masks and residual is not None:
        raise ExportError("action_masks=True is for Discrete and MultiDiscrete actions; a residual model "
                          "(base_policy=) acts in a Box space and takes no mask")
    if base_as_input and (residual is None or include_value):
        raise ExportError("an ONNX base can be merged into the export only for a residual model without "
                          "include_value=True")
    if residual is not None and not residual.base.exportable and not base_as_input:
        raise ExportError(
            f"this residual model's base policy is {BASE_KINDS.get(residual.base.kind, residual.base.kind)}, which "
            "this format cannot carry; a Ballast base goes into ONNX and TorchScript graphs, an ONNX base into "
            "ONNX exports (merged with the residual graph)")
    observation_space = model.observation_space
    inputs = input_specs(observation_space)
    keys = [s.key for s in inputs] if isinstance(observation_space, spaces.Dict) else None
    if action_masks:
        if not getattr(policy, "supports_action_masks", False):
            raise ExportError(f"action_masks=True needs a policy that takes masks; {type(policy).__name__} does not")
        if any(spec.name == MASK_INPUT for spec in inputs):
            raise ExportError(f"the observation has a key {MASK_INPUT!r}, the name of the mask input; rename the key "
                              "to export with action_masks=True")
        inputs.append(mask_spec(model.action_space))
    module = ExportedPolicy(cpu_policy_copy(policy), keys, include_value, masked=action_masks,
                            base_as_input=base_as_input)
    plan = ExportPlan(module=module, observation_space=observation_space, inputs=inputs, outputs=[],
                      action_space=model.action_space)
    if base_as_input:
        plan.base = module.policy.residual.base
        plan.inputs = [*inputs, TensorSpec(BASE_INPUT, (residual.action_dim,), "float32",
                                           meaning="the base policy's env action")]
    with torch.no_grad():
        results = module(*plan.example_inputs())
    results = results if isinstance(results, tuple) else (results,)
    meanings = ["env action", "state value V(s)" if module.value == "value" else "Q(s, a) for each action a"]
    plan.outputs = [TensorSpec(name, tuple(r.shape[1:]), str(r.dtype).removeprefix("torch."), meaning=meaning)
                    for name, r, meaning in zip(("action", "value"), results, meanings)]
    return plan
