"""Goal-conditioned residual learning: SAC + HER on FetchPush over a scripted pusher, against SAC + HER alone.

Needs Gymnasium-Robotics: ``pip install 'ballast-rl[robotics]'``; without it the script says so and exits 0.

    .venv/bin/python examples/her_fetch_push.py [--steps 50000] [--eval-every 5000] [--seed 0]

The base is :func:`ballast.envs.controllers.fetch_push`, a pusher that reads only the observation and
succeeds on about half of the episodes. Both agents use SAC with hindsight relabelling (``future``
goals, 4 per transition) and the rl-baselines3-zoo's FetchReach settings; the residual one adds
``base_policy=``, ``residual_scale=0.5`` and a 1000-step critic warm-up, so it starts as the pusher
and learns a correction from the sparse reward. The script prints the success rate of both over
``--eval-episodes`` deterministic episodes every ``--eval-every`` steps, then saves the residual
model (which holds its base's import path) with its replay buffer and loads it back.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import ballast
from ballast.envs.controllers import fetch_push

ENV_ID = "FetchPush-v4"
SETTINGS = {"replay_buffer_class": ballast.HerReplayBuffer,
            "replay_buffer_kwargs": {"n_sampled_goal": 4, "goal_selection_strategy": "future"},
            "batch_size": 256, "gamma": 0.95, "learning_rate": 1e-3, "learning_starts": 1000,
            "normalize_observations": True, "device": "cpu"}


def success_rate(model: ballast.SAC, env: gym.Env, episodes: int) -> float:
    """The share of ``episodes`` deterministic episodes (seeded 10,000 + i) that end at the goal."""
    successes = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=10_000 + episode)
        done = False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
        successes.append(float(info["is_success"]))
    return float(np.mean(successes))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--eval-every", type=int, default=5_000)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs") / "her_fetch_push")
    args = parser.parse_args()
    if importlib.util.find_spec("gymnasium_robotics") is None:
        print("Gymnasium-Robotics is not installed: pip install 'ballast-rl[robotics]' to run this example")
        return 0
    torch.set_num_threads(1)
    models = {
        "residual": ballast.SAC("MultiInputPolicy", ENV_ID, base_policy=fetch_push, residual_scale=0.5,
                                critic_warmup_steps=1000, seed=args.seed, **SETTINGS),
        "scratch": ballast.SAC("MultiInputPolicy", ENV_ID, seed=args.seed, **SETTINGS),
    }
    eval_env = gym.make(ENV_ID)
    print(f"steps  {'residual':>9}  {'scratch':>9}   (success rate)")
    rates = {name: success_rate(model, eval_env, args.eval_episodes) for name, model in models.items()}
    print(f"{0:>5}  {rates['residual']:9.2f}  {rates['scratch']:9.2f}   (the residual agent is the pusher)")
    done = 0
    while done < args.steps:
        chunk = min(args.eval_every, args.steps - done)
        for model in models.values():
            model.learn(chunk, reset_num_timesteps=False)
        done += chunk
        rates = {name: success_rate(model, eval_env, args.eval_episodes) for name, model in models.items()}
        print(f"{done:>5}  {rates['residual']:9.2f}  {rates['scratch']:9.2f}", flush=True)
    path = models["residual"].save(args.out / "model", include_replay_buffer=True)
    loaded = ballast.SAC.load(path, env=ENV_ID)
    obs, _ = eval_env.reset(seed=0)
    before, after = (m.predict(obs, deterministic=True)[0] for m in (models["residual"], loaded))
    same = np.array_equal(before, after)
    print(f"saved {path}; loaded back, same action: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
