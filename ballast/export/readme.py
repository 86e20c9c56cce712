"""The ``README.md`` written next to an exported policy: inputs, outputs, bounds, how to run it."""

from __future__ import annotations

import json
from typing import Any


def _shape(spec: dict[str, Any]) -> str:
    return "(" + ", ".join(str(d) for d in spec["shape"]) + ("," if len(spec["shape"]) == 1 else "") + ")"


def _tables(meta: dict[str, Any], matlab: bool) -> list[str]:
    lines = ["## Inputs", "", "| name | shape | dtype | what |", "|---|---|---|---|"]
    for spec in meta["inputs"]:
        what = f"observation key `{spec['key']}`" if "key" in spec else spec.get("meaning", "the raw env observation")
        name = spec["name"] if not matlab else spec.get("matlab_name", spec["name"])
        dtype = "double" if matlab else spec["dtype"]
        shape = _matlab_shape(spec) if matlab else _shape(spec)
        lines.append(f"| `{name}` | {shape} | {dtype} | {what} |")
    lines += ["", "## Outputs", "", "| name | shape | dtype | what |", "|---|---|---|---|"]
    for spec in meta["outputs"]:
        dtype = "double" if matlab else spec["dtype"]
        shape = _matlab_shape(spec) if matlab else _shape(spec)
        lines.append(f"| `{spec['name']}` | {shape} | {dtype} | {spec.get('meaning', '')} |")
    bounds = meta["action_bounds"]
    lines += ["", "## Action bounds", ""]
    if bounds["type"] == "Box":
        lines.append(f"Continuous actions in `[low, high]` with low = `{bounds['low']}` and high = `{bounds['high']}` "
                     "(flattened); the model's squashing, unscaling and clipping are inside the artifact.")
    elif bounds["type"] == "MultiBinary":
        lines.append("Binary actions, 0 or 1 (logit > 0).")
    else:
        lines.append(f"Integer actions from `{bounds['low']}` to `{bounds['high']}` (argmax of the logits plus the "
                     "action space's start).")
    pre = meta["preprocessing"]
    lines += ["", "## Inside the artifact", ""]
    norm = pre.get("observation_normalization")
    if norm:
        keys = f" for keys {norm['keys']}" if norm.get("keys") else ""
        lines.append(f"- Observation normalisation{keys} with the saved running statistics: "
                     f"`{norm['formula']}`, clip = {norm['clip']}, epsilon = {norm['epsilon']}.")
    if pre.get("image_scaling"):
        lines.append(f"- Image scaling: {pre['image_scaling']}.")
    lines.append("- The deterministic action (`model.predict(obs, deterministic=True)`), mapped into the action "
                 "space. Feed raw env observations; do no preprocessing of your own.")
    return lines


def _matlab_shape(spec: dict[str, Any]) -> str:
    cols = 1
    for d in spec["shape"]:
        cols *= 1 if d == "batch" else int(d)
    return f"batch x {cols}"


def _recurrent_state(meta: dict[str, Any], function_name: str) -> list[str]:
    """How to carry a recurrent policy's state from step to step (nothing for other policies)."""
    rec = meta.get("recurrent")
    if not rec:
        return []
    ins, outs = rec["state_inputs"], rec["state_outputs"]
    cell = "LSTM" if rec["cell"] == "lstm" else "GRU"
    lines = ["", "## The recurrent state", "",
             f"The policy is recurrent ({cell}, {rec['n_lstm_layers']} layer(s) of {rec['lstm_hidden_size']} units): "
             f"each call takes the state {', '.join(f'`{n}`' for n in ins)} and returns the next one "
             f"{', '.join(f'`{n}`' for n in outs)}, to feed back at the next step.", "",
             f"- Shape {tuple(rec['state_shape'])}, float32: {rec['layout']}."
             if meta["format"] != "matlab" else
             f"- Shape `batch x {rec['n_lstm_layers'] * rec['lstm_hidden_size']}`, one row per env copy: the state "
             f"(n_lstm_layers, batch, lstm_hidden_size) of `model.predict` with layer k in columns "
             f"(k-1)*{rec['lstm_hidden_size']}+1 to k*{rec['lstm_hidden_size']}.",
             f"- Initial state and episode starts: {rec['episode_start']}.",
             f"- Exported: {rec['exported']}.", ""]
    if meta["format"] == "matlab":
        lines += ["```matlab", *(f"{n} = zeros(batch, {rec['n_lstm_layers'] * rec['lstm_hidden_size']});" for n in ins),
                  "% each step (zero the rows of the env copies whose episode starts):",
                  f"[action, {', '.join(outs)}] = {function_name}(obs, {', '.join(ins)});",
                  *(f"{i} = {o};" for i, o in zip(ins, outs)), "```", "",
                  "In Simulink, feed each state output back to its input through a Unit Delay block (initial "
                  "condition zeros), reset where an episode starts."]
    else:
        lines += ["```python", "import numpy as np", "",
                  *(f"{n} = np.zeros(({rec['n_lstm_layers']}, batch, {rec['lstm_hidden_size']}), np.float32)"
                    for n in ins),
                  "# each step: zero the columns of the env copies whose episode starts, e.g. h_in[:, done, :] = 0",
                  f"# then call the policy with obs, {', '.join(ins)} and feed {', '.join(outs)} back in"]
        lines += ["```"]
    return lines


def _parity(meta: dict[str, Any]) -> list[str]:
    parity = meta["parity"]
    lines = ["", "## Parity check", "", parity.get("message", "")]
    if parity.get("rollout"):
        lines += ["", f"Rollout: {parity['rollout']}."]
    return lines


def compact_space(space: Any) -> Any:
    """A space's JSON form with each bound array that holds one value written as that value (an 84 x 84
    x 4 image space has one low and one high, not 28,224 of each); ``metadata.json`` keeps the full form."""
    if isinstance(space, dict):
        return {key: _uniform(value) if key in ("low", "high") else compact_space(value)
                for key, value in space.items()}
    if isinstance(space, list):
        return [compact_space(item) for item in space]
    return space


def _uniform(bound: Any) -> Any:
    values = set(_flatten(bound))
    return values.pop() if len(values) == 1 else bound


def _flatten(value: Any) -> list[Any]:
    return [x for item in value for x in _flatten(item)] if isinstance(value, list) else [value]


def render_readme(meta: dict[str, Any], function_name: str) -> str:
    """The README text for an export described by ``meta`` (the content of ``metadata.json``)."""
    fmt = meta["format"]
    title = {"onnx": "ONNX", "torchscript": "TorchScript", "matlab": "MATLAB"}[fmt]
    lines = [f"# {meta['algorithm']} policy exported from Ballast {meta['ballast_version']} ({title})", "",
             "Maps a batch of raw environment observations to the actions that "
             "`model.predict(obs, deterministic=True)` returns. Nothing here needs Ballast. "
             "`metadata.json` describes the spaces, inputs, outputs and the parity check in full.", "",
             f"Observation space: `{json.dumps(compact_space(meta['observation_space']))}`", "",
             f"Action space: `{json.dumps(compact_space(meta['action_space']))}`", ""]
    if fmt == "matlab":
        names = meta["matlab"]["input_arguments"]
        for spec, name in zip(meta["inputs"], names):
            spec["matlab_name"] = name
    lines += _tables(meta, matlab=fmt == "matlab")
    lines += ["", "## How to run it", ""]
    names = [s["name"] for s in meta["inputs"]]
    outs = [s["name"] for s in meta["outputs"]]
    if fmt == "onnx":
        feeds = ", ".join(f'"{n}": {n}_batch' for n in names)
        lines += ["With ONNX Runtime (`pip install onnxruntime numpy`):", "", "```python",
                  "import onnxruntime as ort", "", 'session = ort.InferenceSession("policy.onnx")',
                  "# each *_batch: a NumPy array of shape (batch, ...) and the dtype in the table above",
                  f"{', '.join(outs)} = session.run(None, {{{feeds}}})", "```", "",
                  f"Opset {meta['onnx']['opset']}, standard operators only; the batch axis is dynamic. The model's "
                  "`metadata_props` repeat the version, spaces and bounds."]
    elif fmt == "torchscript":
        args = ", ".join(f"{n}_batch" for n in names)
        lines += ["With PyTorch (no Ballast needed):", "", "```python", "import torch", "",
                  'policy = torch.jit.load("policy.pt")',
                  "# each *_batch: a tensor of shape (batch, ...) and the dtype in the table above",
                  f"{', '.join(outs)} = policy({args})", "```", "", "From C++ with libtorch:", "", "```cpp",
                  "#include <torch/script.h>", "", 'torch::jit::script::Module policy = torch::jit::load("policy.pt");',
                  "std::vector<torch::jit::IValue> inputs{obs};  // one tensor per input, in the order above",
                  "at::Tensor action = policy.forward(inputs).toTensor();"
                  if len(outs) == 1 else
                  f"auto out = policy.forward(inputs).toTuple();  // ({', '.join(outs)})",
                  "```"]
    else:
        args = ", ".join(meta["matlab"]["input_arguments"])
        sig = outs[0] if len(outs) == 1 else "[" + ", ".join(outs) + "]"
        lines += [f"`{function_name}.m` holds plain matrix code (no toolbox) and loads `{function_name}_params.mat` "
                  "(MAT v5) once, from its own folder. It runs unchanged in MATLAB and GNU Octave:", "", "```matlab",
                  "addpath('path/to/this/folder');",
                  f"{sig} = {function_name}({args});  % one row per observation", "```", "",
                  "Observations with more than one axis are flattened row-major (C order, as NumPy's `reshape`) into "
                  "one row each; MATLAB's own `reshape` is column-major, so permute before flattening.", "",
                  "### From a Simulink MATLAB Function block", "",
                  "Simulation, calling the function in MATLAB (extrinsic): declare the output size first.", "",
                  "```matlab", f"function action = fcn({args})",
                  f"coder.extrinsic('{function_name}');",
                  f"action = zeros(1, {_matlab_shape(meta['outputs'][0]).split(' x ')[1]});  % output size and type",
                  f"action = {function_name}({args});", "end", "```", "",
                  "Without the extrinsic call, pass the parameters in: load them once, e.g. "
                  f"`P = load('{function_name}_params.mat')` in the model's workspace, add `P` to the block as a "
                  "parameter argument (Edit Data: Scope = Parameter), and call "
                  f"`{function_name}({args}, P)`; the function then never touches the file system.",
                  ]
    lines += _recurrent_state(meta, function_name)
    lines += _parity(meta)
    return "\n".join(lines) + "\n"
