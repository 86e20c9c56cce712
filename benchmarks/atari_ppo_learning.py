"""PPO learning on Atari Breakout with the rl-baselines3-zoo's settings: Ballast beside SB3, same seeds.

Both libraries: ``make_atari_env("BreakoutNoFrameskip-v4", n_envs=8, seed=seed, monitor_dir=...)``, 4 frames
stacked, ``CnnPolicy`` and the zoo's ppo.yml ``atari`` entry (learning rate and clip range decaying
linearly over the run, as the zoo's ``lin_`` schedules do over its ``learn``), ``--frames`` emulator frames
(4 per agent step), one torch thread per run, ``--jobs`` runs at a time. The returns are the monitors'
whole games (unclipped scores, all lives), read from the monitor files both libraries write in SB3's
format. The curve is the mean return of the games that ended in each ``--bin`` frames. Results go to
benchmarks/results/atari_ppo_learning.json (runs of other seeds at the same budget are kept, so seeds can be
added in later invocations), the figure to docs/images/atari-ppo-breakout.png and the
section ``atari-ppo-learning`` of docs/benchmarks.md.

    .venv-bench/bin/python benchmarks/atari_ppo_learning.py [--frames 1000000] [--seeds 0 1] [--jobs 2]
    .venv-bench/bin/python benchmarks/atari_ppo_learning.py --render
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from common import ROOT, command_line, git_revision, machine, update_section, write_json

ENV_ID = "BreakoutNoFrameskip-v4"
RESULTS = ROOT / "benchmarks" / "results" / "atari_ppo_learning.json"
FIGURE = ROOT / "docs" / "images" / "atari-ppo-breakout.png"
NAMES = {"ballast": "Ballast", "sb3": "SB3"}
RUN = r"""
import json, time, torch
torch.set_num_threads(1)
settings = dict(n_steps=128, n_epochs=4, batch_size=256, learning_rate=lambda f: 2.5e-4 * f,
                clip_range=lambda f: 0.1 * f, vf_coef=0.5, ent_coef=0.01, seed={seed}, device="cpu")
if "{lib}" == "sb3":
    import ale_py, gymnasium
    gymnasium.register_envs(ale_py)
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import VecFrameStack
    env = VecFrameStack(make_atari_env("{env_id}", n_envs=8, seed={seed}, monitor_dir="{monitor}"), 4)
    model = PPO("CnnPolicy", env, **settings)
else:
    from ballast import PPO, make_atari_env
    env = make_atari_env("{env_id}", n_envs=8, seed={seed}, monitor_dir="{monitor}")
    model = PPO("CnnPolicy", env, frame_stack=4, **settings)
start = time.perf_counter()
model.learn({steps})
print(json.dumps({{"seconds": time.perf_counter() - start, "steps": int(model.num_timesteps)}}))
"""


def monitor_games(folder: Path) -> list[tuple[float, float]]:
    """``(frames of all copies at the game's end, return)`` of every game the monitor files of ``folder``
    record (SB3's CSV format: ``r``, ``l``, ``t``). The copies step in lockstep, so a game that ended after
    ``F`` frames of its own copy ended after about ``n_envs * F`` frames of the run."""
    paths = sorted(folder.glob("*.monitor.csv"))
    games = []
    for path in paths:
        lines = [line.split(",") for line in path.read_text().splitlines()[2:] if line]  # a JSON comment, a header
        own_frames = np.cumsum([float(length) for _, length, *_ in lines])
        games += [(len(paths) * f, float(r)) for f, (r, *_) in zip(own_frames, lines)]
    return sorted(games)


def run(lib: str, seed: int, frames: int) -> dict:
    with tempfile.TemporaryDirectory() as monitor:
        code = RUN.format(lib=lib, seed=seed, steps=frames // 4, env_id=ENV_ID, monitor=monitor)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{lib} seed {seed} failed:\n{done.stderr[-3000:]}")
        timing = json.loads(done.stdout.strip().splitlines()[-1])
        games = monitor_games(Path(monitor))
    return {"lib": lib, "seed": seed, "frames": 4 * timing["steps"], "seconds": timing["seconds"],
            "games": [list(g) for g in games], "revision": git_revision()}


def same_budget(frames_run: int, frames_asked: int) -> bool:
    """Whether a run of ``frames_run`` frames was asked for ``frames_asked``: ``learn`` ends on a whole
    rollout (8 envs x 128 steps x 4 frames), so it runs up to one rollout past the budget."""
    return 0 <= frames_run - frames_asked < 8 * 128 * 4


def curve(result: dict, bin_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean return of the games that ended in each bin of ``bin_frames`` frames (NaN where none did)."""
    games = np.asarray(result["games"], dtype=float).reshape(-1, 2)
    edges = np.arange(0, result["frames"] + 1, bin_frames)  # whole bins only
    means = [games[(games[:, 0] >= lo) & (games[:, 0] < hi), 1] for lo, hi in zip(edges[:-1], edges[1:])]
    return edges[1:], np.array([m.mean() if len(m) else np.nan for m in means])


def plot(results: list[dict], bin_frames: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    for r in results:
        x, y = curve(r, bin_frames)
        style = "-" if r["lib"] == "ballast" else "--"
        axes.plot(x, y, style, color=f"C{r['seed']}", label=f"{NAMES[r['lib']]}, seed {r['seed']}")
    axes.set_xlabel("emulator frames")
    axes.set_ylabel(f"game score (mean over games ended in each {bin_frames:,} frames)")
    axes.set_title(f"PPO on {ENV_ID}, zoo settings")
    axes.legend(fontsize=8)
    figure.tight_layout()
    fd, tmp = tempfile.mkstemp(dir=FIGURE.parent, suffix=".png")
    os.close(fd)
    figure.savefig(tmp, dpi=100)
    os.replace(tmp, FIGURE)


def summary(results: list[dict]) -> list[str]:
    """Each library's mean score of its last 100 games over the seeds both ran, and a bootstrap 95 %
    interval of the difference of the means (Ballast - SB3, each library's seeds resampled)."""
    last = {(r["lib"], r["seed"]): float(np.asarray(r["games"], dtype=float).reshape(-1, 2)[-100:, 1].mean())
            for r in results}
    seeds = sorted({seed for lib, seed in last if (("ballast", seed) in last and ("sb3", seed) in last)})
    if len(seeds) < 2:
        return []
    ours, theirs = (np.array([last[(lib, seed)] for seed in seeds]) for lib in ("ballast", "sb3"))
    rng = np.random.default_rng(0)
    picks = rng.integers(len(seeds), size=(2, 10_000, len(seeds)))
    low, high = np.percentile(ours[picks[0]].mean(axis=1) - theirs[picks[1]].mean(axis=1), [2.5, 97.5])
    ahead = int((ours > theirs).sum())
    return [f"Last 100 games, over seeds {', '.join(map(str, seeds))}: Ballast {ours.mean():.1f} ± {ours.std():.1f}, "
            f"SB3 {theirs.mean():.1f} ± {theirs.std():.1f} (mean ± std over seeds); Ballast ahead on {ahead} of "
            f"{len(seeds)} seeds; bootstrap 95 % interval of the difference of the means [{low:.1f}, {high:.1f}]."]


def render(data: dict) -> str:
    results, bin_frames = sorted(data["results"], key=lambda r: (r["seed"], r["lib"])), data["bin"]
    x, _ = curve(results[0], bin_frames)
    head = "| run | " + " | ".join(f"{int(v) // 1000}k" for v in x) + " | last 100 games | frames/s |"
    rows = [head, "|---|" + "---|" * (len(x) + 2)]
    for r in results:
        _, y = curve(r, bin_frames)
        last = np.asarray(r["games"], dtype=float).reshape(-1, 2)[-100:, 1]
        rows.append(f"| {NAMES[r['lib']]}, seed {r['seed']} | " + " | ".join("-" if np.isnan(v) else f"{v:.1f}"
                                                                          for v in y)
                    + f" | {last.mean():.1f} | {r['frames'] / r['seconds']:,.0f} |")
    return "\n".join([
        f"## PPO on Atari Breakout (zoo settings), {results[0]['frames']:,} frames: Ballast beside SB3",
        "",
        f"`{ENV_ID}`, SB3's `AtariWrapper` defaults, 8 envs, 4 frames stacked, the zoo's ppo.yml `atari` entry with "
        "its linear schedules over this run's length, one torch thread per run. Scores are whole games (all lives, "
        f"unclipped) from the monitors; each column is the mean of the games that ended in a bin of "
        f"{bin_frames:,} frames. {data['versions']}. Only runs that finished are shown (seeds "
        f"{', '.join(str(s) for s in sorted({r['seed'] for r in results}))}).",
        "",
        *rows,
        "",
        *summary(results),
        "",
        "![PPO Breakout learning curves](images/atari-ppo-breakout.png)",
        "",
        f"Command: `{data['command']}` (revisions {', '.join(sorted({r['revision'] for r in results}))}).  ",
        f"Machine: {data['machine']}.",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--bin", type=int, default=100_000)
    parser.add_argument("--render", action="store_true", help="rewrite the section from the results file")
    args = parser.parse_args()
    if args.render:
        data = json.loads(RESULTS.read_text())
    else:
        import stable_baselines3

        import ballast

        jobs = [(lib, seed) for seed in args.seeds for lib in ("ballast", "sb3")]
        # Runs of other seeds (at the same budget) are kept, so seeds can be added in later invocations.
        kept = json.loads(RESULTS.read_text())["results"] if RESULTS.exists() else []
        kept = [r for r in kept if (r["lib"], r["seed"]) not in jobs and same_budget(r["frames"], args.frames)]
        data = {"results": kept, "bin": args.bin, "command": command_line(), "machine": machine(threads=1),
                "versions": f"Ballast {ballast.__version__}, SB3 {stable_baselines3.__version__}"}

        def run_and_keep(lib: str, seed: int) -> None:  # each run is kept as it ends (a stopped bench loses no run)
            result = run(lib, seed, args.frames)
            data["results"].append(result)
            write_json(RESULTS, data)
            print(lib, seed, result["frames"], f"{result['seconds']:.0f} s", flush=True)

        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(lambda job: run_and_keep(*job), jobs))
    plot(data["results"], data["bin"])
    body = render(data)
    update_section("atari-ppo-learning", body)
    print(body)


if __name__ == "__main__":
    main()
