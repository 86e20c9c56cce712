"""The exported function of a recurrent policy: ``action, h_out, c_out = policy(obs, h_in, c_in)``.

A recurrent policy's action depends on the hidden state it carries from step to step, so its
artifact takes the actor's state as explicit inputs after the observation(s) and returns the next
state after the action: ``h_in``/``h_out`` and ``c_in``/``c_out`` for an LSTM, ``h_in``/``h_out``
only for a GRU. Each state has the shape ``(n_lstm_layers, batch, lstm_hidden_size)``: the batch
is the SECOND axis, as in ``model.predict``'s state, ``torch.nn.LSTM`` and ONNX's ``LSTM``
operator, so a state passes between them unchanged. The initial state is zeros; where an episode
starts, the caller feeds zeros for that env copy (its column of the state), which is what
``model.predict(obs, state, episode_start)`` does inside.

Only what ``predict(..., deterministic=True)`` runs is exported: the encoder, the actor's
recurrent layer (with ``shared_lstm=True``, the shared one), the actor's MLP and head and the
action adapter, through :meth:`RecurrentActorCriticPolicy.act_from_state`. The critic and its
recurrent layer are not needed to act and are left out, so ``include_value`` is refused.
"""

from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces
from torch import nn

from ballast.export import ExportError
from ballast.export.module import (
    BASE_KINDS,
    STATE_INPUTS,
    STATE_OUTPUTS,
    ExportPlan,
    TensorSpec,
    cpu_policy_copy,
    input_specs,
)

#: What metadata.json and the README say about the state (the facts a deployment needs).
STATE_LAYOUT = ("(n_lstm_layers, batch, lstm_hidden_size): the batch is the second axis, as in model.predict's "
                "state, torch.nn.LSTM and ONNX's LSTM operator, so a state passes between them unchanged")
EPISODE_START = ("the initial state is zeros; at every episode start feed zeros for that env copy (its column "
                 "state[:, i, :]) instead of the state the previous step returned, as "
                 "model.predict(obs, state, episode_start) does")


def is_recurrent(model: Any) -> bool:
    """Whether ``model``'s policy carries a hidden state (RecurrentPPO)."""
    return bool(getattr(getattr(model, "policy", None), "recurrent", False))


class RecurrentExportedPolicy(nn.Module):
    """Raw observation(s) and the actor's state -> env action and the actor's next state, for any batch size.

    The same attributes as :class:`ballast.export.module.ExportedPolicy` (``policy``, ``keys``,
    ``value``, ``masked``, ``base_as_input``) so the rest of the export reads either alike.
    """

    value = None
    masked = False
    base_as_input = False

    def __init__(self, policy: nn.Module, keys: list[str] | None) -> None:
        super().__init__()
        self.policy = policy
        self.keys = keys
        self.n_state = int(policy.state_parts)

    def step(self, obs: torch.Tensor | dict[str, torch.Tensor], *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The exported function for an observation tensor (or a dict of them) and the state tensors."""
        action, next_state = self.policy.act_from_state(obs, tuple(state), deterministic=True)
        return (action, *next_state)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        obs_inputs, state = inputs[:-self.n_state], inputs[-self.n_state:]
        obs = dict(zip(self.keys, obs_inputs)) if self.keys is not None else obs_inputs[0]
        # Kept in the traced graph: a state of other sizes than (n_lstm_layers, batch of obs, hidden) fails here
        # with the sizes named, where the traced LSTM layer would not check it (or would say less).
        cfg, batch = self.policy.config, obs_inputs[0].shape[0]
        state = tuple(s.expand(cfg.n_lstm_layers, batch, cfg.lstm_hidden_size) for s in state)
        return self.step(obs, *state)


def recurrent_info(policy: nn.Module) -> dict[str, Any]:
    """The ``recurrent`` section of ``metadata.json``: the cell, the sizes, the state's layout and reset rule."""
    cfg = policy.config
    return {
        "cell": cfg.recurrent_cell, "n_lstm_layers": int(cfg.n_lstm_layers),
        "lstm_hidden_size": int(cfg.lstm_hidden_size), "shared_lstm": bool(cfg.shared_lstm),
        "state_inputs": list(STATE_INPUTS[: policy.state_parts]),
        "state_outputs": list(STATE_OUTPUTS[: policy.state_parts]),
        "state_shape": ["n_lstm_layers", "batch", "lstm_hidden_size"], "state_dtype": "float32",
        "layout": STATE_LAYOUT, "initial_state": "zeros", "episode_start": EPISODE_START,
        "exported": "the actor's recurrent layer only (with shared_lstm, the shared one): the critic is not needed "
                    "to act",
    }


def make_recurrent_plan(model: Any, include_value: bool, action_masks: bool) -> ExportPlan:
    """Wrap a CPU copy of a recurrent ``model.policy`` and describe the artifact's inputs and outputs."""
    policy = model.policy
    if include_value:
        raise ExportError(
            "include_value=True is not supported for a recurrent policy: V(s) needs the critic's own recurrent state, "
            "which the artifact does not carry (it exports what predict(..., deterministic=True) runs: the actor). "
            "Export without include_value")
    if action_masks:
        raise ExportError(
            "action_masks=True is not supported for a recurrent policy yet; export without it and pass the masks to "
            "model.predict in Python, or apply them to the artifact's actions yourself")
    if not callable(getattr(policy, "act_from_state", None)):
        raise ExportError(f"export of a recurrent policy needs act_from_state(obs, state, deterministic); "
                          f"{type(policy).__name__} has none")
    residual = getattr(policy, "residual", None)
    if residual is not None and not residual.base.exportable:
        raise ExportError(
            f"this recurrent residual model's base policy is {BASE_KINDS.get(residual.base.kind, residual.base.kind)}, "
            "which a recurrent export cannot carry: the base runs inside the exported step, so it must be a Ballast "
            "model; an ONNX base is merged only into feed-forward residual exports")
    cfg = policy.config
    observation_space = model.observation_space
    inputs = input_specs(observation_space)
    keys = [s.key for s in inputs] if isinstance(observation_space, spaces.Dict) else None
    clash = sorted({s.name for s in inputs} & {*STATE_INPUTS, *STATE_OUTPUTS})
    if clash:
        raise ExportError(f"the observation has the key(s) {clash}, names of the state inputs and outputs; rename "
                          "them to export a recurrent policy")
    state_shape = (int(cfg.n_lstm_layers), int(cfg.lstm_hidden_size))
    parts = int(policy.state_parts)
    what = {"h": "hidden state h", "c": "cell state c"}
    inputs += [TensorSpec(name, state_shape, "float32", batch_axis=1,
                          meaning=f"the actor's {what[name[0]]} from the previous step (zeros at an episode start)")
               for name in STATE_INPUTS[:parts]]
    module = RecurrentExportedPolicy(cpu_policy_copy(policy), keys)
    plan = ExportPlan(module=module, observation_space=observation_space, inputs=inputs, outputs=[],
                      action_space=model.action_space)
    with torch.no_grad():
        results = module(*plan.example_inputs())
    action = results[0]
    plan.outputs = [TensorSpec("action", tuple(action.shape[1:]), str(action.dtype).removeprefix("torch."),
                               meaning="env action")]
    plan.outputs += [TensorSpec(name, state_shape, "float32", batch_axis=1,
                                meaning=f"the actor's next {what[name[0]]}: feed it back as {name[0]}_in")
                     for name in STATE_OUTPUTS[:parts]]
    return plan
