"""SAC, TQC or CrossQ on HalfCheetah-v5 (Gymnasium's MuJoCo extra): Ballast vs SB3 / sb3-contrib at one budget.

Both libraries train ``--algo`` with the zoo's HalfCheetah settings (:data:`ZOO_SETTINGS`: SAC and TQC
with their libraries' defaults and learning_starts=10000, CrossQ with crossq.yml's entry) for the same
number of steps and seeds, two runs at a time (one per core, one torch thread each), then evaluate
deterministically on 10 episodes. The peer is SB3 for SAC and sb3-contrib for TQC and CrossQ. Each run
is kept in benchmarks/results/<algo>_halfcheetah.json (by library, seed and steps, with the revision it
ran at), so seeds can be added in later invocations; the section ``<algo>-halfcheetah`` of
docs/benchmarks.md is written from every kept run at ``--steps``. Needs SB3, sb3-contrib and MuJoCo
(benchmark environment only, ``make bench-venv``):

    .venv-bench/bin/python benchmarks/sac_halfcheetah_vs_sb3.py [--algo SAC] [--steps 50000] [--seeds 0 1]
    .venv-bench/bin/python benchmarks/sac_halfcheetah_vs_sb3.py --algo CrossQ --estimate 150
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from common import ROOT, git_revision, machine, mean_std, update_section, write_json

#: The zoo's HalfCheetah-v5 settings of each algorithm (sac.yml, tqc.yml, crossq.yml), as Python source.
ZOO_SETTINGS = {
    "SAC": "dict(learning_starts=10000)",
    "TQC": "dict(learning_starts=10000)",
    "CrossQ": "dict(buffer_size=1_000_000, learning_rate=1e-3, learning_starts=5000, policy_delay=3, "
              "policy_kwargs=dict(net_arch=dict(pi=[256, 256], qf=[2048, 2048])))",
}
PEERS = {"SAC": ("stable_baselines3", "SB3"), "TQC": ("sb3_contrib", "sb3-contrib"),
         "CrossQ": ("sb3_contrib", "sb3-contrib")}

RUN = r"""
import json, time, torch
torch.set_num_threads(1)
from ballast import evaluate_policy
if "{lib}" == "sb3":
    import {peer} as lib
else:
    import ballast as lib
model = lib.{algo}("MlpPolicy", "HalfCheetah-v5", seed={seed}, device="cpu", **{settings})
start = time.perf_counter()
model.learn({steps})
seconds = time.perf_counter() - start
# Both libraries' models play the same seeded episodes (Ballast's evaluate_policy takes either).
mean, _ = evaluate_policy(model, "HalfCheetah-v5", n_eval_episodes=10, deterministic=True, seed=1000 + {seed})
print(json.dumps({{"lib": "{lib}", "seed": {seed}, "seconds": seconds, "mean": float(mean)}}))
"""


ESTIMATE = r"""
import json, time, torch
torch.set_num_threads(1)
if "{lib}" == "sb3":
    import {peer} as lib
else:
    import ballast as lib
model = lib.{algo}("MlpPolicy", "HalfCheetah-v5", seed=0, device="cpu", **{settings})
model.learn(model.learning_starts)
start = time.perf_counter()
model.learn({timed}, reset_num_timesteps=False)
seconds = (time.perf_counter() - start) / {timed}
print(json.dumps({{"seconds_per_step": seconds, "learning_starts": model.learning_starts}}))
"""


def estimate(algo: str, steps: int, timed: int) -> None:
    """Time ``timed`` training steps of each library (one after the other, one thread each) and print how
    long a run of ``steps`` would take: for budgets too long to run here."""
    for lib in ("ballast", "sb3"):
        code = ESTIMATE.format(lib=lib, algo=algo, peer=PEERS[algo][0], settings=ZOO_SETTINGS[algo], timed=timed)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        timing = json.loads(out.strip().splitlines()[-1])
        hours = (steps - timing["learning_starts"]) * timing["seconds_per_step"] / 3600
        name = "Ballast" if lib == "ballast" else PEERS[algo][1]
        print(f"{name} {algo}: {timing['seconds_per_step'] * 1000:.0f} ms per training step, about {hours:.1f} h "
              f"for the {steps - timing['learning_starts']:,} training steps of a {steps:,}-step run")


def run(algo: str, lib: str, seed: int, steps: int) -> dict:
    code = RUN.format(lib=lib, seed=seed, steps=steps, algo=algo, peer=PEERS[algo][0], settings=ZOO_SETTINGS[algo])
    revision = git_revision()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return {**json.loads(out.strip().splitlines()[-1]), "steps": steps, "revision": revision, "same_episodes": True}


def results_file(algo: str) -> Path:
    return ROOT / "benchmarks" / "results" / f"{algo.lower()}_halfcheetah.json"


def kept_runs(algo: str) -> list[dict]:
    path = results_file(algo)
    return json.loads(path.read_text()) if path.exists() else []


def keep(algo: str, new: list[dict]) -> list[dict]:
    """The kept runs with ``new`` added (replacing runs of the same library, seed and steps)."""
    key = lambda r: (r["lib"], r["seed"], r["steps"])  # noqa: E731
    fresh = {key(r) for r in new}
    runs = [r for r in kept_runs(algo) if key(r) not in fresh] + new
    write_json(results_file(algo), runs)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--algo", choices=sorted(ZOO_SETTINGS), default="SAC")
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--render", action="store_true", help="only rewrite the section from the kept runs")
    parser.add_argument("--estimate", type=int, metavar="N", help="only time N training steps of each library "
                        "and print how long a run of --steps would take")
    args = parser.parse_args()
    if args.estimate:
        estimate(args.algo, args.steps, args.estimate)
        return
    jobs = [] if args.render else [(lib, seed) for seed in args.seeds for lib in ("ballast", "sb3")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        new = list(pool.map(lambda job: run(args.algo, job[0], job[1], args.steps), jobs))
    for result in new:
        print(result)
    results = sorted((r for r in keep(args.algo, new) if r["steps"] == args.steps), key=lambda r: r["seed"])
    peer_module, peer = PEERS[args.algo]
    seeds = sorted({r["seed"] for r in results})
    revisions = ", ".join(sorted({r["revision"] for r in results}))
    rows = ["| | eval return per seed | mean ± std | steps/s per seed |", "|---|---|---|---|"]
    for lib, name in (("ballast", "Ballast"), ("sb3", peer)):
        runs = [r for r in results if r["lib"] == lib]
        returns = ", ".join(f"{r['mean']:.0f}" for r in runs)
        speeds = ", ".join(f"{args.steps / r['seconds']:,.0f}" if r.get("seconds") else "-" for r in runs)
        rows.append(f"| {name} | {returns} | {mean_std([r['mean'] for r in runs])} | {speeds} |")
    ours = np.mean([r["mean"] for r in results if r["lib"] == "ballast"])
    spread = min(np.std([r["mean"] for r in results if r["lib"] == lib]) for lib in ("ballast", "sb3"))
    theirs = np.mean([r["mean"] for r in results if r["lib"] == "sb3"])
    import importlib

    version = importlib.import_module(peer_module).__version__
    body = "\n".join([
        f"## {args.algo} on HalfCheetah-v5 at {args.steps:,} steps: Ballast vs {peer}",
        "",
        f"Both with the zoo's HalfCheetah settings (`{ZOO_SETTINGS[args.algo]}`, {peer}'s defaults otherwise), "
        f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''} each ({', '.join(map(str, seeds))}), {args.steps:,} steps, "
        "one torch thread per run, "
        f"two runs at a time; final models evaluated deterministically on 10 episodes. {peer} {version}.",
        "",
        *rows,
        "",
        f"Mean return: Ballast {ours:.0f}, {peer} {theirs:.0f} "
        f"({'Ballast at least as high' if ours >= theirs else 'Ballast lower'}, by {abs(ours - theirs):.0f}, "
        f"{abs(ours - theirs) / abs(theirs):.1%} of {peer}'s mean"
        + ("; less than the seed-to-seed standard deviation of either library)." if abs(ours - theirs) < spread
           else ")."),
        *(["", "One seed per library: a record of the run, not yet a comparison of the libraries."]
          if len(seeds) == 1 else []),
        *(["", f"Runs kept from before both libraries' models played the same evaluation episodes (seeds "
               f"{', '.join(str(r['seed']) for r in results if r['lib'] == 'sb3' and not r.get('same_episodes'))}"
               f"): {peer}'s model played 10 episodes of its own, from an env reset with the same seed, so "
               "those per-seed differences include a different draw of start states."]
          if any(not r.get("same_episodes") for r in results) else []),
        "",
        "The steps/s column is only a record: these runs shared the two cores with other work (the speed "
        "comparisons are the sections measured on a quiet machine).",
        "",
        f"Command: `.venv-bench/bin/python benchmarks/sac_halfcheetah_vs_sb3.py --algo {args.algo} "
        f"--steps {args.steps} --seeds ...`, "
        f"once per group of seeds (runs at revisions {revisions}).  ",
        f"Machine: {machine(threads=1)}.",
    ])
    update_section(f"{args.algo.lower()}-halfcheetah", body)
    print(body)


if __name__ == "__main__":
    main()
