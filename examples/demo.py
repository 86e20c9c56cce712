"""Train PPO on CartPole-v1 until it is solved, check the result, save it and reload it.

Run with ``make demo`` (or ``.venv/bin/python examples/demo.py``). Hyperparameters are the
rl-baselines3-zoo settings for PPO on CartPole-v1. Training stops as soon as a 10-episode
evaluation reaches the env's reward threshold (475); the script then evaluates the model on
20 fresh episodes and exits with status 1 if the mean return is below 475.

Files written, all under ``runs/demo/``:

* ``model.zip``       the trained model (one safe checkpoint: JSON + safetensors, no pickle)
* ``best_model.zip``  the best model seen by the periodic evaluation
* ``progress.csv``    the training log, one row per iteration
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

import ballast
from ballast.logger import Logger

ENV_ID = "CartPole-v1"
THRESHOLD = 475.0
MAX_STEPS = 100_000
N_ENVS = 8
SEED = 0
RUN_DIR = Path("runs/demo")

# rl-baselines3-zoo, hyperparams/ppo.yml, CartPole-v1.
HYPERPARAMS = dict(
    n_steps=32,
    batch_size=256,
    gae_lambda=0.8,
    gamma=0.98,
    n_epochs=20,
    ent_coef=0.0,
    learning_rate="lin_0.001",
    clip_range="lin_0.2",
)


def train(run_dir: Path) -> tuple[ballast.PPO, float]:
    """Train until the evaluation reaches the threshold or MAX_STEPS; returns the model and the wall time."""
    model = ballast.PPO("MlpPolicy", ENV_ID, n_envs=N_ENVS, seed=SEED, device="cpu", **HYPERPARAMS)
    model.logger = Logger(run_dir, verbose=0)
    stop = ballast.StopTrainingOnRewardThreshold(THRESHOLD)
    # eval_freq counts callback calls, i.e. vector steps: one call is N_ENVS env steps.
    eval_callback = ballast.EvalCallback(
        eval_env=ENV_ID,
        n_eval_episodes=10,
        eval_freq=10_000 // N_ENVS,
        callback_on_new_best=stop,
        best_model_save_path=run_dir,
        seed=SEED + 1,
    )
    start = time.perf_counter()
    model.learn(MAX_STEPS, callback=eval_callback)
    return model, time.perf_counter() - start


def check_reload(model: ballast.PPO, path: Path) -> bool:
    """Reload ``path`` and compare deterministic actions with ``model``'s on a batch of observations."""
    reloaded = ballast.load(path, device="cpu")
    space = model.observation_space
    space.seed(SEED)
    observations = np.stack([space.sample() for _ in range(256)])
    before, _ = model.predict(observations, deterministic=True)
    after, _ = reloaded.predict(observations, deterministic=True)
    return bool(np.array_equal(before, after))


# --- export -------------------------------------------------------------------------------------
def export(model: ballast.PPO, run_dir: Path) -> list[Path]:
    """Export the whole observation-to-action path to ONNX and TorchScript.

    Each export runs its artifact against ``model.predict`` on sampled and rollout observations
    and raises if they disagree; the folders hold the artifact, metadata.json and a README.
    """
    folders = []
    for fmt in ("onnx", "torchscript"):
        folders.append(model.export(run_dir / f"export-{fmt}", format=fmt))
    return folders


def main() -> int:
    torch.set_num_threads(1)  # faster than several threads for networks this small
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    (RUN_DIR / "progress.csv").unlink(missing_ok=True)  # a new demo run starts a new training log
    print(f"Training PPO on {ENV_ID}: up to {MAX_STEPS:,} steps, "
          f"stopping when an evaluation mean reaches {THRESHOLD:g}")
    model, wall_time = train(RUN_DIR)
    steps = model.num_timesteps

    mean, std = ballast.evaluate_policy(model, ENV_ID, n_eval_episodes=20, seed=0)
    evaluated = "final model"
    best_path = RUN_DIR / "best_model.zip"
    if mean < THRESHOLD and best_path.exists():
        best = ballast.load(best_path, device="cpu")
        best_mean, best_std = ballast.evaluate_policy(best, ENV_ID, n_eval_episodes=20, seed=0)
        if best_mean > mean:
            model, mean, std, evaluated = best, best_mean, best_std, "best model"

    model_path = model.save(RUN_DIR / "model.zip")
    identical = check_reload(model, model_path)
    exported = export(model, RUN_DIR)

    print()
    print(f"steps trained      {steps:,}")
    print(f"training time      {wall_time:.1f} s wall clock ({steps / wall_time:,.0f} steps/s, one thread)")
    print(f"evaluation         {mean:.1f} ± {std:.1f} over 20 episodes ({evaluated}, deterministic)")
    print(f"reload             deterministic actions on 256 observations "
          f"{'identical' if identical else 'DIFFERENT'} after ballast.load")
    print(f"model              {model_path}")
    if best_path.exists():
        print(f"best model         {best_path}")
    print(f"training log       {RUN_DIR / 'progress.csv'}")
    for path in exported:
        print(f"export             {path}")

    if not identical:
        print("FAILED: the reloaded model does not act like the trained one", file=sys.stderr)
        return 1
    if mean < THRESHOLD:
        print(f"FAILED: mean return {mean:.1f} is below {THRESHOLD:g}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
