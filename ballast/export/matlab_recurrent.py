"""MATLAB translation of a recurrent policy's cell (``nn.LSTM``, ``nn.GRU``) and the Octave runs of its episodes.

In the generated code a state is a ``batch x (n_layers * hidden)`` double matrix, one row per env
copy, layer ``k`` in columns ``(k-1)*hidden+1 .. k*hidden``: the generator's convention (the batch
along the rows) applied to the state ``(n_layers, batch, hidden)`` of ``model.predict``.
:func:`to_matlab_state` and :func:`from_matlab_state` convert between the two.

The cell runs one time step, with PyTorch's gate order and formulas (``torch.nn.LSTM``: input,
forget, cell, output gates; ``torch.nn.GRU``: reset, update, new), layer after layer, each layer's
output the next one's input (dropout between layers is off when acting).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ballast.export.episodes import SequenceRunner
from ballast.export.matlab import Mat, Program, Unsupported, _f32, _short, register_module_translator, run_octave
from ballast.export.module import ExportPlan, observation_inputs, state_inputs
from ballast.export.parity import Runner


def _sigmoid(x: str) -> str:
    return f"1 ./ (1 + exp(-({x})))"


def _layer_inputs(program: Program, cell: nn.Module, path: str, x: Mat, layer: int, state: Mat) -> tuple[str, str]:
    """``x * W_ih' + h * W_hh' (+ biases)`` of one layer split into the input's and the state's parts, and
    the layer's previous state ``h`` (columns of ``state``)."""
    hint, hidden = _short(path), int(cell.hidden_size)
    h = program.assign(f"{state.var}(:, {layer * hidden + 1}:{(layer + 1) * hidden})", (hidden,), torch.float32)
    weight = getattr(cell, f"weight_ih_l{layer}")
    gates = (int(weight.shape[0]),)  # 4 * hidden (LSTM) or 3 * hidden (GRU)
    w_ih = program.param(_f32(weight).T, f"{hint}_W_ih{layer}")
    w_hh = program.param(_f32(getattr(cell, f"weight_hh_l{layer}")).T, f"{hint}_W_hh{layer}")
    gi, gh = f"{x.var} * {w_ih}", f"{h.var} * {w_hh}"
    if cell.bias:
        gi = f"bsxfun(@plus, {gi}, {program.param(_f32(getattr(cell, f'bias_ih_l{layer}')), f'{hint}_b_ih{layer}')})"
        gh = f"bsxfun(@plus, {gh}, {program.param(_f32(getattr(cell, f'bias_hh_l{layer}')), f'{hint}_b_hh{layer}')})"
    return program.assign(gi, gates, torch.float32).var, program.assign(gh, gates, torch.float32).var


def _check_cell(cell: nn.Module) -> None:
    if cell.bidirectional or cell.batch_first or getattr(cell, "proj_size", 0):
        raise Unsupported(f"{type(cell).__name__} with bidirectional, batch_first or proj_size")


def _lstm(program: Program, cell: nn.LSTM, path: str, args: list[Any], example: Any) -> Any:
    """One step of ``nn.LSTM``: ``((output,), (h', c'))`` for ``(input as one step, (h, c))``."""
    _check_cell(cell)
    (x,), (h_all, c_all) = args[0], args[1]
    hidden, layer_h, layer_c = int(cell.hidden_size), [], []
    for layer in range(cell.num_layers):
        gi, gh = _layer_inputs(program, cell, path, x, layer, h_all)
        z = program.assign(f"{gi} + {gh}", (4 * hidden,), torch.float32).var
        gate = [f"{z}(:, {k * hidden + 1}:{(k + 1) * hidden})" for k in range(4)]
        c_old = program.assign(f"{c_all.var}(:, {layer * hidden + 1}:{(layer + 1) * hidden})", (hidden,),
                               torch.float32)
        c = program.assign(f"({_sigmoid(gate[1])}) .* {c_old.var} + ({_sigmoid(gate[0])}) .* tanh({gate[2]})",
                           (hidden,), torch.float32)
        x = program.assign(f"({_sigmoid(gate[3])}) .* tanh({c.var})", (hidden,), torch.float32)
        layer_h.append(x.var)
        layer_c.append(c.var)
    width = (int(cell.num_layers) * hidden,)
    h_new = program.assign(f"[{', '.join(layer_h)}]", width, torch.float32)
    c_new = program.assign(f"[{', '.join(layer_c)}]", width, torch.float32)
    return (x,), (h_new, c_new)


def _gru(program: Program, cell: nn.GRU, path: str, args: list[Any], example: Any) -> Any:
    """One step of ``nn.GRU``: ``((output,), h')`` for ``(input as one step, h)``."""
    _check_cell(cell)
    (x,), h_all = args[0], args[1]
    hidden, layer_h = int(cell.hidden_size), []
    for layer in range(cell.num_layers):
        gi, gh = _layer_inputs(program, cell, path, x, layer, h_all)
        part = [(f"{gi}(:, {k * hidden + 1}:{(k + 1) * hidden})", f"{gh}(:, {k * hidden + 1}:{(k + 1) * hidden})")
                for k in range(3)]
        r = program.assign(_sigmoid(f"{part[0][0]} + {part[0][1]}"), (hidden,), torch.float32)
        z = program.assign(_sigmoid(f"{part[1][0]} + {part[1][1]}"), (hidden,), torch.float32)
        n = program.assign(f"tanh({part[2][0]} + {r.var} .* {part[2][1]})", (hidden,), torch.float32)
        h_old = f"{h_all.var}(:, {layer * hidden + 1}:{(layer + 1) * hidden})"
        x = program.assign(f"(1 - {z.var}) .* {n.var} + {z.var} .* {h_old}", (hidden,), torch.float32)
        layer_h.append(x.var)
    return (x,), program.assign(f"[{', '.join(layer_h)}]", (int(cell.num_layers) * hidden,), torch.float32)


register_module_translator(nn.LSTM, _lstm)
register_module_translator(nn.GRU, _gru)


def to_matlab_state(state: np.ndarray) -> np.ndarray:
    """``(n_layers, batch, hidden)`` -> the generated code's ``batch x (n_layers * hidden)``."""
    state = np.asarray(state)
    return state.transpose(1, 0, 2).reshape(state.shape[1], -1)


def from_matlab_state(matrix: np.ndarray, layers: int) -> np.ndarray:
    """The generated code's ``batch x (n_layers * hidden)`` -> ``(n_layers, batch, hidden)``."""
    matrix = np.asarray(matrix)
    return matrix.reshape(len(matrix), layers, -1).transpose(1, 0, 2)


def matlab_step_runner(runner: Runner, plan: ExportPlan) -> Runner:
    """The Octave ``runner`` of a recurrent function, taking and returning states as ``model.predict`` does."""
    n_obs, layers = len(observation_inputs(plan.inputs)), int(state_inputs(plan.inputs)[0].shape[0])

    def run(arrays: list[np.ndarray]) -> list[np.ndarray]:
        out = runner([*arrays[:n_obs], *(to_matlab_state(s) for s in arrays[n_obs:])])
        return [out[0], *(from_matlab_state(s, layers) for s in out[1:])]

    return run


def octave_sequence_runner(out_dir: Path, function_name: str, plan: ExportPlan, octave: str) -> SequenceRunner:
    """A :data:`SequenceRunner` that runs all steps in one Octave process: a loop that feeds the function's
    state outputs back as its inputs, zeroing the rows of the env copies whose episode starts."""
    specs = state_inputs(plan.inputs)
    layers = int(specs[0].shape[0])
    width = int(np.prod(specs[0].shape))
    states = [spec.name for spec in specs]

    def run(steps: list[list[np.ndarray]], starts: np.ndarray) -> list[list[np.ndarray]]:
        n_steps, n = starts.shape
        inputs = {f"in{i + 1}": np.concatenate([np.asarray(step[i], dtype=np.float64).reshape(n, -1) for step in steps])
                  for i in range(len(steps[0]))}
        args = ", ".join([f"S.{k}(rows, :)" for k in inputs] + states)
        outs = ["action", *(s.replace("_in", "_out") for s in states)]
        loop = [f"{s} = zeros({n}, {width});" for s in states]
        loop += [f"{o}_all = [];" for o in outs]
        loop += [f"for t = 1:{n_steps},", f"rows = (t - 1) * {n} + (1:{n});",
                 *(f"{s}(S.starts(t, :) ~= 0, :) = 0;" for s in states),
                 f"[{', '.join(outs)}] = {function_name}({args});",
                 *(f"{o}_all = [{o}_all; {o}];" for o in outs),
                 *(f"{s} = {s.replace('_in', '_out')};" for s in states), "end;"]
        script = "S = load('inputs.mat'); " + " ".join(loop)
        result = run_octave(octave, out_dir, script, {**inputs, "starts": starts.astype(np.float64)},
                            [o + "_all" for o in outs])
        per_step = [np.asarray(result[o + "_all"]).reshape(n_steps, n, -1) for o in outs]
        return [[per_step[0][t], *(from_matlab_state(p[t], layers) for p in per_step[1:])] for t in range(n_steps)]

    return run


__all__ = ["from_matlab_state", "matlab_step_runner", "octave_sequence_runner", "to_matlab_state"]
