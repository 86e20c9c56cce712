"""``import_sb3``: a Ballast model from a Stable-Baselines3 ``.zip``, without unpickling anything.

An SB3 file is a zip with a JSON ``data`` member (hyperparameters; spaces and classes in it are
cloudpickled and are NOT read) and ``policy.pth``, a ``torch.save`` of the policy's state dict,
read here by :func:`ballast.interop.torch_zip.read_torch_zip`, which never runs the pickle
program. The spaces come from the env you pass; the architecture is inferred from the weight
shapes; the activation (not stored as data by SB3) defaults to SB3's default for the algorithm
and can be given. VecNormalize statistics live in a separate pickle file and are not imported.

Supported ``MlpPolicy`` models (vector observations): PPO and A2C (Box, Discrete, MultiDiscrete
and MultiBinary actions; gSDE included), SAC, TD3 and DDPG (Box actions; SAC without gSDE), and
DQN (Discrete actions), and sb3-contrib's QR-DQN (Discrete actions), TQC and CrossQ (Box actions,
without gSDE; CrossQ's batch-renorm statistics and step counters included) and RecurrentPPO
(``MlpLstmPolicy``: its LSTMs, ``torch.nn.LSTM``'s own parameters in both libraries, with the
actor-critic's layers as PPO's). Off-policy models get their critics and target networks too.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import torch

from ballast.envs.make import EnvLike, make_vector_env
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
    if any(k.startswith("lstm_actor.") for k in state):
        return "ppo_lstm"
    if any(k.startswith("mlp_extractor.") for k in state):
        return "ppo" if "n_epochs" in data else "a2c"
    if "actor.latent_pi.0.weight" in state or "actor.latent_pi.0.ra_mean" in state:
        if not any(k.startswith("critic_target.") for k in state):
            return "crossq"  # the one without target critics
        return "tqc" if "top_quantiles_to_drop_per_net" in data else "sac"
    if "actor.mu.0.weight" in state:
        one_critic = not any(k.startswith("critic.qf1.") for k in state)
        return "ddpg" if one_critic and data.get("policy_delay") == 1 else "td3"
    if "q_net.q_net.0.weight" in state:
        return "dqn"
    if "quantile_net.quantile_net.0.weight" in state:
        return "qrdqn"
    raise CheckpointError(
        "this Stable-Baselines3 model is not an MlpPolicy of PPO, A2C, SAC, TD3, DDPG, DQN or sb3-contrib's QR-DQN, "
        "TQC, CrossQ or RecurrentPPO (unknown parameter "
        f"names {sorted(state)[:6]}...)"
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


def import_sb3(path: str | Path, env: EnvLike, *, activation_fn: str | None = None, device: str = "cpu") -> Any:
    """Build a Ballast model with the weights of the SB3 model at ``path``.

    ``env`` supplies the observation and action spaces (SB3 stores them pickled). The returned
    model's ``predict(obs, deterministic=True)`` matches SB3's for the same observations.
    ``activation_fn`` defaults to SB3's default for the algorithm (Tanh for PPO/A2C, ReLU otherwise).
    """
    from ballast.algos.base import ALGORITHMS

    path = Path(path)
    data, state = _read_sb3_zip(path)
    algo = _detect_algorithm(data, state)
    vec = make_vector_env(env, 1)
    build = _ON_POLICY if algo in ("ppo", "a2c") else _OFF_POLICY[algo]
    net_arch, hyper, mapped = build(data, state)
    on_policy = algo in ("ppo", "a2c", "ppo_lstm")
    activation = activation_fn or ("Tanh" if on_policy else "ReLU")
    extra = net_arch if algo in ("qrdqn", "tqc", "crossq", "ppo_lstm") else {"net_arch": net_arch}
    policy_kwargs = {**extra, "activation_fn": activation}
    if on_policy:
        policy_kwargs["ortho_init"] = False
    model = ALGORITHMS[algo]("MlpPolicy", vec, policy_kwargs=policy_kwargs, device=device, **hyper)
    target = model.policy.state_dict()
    with torch.no_grad():
        for key, value in mapped.items():
            if key not in target:
                raise CheckpointError(f"no place for the SB3 weights {key!r} in Ballast's {algo.upper()} policy")
            if value.shape != target[key].shape:
                raise ConfigurationError(
                    f"{key} has shape {tuple(value.shape)} from the SB3 model but {tuple(target[key].shape)} in "
                    "Ballast's policy for this env: check that the env has the spaces the SB3 model was trained on"
                )
            target[key].copy_(value)
    return model


def _on_policy(data: dict[str, Any], state: dict[str, torch.Tensor], stacked: bool = True
               ) -> tuple[Any, dict, dict]:
    """PPO's and A2C's layers (``stacked``: actor and critic of equal sizes as Ballast's one trunk)."""
    pi_layers = _linear_layers(state, "mlp_extractor.policy_net.")
    vf_layers = _linear_layers(state, "mlp_extractor.value_net.")
    net_arch = {"pi": [w.shape[0] for w, _ in pi_layers], "vf": [w.shape[0] for w, _ in vf_layers]}
    names = _SHARED_HYPERPARAMETERS + (("batch_size", "n_epochs") if "n_epochs" in data else ())
    hyper = _scalar_hyperparameters(data, names)
    if state.get("log_std") is not None and state["log_std"].dim() == 2:
        hyper["use_sde"] = True
    mapped: dict[str, torch.Tensor] = {}
    if stacked and net_arch["pi"] == net_arch["vf"]:
        for i, ((wp, bp), (wv, bv)) in enumerate(zip(pi_layers, vf_layers)):
            mapped[f"trunk.weights.{i}"] = torch.stack([wp.t(), wv.t()])
            mapped[f"trunk.biases.{i}"] = torch.stack([bp, bv])[:, None, :]
    else:
        for prefix, layers in (("actor_mlp", pi_layers), ("critic_mlp", vf_layers)):
            for i, (w, b) in enumerate(layers):
                mapped[f"{prefix}.weights.{i}"] = w.t()[None]
                mapped[f"{prefix}.biases.{i}"] = b[None, None, :]
    renames = {"action_net.weight": "action_head.net.weight", "action_net.bias": "action_head.net.bias",
               "log_std": "action_head.log_std", "value_net.weight": "value_head.weight",
               "value_net.bias": "value_head.bias"}
    for theirs, ours in renames.items():
        if theirs in state:
            mapped[ours] = state[theirs]
    return net_arch, hyper, mapped


def _recurrent(data: dict[str, Any], state: dict[str, torch.Tensor]) -> tuple[Any, dict, dict]:
    """RecurrentPPO: PPO's layers on the LSTMs' outputs, and the LSTMs (and a linear critic layer in
    place of the critic's LSTM) under the same names in both libraries."""
    net_arch, hyper, mapped = _on_policy(data, state, stacked=False)
    for key, value in state.items():
        if key.startswith(("lstm_actor.", "lstm_critic.", "critic.")):
            mapped[key] = value
    hidden = state["lstm_actor.weight_hh_l0"]
    layers = sum(1 for key in state if key.startswith("lstm_actor.weight_ih_l"))
    critic_lstm = "lstm_critic.weight_hh_l0" in state
    settings = {"net_arch": net_arch, "lstm_hidden_size": int(hidden.shape[1]), "n_lstm_layers": layers,
                "enable_critic_lstm": critic_lstm, "shared_lstm": not critic_lstm and "critic.weight" not in state}
    return settings, hyper, mapped


def _critics(state: dict[str, torch.Tensor], prefix: str, ours: str, mapped: dict[str, torch.Tensor]) -> list[int]:
    """Map SB3's ``qf0..qfN`` Sequentials onto one stacked critic; returns the hidden sizes."""
    critics = sorted({int(k[len(prefix) + 2:].split(".")[0]) for k in state if k.startswith(prefix + "qf")})
    layers = [_linear_layers(state, f"{prefix}qf{c}.") for c in critics]
    hidden = layers[0][:-1]
    for i in range(len(hidden)):
        mapped[f"{ours}.mlp.weights.{i}"] = torch.stack([q[i][0].t() for q in layers])
        mapped[f"{ours}.mlp.biases.{i}"] = torch.stack([q[i][1] for q in layers])[:, None, :]
    mapped[f"{ours}.out_weight"] = torch.stack([q[-1][0].t() for q in layers])
    mapped[f"{ours}.out_bias"] = torch.stack([q[-1][1] for q in layers])[:, None, :]
    return [w.shape[0] for w, _ in hidden]


def _sac(data: dict[str, Any], state: dict[str, torch.Tensor]) -> tuple[Any, dict, dict]:
    mapped: dict[str, torch.Tensor] = {}
    actor = _linear_layers(state, "actor.latent_pi.")
    for i, (w, b) in enumerate(actor):
        mapped[f"actor.mlp.weights.{i}"] = w.t()[None]
        mapped[f"actor.mlp.biases.{i}"] = b[None, None, :]
    for name in ("mu.weight", "mu.bias", "log_std.weight", "log_std.bias"):
        mapped[f"actor.{name}"] = state[f"actor.{name}"]
    qf = _critics(state, "critic.", "critic", mapped)
    _critics(state, "critic_target.", "critic_target", mapped)
    hyper = _scalar_hyperparameters(data, ("gamma", "tau", "batch_size"))
    return {"pi": [w.shape[0] for w, _ in actor], "qf": qf}, hyper, mapped


def _tqc(data: dict[str, Any], state: dict[str, torch.Tensor]) -> tuple[Any, dict, dict]:
    """SAC's actor and critics, each critic's output layer giving its quantiles (the same layout in
    both libraries)."""
    net_arch, hyper, mapped = _sac(data, state)
    n_critics, _, n_quantiles = mapped["critic.out_weight"].shape
    drop = data.get("top_quantiles_to_drop_per_net")
    if isinstance(drop, bool) or not isinstance(drop, int):
        raise CheckpointError(f"this TQC file's data holds no top_quantiles_to_drop_per_net (got {drop!r}); it was "
                              "not written by sb3-contrib's TQC.save")
    hyper["top_quantiles_to_drop_per_net"] = drop
    return {"net_arch": net_arch, "n_quantiles": n_quantiles, "n_critics": n_critics}, hyper, mapped


def _td3(data: dict[str, Any], state: dict[str, torch.Tensor]) -> tuple[Any, dict, dict]:
    mapped: dict[str, torch.Tensor] = {}
    pi: list[int] = []
    for prefix, ours in (("actor.mu.", "actor"), ("actor_target.mu.", "actor_target")):
        layers = _linear_layers(state, prefix)
        for i, (w, b) in enumerate(layers[:-1]):
            mapped[f"{ours}.mlp.weights.{i}"] = w.t()[None]
            mapped[f"{ours}.mlp.biases.{i}"] = b[None, None, :]
        mapped[f"{ours}.mu.weight"], mapped[f"{ours}.mu.bias"] = layers[-1]
        pi = [w.shape[0] for w, _ in layers[:-1]]
    qf = _critics(state, "critic.", "critic", mapped)
    _critics(state, "critic_target.", "critic_target", mapped)
    hyper = _scalar_hyperparameters(data, ("gamma", "tau", "batch_size"))
    return {"pi": pi, "qf": qf}, hyper, mapped


def _dqn(data: dict[str, Any], state: dict[str, torch.Tensor], prefixes: tuple[str, str] = ("q_net.q_net.",
         "q_net_target.q_net.")) -> tuple[Any, dict, dict]:
    """DQN's Q-networks (or, with sb3-contrib's ``prefixes``, QR-DQN's quantile networks, whose
    outputs have the same layout in both libraries)."""
    mapped: dict[str, torch.Tensor] = {}
    sizes: list[int] = []
    for prefix, ours in zip(prefixes, ("q_net", "q_net_target")):
        layers = _linear_layers(state, prefix)
        for i, (w, b) in enumerate(layers):
            mapped[f"{ours}.weights.{i}"] = w.t()
            mapped[f"{ours}.biases.{i}"] = b
        sizes = [w.shape[0] for w, _ in layers[:-1]]
    hyper = _scalar_hyperparameters(data, ("gamma", "batch_size"))
    return sizes, hyper, mapped


def _qrdqn(data: dict[str, Any], state: dict[str, torch.Tensor]) -> tuple[Any, dict, dict]:
    sizes, hyper, mapped = _dqn(data, state, ("quantile_net.quantile_net.", "quantile_net_target.quantile_net."))
    n_quantiles = data.get("n_quantiles")
    if isinstance(n_quantiles, bool) or not isinstance(n_quantiles, int) or n_quantiles < 1:
        raise CheckpointError(f"this QR-DQN file's data holds no number of quantiles (n_quantiles={n_quantiles!r}); "
                              "it was not written by sb3-contrib's QRDQN.save")
    return {"net_arch": sizes, "n_quantiles": n_quantiles}, hyper, mapped


def _sequential(state: dict[str, torch.Tensor], prefix: str) -> list[dict[str, torch.Tensor]]:
    """The modules with tensors of the ``nn.Sequential`` at ``prefix``, in order, each as ``{name: tensor}``."""
    modules: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if key.startswith(prefix):
            index, _, name = key[len(prefix):].partition(".")
            modules.setdefault(int(index), {})[name] = value
    return [modules[i] for i in sorted(modules)]


def _batch_renorm_mlp(networks: list[list[dict[str, torch.Tensor]]], ours: str, mapped: dict[str, torch.Tensor],
                      output_layer: bool) -> list[int]:
    """Map sb3-contrib's ``BatchRenorm1d`` and ``Linear`` layers of one ``nn.Sequential`` per stacked copy
    onto the :class:`~ballast.policies.batch_renorm.BatchRenormMLP` ``ours.mlp`` (and, with
    ``output_layer``, the last linear layer onto ``ours.out_weight``/``out_bias``); returns the hidden sizes."""
    norms = [[m for m in net if "ra_mean" in m] for net in networks]
    linears = [[m for m in net if "ra_mean" not in m] for net in networks]
    hidden = [layers[:-1] if output_layer else layers for layers in linears]
    for i in range(len(hidden[0])):
        mapped[f"{ours}.mlp.weights.{i}"] = torch.stack([net[i]["weight"].t() for net in hidden])
        mapped[f"{ours}.mlp.biases.{i}"] = torch.stack([net[i]["bias"] for net in hidden])[:, None, :]
    for j in range(len(norms[0])):
        for name in ("ra_mean", "ra_var", "scale", "bias"):
            mapped[f"{ours}.mlp.norms.{j}.{name}"] = torch.stack([net[j][name] for net in norms])
        mapped[f"{ours}.mlp.norms.{j}.steps"] = norms[0][j]["steps"]
    if output_layer:
        mapped[f"{ours}.out_weight"] = torch.stack([net[-1]["weight"].t() for net in linears])
        mapped[f"{ours}.out_bias"] = torch.stack([net[-1]["bias"] for net in linears])[:, None, :]
    return [int(layer["weight"].shape[0]) for layer in hidden[0]]


def _crossq(data: dict[str, Any], state: dict[str, torch.Tensor]) -> tuple[Any, dict, dict]:
    """sb3-contrib's CrossQ: the actor's and critics' linear and batch-renorm layers (running statistics
    and step counters too), no target critics. The batch-renorm settings are read from the file's
    ``policy_kwargs`` (plain JSON in its data), sb3-contrib's defaults where it has none."""
    mapped: dict[str, torch.Tensor] = {}
    actor = _sequential(state, "actor.latent_pi.")
    pi = _batch_renorm_mlp([actor], "actor", mapped, output_layer=False)
    for name in ("mu.weight", "mu.bias", "log_std.weight", "log_std.bias"):
        mapped[f"actor.{name}"] = state[f"actor.{name}"]
    critics = sorted({int(k[len("critic.qf"):].split(".")[0]) for k in state if k.startswith("critic.qf")})
    qf = _batch_renorm_mlp([_sequential(state, f"critic.qf{c}.") for c in critics], "critic", mapped, output_layer=True)
    hyper = _scalar_hyperparameters(data, ("gamma", "batch_size", "policy_delay"))
    given = data.get("policy_kwargs") if isinstance(data.get("policy_kwargs"), dict) else {}
    settings = {k: v for k, v in given.items() if k in ("batch_norm_momentum", "batch_norm_eps", "renorm_warmup_steps")
                and isinstance(v, (int, float)) and not isinstance(v, bool)}
    policy_kwargs = {"net_arch": {"pi": pi, "qf": qf}, "n_critics": len(critics),
                     "batch_norm": any("ra_mean" in m for m in actor), **settings}
    return policy_kwargs, hyper, mapped


_ON_POLICY = _on_policy
_OFF_POLICY = {"sac": _sac, "td3": _td3, "ddpg": _td3, "dqn": _dqn, "qrdqn": _qrdqn, "tqc": _tqc, "crossq": _crossq,
               "ppo_lstm": _recurrent}
