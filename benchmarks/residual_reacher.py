"""Residual SAC on MuJoCo's Reacher-v5 over a Jacobian-transpose PD controller, against SAC from scratch.

The base is :func:`ballast.envs.controllers.reacher_jacobian_pd` (about -6.5 to -8.5 per episode; doing
nothing scores about -12.6). Both agents use SAC's defaults with ``learning_starts=1000``; the
residual agent adds ``base_policy=`` that controller, ``residual_scale=0.5`` and a 1000-step
critic warm-up, as ``examples/residual_mujoco.py`` does. Every ``--eval-every`` env steps each
agent is evaluated deterministically on ``--eval-episodes`` seeded episodes. Writes the
``residual-reacher`` section of docs/benchmarks.md. Needs MuJoCo (``pip install 'ballast-rl[mujoco]'``).

    .venv/bin/python benchmarks/residual_reacher.py [--seeds 0 1 2] [--steps 10000] [--jobs 2]

``--render RESULTS_JSON`` rewrites the section from a results file without training.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from common import ROOT, command_line, git_revision, machine, update_section, write_json

ENV_ID = "Reacher-v5"
RESIDUAL = {"residual_scale": 0.5, "critic_warmup_steps": 1000}


def run_one(kind: str, seed: int, args: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(1)
    from ballast import SAC, evaluate_policy
    from ballast.envs import make_vector_env
    from ballast.envs.controllers import reacher_jacobian_pd

    residual = {"base_policy": reacher_jacobian_pd, **RESIDUAL} if kind == "residual" else {}
    model = SAC("MlpPolicy", ENV_ID, learning_starts=1000, seed=seed, device="cpu", **residual)
    eval_env = make_vector_env(ENV_ID, args.eval_episodes)

    def evaluate() -> float:
        return evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes, seed=1000 + seed)[0]

    curve = [(0, evaluate())]
    start = time.perf_counter()
    while model.num_timesteps < args.steps:
        model.learn(min(args.eval_every, args.steps - model.num_timesteps), reset_num_timesteps=False)
        curve.append((model.num_timesteps, evaluate()))
        print(kind, seed, *curve[-1], flush=True)
    return {"kind": kind, "seed": seed, "curve": curve, "seconds": time.perf_counter() - start}


def render(data: dict) -> str:
    """The docs section body for a results file written by :func:`main`."""
    seeds, results = data["seeds"], data["results"]
    runs = {(r["kind"], r["seed"]): r["curve"] for r in results}
    steps = [step for step, _ in runs[("residual", seeds[0])]]

    def column(kind: str, index: int) -> list[float]:
        return [runs[(kind, seed)][index][1] for seed in seeds]

    rows = ["| steps | residual: mean (per seed) | scratch: mean (per seed) |", "|---|---|---|"]
    for index, step in enumerate(steps):
        cells = []
        for kind in ("residual", "scratch"):
            values = column(kind, index)
            cells.append(f"{np.mean(values):.2f} ({', '.join(f'{v:.2f}' for v in values)})")
        rows.append(f"| {step} | {cells[0]} | {cells[1]} |")
    base = column("residual", 0)
    lowest = [min(v for _, v in runs[("residual", seed)]) for seed in seeds]
    return "\n".join([
        "## Residual SAC on Reacher-v5 over a Jacobian-transpose PD controller",
        "",
        "Base: `ballast.envs.controllers.reacher_jacobian_pd` (it ignores the control cost and overshoots). "
        "SAC with its defaults and `learning_starts=1000` from scratch, and the same SAC with `base_policy=` that "
        f"base, `residual_scale={RESIDUAL['residual_scale']}`, "
        f"`critic_warmup_steps={RESIDUAL['critic_warmup_steps']}`, base action appended. "
        f"Deterministic evaluation on {data['eval_episodes']} seeded episodes every {data['eval_every']} steps, "
        f"seeds {seeds}; at step 0 the residual agent is the base.",
        "",
        *rows,
        "",
        f"The residual agent's lowest evaluation per seed: {', '.join(f'{v:.2f}' for v in lowest)} "
        f"(its base: {', '.join(f'{v:.2f}' for v in base)}).",
        "",
        f"Command: `{data['command']}` (git {data['git']})  ",
        f"Machine: {data['machine']}; {data['jobs']} run(s) at a time, one torch thread each.",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--eval-every", type=int, default=1_000)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (one torch thread each)")
    parser.add_argument("--render", metavar="RESULTS_JSON", help="only rewrite the section from a results file")
    args = parser.parse_args()
    if args.render:
        body = render(json.loads(Path(args.render).read_text()))
    else:
        jobs = [(kind, seed) for seed in args.seeds for kind in ("residual", "scratch")]
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(run_one, *zip(*jobs), [args] * len(jobs)))
        data = {"results": results, "seeds": args.seeds, "steps": args.steps, "eval_every": args.eval_every,
                "eval_episodes": args.eval_episodes, "command": command_line(), "git": git_revision(),
                "machine": machine(1), "jobs": args.jobs}
        write_json(ROOT / "benchmarks" / "results" / "residual_reacher.json", data)
        body = render(data)
    update_section("residual-reacher", body)
    print(body)


if __name__ == "__main__":
    main()
