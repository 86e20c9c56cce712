"""SAC on HalfCheetah-v5 (Gymnasium's MuJoCo extra): Ballast vs Stable-Baselines3 at one budget.

Both libraries train SAC with the zoo's HalfCheetah settings (SB3 defaults, learning_starts=10000)
for the same number of steps and seeds, two runs at a time (one per core, one torch thread each),
then evaluate deterministically on 10 episodes. Each run is kept in
benchmarks/results/sac_halfcheetah.json (by library, seed and steps, with the revision it ran at), so
seeds can be added in later invocations; the section ``sac-halfcheetah`` of docs/benchmarks.md is
written from every kept run at ``--steps``. Needs SB3 and MuJoCo (benchmark environment only):

    make bench-venv && .venv-bench/bin/pip install "gymnasium[mujoco]"
    .venv-bench/bin/python benchmarks/sac_halfcheetah_vs_sb3.py [--steps 50000] [--seeds 0 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from common import ROOT, git_revision, machine, mean_std, update_section, write_json

RESULTS = ROOT / "benchmarks" / "results" / "sac_halfcheetah.json"

RUN = r"""
import json, time, torch
torch.set_num_threads(1)
if "{lib}" == "sb3":
    import stable_baselines3 as lib
    from stable_baselines3.common.evaluation import evaluate_policy
    import gymnasium as gym
else:
    import ballast as lib
    from ballast import evaluate_policy
model = lib.SAC("MlpPolicy", "HalfCheetah-v5", seed={seed}, device="cpu", learning_starts=10000)
start = time.perf_counter()
model.learn({steps})
seconds = time.perf_counter() - start
if "{lib}" == "sb3":
    env = gym.make("HalfCheetah-v5"); env.reset(seed=1000 + {seed})
    mean, _ = evaluate_policy(model, env, n_eval_episodes=10, deterministic=True)
else:
    mean, _ = evaluate_policy(model, "HalfCheetah-v5", n_eval_episodes=10, deterministic=True, seed=1000 + {seed})
print(json.dumps({{"lib": "{lib}", "seed": {seed}, "seconds": seconds, "mean": float(mean)}}))
"""


def run(lib: str, seed: int, steps: int) -> dict:
    code = RUN.format(lib=lib, seed=seed, steps=steps)
    revision = git_revision()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return {**json.loads(out.strip().splitlines()[-1]), "steps": steps, "revision": revision}


def kept_runs() -> list[dict]:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else []


def keep(new: list[dict]) -> list[dict]:
    """The kept runs with ``new`` added (replacing runs of the same library, seed and steps)."""
    key = lambda r: (r["lib"], r["seed"], r["steps"])  # noqa: E731
    fresh = {key(r) for r in new}
    runs = [r for r in kept_runs() if key(r) not in fresh] + new
    write_json(RESULTS, runs)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--render", action="store_true", help="only rewrite the section from the kept runs")
    args = parser.parse_args()
    jobs = [] if args.render else [(lib, seed) for seed in args.seeds for lib in ("ballast", "sb3")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        new = list(pool.map(lambda job: run(job[0], job[1], args.steps), jobs))
    for result in new:
        print(result)
    results = sorted((r for r in keep(new) if r["steps"] == args.steps), key=lambda r: r["seed"])
    seeds = sorted({r["seed"] for r in results})
    revisions = ", ".join(sorted({r["revision"] for r in results}))
    rows = ["| | eval return per seed | mean ± std | steps/s per seed |", "|---|---|---|---|"]
    for lib, name in (("ballast", "Ballast"), ("sb3", "SB3")):
        runs = [r for r in results if r["lib"] == lib]
        returns = ", ".join(f"{r['mean']:.0f}" for r in runs)
        speeds = ", ".join(f"{args.steps / r['seconds']:,.0f}" if r.get("seconds") else "-" for r in runs)
        rows.append(f"| {name} | {returns} | {mean_std([r['mean'] for r in runs])} | {speeds} |")
    ours = np.mean([r["mean"] for r in results if r["lib"] == "ballast"])
    spread = min(np.std([r["mean"] for r in results if r["lib"] == lib]) for lib in ("ballast", "sb3"))
    theirs = np.mean([r["mean"] for r in results if r["lib"] == "sb3"])
    import stable_baselines3

    body = "\n".join([
        f"## SAC on HalfCheetah-v5 at {args.steps:,} steps: Ballast vs SB3",
        "",
        f"Both with SB3's SAC defaults and learning_starts=10000 (the zoo's HalfCheetah settings), {len(seeds)} "
        f"seeds each ({', '.join(map(str, seeds))}), {args.steps:,} steps, one torch thread per run, two runs "
        f"at a time; final models evaluated deterministically on 10 episodes. SB3 {stable_baselines3.__version__}.",
        "",
        *rows,
        "",
        f"Mean return: Ballast {ours:.0f}, SB3 {theirs:.0f} "
        f"({'Ballast at least as high' if ours >= theirs else 'Ballast lower'}, by {abs(ours - theirs):.0f}, "
        f"{abs(ours - theirs) / abs(theirs):.1%} of SB3's mean"
        + ("; less than the seed-to-seed standard deviation of either library)." if abs(ours - theirs) < spread
           else ")."),
        "",
        "The steps/s column is only a record: these runs shared the two cores with other work (the speed "
        "comparison is the section \"SAC and DQN speed vs Stable-Baselines3\").",
        "",
        f"Command: `.venv-bench/bin/python benchmarks/sac_halfcheetah_vs_sb3.py --steps {args.steps} --seeds ...`, "
        f"once per group of seeds (runs at revisions {revisions}).  ",
        f"Machine: {machine(threads=1)}.",
    ])
    update_section("sac-halfcheetah", body)
    print(body)


if __name__ == "__main__":
    main()
