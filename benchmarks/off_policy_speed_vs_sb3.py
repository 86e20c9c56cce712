"""Off-policy speed: SAC and DQN vs Stable-Baselines3, TQC, CrossQ and QR-DQN vs sb3-contrib, and replay memory.

Runs alternate (Ballast, SB3, ...) in fresh subprocesses with the same seed, the zoo's
hyperparameters (the same for both), CPU and torch thread count, timing ``learn`` only, then
evaluates each model (10 deterministic episodes). Also reports the replay-buffer memory for
1M HalfCheetah transitions (17-dim observations, 6-dim actions) against SB3's
``optimize_memory_usage=True``. The runs of each case are kept in
benchmarks/results/off_policy_speed.json (with the command and revision), so ``--only`` re-runs
one case and the section ``off-policy-speed`` of docs/benchmarks.md is written from all kept cases.
``--baseline REV`` adds a third contender to every seed's alternation: Ballast as it was at the git
revision ``REV`` (checked out in a temporary worktree), which tells a regression of Ballast's own
code from a change in the ratio that comes from SB3's speed on the day. Needs SB3 (benchmark
environment only):

    make bench-venv && .venv-bench/bin/python benchmarks/off_policy_speed_vs_sb3.py [--pairs 3] [--only CASE]
        [--baseline REV] [--render]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import numpy as np
from common import ROOT, command_line, git_revision, machine, update_section, write_json

RESULTS = ROOT / "benchmarks" / "results" / "off_policy_speed.json"

_QRDQN_CARTPOLE = {"learning_rate": 2.3e-3, "batch_size": 64, "buffer_size": 100_000, "learning_starts": 1000,
                   "gamma": 0.99, "target_update_interval": 10, "train_freq": 256, "gradient_steps": 128,
                   "exploration_fraction": 0.16, "exploration_final_eps": 0.04,
                   "policy_kwargs": {"net_arch": [256, 256], "n_quantiles": 10}}

# name -> (algo, env, steps, SB3-style keyword arguments used by both libraries); the zoo's settings.
# The peer of the algorithms sb3-contrib has is sb3-contrib (:data:`CONTRIB`).
CASES = {
    "SAC Pendulum-v1": ("SAC", "Pendulum-v1", 5_000, {"learning_rate": 1e-3}),
    "DQN CartPole-v1": ("DQN", "CartPole-v1", 20_000, {
        "learning_rate": 2.3e-3, "batch_size": 64, "buffer_size": 100_000, "learning_starts": 1000, "gamma": 0.99,
        "target_update_interval": 10, "train_freq": 256, "gradient_steps": 128, "exploration_fraction": 0.16,
        "exploration_final_eps": 0.04, "policy_kwargs": {"net_arch": [256, 256]}}),
    "TQC Pendulum-v1": ("TQC", "Pendulum-v1", 5_000, {"learning_rate": 1e-3,
                                                      "policy_kwargs": {"n_critics": 2, "n_quantiles": 25}}),
    "CrossQ Pendulum-v1": ("CrossQ", "Pendulum-v1", 5_000, {"policy_delay": 2,
                                                            "policy_kwargs": {"net_arch": [256, 256]}}),
    "QRDQN CartPole-v1": ("QRDQN", "CartPole-v1", 20_000, _QRDQN_CARTPOLE),
}
#: The algorithms whose peer is sb3-contrib.
CONTRIB = frozenset({"TQC", "CrossQ", "QRDQN"})

RUN = r"""
import json, time, torch
torch.set_num_threads({threads})
kwargs = json.loads({kwargs!r})
if "{lib}" == "sb3":
    import {peer} as lib
    from stable_baselines3.common.evaluation import evaluate_policy
    import gymnasium as gym
else:
    import ballast as lib
    from ballast import evaluate_policy
model = getattr(lib, "{algo}")("MlpPolicy", "{env}", seed={seed}, device="cpu", **kwargs)
start = time.perf_counter()
model.learn({steps})
seconds = time.perf_counter() - start
if "{lib}" == "sb3":
    env = gym.make("{env}"); env.reset(seed=1000 + {seed})
    mean, _ = evaluate_policy(model, env, n_eval_episodes=10, deterministic=True)
else:
    mean, _ = evaluate_policy(model, "{env}", n_eval_episodes=10, deterministic=True, seed=1000 + {seed})
print(json.dumps({{"seconds": seconds, "mean": float(mean)}}))
"""


def run(lib: str, case: str, seed: int, threads: int, source: str | None = None) -> dict:
    """One timed run in a fresh process; ``source``: a checkout whose ``ballast`` is imported instead."""
    algo, env, steps, kwargs = CASES[case]
    code = RUN.format(lib="sb3" if lib == "sb3" else "ballast", algo=algo, env=env, steps=steps, seed=seed,
                      threads=threads, kwargs=json.dumps(kwargs),
                      peer="sb3_contrib" if algo in CONTRIB else "stable_baselines3")
    environ = dict(os.environ, PYTHONPATH=source) if source else None
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environ,
                         cwd=source).stdout
    return {"lib": lib, "case": case, "seed": seed, "steps": steps, **json.loads(out.strip().splitlines()[-1])}


@contextlib.contextmanager
def checkout(revision: str) -> Iterator[str]:
    """A temporary worktree of the repository at ``revision``, removed afterwards."""
    path = tempfile.mkdtemp(prefix="ballast-baseline-")
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", path, revision], check=True,
                   capture_output=True)
    try:
        yield path
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", path], check=True)


def steps_per_second(runs: list[dict], lib: str) -> list[float]:
    return [r["steps"] / r["seconds"] for r in runs if r["lib"] == lib]


def _speeds(values: list[float]) -> str:
    return ", ".join(f"{x:,.0f}" for x in values)


def _returns(runs: list[dict]) -> str:
    return ", ".join(f"{r['mean']:.1f}" for r in runs)


def replay_memory() -> tuple[int, int]:
    """Bytes of Ballast's and SB3's (optimize_memory_usage=True) buffers for 1M HalfCheetah transitions."""
    from gymnasium import spaces
    from stable_baselines3.common.buffers import ReplayBuffer as SB3Buffer

    from ballast.buffers.replay import ReplayBuffer

    obs = spaces.Box(-np.inf, np.inf, (17,), np.float64)
    act = spaces.Box(-1.0, 1.0, (6,), np.float32)
    ours = ReplayBuffer(obs, act, 1_000_000).nbytes()
    theirs = SB3Buffer(1_000_000, obs, act, device="cpu", optimize_memory_usage=True,
                       handle_timeout_termination=False)
    sb3_bytes = sum(getattr(theirs, name).nbytes for name in ("observations", "actions", "rewards", "dones"))
    return ours, sb3_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", nargs="*", choices=sorted(CASES))
    parser.add_argument("--baseline", metavar="REV", help="also time Ballast at this git revision")
    parser.add_argument("--render", action="store_true", help="only rewrite the section from the kept runs")
    args = parser.parse_args()
    cases = [] if args.render else args.only or list(CASES)
    kept = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    with contextlib.ExitStack() as stack:
        baseline = stack.enter_context(checkout(args.baseline)) if args.baseline and cases else None
        contenders = [("ballast", None)] + ([("baseline", baseline)] if baseline else []) + [("sb3", None)]
        for case in cases:
            runs = []
            for seed in range(args.pairs):
                for lib, source in contenders:
                    result = run(lib, case, seed, args.threads, source)
                    print(result, flush=True)
                    runs.append(result)
            kept[case] = {"runs": runs, "machine": machine(threads=args.threads), "command": command_line(),
                          "revision": git_revision(), "baseline": args.baseline}
            write_json(RESULTS, kept)
    rows = ["| case | steps | Ballast steps/s per seed | peer's steps/s per seed | speed ratio (median) | "
            "Ballast eval returns | peer's eval returns |", "|---|---|---|---|---|---|---|"]
    shown = [case for case in CASES if case in kept]
    baselines = []
    for case in shown:
        runs = kept[case]["runs"]
        ours = [r for r in runs if r["lib"] == "ballast"]
        theirs = [r for r in runs if r["lib"] == "sb3"]
        sps_o, sps_t = steps_per_second(runs, "ballast"), steps_per_second(runs, "sb3")
        ratio = float(np.median([a / b for a, b in zip(sps_o, sps_t)]))
        peer = "sb3-contrib" if CASES[case][0] in CONTRIB else "SB3"
        rows.append(f"| {case} (vs {peer}) | {CASES[case][2]:,} | {_speeds(sps_o)} | {_speeds(sps_t)} | "
                    f"**{ratio:.2f}x** | {_returns(ours)} | {_returns(theirs)} |")
        sps_b = steps_per_second(runs, "baseline")
        if sps_b:
            ratio_b = float(np.median([b / t for b, t in zip(sps_b, sps_t)]))
            change = float(np.median([o / b for o, b in zip(sps_o, sps_b)]))
            baselines.append(f"| {case} | {kept[case]['baseline']} | {_speeds(sps_b)} | **{ratio_b:.2f}x** | "
                             f"{change:.2f}x |")
    if baselines:
        rows += ["", "The same runs, with Ballast at an earlier revision as a third contender in each seed's "
                 "alternation (its steps/s against SB3's of the same seed, and the current code's against it):", "",
                 "| case | earlier revision | its steps/s per seed | its ratio to SB3 (median) | "
                 "current / earlier (median) |", "|---|---|---|---|---|", *baselines]
    commands = [f"{case}: `{kept[case]['command']}` (revision {kept[case]['revision']})" for case in shown]
    ours_bytes, sb3_bytes = replay_memory()
    import sb3_contrib
    import stable_baselines3

    body = "\n".join([
        "## Off-policy speed vs Stable-Baselines3 and sb3-contrib, replay memory",
        "",
        "Same seed, the zoo's hyperparameters for both libraries (SAC Pendulum-v1: learning_rate=1e-3, SB3 defaults "
        "otherwise; DQN and QR-DQN CartPole-v1: the zoo's dqn.yml / qrdqn.yml entries; TQC and CrossQ "
        "Pendulum-v1: the zoo's tqc.yml / crossq.yml entries), CPU, the same torch thread count for both (see "
        "the machine line), runs alternating in fresh processes; steps per second time `learn` only. "
        f"SB3 {stable_baselines3.__version__}, sb3-contrib {sb3_contrib.__version__}.",
        "",
        *rows,
        "",
        "Eval returns are those of the timed models, 10 deterministic episodes: for DQN and QR-DQN after 20,000 of "
        "the zoo's 50,000 steps, for SAC, TQC and CrossQ after 5,000 of the zoo's 20,000, mid-training (learning "
        "at the zoos' budgets: the sections of each algorithm).",
        "",
        f"Replay buffer for 1M HalfCheetah transitions (17-dim float64 observations, 6-dim actions): Ballast "
        f"{ours_bytes / 2**20:,.0f} MiB, SB3 with `optimize_memory_usage=True` {sb3_bytes / 2**20:,.0f} MiB.",
        "",
        "Commands: " + "; ".join(commands) + ".  ",
        "Machine: " + "; ".join(sorted({kept[case]["machine"] for case in shown})) + ".",
    ])
    update_section("off-policy-speed", body)
    print(body)


if __name__ == "__main__":
    main()
