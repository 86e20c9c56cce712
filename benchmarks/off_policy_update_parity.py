"""Off-policy updates in Ballast and in SB3 / sb3-contrib from the same weights and batches: do they agree?

For each algorithm, the peer library's model (``SAC``, ``TD3`` and ``DQN`` from SB3, ``TQC``,
``CrossQ`` and ``QRDQN`` from sb3-contrib; Pendulum-v1 for the continuous ones, CartPole-v1 for the
discrete ones, with the zoo's settings for them) fills its replay buffer with
``--fill`` steps of random actions (``learning_starts`` = the fill, so no update runs), and its
weights (actors, critics or Q-networks, their targets, batch-renorm statistics, ``log_ent_coef``) are copied into
a Ballast model built with the same settings, by name (as ``ballast.import_sb3`` maps them). Then
both libraries run ``train(gradient_steps=--steps)`` on the same minibatches: the peer's
``replay_buffer.sample`` is replaced by draws of fixed indices, and Ballast's by the same
transitions (actions in [-1, 1] or indices, ``discounts = gamma * (1 - done)``). The noise is the
same in both: torch's generator is seeded with the same number before each gradient step, and both
libraries draw in the same order (SAC, TQC, CrossQ: the current observations' actions first, the
next observations' second; TD3: the target policy's smoothing noise). At the end every weight is
compared, beside the peer against itself started one unit in the last place away.

    .venv-bench/bin/python benchmarks/off_policy_update_parity.py [--algos SAC TD3 DQN TQC CrossQ QRDQN]
        [--steps 1 10 200]

Writes the section ``off-policy-update-parity`` of docs/benchmarks.md. Needs SB3 and sb3-contrib
(benchmark environment only).
"""

from __future__ import annotations

import argparse
import copy
from typing import Any

import numpy as np
import torch
from common import command_line, git_revision, machine, update_section

#: Per algorithm: the peer's import, the env and the zoo's settings for it (the batch size among
#: them), the weight mapping of ballast.interop.sb3 and the file data it reads.
ALGOS = {
    "SAC": dict(peer="stable_baselines3", env="Pendulum-v1", kwargs=dict(learning_rate=1e-3, batch_size=256),
                mapping="_sac", data={}),
    "TD3": dict(peer="stable_baselines3", env="Pendulum-v1",
                kwargs=dict(learning_rate=1e-3, gamma=0.98, batch_size=256,
                            policy_kwargs=dict(net_arch=[400, 300])), mapping="_td3", data={}),
    "DQN": dict(peer="stable_baselines3", env="CartPole-v1",
                kwargs=dict(learning_rate=2.3e-3, batch_size=64, policy_kwargs=dict(net_arch=[256, 256])),
                mapping="_dqn", data={}),
    "TQC": dict(peer="sb3_contrib", env="Pendulum-v1", kwargs=dict(learning_rate=1e-3, batch_size=256),
                mapping="_tqc", data={"top_quantiles_to_drop_per_net": 2}),
    "CrossQ": dict(peer="sb3_contrib", env="Pendulum-v1",
                   kwargs=dict(policy_delay=2, batch_size=256, policy_kwargs=dict(net_arch=[256, 256])),
                   mapping="_crossq", data={"policy_delay": 2}),
    "QRDQN": dict(peer="sb3_contrib", env="CartPole-v1",
                  kwargs=dict(learning_rate=2.3e-3, batch_size=64, policy_kwargs=dict(net_arch=[256, 256],
                                                                                       n_quantiles=10)),
                  mapping="_qrdqn", data={"n_quantiles": 10}),
}


def batch_size(algo: str) -> int:
    return ALGOS[algo]["kwargs"]["batch_size"]


def peer_model(algo: str, fill: int) -> Any:
    import importlib

    module = importlib.import_module(ALGOS[algo]["peer"])
    model = getattr(module, algo)("MlpPolicy", ALGOS[algo]["env"], seed=0, device="cpu", learning_starts=fill,
                                  **copy.deepcopy(ALGOS[algo]["kwargs"]))
    model.learn(fill)  # random actions only: training starts after learning_starts steps
    return model


def peer_weights(model: Any) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.policy.state_dict().items()}


def ballast_weights(algo: str, peer_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    from ballast.interop import sb3 as interop

    return getattr(interop, ALGOS[algo]["mapping"])(ALGOS[algo]["data"], peer_state)[2]


def ballast_model(algo: str, fill: int, peer: Any) -> Any:
    import ballast

    kwargs = copy.deepcopy(ALGOS[algo]["kwargs"])
    model = getattr(ballast, algo)("MlpPolicy", ALGOS[algo]["env"], seed=0, device="cpu", learning_starts=fill,
                                   **kwargs)
    mapped = ballast_weights(algo, peer_weights(peer))
    state = model.policy.state_dict()
    unknown = sorted(set(mapped) - set(state))
    left = sorted(k for k in set(state) - set(mapped))
    if unknown or left:
        raise SystemExit(f"{algo}: the peer's {unknown} have no place in Ballast's policy, Ballast's {left} "
                         "were not given")
    with torch.no_grad():
        for key, value in mapped.items():
            state[key].copy_(value.reshape(state[key].shape))
        if getattr(peer, "log_ent_coef", None) is not None:
            model.log_ent_coef.copy_(peer.log_ent_coef.detach().reshape(model.log_ent_coef.shape))
    return model


def batches(algo: str, fill: int, steps: int, seed: int) -> tuple[list[np.ndarray], list[int]]:
    """The replay indices of each gradient step's batch and the seed of its noise."""
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, fill, batch_size(algo)) for _ in range(steps)]
    return draws, [int(s) for s in rng.integers(0, 2**31, steps)]


def prepared_peer(algo: str, fill: int, nudge: bool = False) -> Any:
    """The peer's model with its buffer filled (with ``nudge``, every parameter then moved by one unit
    in the last place: rounding's size)."""
    peer = peer_model(algo, fill)
    if nudge:
        with torch.no_grad():
            for param in peer.policy.parameters():
                param.copy_(torch.nextafter(param, torch.full_like(param, float("inf"))))
    return peer


def peer_train(peer: Any, algo: str, draws: list[np.ndarray], noise_seeds: list[int]) -> None:
    """``train`` of the peer on the batches ``draws``, its noise seeded per step."""
    buffer, calls = peer.replay_buffer, iter(zip(draws, noise_seeds))

    def sample(batch_size: int, env: Any = None) -> Any:
        inds, noise_seed = next(calls)
        torch.manual_seed(noise_seed)
        return buffer._get_samples(inds, env=env)

    buffer.sample = sample
    peer.train(gradient_steps=len(draws), batch_size=batch_size(algo))


def ballast_run(model: Any, samples: list[Any], gamma: float, noise_seeds: list[int]) -> Any:
    """Ballast's ``model`` after ``train`` on the peer's batches, the same noise seeds. (DQN and QR-DQN
    draw several batches at once, which draw no noise: the next ones, one after another.)"""
    from ballast.buffers.replay import ReplayBatch

    calls = iter(zip(samples, noise_seeds))
    discrete, size = not data_is_continuous(model), len(samples[0].rewards)

    def sample(rows: int, generator: Any = None, **kwargs: Any) -> ReplayBatch:
        parts = [next(calls) for _ in range(rows // size)]
        torch.manual_seed(parts[0][1])

        def joined(field: str) -> torch.Tensor:
            return torch.cat([getattr(data, field) for data, _ in parts]).clone()

        actions = joined("actions")
        return ReplayBatch(observations=joined("observations"),
                           actions=actions.reshape(-1) if discrete else actions,
                           rewards=joined("rewards").reshape(-1), next_observations=joined("next_observations"),
                           discounts=gamma * (1.0 - joined("dones").reshape(-1)),
                           indices=torch.zeros(rows, dtype=torch.long))

    model.replay_buffer.sample = sample
    model.train(len(noise_seeds))
    return model


def data_is_continuous(model: Any) -> bool:
    import gymnasium as gym

    return isinstance(model.action_space, gym.spaces.Box)


def differences(ours: dict[str, torch.Tensor], theirs: dict[str, torch.Tensor], norms: set[str]) -> tuple[float, float]:
    """The largest difference of any weight, and of the biases that feed a batch-renorm layer, apart."""
    weights, before_norm = 0.0, 0.0
    for key, value in theirs.items():
        if not value.is_floating_point():
            continue
        gap = (ours[key].reshape(value.shape) - value).abs().max().item()
        if _bias_before_norm(key, norms):
            before_norm = max(before_norm, gap)
        else:
            weights = max(weights, gap)
    return weights, before_norm


def parity(algo: str, fill: int, steps: int, seed: int) -> dict:
    """Ballast against the peer after ``train(steps)`` on the same batches from the same start, and the
    peer against itself started from weights one unit in the last place away (rounding alone)."""
    draws, noise_seeds = batches(algo, fill, steps, seed)
    peer = prepared_peer(algo, fill)
    model = ballast_model(algo, fill, peer)
    start = ballast_weights(algo, peer_weights(peer))
    samples = [peer.replay_buffer._get_samples(inds) for inds in draws]  # for Ballast: the same transitions
    peer_train(peer, algo, draws, noise_seeds)
    ballast_run(model, samples, peer.gamma, noise_seeds)
    theirs = ballast_weights(algo, peer_weights(peer))
    ours = model.policy.state_dict()
    norms = {key.removesuffix(".ra_mean") for key in ours if key.endswith(".ra_mean")}
    result = dict(zip(("weight", "before_norm"), differences(ours, theirs, norms)))
    result["moved"] = max((theirs[k] - start[k]).abs().max().item() for k in theirs
                          if theirs[k].is_floating_point() and not _bias_before_norm(k, norms))
    nudged = prepared_peer(algo, fill, nudge=True)
    peer_train(nudged, algo, draws, noise_seeds)
    result["peer_self"], result["peer_self_before_norm"] = differences(
        ballast_weights(algo, peer_weights(nudged)), theirs, norms)
    if getattr(peer, "log_ent_coef", None) is not None:
        result["alpha"] = abs(model.log_ent_coef.item() - peer.log_ent_coef.item())
    return result


def _bias_before_norm(key: str, norms: set[str]) -> bool:
    """Whether ``key`` is the bias of a linear layer whose output a batch-renorm layer normalises
    (``mlp.biases.i`` feeds ``mlp.norms.{i+1}``; ``norms`` holds the norm layers' names). Such a bias
    has no gradient but rounding (the normalisation subtracts it again), so Adam moves it by about
    its learning rate in a direction that rounding picks: it is compared apart."""
    head, _, index = key.rpartition(".mlp.biases.")
    return bool(head) and f"{head}.mlp.norms.{int(index) + 1}" in norms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", default=list(ALGOS), choices=list(ALGOS))
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 10, 200])
    parser.add_argument("--fill", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0, help="draws the batches and the noise seeds")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for algo in args.algos:
        for steps in args.steps:
            r = parity(algo, args.fill, steps, args.seed)
            before_norm = (f"{r['before_norm']:.1e} ({r['peer_self_before_norm']:.1e})"
                           if algo == "CrossQ" else "-")
            alpha = f"{r['alpha']:.1e}" if "alpha" in r else "-"
            rows.append(f"| {algo} | {steps} | {r['weight']:.1e} | {r['peer_self']:.1e} | {r['moved']:.1e} | "
                        f"{before_norm} | {alpha} |")
            print(rows[-1], flush=True)
    body = "\n".join([
        "## Off-policy updates: Ballast's against SB3's and sb3-contrib's, from the same weights and batches",
        "",
        "The zoo's settings: SAC and TQC on Pendulum-v1 (`learning_rate=1e-3`, batches of 256), TD3 on Pendulum-v1 "
        "(`learning_rate=1e-3`, `gamma=0.98`, `net_arch=[400, 300]`), CrossQ on Pendulum-v1 (`policy_delay=2`, "
        "`net_arch=[256, 256]`), DQN and QR-DQN on CartPole-v1 (`learning_rate=2.3e-3`, batches of 64, "
        "`net_arch=[256, 256]`, QR-DQN with 10 quantiles). The peer library's model (SB3's SAC, TD3 and DQN, "
        f"sb3-contrib's TQC, CrossQ and QR-DQN) fills its buffer with {args.fill:,} steps of random actions; its "
        "weights are copied into Ballast's model by name; then both run `train(n)` on the same batches (fixed "
        "indices) with the same noise (torch's generator seeded alike before each gradient step). The columns: the "
        "largest difference of any weight after the updates (targets and batch-renorm statistics included); the "
        "same for the peer against itself started from weights one unit in the last place away (each parameter "
        "nudged up: rounding's size, to show how far such differences grow over the updates); the largest change "
        "of a weight over the updates, for scale; CrossQ's linear biases that feed a batch-renorm layer, apart "
        "(their gradient is zero but for rounding, since the normalisation subtracts them again, so Adam moves "
        "them by about the learning rate in a direction that rounding picks); and `log_ent_coef`.",
        "",
        "| algorithm | gradient steps | Ballast vs peer | peer vs itself, nudged by one ulp | largest weight change | "
        "biases before batch renorm: Ballast vs peer (peer vs itself) | log_ent_coef: Ballast vs peer |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Command: `{command_line()}` (revision {git_revision()}).  ",
        f"Machine: {machine(threads=1)}. SB3 2.9.2, sb3-contrib 2.9.2.",
    ])
    update_section("off-policy-update-parity", body)
    print(body)


if __name__ == "__main__":
    main()
