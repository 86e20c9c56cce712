"""Shared helpers for the benchmark scripts: machine description and docs/benchmarks.md sections.

Each script owns one section of docs/benchmarks.md, delimited by ``<!-- begin:NAME -->`` and
``<!-- end:NAME -->``, and rewrites only that section, so scripts can be re-run independently.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS_MD = ROOT / "docs" / "benchmarks.md"
HEADER = "# Benchmarks\n\nEvery figure below names the command that produced it and the machine it ran on.\n"


def machine(threads: int | None = None) -> str:
    """One line describing the machine, Python and PyTorch versions, and the torch threads used."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = f"{names[0]} x {len(names)}" if names else cpu
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, "
            f"PyTorch {torch.__version__}, torch threads per run {threads or torch.get_num_threads()}")


def git_revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def command_line() -> str:
    """The command as run from the repository root."""
    script = Path(sys.argv[0]).resolve()
    with contextlib.suppress(ValueError):
        script = script.relative_to(ROOT)
    python = Path(sys.executable)
    try:
        python = python.relative_to(ROOT)
    except ValueError:
        python = Path(python.name)
    return " ".join([str(python), str(script), *sys.argv[1:]])


def update_section(name: str, body: str) -> None:
    """Replace (or append) the section ``name`` of docs/benchmarks.md with ``body``, atomically."""
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else HEADER
    block = f"<!-- begin:{name} -->\n{body.rstrip()}\n<!-- end:{name} -->"
    pattern = re.compile(rf"<!-- begin:{re.escape(name)} -->.*?<!-- end:{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    fd, tmp = tempfile.mkstemp(dir=BENCHMARKS_MD.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, BENCHMARKS_MD)


def sb3_rollout_snapshot(before: dict) -> Any:
    """An SB3 callback that records into ``before``, at the end of each rollout (before ``train()``),
    the policy's weights, the rollout buffer's fields, and the last step's values and dones (SB3
    benchmark environment only)."""
    import numpy as np
    from stable_baselines3.common.callbacks import BaseCallback

    class Snapshot(BaseCallback):
        def _on_step(self) -> bool:
            return True

        def _on_rollout_end(self) -> None:
            buf = self.model.rollout_buffer
            before["weights"] = {k: v.detach().clone() for k, v in self.model.policy.state_dict().items()}
            before["rollout"] = {name: np.array(getattr(buf, name)) for name in
                                 ("observations", "actions", "rewards", "episode_starts", "values", "log_probs",
                                  "advantages", "returns")}
            before["last_values"] = self.locals["values"].detach().numpy().reshape(-1)
            before["last_dones"] = np.asarray(self.locals["dones"], dtype=bool)

    return Snapshot()


def alternating(run: Callable[[str, int], dict], seeds: list[int]) -> list[dict]:
    """``run(lib, seed)`` for each seed, ``"ballast"`` then ``"sb3"`` on the same seed, one after the
    other (so that a slower or busier stretch of the machine falls on both); each result printed as it comes."""
    results = []
    for seed in seeds:
        for lib in ("ballast", "sb3"):
            results.append(run(lib, seed))
            print(results[-1], flush=True)
    return results


def mean_std(values: list[float]) -> str:
    import numpy as np

    return f"{np.mean(values):.1f} ± {np.std(values):.1f}"


def write_json(path: Path, data: object) -> None:
    """Write ``data`` as JSON to ``path`` atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


#: One seeded run of rl-zoo's protocol in a fresh process: train with the library's ``EvalCallback``
#: (every 5,000 steps, 10 episodes, the best model kept), then evaluate the final and the best model on
#: 20 fresh episodes (eval seed 2000 + seed). ``{sb3_import}`` and ``{ballast_import}`` import the
#: algorithm as ``Algorithm``; ``{kwargs}`` is its hyperparameters as Python source.
BEST_MODEL_RUN = r"""
import json, tempfile, time, torch
torch.set_num_threads(1)
import gymnasium as gym
kwargs = {kwargs}
seed, lib = {seed}, "{lib}"
folder = tempfile.mkdtemp()
if lib == "sb3":
    {sb3_import}
    from stable_baselines3.common.callbacks import EvalCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    eval_env = make_vec_env("CartPole-v1", n_envs=1, seed=1000 + seed)
    callback = EvalCallback(eval_env, n_eval_episodes=10, eval_freq=5000, best_model_save_path=folder,
                            log_path=folder, verbose=0)
else:
    {ballast_import}
    from ballast.callbacks import EvalCallback
    from ballast.evaluation import evaluate_policy
    callback = EvalCallback("CartPole-v1", n_eval_episodes=10, eval_freq=5000, best_model_save_path=folder,
                            seed=1000 + seed, verbose=0)
model = Algorithm("MlpPolicy", "CartPole-v1", seed=seed, device="cpu", **kwargs)
start = time.perf_counter()
model.learn({steps}, callback=callback)
seconds = time.perf_counter() - start
if lib == "sb3":
    curve = [float(sum(r) / len(r)) for r in callback.evaluations_results]
else:
    curve = [mean for _, mean, _ in callback.evaluations]

def score(m):  # both libraries' models on the same seeded episodes (Ballast's evaluate_policy takes either)
    from ballast.evaluation import evaluate_policy as same_episodes
    return float(same_episodes(m, "CartPole-v1", n_eval_episodes=20, deterministic=True, seed=2000 + seed)[0])

best = Algorithm.load(folder + "/best_model.zip", device="cpu")
print(json.dumps(dict(lib=lib, seed=seed, seconds=seconds, steps=model.num_timesteps, curve=curve,
                      final=score(model), best=score(best))))
"""


def run_with_best_model(lib: str, seed: int, steps: int, *, sb3_import: str, ballast_import: str,
                        kwargs: str) -> dict:
    """:data:`BEST_MODEL_RUN` for ``lib`` ("ballast" or "sb3") in a fresh Python process; its result."""
    code = BEST_MODEL_RUN.format(lib=lib, seed=seed, steps=steps, sb3_import=sb3_import,
                                 ballast_import=ballast_import, kwargs=kwargs)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{lib} seed {seed} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def best_model_rows(results: list[dict], names: dict[str, str], speed: bool = False) -> tuple[list[str], list[str]]:
    """The table rows (one per run of :func:`run_with_best_model`) and a summary line per library.

    ``names`` maps ``lib`` to the name shown; ``speed`` adds a steps-per-second column."""
    head = "| | seed |" + (" steps/s |" if speed else "") + " eval every 5k steps (10 episodes) | final model | " \
        "best model kept |"
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    summary = []
    for lib, name in names.items():
        runs = [r for r in results if r["lib"] == lib]
        for r in runs:
            curve = ", ".join(f"{v:.0f}" for v in r["curve"])
            rate = f" {r['steps'] / r['seconds']:.0f} |" if speed else ""
            rows.append(f"| {name} | {r['seed']} |{rate} {curve} | {r['final']:.1f} | {r['best']:.1f} |")
        summary.append(f"{name}: final model {mean_std([r['final'] for r in runs])}, "
                       f"best model {mean_std([r['best'] for r in runs])}")
    return rows, summary


def run_in_process(template: str, lib: str, seed: int, steps: int) -> dict:
    """Run ``template`` (Python code with ``{lib}``, ``{seed}`` and ``{steps}`` fields, printing one JSON
    line last) in a fresh interpreter; its JSON result."""
    done = subprocess.run([sys.executable, "-c", template.format(lib=lib, seed=seed, steps=steps)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{lib} seed {seed} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def seed_rows(ours: list[dict], theirs: list[dict], peer: str) -> list[str]:
    """A Markdown table of each seed's final return and steps per second, Ballast's beside ``peer``'s."""
    rows = [f"| seed | Ballast | {peer} | Ballast steps/s | {peer} steps/s |", "|---|---|---|---|---|"]
    rows += [f"| {o['seed']} | {o['final']:.1f} | {t['final']:.1f} | {o['steps'] / o['seconds']:.0f} | "
             f"{t['steps'] / t['seconds']:.0f} |" for o, t in zip(ours, theirs)]
    return rows


def compare_with_peer(template: str, default_steps: int, description: str) -> tuple[Any, list[dict], list[dict],
                                                                                    list[float]]:
    """Parse ``--seeds`` and ``--steps``, run ``template`` for Ballast and the peer on each seed
    (:func:`alternating`, :func:`run_in_process`): ``(args, Ballast's results, the peer's, the peer's
    seconds over Ballast's per seed)``."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=default_steps, help=f"the zoo's budget is {default_steps:,}")
    args = parser.parse_args()
    results = alternating(lambda lib, seed: run_in_process(template, lib, seed, args.steps), args.seeds)
    ours, theirs = results[0::2], results[1::2]
    return args, ours, theirs, [t["seconds"] / o["seconds"] for o, t in zip(ours, theirs)]
#: One seeded run of an sb3-contrib algorithm on Pendulum-v1 in a fresh process: train for ``{steps}``
#: steps with one torch thread, then evaluate the final model deterministically on 10 episodes
#: (eval seed 2000 + seed). ``{algo}`` is the class name (the same in both libraries), ``{kwargs}``
#: its hyperparameters as Python source.
PENDULUM_RUN = r"""
import json, time, torch
torch.set_num_threads(1)
seed, lib = {seed}, "{lib}"
kwargs = {kwargs}
from ballast import evaluate_policy
if lib == "sb3":
    from sb3_contrib import {algo} as Algorithm
else:
    from ballast import {algo} as Algorithm
model = Algorithm("MlpPolicy", "Pendulum-v1", seed=seed, device="cpu", **kwargs)
start = time.perf_counter()
model.learn({steps})
seconds = time.perf_counter() - start
# Both libraries' models play the same seeded episodes (Ballast's evaluate_policy takes any model with
# SB3's predict): a Pendulum return depends on the start state, so other episodes would be another draw.
mean = float(evaluate_policy(model, "Pendulum-v1", n_eval_episodes=10, deterministic=True, seed=2000 + seed)[0])
print(json.dumps(dict(lib=lib, seed=seed, seconds=seconds, steps=model.num_timesteps, final=mean)))
"""


def pendulum_vs_contrib(algo: str, kwargs: str, section: str, title: str, description: str) -> None:
    """Run :data:`PENDULUM_RUN` for Ballast and sb3-contrib on the seeds of the command line
    (``--seeds``, ``--steps``; :func:`alternating`), then write docs/benchmarks.md's ``section``: a
    heading made of ``title`` and the budget, ``description``, the runs side by side, the mean returns
    and the ratio of steps per second."""
    import numpy as np

    # The template's other fields ({lib}, {seed}, {steps}) are filled per run by compare_with_peer.
    template = PENDULUM_RUN.replace("{algo}", algo).replace("{kwargs}", kwargs)
    args, ours, theirs, ratios = compare_with_peer(template, 20_000, f"{algo} on Pendulum-v1: Ballast vs sb3-contrib")
    import sb3_contrib
    import stable_baselines3

    rows = seed_rows(ours, theirs, "sb3-contrib")
    mean_ours, mean_theirs = np.mean([r["final"] for r in ours]), np.mean([r["final"] for r in theirs])
    body = "\n".join([
        f"## {title}, {args.steps // 1000}k steps): Ballast vs sb3-contrib",
        "",
        f"{description} SB3 {stable_baselines3.__version__}, sb3-contrib {sb3_contrib.__version__}.",
        "",
        *rows,
        "",
        f"Final return: Ballast {mean_std([r['final'] for r in ours])}, "
        f"sb3-contrib {mean_std([r['final'] for r in theirs])}.  ",
        f"Mean ≥ -200: {'yes' if mean_ours >= -200 else 'no'}; ≥ sb3-contrib's: "
        f"{'yes' if mean_ours >= mean_theirs else 'no'}.  ",
        f"Speed: Ballast runs {np.mean(ratios):.2f}x the steps per second of sb3-contrib (per seed: "
        f"{', '.join(f'{r:.2f}' for r in ratios)}).",
        "",
        f"Command: `{command_line()}` (revision {git_revision()}).  ",
        f"Machine: {machine(threads=1)}.",
    ])
    update_section(section, body)
    print(body)
