"""Hindsight experience replay, success rate over training: Ballast vs SB3's HerReplayBuffer, same seeds.

Tasks (``--task``):

- ``bits15``: DQN + HER on 15-bit flipping, the hyperparameters of ``her_vs_sb3.py`` (the HER paper's);
  50 greedy episodes every 2,000 steps.
- ``fetch-reach``: SAC + HER on Gymnasium-Robotics' ``FetchReach-v4`` with the rl-baselines3-zoo's
  ``her.yml`` settings (``normalize: True``: observations and rewards, SB3 through ``VecNormalize``
  with ``gamma=0.95`` as the zoo builds it); 20 deterministic episodes every 1,000 steps.
- ``fetch-push``: SAC + HER on ``FetchPush-v4`` with the same settings, from scratch in both libraries
  and, in Ballast, as a residual over the scripted pusher :func:`ballast.envs.controllers.fetch_push`
  (``residual_scale=0.5``, 1,000 critic warm-up steps); 20 deterministic episodes every 5,000 steps.
  (The zoo's FetchPush entry is TQC with three 512-unit layers and batches of 2,048: days on this CPU.)

Each run trains in chunks of the evaluation interval (``learn(..., reset_num_timesteps=False)``, in
both libraries alike) in its own process with one torch thread; evaluation episodes are seeded
``10_000 + episode`` and the same for every run. The result (curves, steps/s) goes to
``benchmarks/results/her_<task>.json``; the section ``her-<task>`` of docs/benchmarks.md says, per
seed, the first evaluation at or above ``--target`` success (0.9) and the final success rate;
``fetch-push`` also draws ``docs/images/her-fetch-push.png``.

    .venv-bench/bin/python benchmarks/her_curves.py --task fetch-reach [--seeds 0 1 2] [--steps 10000] [--jobs 2]
    .venv-bench/bin/python benchmarks/her_curves.py --render benchmarks/results/her_fetch-reach.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from common import ROOT, command_line, git_revision, machine, update_section, write_json

#: The zoo's her.yml FetchReach entry (SAC), less what each library spells its own way (normalize).
FETCH_SAC = {"buffer_size": 1_000_000, "ent_coef": "auto", "batch_size": 256, "gamma": 0.95,
             "learning_rate": 1e-3, "learning_starts": 1000}
BITS_DQN = {"learning_rate": 1e-3, "batch_size": 256, "buffer_size": 100_000, "learning_starts": 1_000,
            "gamma": 0.95, "exploration_fraction": 0.3, "exploration_final_eps": 0.05, "target_update_interval": 500,
            "train_freq": 1, "gradient_steps": 1, "policy_kwargs": {"net_arch": [256, 256]}}
HER = {"n_sampled_goal": 4, "goal_selection_strategy": "future"}
TASKS: dict[str, dict[str, Any]] = {
    "bits15": {"algo": "DQN", "env": "BitFlipping", "n_bits": 15, "kwargs": BITS_DQN, "normalize": False,
               "steps": 30_000, "eval_every": 2_000, "eval_episodes": 50, "kinds": ["ballast", "sb3"]},
    "fetch-reach": {"algo": "SAC", "env": "FetchReach-v4", "kwargs": FETCH_SAC, "normalize": True,
                    "steps": 10_000, "eval_every": 1_000, "eval_episodes": 20, "kinds": ["ballast", "sb3"]},
    "fetch-push": {"algo": "SAC", "env": "FetchPush-v4", "kwargs": FETCH_SAC, "normalize": True,
                   "steps": 50_000, "eval_every": 5_000, "eval_episodes": 20,
                   "kinds": ["ballast", "ballast-residual", "sb3"]},
}
RESIDUAL = {"residual_scale": 0.5, "critic_warmup_steps": 1000}
NAMES = {"ballast": "Ballast", "ballast-residual": "Ballast, residual over the scripted pusher", "sb3": "SB3"}


def _make_env(task: dict[str, Any], lib: str) -> Any:
    import gymnasium as gym

    if task["env"] == "BitFlipping":
        if lib == "sb3":
            from stable_baselines3.common.envs import BitFlippingEnv
        else:
            from ballast.envs.testing import BitFlippingEnv
        return BitFlippingEnv(n_bits=task["n_bits"])
    import gymnasium_robotics

    gym.register_envs(gymnasium_robotics)
    return gym.make(task["env"])


def run_one(task_name: str, kind: str, seed: int, steps: int) -> dict[str, Any]:
    """One seeded run of ``kind`` on ``task_name``: its success-rate curve and timing."""
    import torch

    torch.set_num_threads(1)
    task = TASKS[task_name]
    lib = "sb3" if kind == "sb3" else "ballast"
    kwargs = dict(task["kwargs"])
    if lib == "sb3":
        import stable_baselines3
        from stable_baselines3 import HerReplayBuffer
        from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

        algorithm = getattr(stable_baselines3, task["algo"])
        env = DummyVecEnv([lambda: _make_env(task, lib)])
        env.seed(seed)
        if task["normalize"]:
            env = VecNormalize(env, gamma=kwargs["gamma"])
    else:
        import ballast
        from ballast import HerReplayBuffer
        from ballast.envs.controllers import fetch_push

        algorithm = getattr(ballast, task["algo"])
        env = _make_env(task, lib)
        if task["normalize"]:
            kwargs.update(normalize_observations=True, normalize_rewards=True)
        if kind == "ballast-residual":
            kwargs.update(base_policy=fetch_push, **RESIDUAL)
    model = algorithm("MultiInputPolicy", env, replay_buffer_class=HerReplayBuffer, replay_buffer_kwargs=HER,
                      seed=seed, device="cpu", **kwargs)
    test_env = _make_env(task, lib)

    def success_rate() -> float:
        successes = []
        for episode in range(task["eval_episodes"]):
            obs, _ = test_env.reset(seed=10_000 + episode)
            done = False
            while not done:
                seen = env.normalize_obs(obs) if lib == "sb3" and task["normalize"] else obs
                action, _ = model.predict(seen, deterministic=True)
                obs, _, terminated, truncated, info = test_env.step(action)
                done = terminated or truncated
            successes.append(float(info["is_success"]))
        return float(np.mean(successes))

    curve = [(0, success_rate())]
    seconds = 0.0
    while model.num_timesteps < steps:
        start = time.perf_counter()
        model.learn(min(task["eval_every"], steps - model.num_timesteps), reset_num_timesteps=False)
        seconds += time.perf_counter() - start
        curve.append((int(model.num_timesteps), success_rate()))
        print(task_name, kind, seed, *curve[-1], flush=True)
    return {"kind": kind, "seed": seed, "curve": curve, "seconds": seconds, "steps": int(model.num_timesteps)}


def first_at(curve: list[list[float]], target: float) -> int | None:
    """The first evaluated step whose success rate is at least ``target`` (None: never)."""
    return next((int(step) for step, rate in curve if rate >= target), None)


def render(data: dict[str, Any]) -> str:
    """The docs section for a results file written by :func:`main`."""
    task_name, target, results = data["task"], data["target"], data["results"]
    task = TASKS[task_name]
    kinds = [k for k in task["kinds"] if any(r["kind"] == k for r in results)]
    steps = [int(s) for s, _ in results[0]["curve"]]
    rows = ["| run | seed | " + " | ".join(f"{s // 1000}k" for s in steps) + f" | first ≥ {target} | steps/s |",
            "|---|---|" + "---|" * (len(steps) + 2)]
    summary = []
    for kind in kinds:
        runs = sorted((r for r in results if r["kind"] == kind), key=lambda r: r["seed"])
        for r in runs:
            reached = first_at(r["curve"], target)
            rows.append(f"| {NAMES[kind]} | {r['seed']} | " + " | ".join(f"{rate:.2f}" for _, rate in r["curve"])
                        + f" | {'never' if reached is None else f'{reached:,}'} | {r['steps'] / r['seconds']:.0f} |")
        reached = [first_at(r["curve"], target) for r in runs]
        finals = [r["curve"][-1][1] for r in runs]
        summary.append(f"- {NAMES[kind]}: final success {np.mean(finals):.2f} ± {np.std(finals):.2f}; reached "
                       f"{target} on {sum(x is not None for x in reached)} of {len(runs)} seeds"
                       + (f", at {', '.join(f'{x:,}' for x in reached if x is not None)} steps" if any(reached) else "")
                       + f"; {np.mean([r['steps'] / r['seconds'] for r in runs]):.0f} steps/s")
    title = {"bits15": "DQN + HER on 15-bit flipping", "fetch-reach": "SAC + HER on FetchReach-v4 (zoo settings)",
             "fetch-push": "SAC + HER on FetchPush-v4, with and without a scripted base"}[task_name]
    body = [f"## HER: {title}, success rate over training, vs SB3", "",
            f"Success rate of the {'greedy' if task['algo'] == 'DQN' else 'deterministic'} policy over "
            f"{task['eval_episodes']} seeded episodes every {task['eval_every']:,} steps (column = steps trained). "
            f"{data['versions']}. The steps/s column is a record, not a speed comparison: the runs shared the two "
            "CPUs with other jobs.", "", *rows, "", *summary, ""]
    if task_name == "fetch-push":
        body += ["![FetchPush success rate](images/her-fetch-push.png)", ""]
    body += [f"Command: `{data['command']}` (revision {data['revision']}).  ", f"Machine: {data['machine']}."]
    return "\n".join(body)


def plot(data: dict[str, Any], path: Path) -> None:
    """Mean success-rate curve per kind, with each seed as a thin line; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    for index, kind in enumerate(TASKS[data["task"]]["kinds"]):
        runs = [np.asarray(r["curve"], dtype=float) for r in data["results"] if r["kind"] == kind]
        if not runs:
            continue
        color = f"C{index}"
        for run in runs:
            axes.plot(run[:, 0], run[:, 1], color=color, alpha=0.3, linewidth=0.8)
        axes.plot(runs[0][:, 0], np.mean([run[:, 1] for run in runs], axis=0), color=color, linewidth=2,
                  label=f"{NAMES[kind]} ({len(runs)} seeds)")
    axes.set_xlabel("env steps")
    axes.set_ylabel("success rate")
    axes.set_ylim(-0.02, 1.02)
    axes.set_title(f"SAC + HER on {TASKS[data['task']]['env']}")
    axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".png")
    os.close(fd)
    figure.savefig(tmp, dpi=100)
    os.replace(tmp, path)


def publish(data: dict[str, Any]) -> None:
    if data["task"] == "fetch-push":
        plot(data, ROOT / "docs" / "images" / "her-fetch-push.png")
    body = render(data)
    update_section(f"her-{data['task']}", body)
    print(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(TASKS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, help="default: the task's")
    parser.add_argument("--target", type=float, default=0.9)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--render", type=Path, help="rewrite the docs section from a results file, no training")
    args = parser.parse_args()
    if args.render:
        publish(json.loads(args.render.read_text()))
        return
    if args.task is None:
        parser.error("--task or --render is needed")
    import sb3_contrib  # noqa: F401  (fails early without the benchmark venv)
    import stable_baselines3

    import ballast

    steps = args.steps or TASKS[args.task]["steps"]
    jobs = [(args.task, kind, seed, steps) for seed in args.seeds for kind in TASKS[args.task]["kinds"]]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(args.jobs, mp_context=context, max_tasks_per_child=1) as pool:
        results = list(pool.map(run_one, *zip(*jobs)))
    data = {"task": args.task, "target": args.target, "results": results, "command": command_line(),
            "revision": git_revision(), "machine": machine(threads=1),
            "versions": f"Ballast {ballast.__version__}, SB3 {stable_baselines3.__version__}"}
    write_json(ROOT / "benchmarks" / "results" / f"her_{args.task}.json", data)
    publish(data)


if __name__ == "__main__":
    main()
