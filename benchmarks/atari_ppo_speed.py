"""PPO on Atari Breakout with the rl-baselines3-zoo's settings: frames per second, Ballast vs SB3.

Both libraries: ``make_atari_env("BreakoutNoFrameskip-v4", n_envs=8, seed=seed)`` (SB3's
``AtariWrapper`` defaults: no-op reset, frame skip 4 with max-pooling, episodic life, fire on reset,
reward clipping, 84x84 grayscale), 4 frames stacked (SB3: ``VecFrameStack``; Ballast: ``frame_stack=4``,
the same stacking kept in the model), ``CnnPolicy`` and the zoo's ``atari`` entry of ppo.yml
(``n_steps=128``, ``n_epochs=4``, ``batch_size=256``, learning rate and clip range decaying linearly
from 2.5e-4 and 0.1, ``vf_coef=0.5``, ``ent_coef=0.01``). Runs alternate (Ballast, SB3, ...) in fresh
processes with the same seed, device (CPU) and torch threads, timing ``learn`` only; a frame is one
emulator frame (4 per agent step). Writes the section ``atari-ppo-speed`` of docs/benchmarks.md.

    .venv-bench/bin/python benchmarks/atari_ppo_speed.py [--steps 16384] [--pairs 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np
from common import command_line, git_revision, machine, update_section

ENV_ID = "BreakoutNoFrameskip-v4"
RUN = r"""
import json, time, torch
torch.set_num_threads({threads})
settings = dict(n_steps=128, n_epochs=4, batch_size=256, learning_rate=lambda f: 2.5e-4 * f,
                clip_range=lambda f: 0.1 * f, vf_coef=0.5, ent_coef=0.01, seed={seed}, device="cpu")
if "{lib}" == "sb3":
    import ale_py, gymnasium
    gymnasium.register_envs(ale_py)
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import VecFrameStack
    env = VecFrameStack(make_atari_env("{env_id}", n_envs=8, seed={seed}), 4)
    model = PPO("CnnPolicy", env, **settings)
else:
    from ballast import PPO, make_atari_env
    env = make_atari_env("{env_id}", n_envs=8, seed={seed})
    model = PPO("CnnPolicy", env, frame_stack=4, **settings)
start = time.perf_counter()
model.learn({steps})
seconds = time.perf_counter() - start
print(json.dumps({{"lib": "{lib}", "seed": {seed}, "seconds": seconds, "steps": int(model.num_timesteps)}}))
"""


def run(lib: str, seed: int, steps: int, threads: int) -> dict:
    code = RUN.format(lib=lib, seed=seed, steps=steps, threads=threads, env_id=ENV_ID)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{lib} seed {seed} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=16_384, help="agent steps per run (x4 frames)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import stable_baselines3

    rows, ratios = [], []
    for pair in range(args.pairs):
        ours, theirs = (run(lib, pair, args.steps, args.threads) for lib in ("ballast", "sb3"))
        fps = [4 * r["steps"] / r["seconds"] for r in (ours, theirs)]
        ratios.append(fps[0] / fps[1])
        rows.append(f"| {pair} | {fps[0]:,.0f} | {fps[1]:,.0f} | {ratios[-1]:.2f}x |")
        print(rows[-1], flush=True)
    body = "\n".join([
        "## PPO on Atari Breakout (zoo settings, 8 envs): frames per second vs SB3",
        "",
        f"{args.steps:,} agent steps ({4 * args.steps:,} frames) per run, `{ENV_ID}` with SB3's `AtariWrapper` "
        "defaults in both libraries, 4 frames stacked, `CnnPolicy`, the zoo's ppo.yml `atari` entry; CPU; runs "
        f"alternate in fresh processes, timing `learn` only. SB3 {stable_baselines3.__version__}.",
        "",
        "| pair (seed) | Ballast frames/s | SB3 frames/s | ratio |",
        "|---|---|---|---|",
        *rows,
        "",
        f"Mean ratio: {np.mean(ratios):.2f}x (target ≥ 1.5x).",
        "",
        f"Command: `{command_line()}` (revision {git_revision()}).  ",
        f"Machine: {machine(threads=args.threads)}.",
    ])
    print(body)
    update_section("atari-ppo-speed", body)


if __name__ == "__main__":
    main()
