"""Learning check for PPO and A2C against the rl-baselines3-zoo published returns.

Trains each setting with the zoo's tuned hyperparameters (hyperparams/*.yml) and budget for
3 seeds, evaluates the final model deterministically on 10 seeded episodes, and writes the table
to docs/benchmarks.md (section ``on-policy-returns``). Each run logs into a run folder under
benchmarks/results/on_policy_runs/ (``config.json`` and ``progress.csv``, as ``ballast train`` writes
them), and ``ballast plot`` draws their learning curves into docs/images/on-policy-returns.png,
shown beside the table.

    .venv/bin/python benchmarks/on_policy_returns.py [--seeds 0 1 2] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from concurrent.futures import ProcessPoolExecutor

from common import ROOT, command_line, git_revision, machine, mean_std, update_section, write_json

#: Where the runs log (one run folder each) and where their learning curves are drawn.
RUNS = ROOT / "benchmarks" / "results" / "on_policy_runs"
FIGURE = ROOT / "docs" / "images" / "on-policy-returns.png"
PLOT = ["plot", str(RUNS.relative_to(ROOT)), "--out", str(FIGURE.relative_to(ROOT)), "--smooth", "5"]

# (algo, env, zoo published mean, zoo published std)
SETTINGS = [
    ("ppo", "CartPole-v1", 500.0, 0.0),
    ("a2c", "CartPole-v1", 500.0, 0.0),
    ("ppo", "Pendulum-v1", -172.225, 104.159),
]


def run_one(algo: str, env_id: str, seed: int) -> dict:
    import torch

    torch.set_num_threads(1)
    import ballast
    from ballast.algos.base import ALGORITHMS
    from ballast.logger import Logger
    from ballast.zoo import load_hyperparams

    settings = load_hyperparams(ROOT / "hyperparams" / f"{algo}.yml", env_id)
    model = ALGORITHMS[algo](settings.policy, env_id, seed=seed, device="cpu", n_envs=settings.n_envs,
                             **settings.kwargs)
    run_dir = RUNS / f"{algo}_{env_id}_s{seed}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({"algorithm": algo, "env_id": env_id, "seed": seed}))
    model.logger = Logger(run_dir, verbose=0)
    start = time.perf_counter()
    model.learn(settings.n_timesteps)
    seconds = time.perf_counter() - start
    model.logger.close()
    mean, std = ballast.evaluate_policy(model, env_id, n_eval_episodes=10, deterministic=True, seed=1000 + seed)
    return {"algo": algo, "env": env_id, "seed": seed, "steps": model.num_timesteps, "seconds": seconds,
            "mean": mean, "std": std}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", nargs="*", help="algo:env pairs to run, e.g. ppo:CartPole-v1")
    args = parser.parse_args()
    settings = [s for s in SETTINGS if not args.only or f"{s[0]}:{s[1]}" in args.only]
    jobs = [(algo, env, seed) for algo, env, *_ in settings for seed in args.seeds]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(run_one, *zip(*jobs)))
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    write_json(out / "on_policy_returns.json", results)
    rows = ["| algorithm | env | steps | seeds | final eval return per seed | mean ± std | zoo published | "
            "passes |", "|---|---|---|---|---|---|---|---|"]
    for algo, env, published, published_std in settings:
        runs = [r for r in results if r["algo"] == algo and r["env"] == env]
        means = [r["mean"] for r in runs]
        target = 475.0 if env == "CartPole-v1" else published - published_std
        import numpy as np

        ok = float(np.mean(means)) >= target
        rows.append(
            f"| {algo.upper()} | {env} | {runs[0]['steps']:,} | {len(runs)} | "
            f"{', '.join(f'{m:.1f}' for m in means)} | {mean_std(means)} | {published:.1f} ± {published_std:.1f} | "
            f"{'yes' if ok else 'no'} (target ≥ {target:.1f}) |"
        )
    minutes = sum(r["seconds"] for r in results) / 60
    from ballast.cli import main as ballast_cli

    if ballast_cli(["plot", str(RUNS), "--out", str(FIGURE), "--smooth", "5"]) != 0:
        raise RuntimeError("ballast plot failed")
    body = "\n".join([
        "## PPO and A2C: returns at the zoo's budgets",
        "",
        "Hyperparameters: `hyperparams/ppo.yml` and `hyperparams/a2c.yml` (rl-baselines3-zoo's tuned values). "
        "Each seed trains for the zoo's budget, then the final model is evaluated deterministically on 10 "
        "episodes (eval seed 1000 + seed). Targets: CartPole-v1 solved (≥ 475); Pendulum-v1 within one "
        "published std of the zoo's mean.",
        "",
        *rows,
        "",
        "![Learning curves of these runs: mean training return over seeds with a 95 % bootstrap band]"
        "(images/on-policy-returns.png)",
        "",
        "Learning curves of the same runs (`rollout/ep_rew_mean`, the mean return of the last 100 training "
        "episodes; mean over seeds with a 95 % bootstrap band), drawn by `ballast " + " ".join(PLOT) + "`.",
        "",
        f"Command: `{command_line()}` (revision {git_revision()}, {minutes:.1f} CPU-minutes of training).  ",
        f"Machine: {machine(threads=1)}.",
    ])
    update_section("on-policy-returns", body)
    print(body)


if __name__ == "__main__":
    main()
