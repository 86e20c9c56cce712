"""PPO on CartPole-v1 with SB3's default hyperparameters: Ballast vs Stable-Baselines3.

Runs alternate (Ballast, SB3, Ballast, SB3, ...) in fresh subprocesses with the same seed,
hyperparameters, device (CPU) and torch thread count, timing ``learn`` only. Each run is then
evaluated (10 deterministic episodes) so returns are reported side by side. Writes the section
``ppo-speed`` of docs/benchmarks.md. Needs SB3, installed only in the benchmark environment:

    make bench-venv && .venv-bench/bin/python benchmarks/ppo_speed_vs_sb3.py [--steps 50000] [--pairs 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np
from common import command_line, git_revision, machine, update_section

RUN = r"""
import json, sys, time, torch
torch.set_num_threads({threads})
if "{lib}" == "sb3":
    from stable_baselines3 import PPO
    from stable_baselines3.common.evaluation import evaluate_policy
    import gymnasium as gym
    model = PPO("MlpPolicy", "CartPole-v1", seed={seed}, device="cpu")
else:
    from ballast import PPO, evaluate_policy
    model = PPO("MlpPolicy", "CartPole-v1", seed={seed}, device="cpu")
start = time.perf_counter()
model.learn({steps})
seconds = time.perf_counter() - start
if "{lib}" == "sb3":
    env = gym.make("CartPole-v1"); env.reset(seed=1000 + {seed})
    mean, std = evaluate_policy(model, env, n_eval_episodes=10, deterministic=True)
else:
    mean, std = evaluate_policy(model, "CartPole-v1", n_eval_episodes=10, deterministic=True, seed=1000 + {seed})
print(json.dumps({{"lib": "{lib}", "seed": {seed}, "seconds": seconds, "steps": {steps}, "mean": float(mean)}}))
"""


def run(lib: str, seed: int, steps: int, threads: int) -> dict:
    code = RUN.format(lib=lib, seed=seed, steps=steps, threads=threads)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    results = []
    for seed in range(args.pairs):
        for lib in ("ballast", "sb3"):
            result = run(lib, seed, args.steps, args.threads)
            print(result, flush=True)
            results.append(result)
    sps = {lib: [r["steps"] / r["seconds"] for r in results if r["lib"] == lib] for lib in ("ballast", "sb3")}
    ret = {lib: [r["mean"] for r in results if r["lib"] == lib] for lib in ("ballast", "sb3")}
    ratios = [b / s for b, s in zip(sps["ballast"], sps["sb3"])]
    import stable_baselines3

    body = "\n".join([
        "## PPO speed vs Stable-Baselines3 (CartPole-v1, SB3 defaults)",
        "",
        f"`PPO(\"MlpPolicy\", \"CartPole-v1\")` with SB3's defaults (1 env, n_steps=2048, batch_size=64, "
        f"n_epochs=10), {args.steps:,} steps per run, {args.pairs} seeds, runs alternating Ballast/SB3 in fresh "
        f"processes, `torch.set_num_threads({args.threads})` for both, CPU. Steps per second time `learn` only; "
        f"returns are 10 deterministic evaluation episodes of the model each run produced. SB3 "
        f"{stable_baselines3.__version__}.",
        "",
        "| | steps/s per seed | median steps/s | eval return per seed |",
        "|---|---|---|---|",
        *[f"| {name} | {', '.join(f'{x:,.0f}' for x in sps[lib])} | {np.median(sps[lib]):,.0f} | "
          f"{', '.join(f'{x:.1f}' for x in ret[lib])} |" for lib, name in (("ballast", "Ballast"),
                                                                         ("sb3", "SB3"))],
        "",
        f"**Speed ratio Ballast / SB3: {np.median(ratios):.2f}x** (per seed: "
        f"{', '.join(f'{r:.2f}' for r in ratios)}).",
        "",
        f"Command: `{command_line()}` (revision {git_revision()}).  ",
        f"Machine: {machine(threads=args.threads)}.",
    ])
    update_section("ppo-speed", body)
    print(body)


if __name__ == "__main__":
    main()
