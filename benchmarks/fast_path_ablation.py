"""Does the fast gradient path pay for its code? Steps per second per algorithm, three ways.

For each algorithm on its usual small benchmark, ``learn`` is timed with:

- ``fast``: the fast path (``ballast.policies.fast_mlp``), the default;
- ``autograd``: ``model.use_fast_path = False``, the same losses through autograd;
- ``compile``: autograd with the loss methods wrapped in ``torch.compile`` (inductor).

Each run is a fresh subprocess (same seed, ``torch.set_num_threads(1)`` unless ``--threads``), a
warm-up ``learn`` first (compilation, replay warm-up), then the timed ``learn`` continuing it.
Modes alternate within each repetition. With ``--profile`` the fast runs also report where their
time goes: the env's ``step``, choosing actions (the policy's forward pass and exploration), the
buffer, and the updates. Writes the section ``fast-path-ablation`` of docs/benchmarks.md:

    .venv/bin/python benchmarks/fast_path_ablation.py [--repeats 3] [--algos ppo,sac] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np
from common import command_line, git_revision, machine, update_section, write_json

#: Algorithm -> (env id, constructor keywords, warm-up steps, timed steps).
CASES: dict[str, tuple[str, dict, int, int]] = {
    "ppo": ("CartPole-v1", {}, 2048, 8192),
    "a2c": ("CartPole-v1", {"n_envs": 8}, 2000, 20000),
    "sac": ("Pendulum-v1", {"learning_rate": 1e-3}, 600, 1000),
    "td3": ("Pendulum-v1", {"learning_rate": 1e-3}, 600, 1000),
    "dqn": ("CartPole-v1", {"learning_rate": 2.3e-3, "batch_size": 64, "buffer_size": 100_000,
                            "learning_starts": 1000, "gamma": 0.99, "target_update_interval": 10,
                            "train_freq": 256, "gradient_steps": 128, "exploration_fraction": 0.16,
                            "exploration_final_eps": 0.04, "policy_kwargs": {"net_arch": [256, 256]}},
            2000, 10000),
}
LOSS_METHODS = {"ppo": ["compute_losses"], "a2c": ["compute_losses"], "dqn": ["compute_losses"],
                "sac": ["compute_critic_losses", "compute_actor_losses"],
                "td3": ["compute_critic_losses", "compute_actor_losses"]}

RUN = r"""
import json, sys, time, torch
torch.set_num_threads({threads})
import ballast
from ballast.algos import off_policy, on_policy
algo, mode, profile = {algo!r}, {mode!r}, {profile!r}
env_id, kwargs, warmup, steps = {case!r}
model = getattr(ballast, algo.upper())("MlpPolicy", env_id, seed=0, device={device!r}, **kwargs)
if mode != "fast":
    model.use_fast_path = False
if mode == "compile":
    for name in {loss_methods!r}:
        setattr(model, name, torch.compile(getattr(model, name)))
spent = {{}}
def timed(owner, name, key):
    inner = getattr(owner, name)
    def wrapper(*args, **kw):
        start = time.perf_counter()
        try:
            return inner(*args, **kw)
        finally:
            spent[key] = spent.get(key, 0.0) + time.perf_counter() - start
    setattr(owner, name, wrapper)
model.learn(warmup)
assert model.fast_path.active == (mode == "fast"), model.fast_path
if profile:
    timed(model.env, "step", "env step")
    timed(model, "train", "updates")
    if algo in ("ppo", "a2c"):
        make_actor = on_policy.numpy_actor
        def timed_actor(*args):
            actor = make_actor(*args)
            holder = type("Holder", (), {{"act": staticmethod(actor)}})
            timed(holder, "act", "acting")
            return holder.act
        on_policy.numpy_actor = timed_actor
        timed(model.rollout_buffer, "add", "buffer")
        timed(model.rollout_buffer, "evaluate", "buffer")
        timed(model.rollout_buffer, "compute_returns_and_advantages", "buffer")
    else:
        timed(off_policy, "select_actions", "acting")
        timed(model.replay_buffer, "add_observation", "buffer")
        timed(model.replay_buffer, "add_transition", "buffer")
start = time.perf_counter()
model.learn(steps, reset_num_timesteps=False)
seconds = time.perf_counter() - start
print(json.dumps({{"algo": algo, "mode": mode, "seconds": seconds, "steps": steps, "spent": spent}}))
"""


def run(algo: str, mode: str, threads: int, device: str, profile: bool) -> dict:
    code = RUN.format(algo=algo, mode=mode, case=CASES[algo], threads=threads, device=device, profile=profile,
                      loss_methods=LOSS_METHODS[algo])
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if result.returncode != 0:
        return {"algo": algo, "mode": mode, "error": result.stderr.strip().splitlines()[-1]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--algos", default=",".join(CASES))
    parser.add_argument("--modes", default="fast,autograd,compile")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--profile", action="store_true", help="also measure where the fast runs spend their time")
    parser.add_argument("--out", default="runs/fast_path_ablation.json")
    args = parser.parse_args()
    algos, modes = args.algos.split(","), args.modes.split(",")
    results: list[dict] = []
    for repeat in range(args.repeats):
        for algo in algos:
            for mode in modes:
                results.append(run(algo, mode, args.threads, args.device, args.profile and mode == "fast"))
                print(repeat, results[-1], flush=True)
    write_json(__import__("pathlib").Path(args.out), results)
    update_section("fast-path-ablation", render(results, algos, modes, args))


def render(results: list[dict], algos: list[str], modes: list[str], args: argparse.Namespace) -> str:
    lines = ["## The fast path: does it pay? (ablation)", "",
             f"Steps per second of `learn` per algorithm, {args.repeats} runs each, modes alternating, "
             f"device {args.device}: **fast** (the fast path, the default), **autograd** "
             "(`model.use_fast_path = False`), **compile** (autograd with the loss methods wrapped in "
             "`torch.compile`). Each run warms up first (compilation, the replay warm-up), then is timed.", "",
             "| algorithm | env | " + " | ".join(f"{m} steps/s (median)" for m in modes) + " | fast / autograd |",
             "|---|---|" + "---|" * len(modes) + "---|"]
    for algo in algos:
        medians = {}
        cells = []
        for mode in modes:
            runs = [r for r in results if r["algo"] == algo and r["mode"] == mode]
            ok = [r["steps"] / r["seconds"] for r in runs if "seconds" in r]
            if ok:
                medians[mode] = float(np.median(ok))
                cells.append(f"{medians[mode]:,.0f} ({', '.join(f'{x:,.0f}' for x in ok)})")
            else:
                cells.append("failed: " + (runs[0].get("error", "") if runs else "not run")[:80])
        ratio = (f"**{medians['fast'] / medians['autograd']:.2f}x**" if {"fast", "autograd"} <= medians.keys()
                 else "-")
        lines.append(f"| {algo.upper()} | {CASES[algo][0]} | " + " | ".join(cells) + f" | {ratio} |")
    profiled = [r for r in results if r.get("spent")]
    if profiled:
        lines += ["", "Where a fast run's time goes (share of the timed `learn`, median over runs):", "",
                  "| algorithm | env step | acting | buffer | updates | the rest (loop, callbacks, logging) |",
                  "|---|---|---|---|---|---|"]
        for algo in algos:
            runs = [r for r in profiled if r["algo"] == algo]
            if not runs:
                continue
            shares = {k: float(np.median([r["spent"].get(k, 0.0) / r["seconds"] for r in runs]))
                      for k in ("env step", "acting", "buffer", "updates")}
            rest = 1.0 - sum(shares.values())
            lines.append(f"| {algo.upper()} | " + " | ".join(f"{100 * v:.0f}%" for v in shares.values())
                         + f" | {100 * rest:.0f}% |")
    lines += ["", f"Command: `{command_line()}` (revision {git_revision()}).  ",
              f"Machine: {machine(args.threads)}."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
