"""Residual SAC on Pendulum-v1 over a mistuned hand-written controller, against SAC from scratch.

The base is :func:`ballast.envs.controllers.pendulum_swing_up` with its default (too weak) gains.
Both agents use the zoo's SAC hyperparameters for Pendulum-v1 (``learning_rate=1e-3``, the rest
SB3's defaults); the residual agent adds ``base_policy=``, ``residual_scale`` and
``critic_warmup_steps``. Every ``--eval-every`` env steps each agent is evaluated
deterministically on 10 seeded episodes; a run stops at the first evaluation whose mean reaches
``--threshold`` (or at ``--budget`` steps). Reported per seed: the steps each needed, the
residual agent's return before training (the base's) and its lowest evaluation before reaching
the threshold. Writes the ``residual-pendulum`` section of docs/benchmarks.md (for other residual
settings than the defaults, a section named after them).

    .venv/bin/python benchmarks/residual_pendulum.py [--seeds 0 1 2] [--budget 20000] [--jobs 1]

``--reuse-scratch`` takes the SAC-from-scratch runs from the previous results file
(benchmarks/results/residual_pendulum.json) when it has them for the same seeds, budget,
evaluation interval and threshold: they do not depend on the residual settings.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from common import ROOT, command_line, git_revision, machine, update_section


def run_one(kind: str, seed: int, args: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(1)
    from ballast import SAC, evaluate_policy, make_vec_env
    from ballast.envs.controllers import pendulum_swing_up

    residual = {"base_policy": pendulum_swing_up, "residual_scale": args.residual_scale,
                "critic_warmup_steps": args.critic_warmup} if kind == "residual" else {}
    model = SAC("MlpPolicy", "Pendulum-v1", seed=seed, learning_rate=1e-3, device="cpu", **residual)
    eval_env = make_vec_env("Pendulum-v1", 10)
    curve = [(0, evaluate_policy(model, eval_env, n_eval_episodes=10, seed=1000 + seed)[0])]
    start = time.perf_counter()
    while curve[-1][1] < args.threshold and model.num_timesteps < args.budget:
        model.learn(args.eval_every, reset_num_timesteps=False)
        curve.append((model.num_timesteps, evaluate_policy(model, eval_env, n_eval_episodes=10, seed=1000 + seed)[0]))
        print(kind, seed, *curve[-1], flush=True)
    reached = curve[-1][0] if curve[-1][1] >= args.threshold else None
    return {"kind": kind, "seed": seed, "reached_at": reached, "curve": curve,
            "seconds": time.perf_counter() - start}


def base_return(seeds: list[int]) -> list[float]:
    from ballast import evaluate_policy, make_vec_env
    from ballast.envs.controllers import pendulum_swing_up

    class Base:
        def predict(self, obs, deterministic=True):
            return pendulum_swing_up(obs), None

    return [evaluate_policy(Base(), make_vec_env("Pendulum-v1", 10), n_eval_episodes=10, seed=1000 + s)[0]
            for s in seeds]


def reusable_scratch(path, setting: dict, seeds: list[int]) -> dict[int, dict]:
    """Scratch runs of an earlier results file made with the same ``setting``, by seed."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    if data.get("setting") != setting:
        return {}
    found = {r["seed"]: r for r in data["results"] if r["kind"] == "scratch" and r["seed"] in seeds}
    return found if len(found) == len(seeds) else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget", type=int, default=20_000)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--threshold", type=float, default=-200.0)
    parser.add_argument("--residual-scale", type=float, default=0.5)
    parser.add_argument("--critic-warmup", type=int, default=1000)
    parser.add_argument("--reuse-scratch", action="store_true")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (one torch thread each)")
    args = parser.parse_args()
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    setting = {"budget": args.budget, "eval_every": args.eval_every, "threshold": args.threshold}
    reused = reusable_scratch(out / "residual_pendulum.json", setting, args.seeds) if args.reuse_scratch else {}
    jobs = [(kind, seed) for seed in args.seeds for kind in ("residual", "scratch")
            if not (kind == "scratch" and seed in reused)]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        done = dict(zip(jobs, pool.map(run_one, *zip(*jobs), [args] * len(jobs))))
    results = [done.get((kind, seed)) or reused[seed] for seed in args.seeds for kind in ("residual", "scratch")]
    bases = base_return(args.seeds)
    (out / "residual_pendulum.json").write_text(
        json.dumps({"results": results, "base": bases, "setting": setting}, indent=2))

    def steps(r: dict) -> str:
        return str(r["reached_at"]) if r["reached_at"] is not None else f"> {args.budget}"

    rows = ["| seed | base return | residual: return at step 0 | residual: lowest eval before reaching | "
            "residual: steps to ≥ -200 | scratch: steps to ≥ -200 | ratio |", "|---|---|---|---|---|---|---|"]
    ratios = []
    for seed, base in zip(args.seeds, bases):
        res = next(r for r in results if r["kind"] == "residual" and r["seed"] == seed)
        scr = next(r for r in results if r["kind"] == "scratch" and r["seed"] == seed)
        lowest = min(v for _, v in res["curve"])
        ratio = res["reached_at"] / scr["reached_at"] if res["reached_at"] and scr["reached_at"] else float("nan")
        ratios.append(ratio)
        rows.append(f"| {seed} | {base:.1f} | {res['curve'][0][1]:.1f} | {lowest:.1f} | {steps(res)} | "
                    f"{steps(scr)} | {ratio:.2f} |")
    body = "\n".join([
        "## Residual SAC over a mistuned controller (Pendulum-v1)",
        "",
        "Base: `ballast.envs.controllers.pendulum_swing_up` (energy swing-up, PD gains too weak to hold the "
        "pendulum up). SAC with `learning_rate=1e-3` (zoo), residual agent with "
        f"`residual_scale={args.residual_scale}`, "
        f"`critic_warmup_steps={args.critic_warmup}`, base action appended. Deterministic evaluation on 10 seeded "
        f"episodes every {args.eval_every} steps; a run stops when the mean reaches {args.threshold:.0f}.",
        "",
        *rows,
        "",
        f"Steps to -200, residual / scratch: mean ratio {np.nanmean(ratios):.2f} (target ≤ 0.5).",
        "",
        f"Command: `{command_line()}` (git {git_revision()})  ",
        f"Machine: {machine(1)}; {args.jobs} run(s) at a time, one torch thread each"
        + ("; the scratch runs are those of the previous run of this script (same seeds and settings)."
           if reused else "."),
    ])
    default = args.residual_scale == 0.5 and args.critic_warmup == 1000
    update_section("residual-pendulum" if default else
                   f"residual-pendulum-scale{args.residual_scale}-warmup{args.critic_warmup}", body)
    print(body)


if __name__ == "__main__":
    main()
