"""Residual SAC on MuJoCo's Reacher-v5 over a Jacobian-transpose PD controller, against SAC from scratch.

Needs MuJoCo: ``pip install 'ballast-rl[mujoco]'``; without it the script says so and exits 0.

    .venv/bin/python examples/residual_mujoco.py [--steps 20000] [--seed 0]

The base is :func:`ballast.envs.controllers.reacher_jacobian_pd` (about -6.5 to -8.5 per episode). Both
agents use the same SAC hyperparameters; the residual one adds ``base_policy=``,
``residual_scale=0.5`` and a 1000-step critic warm-up. The script prints a deterministic
10-episode evaluation of both every ``--eval-every`` steps, and saves the residual model, which
holds its base's import path, to ``runs/residual_mujoco/model.zip``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import torch

import ballast
from ballast.envs.controllers import reacher_jacobian_pd

ENV_ID = "Reacher-v5"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--eval-every", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if importlib.util.find_spec("mujoco") is None:
        print("MuJoCo is not installed: pip install 'ballast-rl[mujoco]' to run this example")
        return 0
    torch.set_num_threads(1)
    common = {"learning_starts": 1000, "seed": args.seed, "device": "cpu"}
    models = {
        "residual": ballast.SAC("MlpPolicy", ENV_ID, base_policy=reacher_jacobian_pd, residual_scale=0.5,
                                critic_warmup_steps=1000, **common),
        "scratch": ballast.SAC("MlpPolicy", ENV_ID, **common),
    }
    eval_env = ballast.envs.make_vector_env(ENV_ID, 10)

    def evaluate(model: ballast.SAC) -> float:
        return ballast.evaluate_policy(model, eval_env, n_eval_episodes=10, seed=1000 + args.seed)[0]

    print(f"steps  {'residual':>9}  {'scratch':>9}")
    print(f"{0:>5}  {evaluate(models['residual']):9.2f}  {evaluate(models['scratch']):9.2f}  (residual = base)")
    done = 0
    while done < args.steps:
        chunk = min(args.eval_every, args.steps - done)
        for model in models.values():
            model.learn(chunk, reset_num_timesteps=False)
        done += chunk
        print(f"{done:>5}  {evaluate(models['residual']):9.2f}  {evaluate(models['scratch']):9.2f}", flush=True)
    path = models["residual"].save(Path("runs") / "residual_mujoco" / "model")
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
