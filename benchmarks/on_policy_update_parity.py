"""PPO's and A2C's MLP updates in Ballast (its fast path) and in SB3 from the same weights and rollout: do they agree?

For each case, SB3's model collects one rollout with the zoo's settings for the env and its weights
and rollout are copied into a Ballast model built with the same settings: the weights by name (as
``ballast.import_sb3`` maps them), the observations, actions, rewards, episode boundaries, values and
log-probabilities. Ballast computes its advantages and returns (GAE) from them, compared with SB3's;
then both libraries run ``train()`` and the weights they end with are compared, beside SB3 against
itself started from weights one unit in the last place away (rounding's size). PPO's minibatches
are the same in both: SB3's shuffles (``np.random.permutation`` of its env-major rollout order) are
replaced by fixed ones, and Ballast's (``torch.randperm`` of its step-major order) by the same ones
re-indexed. Ballast's default MLP policies take their gradients from the fast path (closed-form
backward passes, no autograd), so this compares that path with SB3's autograd.

Cases: PPO on CartPole-v1 (the zoo's: 8 envs, ``n_steps=32``, ``batch_size=256``, ``gae_lambda=0.8``,
``gamma=0.98``, ``n_epochs=20``, ``ent_coef=0.0``; constant learning rate 1e-3 and clip range 0.2),
PPO on Pendulum-v1 (the zoo's: 4 envs, ``n_steps=1024``, ``gae_lambda=0.95``, ``gamma=0.9``,
``n_epochs=10``, ``learning_rate=1e-3``, ``clip_range=0.2``, ``ent_coef=0.0``, without gSDE), A2C on
CartPole-v1 (the zoo's: 8 envs, ``ent_coef=0.0``; SB3's defaults otherwise: ``n_steps=5``, RMSprop).

    .venv-bench/bin/python benchmarks/on_policy_update_parity.py

Writes the section ``on-policy-update-parity`` of docs/benchmarks.md. Needs SB3 (benchmark environment only).
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch
from common import command_line, git_revision, machine, sb3_rollout_snapshot, update_section

CASES = {
    "PPO CartPole-v1": dict(algo="PPO", env="CartPole-v1", n_envs=8,
                            kwargs=dict(n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20,
                                        ent_coef=0.0, learning_rate=1e-3, clip_range=0.2)),
    "PPO Pendulum-v1": dict(algo="PPO", env="Pendulum-v1", n_envs=4,
                            kwargs=dict(n_steps=1024, gae_lambda=0.95, gamma=0.9, n_epochs=10, ent_coef=0.0,
                                        learning_rate=1e-3, clip_range=0.2)),
    "A2C CartPole-v1": dict(algo="A2C", env="CartPole-v1", n_envs=8, kwargs=dict(ent_coef=0.0)),
}


def sb3_rollout(case: dict, seed: int, nudge: bool = False) -> tuple[Any, list[np.ndarray], dict, dict]:
    """SB3's model, the minibatch orders it drew (PPO's shuffles replaced by fixed permutations seeded
    from ``seed``, one per epoch), its weights and rollout at the end of its first rollout, and its
    weights after ``train()`` (with ``nudge``, every parameter first moved up by one unit in the last
    place)."""
    import stable_baselines3
    import stable_baselines3.common.buffers as sb3_buffers
    from stable_baselines3.common.env_util import make_vec_env

    env = make_vec_env(case["env"], n_envs=case["n_envs"], seed=0)
    model = getattr(stable_baselines3, case["algo"])("MlpPolicy", env, seed=0, device="cpu", **case["kwargs"])
    if nudge:
        with torch.no_grad():
            for param in model.policy.parameters():
                param.copy_(torch.nextafter(param, torch.full_like(param, float("inf"))))
    before: dict = {}

    size = model.n_steps * case["n_envs"]
    orders = [np.random.default_rng(seed + epoch).permutation(size) for epoch in range(getattr(model, "n_epochs", 1))]
    calls, permutation = iter(orders), np.random.permutation
    sb3_buffers.np.random.permutation = lambda n: next(calls).copy() if n == size else permutation(n)
    try:
        model.learn(size, callback=sb3_rollout_snapshot(before))
    finally:
        sb3_buffers.np.random.permutation = permutation
    after = {k: v.detach().clone() for k, v in model.policy.state_dict().items()}
    return model, orders, before, after


def mapped(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """SB3's policy weights under Ballast's names (``ballast.import_sb3``'s mapping)."""
    from ballast.interop.sb3 import _on_policy

    return _on_policy({}, weights)[2]


def parity(name: str, seed: int) -> dict:
    import ballast

    case = CASES[name]
    n_envs = case["n_envs"]
    peer, orders, before, theirs_after = sb3_rollout(case, seed)
    n_steps = peer.n_steps
    size = n_steps * n_envs
    model = getattr(ballast, case["algo"])("MlpPolicy", case["env"], n_envs=n_envs, seed=0, device="cpu",
                                           **case["kwargs"])
    start = mapped(before["weights"])
    state = model.policy.state_dict()
    if set(start) != set(state):
        raise SystemExit(f"{name}: the policies differ: {sorted(set(start) ^ set(state))}")
    with torch.no_grad():
        for key, value in start.items():
            state[key].copy_(value)
    rollout, buf = before["rollout"], model.rollout_buffer
    # SB3 marks the first step of an episode; Ballast the last step of one (SB3 has already added the
    # bootstrapped value of a truncation to its reward, so every end is a termination here).
    ends = np.concatenate([rollout["episode_starts"][1:], before["last_dones"][None]], axis=0).astype(bool)
    for t in range(n_steps):
        buf.add(t, rollout["observations"][t], rollout["actions"][t].reshape(buf.actions[t].shape),
                rollout["rewards"][t], ends[t], ends[t], np.ones(n_envs, dtype=bool))
    buf.values[:] = rollout["values"]
    buf.log_probs[:] = rollout["log_probs"]
    buf.compute_returns_and_advantages(before["last_values"], model.config.gamma, model.config.gae_lambda)
    result = {"advantage": float(np.abs(buf.advantages - rollout["advantages"]).max()),
              "return": float(np.abs(buf.returns - rollout["returns"]).max()), "ends": int(ends.sum())}
    ours_calls = iter([torch.as_tensor((o % n_steps) * n_envs + o // n_steps) for o in orders])
    randperm = torch.randperm
    torch.randperm = lambda n, *a, **k: next(ours_calls).clone() if n == size else randperm(n, *a, **k)
    try:
        model.train()
    finally:
        torch.randperm = randperm
    ours, theirs = model.policy.state_dict(), mapped(theirs_after)
    result["weight"] = max((ours[k] - theirs[k]).abs().max().item() for k in theirs)
    result["moved"] = max((theirs[k] - start[k]).abs().max().item() for k in theirs)
    result["fast_path"] = bool(model.fast_path)
    _, _, _, nudged_after = sb3_rollout(case, seed, nudge=True)
    nudged = mapped(nudged_after)
    result["peer_self"] = max((nudged[k] - theirs[k]).abs().max().item() for k in theirs)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--seed", type=int, default=100, help="draws PPO's minibatch shuffles")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for name in args.cases:
        r = parity(name, args.seed)
        rows.append(f"| {name} | {'on' if r['fast_path'] else 'off'} | {r['ends']} | {r['advantage']:.1e}, "
                    f"{r['return']:.1e} | {r['weight']:.1e} | {r['peer_self']:.1e} | {r['moved']:.1e} |")
        print(rows[-1], flush=True)
    body = "\n".join([
        "## PPO and A2C (MLP): Ballast's update against SB3's, from the same weights and rollout",
        "",
        "SB3's first rollout with the zoo's settings (PPO CartPole-v1: 8 envs, `n_steps=32`, `batch_size=256`, "
        "`n_epochs=20`; PPO Pendulum-v1: 4 envs, `n_steps=1024`, `n_epochs=10`, without gSDE; both with a constant "
        "learning rate 1e-3 and clip range 0.2; A2C CartPole-v1: 8 envs, `n_steps=5`, RMSprop) and its weights, "
        "copied into Ballast's model by name; Ballast's GAE from the same rewards, values and episode ends; then "
        "each library's `train()`, PPO's minibatches drawn in the same order by both. Ballast's default MLP "
        "policies take their gradients from the fast path (closed-form backward passes, no autograd), SB3 from "
        "autograd. For scale: SB3 against itself started from weights one unit in the last place away, and the "
        "largest change of a weight over the update.",
        "",
        "| case | Ballast's fast path | episode ends in the rollout | advantages, returns: largest difference | "
        "weights after `train()`: Ballast vs SB3 | SB3 vs itself, nudged by one ulp | largest weight change |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Command: `{command_line()}` (revision {git_revision()}).  ",
        f"Machine: {machine(threads=1)}. SB3 2.9.2.",
    ])
    update_section("on-policy-update-parity", body)
    print(body)


if __name__ == "__main__":
    main()
