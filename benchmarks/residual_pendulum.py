"""Residual SAC on Pendulum-v1 over mistuned hand-written controllers, against SAC from scratch.

The bases are :func:`ballast.envs.controllers.pendulum_swing_up` with one flaw each (``--base``,
see :data:`BASES`): balance gains too weak to hold the pendulum up (``weak-balance``, the
function's defaults), too little damping in the balance (``underdamped``), or too weak an energy
pump (``weak-pump``); each scores about -490 to -550 per episode. Both agents use the zoo's SAC
hyperparameters for Pendulum-v1 (``learning_rate=1e-3``, the rest SB3's defaults); the residual
agent adds ``base_policy=``, ``residual_scale`` and ``critic_warmup_steps``. Every
``--eval-every`` env steps each agent is evaluated deterministically on ``--eval-episodes``
seeded episodes (50: fewer make the mean depend on which start states were drawn, by some 30
points on ten); a run stops at the first evaluation whose mean reaches ``--threshold`` (or at
``--budget`` steps). Reported per seed: the steps each needed, the residual agent's return before
training (the base's) and its lowest evaluation. Writes one section of docs/benchmarks.md per base
and residual setting.

    .venv/bin/python benchmarks/residual_pendulum.py [--base weak-balance] [--seeds 0 1 2 3 4 5] [--jobs 2]

``--render RESULTS_JSON`` rewrites the section from a results file without training.
``--reuse-scratch`` takes the SAC-from-scratch runs from an earlier results file
(benchmarks/results/residual_pendulum*.json) made with the same evaluation interval, episodes and
threshold whose runs for these seeds reached the threshold within this budget: runs are
deterministic and do not depend on the base or the residual settings.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from common import ROOT, command_line, git_revision, machine, update_section, write_json

#: The base controllers: ``pendulum_swing_up`` keyword arguments and what is wrong with them.
BASES: dict[str, tuple[dict[str, float], str]] = {
    "weak-balance": ({}, "energy swing-up, PD gains too weak to hold the pendulum up (`kp=4, kd=0.8`); "
                         "the swing-up is sound"),
    "underdamped": ({"kp": 10.0, "kd": 0.3}, "energy swing-up, PD balance with too little damping "
                                             "(`kp=10, kd=0.3`): it overshoots and often loses the top"),
    "weak-pump": ({"energy_gain": 0.15, "kp": 10.0, "kd": 2.0},
                  "energy pump too weak (`energy_gain=0.15`), sound balance (`kp=10, kd=2`): it takes "
                  "several swings to get up"),
}


DEFAULT_SCALE, DEFAULT_WARMUP = 0.35, 1000


def base_controller(name: str):
    """The base named ``name`` in :data:`BASES`, as a callable ``obs_batch -> action_batch``."""
    from functools import partial

    from ballast.envs.controllers import pendulum_swing_up

    return partial(pendulum_swing_up, **BASES[name][0])


def run_one(kind: str, seed: int, args: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(1)
    from ballast import SAC, evaluate_policy
    from ballast.envs import make_vector_env

    residual = {"base_policy": base_controller(args.base), "residual_scale": args.residual_scale,
                "critic_warmup_steps": args.critic_warmup} if kind == "residual" else {}
    model = SAC("MlpPolicy", "Pendulum-v1", seed=seed, learning_rate=1e-3, device="cpu", **residual)
    episodes = args.eval_episodes
    eval_env = make_vector_env("Pendulum-v1", episodes)
    curve = [(0, evaluate_policy(model, eval_env, n_eval_episodes=episodes, seed=1000 + seed)[0])]
    start = time.perf_counter()
    while curve[-1][1] < args.threshold and model.num_timesteps < args.budget:
        model.learn(args.eval_every, reset_num_timesteps=False)
        curve.append((model.num_timesteps,
                      evaluate_policy(model, eval_env, n_eval_episodes=episodes, seed=1000 + seed)[0]))
        print(kind, seed, *curve[-1], flush=True)
    reached = curve[-1][0] if curve[-1][1] >= args.threshold else None
    return {"kind": kind, "seed": seed, "reached_at": reached, "curve": curve,
            "seconds": time.perf_counter() - start}


def base_return(name: str, seeds: list[int], episodes: int) -> list[float]:
    from ballast import evaluate_policy
    from ballast.envs import make_vector_env

    controller = base_controller(name)

    class Base:
        def predict(self, obs, deterministic=True):
            return controller(obs), None

    return [evaluate_policy(Base(), make_vector_env("Pendulum-v1", episodes), n_eval_episodes=episodes,
                            seed=1000 + s)[0] for s in seeds]


def reusable_scratch(folder: Path, setting: dict, seeds: list[int]) -> dict[int, dict]:
    """Scratch runs of an earlier results file in ``folder`` that a run with ``setting`` would repeat, by seed.

    Runs are deterministic, so a run made with the same evaluation settings is reused when it
    reached the threshold within this ``setting``'s budget, whatever budget it had.
    """
    same = {key: value for key, value in setting.items() if key != "budget"}
    for path in sorted(folder.glob("residual_pendulum*.json")):
        data = json.loads(path.read_text())
        if {key: value for key, value in data.get("setting", {}).items() if key != "budget"} != same:
            continue
        found = {r["seed"]: r for r in data["results"] if r["kind"] == "scratch" and r["seed"] in seeds
                 and r["reached_at"] is not None and r["reached_at"] <= setting["budget"]}
        if len(found) == len(seeds):
            return found
    return {}


def first_at(curve: list, threshold: float) -> int | None:
    """The first evaluated step whose mean return reaches ``threshold``, or None."""
    return next((step for step, value in curve if value >= threshold), None)


def render(data: dict) -> tuple[str, str]:
    """The docs section (name, body) for a results file written by :func:`main`."""
    setting, residual, results = data["setting"], data["residual"], data["results"]
    base_name = data["base_name"]
    budget, threshold = setting["budget"], setting["threshold"]
    near = threshold - 50.0

    def text(step: int | None) -> str:
        return str(step) if step is not None else f"> {budget}"

    rows = [f"| seed | base return | residual: lowest eval | residual: steps to ≥ {near:.0f} / ≥ {threshold:.0f} | "
            f"scratch: steps to ≥ {near:.0f} / ≥ {threshold:.0f} | residual: best eval |",
            "|---|---|---|---|---|---|"]
    ratios: dict[float, list[float]] = {near: [], threshold: []}
    totals: dict[float, list[int]] = {near: [0, 0], threshold: [0, 0]}
    first_evals = {r["seed"]: r["curve"][0][1] for r in results if r["kind"] == "residual"}
    starts_as_base = all(first_evals[seed] == base for seed, base in zip(data["seeds"], data["base"]))
    for seed, base in zip(data["seeds"], data["base"]):
        res = next(r for r in results if r["kind"] == "residual" and r["seed"] == seed)
        scr = next(r for r in results if r["kind"] == "scratch" and r["seed"] == seed)
        for level in ratios:
            a, b = first_at(res["curve"], level), first_at(scr["curve"], level)
            if a is not None and b is not None:
                ratios[level].append(a / b)
                totals[level][0] += a
                totals[level][1] += b
        rows.append(f"| {seed} | {base:.1f} | {min(v for _, v in res['curve']):.1f} | "
                    f"{text(first_at(res['curve'], near))} / {text(first_at(res['curve'], threshold))} | "
                    f"{text(first_at(scr['curve'], near))} / {text(first_at(scr['curve'], threshold))} | "
                    f"{max(v for _, v in res['curve']):.1f} |")
    summary = "; ".join(
        f"to ≥ {level:.0f}: {np.mean(values):.2f} over {len(values)} of {len(data['seeds'])} seeds "
        f"(total steps {totals[level][0]} / {totals[level][1]} = {totals[level][0] / totals[level][1]:.2f})"
        if values else f"to ≥ {level:.0f}: no seed where both reached it" for level, values in ratios.items())
    body = "\n".join([
        f"## Residual SAC over a mistuned controller (Pendulum-v1): {base_name}, residual_scale={residual['scale']}",
        "",
        f"Base: `ballast.envs.controllers.pendulum_swing_up` ({BASES[base_name][1]}). "
        "SAC with `learning_rate=1e-3` (zoo) from scratch, and the same SAC with "
        f"`base_policy=` that base, `residual_scale={residual['scale']}`, `critic_warmup_steps={residual['warmup']}`, "
        f"base action appended. Deterministic evaluation on {setting.get('eval_episodes', 10)} seeded episodes "
        f"every {setting['eval_every']} steps "
        + ("(the residual agent's evaluation at step 0 equals the base's return in every seed)" if starts_as_base
           else "(the residual agent's evaluation at step 0 DIFFERS from the base's return in some seed)")
        + f"; a run stops when "
        f"the mean reaches {threshold:.0f}, or at {budget} steps.",
        "",
        *rows,
        "",
        f"Mean ratio of steps, residual / scratch (target ≤ 0.5): {summary}.",
        "",
        f"Command: `{data['command']}` (git {data['git']})  ",
        f"Machine: {data['machine']}; {data['jobs']} run(s) at a time, one torch thread each"
        + ("; the scratch runs are reused from an earlier run of this script (same seeds and evaluation; "
                "runs are deterministic)."
           if data["reused_scratch"] else "."),
    ])
    return section_name(base_name, residual["scale"], residual["warmup"]), body


def section_name(base: str, scale: float, warmup: int) -> str:
    """The docs section (and results file stem) of a base and residual setting: the base alone for the defaults."""
    default = scale == DEFAULT_SCALE and warmup == DEFAULT_WARMUP
    return f"residual-pendulum-{base}" + ("" if default else f"-scale{scale}-warmup{warmup}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", choices=sorted(BASES), default="weak-balance")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    parser.add_argument("--budget", type=int, default=20_000)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--eval-episodes", type=int, default=50)
    parser.add_argument("--threshold", type=float, default=-200.0)
    parser.add_argument("--residual-scale", type=float, default=DEFAULT_SCALE)
    parser.add_argument("--critic-warmup", type=int, default=DEFAULT_WARMUP)
    parser.add_argument("--reuse-scratch", action="store_true")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (one torch thread each)")
    parser.add_argument("--render", metavar="RESULTS_JSON", help="only rewrite the section from a results file")
    args = parser.parse_args()
    if args.render:
        name, body = render(json.loads(Path(args.render).read_text()))
        update_section(name, body)
        print(body)
        return
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    setting = {"budget": args.budget, "eval_every": args.eval_every, "threshold": args.threshold,
               "eval_episodes": args.eval_episodes}
    reused = reusable_scratch(out, setting, args.seeds) if args.reuse_scratch else {}
    jobs = [(kind, seed) for seed in args.seeds for kind in ("residual", "scratch")
            if not (kind == "scratch" and seed in reused)]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        done = dict(zip(jobs, pool.map(run_one, *zip(*jobs), [args] * len(jobs))))
    results = [done.get((kind, seed)) or reused[seed] for seed in args.seeds for kind in ("residual", "scratch")]
    data = {"results": results, "base": base_return(args.base, args.seeds, args.eval_episodes),
            "base_name": args.base, "seeds": args.seeds,
            "setting": setting,
            "residual": {"scale": args.residual_scale, "warmup": args.critic_warmup},
            "command": command_line(), "git": git_revision(), "machine": machine(1), "jobs": args.jobs,
            "reused_scratch": bool(reused)}
    stem = section_name(args.base, args.residual_scale, args.critic_warmup).replace("-", "_")
    write_json(out / f"{stem}.json", data)
    name, body = render(data)
    update_section(name, body)
    print(body)


if __name__ == "__main__":
    main()
