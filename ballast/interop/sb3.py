"""``import_sb3``: a Ballast model from a Stable-Baselines3 ``.zip``, without unpickling anything.

An SB3 file is a zip with a JSON ``data`` member (hyperparameters; spaces and classes in it are
cloudpickled and are NOT read) and ``policy.pth``, a ``torch.save`` of the policy's state dict,
read here by :func:`ballast.interop.torch_zip.read_torch_zip`, which never runs the pickle
program. The spaces come from the env you pass; the architecture is inferred from the weight
shapes; the activation (not stored as data by SB3) defaults to SB3's default for the algorithm
and can be given. VecNormalize statistics live in a separate pickle file and are not imported.

Supported: PPO and A2C with ``MlpPolicy`` (vector observations; Box, Discrete, MultiDiscrete and
MultiBinary actions; gSDE included).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import torch

from ballast.envs.make import EnvLike, make_vec_env
from ballast.errors import CheckpointError, ConfigurationError
from ballast.interop.torch_zip import read_torch_zip

_SHARED_HYPERPARAMETERS = ("gamma", "gae_lambda", "ent_coef", "vf_coef", "max_grad_norm", "n_steps", "use_sde",
                           "sde_sample_freq")


def _read_sb3_zip(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a zip file, so not a Stable-Baselines3 model")
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        if "data" not in names or "policy.pth" not in names:
            raise CheckpointError(f"{path} lacks the 'data' and 'policy.pth' members of a Stable-Baselines3 model")
        try:
            data = json.loads(zf.read("data"))
        except json.JSONDecodeError as err:
            raise CheckpointError(f"{path}: the 'data' member is not JSON ({err})") from None
        state = read_torch_zip(zf.read("policy.pth"))
    return data, state


def _detect_algorithm(data: dict[str, Any], state: dict[str, torch.Tensor]) -> str:
    if any(k.startswith("mlp_extractor.") for k in state):
        return "ppo" if "n_epochs" in data else "a2c"
    raise CheckpointError(
        "this Stable-Baselines3 model is not a PPO/A2C MlpPolicy (unknown parameter names "
        f"{sorted(state)[:6]}...); import_sb3 supports PPO and A2C MlpPolicy"
    )


def _linear_layers(state: dict[str, torch.Tensor], prefix: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    indices = sorted({int(k[len(prefix):].split(".")[0]) for k in state if k.startswith(prefix)})
    return [(state[f"{prefix}{i}.weight"], state[f"{prefix}{i}.bias"]) for i in indices]


def _scalar_hyperparameters(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    out = {}
    for name in names:
        value = data.get(name)
        if isinstance(value, (int, float, bool)) and not isinstance(value, dict):
            out[name] = value
    return out


def import_sb3(path: str | Path, env: EnvLike, *, activation_fn: str = "Tanh", device: str = "cpu") -> Any:
    """Build a Ballast model with the weights of the SB3 model at ``path``.

    ``env`` supplies the observation and action spaces (SB3 stores them pickled). The returned
    model's ``predict(obs, deterministic=True)`` matches SB3's for the same observations.
    """
    from ballast.algos.base import ALGORITHMS

    path = Path(path)
    data, state = _read_sb3_zip(path)
    algo = _detect_algorithm(data, state)
    pi_layers = _linear_layers(state, "mlp_extractor.policy_net.")
    vf_layers = _linear_layers(state, "mlp_extractor.value_net.")
    net_arch = {"pi": [w.shape[0] for w, _ in pi_layers], "vf": [w.shape[0] for w, _ in vf_layers]}
    policy_kwargs = {"net_arch": net_arch, "activation_fn": activation_fn, "ortho_init": False}
    hyper = _scalar_hyperparameters(data, _SHARED_HYPERPARAMETERS + (("batch_size", "n_epochs") if algo == "ppo" else ()))
    if state.get("log_std") is not None and state["log_std"].dim() == 2:
        hyper["use_sde"] = True
    vec = make_vec_env(env, 1)
    model = ALGORITHMS[algo]("MlpPolicy", vec, policy_kwargs=policy_kwargs, device=device, **hyper)
    policy = model.policy
    with torch.no_grad():
        if policy.trunk is not None:
            for i, ((wp, bp), (wv, bv)) in enumerate(zip(pi_layers, vf_layers)):
                policy.trunk.weights[i].copy_(torch.stack([wp.t(), wv.t()]))
                policy.trunk.biases[i].copy_(torch.stack([bp, bv])[:, None, :])
        else:
            for mlp, layers in ((policy.actor_mlp, pi_layers), (policy.critic_mlp, vf_layers)):
                for i, (w, b) in enumerate(layers):
                    mlp.weights[i].copy_(w.t()[None])
                    mlp.biases[i].copy_(b[None, None, :])
        head = policy.action_head
        _copy(head.net.weight, state, "action_net.weight")
        _copy(head.net.bias, state, "action_net.bias")
        if hasattr(head, "log_std"):
            _copy(head.log_std, state, "log_std")
        _copy(policy.value_head.weight, state, "value_net.weight")
        _copy(policy.value_head.bias, state, "value_net.bias")
    return model


def _copy(target: torch.Tensor, state: dict[str, torch.Tensor], key: str) -> None:
    if key not in state:
        raise CheckpointError(f"the Stable-Baselines3 model has no {key!r}")
    if state[key].shape != target.shape:
        raise ConfigurationError(
            f"{key} has shape {tuple(state[key].shape)} in the SB3 model but {tuple(target.shape)} in Ballast's "
            "policy for this env: check that the env has the spaces the SB3 model was trained on"
        )
    target.copy_(state[key])
