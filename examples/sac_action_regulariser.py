"""SAC on Pendulum-v1 with an action-smoothness regulariser in the spirit of CAPS.

CAPS (Mysore et al., 2021, "Regularizing Action Policies for Smooth Control with Reinforcement
Learning", arXiv:2012.06644) adds smoothness terms to the actor's loss. This example uses its
temporal term, ``L_T = mean ||pi(s_t) - pi(s_{t+1})||^2`` over replayed transitions: the action
should not jump between consecutive states. ``pi`` is the deterministic action ``tanh(mean)``
of SAC's squashed Gaussian, the action ``predict(deterministic=True)`` and every export use; the
squared distance (CAPS uses the norm) keeps the term smooth at zero. CAPS's spatial term,
``||pi(s) - pi(s + noise)||^2``, is one more entry of the dict :func:`caps_loss` returns.

The regulariser smooths a trained policy: plain SAC first learns the swing-up, then the same
model is loaded with :func:`caps_loss` as an extra loss and trains on. By default an extra loss
of SAC joins the actor's loss, so the actor's optimizer minimises ``actor + alpha +
temporal_smoothness``, and the term is logged as ``loss/temporal_smoothness`` next to SAC's own.

Run with ``.venv/bin/python examples/sac_action_regulariser.py`` (about a minute and a half of
CPU time on one thread). It prints the term at the start and the end of the regularised training
(exit status 1 unless it decreased), and the return and the mean action change per step of the
deterministic policy before and after; the log and the models go to
``runs/sac_action_regulariser/``. A loss defined in a script run as ``__main__`` cannot be
imported by name from a checkpoint, so training a loaded model again needs
``SAC.load(path, extra_losses=[caps_loss])``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from ballast import SAC, evaluate_policy
from ballast.extensions import LossInputs
from ballast.logger import Logger

ENV_ID = "Pendulum-v1"
SEED = 0
PLAIN_TIMESTEPS, CAPS_TIMESTEPS = 6_000, 4_000
RUN_DIR = Path("runs/sac_action_regulariser")
#: CAPS's lambda_T: the actor's loss is of the order of the Q-values (tens to hundreds here).
TEMPORAL_WEIGHT = 100.0

# rl-baselines3-zoo's SAC settings for Pendulum-v1 (hyperparams/sac.yml), smaller networks.
HYPERPARAMS = dict(learning_rate=1e-3, policy_kwargs=dict(net_arch=[64, 64]))


def caps_loss(inputs: LossInputs) -> dict[str, tuple[torch.Tensor, float]]:
    """CAPS's temporal smoothness term of the deterministic action ``tanh(mean)``, weighted.

    ``inputs.outputs.actor.mean`` is the actor's Gaussian mean for the batch's observations,
    from SAC's own forward pass (with gradients); the next observations take one more actor pass.
    """
    action = torch.tanh(inputs.outputs.actor.mean)
    next_action = inputs.model.policy.actor.deterministic(inputs.batch.next_observations)
    temporal = (action - next_action).square().sum(-1).mean()
    return {"temporal_smoothness": (temporal, TEMPORAL_WEIGHT)}


def mean_action_change(model: SAC, episodes: int = 3, seed: int = SEED + 1) -> float:
    """Mean ``|a_t - a_{t-1}|`` of the deterministic policy over whole episodes (env units)."""
    env = gym.make(ENV_ID)
    changes = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        previous, done = None, False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            if previous is not None:
                changes.append(float(np.abs(action - previous).mean()))
            previous = action
            obs, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
    return float(np.mean(changes))


def term_means(model: SAC, name: str, rows: int = 5) -> tuple[float, float]:
    """The logged term ``loss/<name>`` averaged over the first and the last ``rows`` log rows."""
    values = [row[f"loss/{name}"] for row in model.logger.history if f"loss/{name}" in row]
    return float(np.mean(values[:rows])), float(np.mean(values[-rows:]))


def run(plain_timesteps: int = PLAIN_TIMESTEPS, caps_timesteps: int = CAPS_TIMESTEPS, run_dir: Path = RUN_DIR,
        eval_episodes: int = 10, **overrides: Any) -> dict[str, Any]:
    """Plain SAC, then the same model trained on with the CAPS terms; returns a summary.

    ``overrides`` replace hyperparameters of both phases (the tests run a tiny budget).
    """
    run_dir = Path(run_dir)
    hyperparams = {**HYPERPARAMS, **overrides}
    # 1. Plain SAC learns to swing the pendulum up; nothing keeps its actions smooth.
    plain = SAC("MlpPolicy", ENV_ID, seed=SEED, device="cpu", **hyperparams)
    plain.learn(plain_timesteps)
    before = evaluate(plain, eval_episodes)
    path = plain.save(run_dir / "plain.zip", include_replay_buffer=True)

    # 2. The same model, loaded with the CAPS terms, trains on: they join the actor's loss.
    model = SAC.load(path, env=ENV_ID, device="cpu", extra_losses=[caps_loss])
    model.logger = Logger(run_dir, verbose=0)  # the log also goes to <run_dir>/progress.csv
    model.learn(caps_timesteps, reset_num_timesteps=False)
    after = evaluate(model, eval_episodes)

    path = model.save(run_dir / "model.zip")
    loaded = SAC.load(path, env=ENV_ID, device="cpu", extra_losses=[caps_loss])
    obs = np.stack([loaded.observation_space.sample() for _ in range(32)])
    same_actions = np.array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
    terms = {"temporal_smoothness": term_means(model, "temporal_smoothness")}
    return {"model": model, "before": before, "after": after, "terms": terms, "path": path,
            "same_actions": same_actions}


def evaluate(model: SAC, episodes: int) -> tuple[float, float, float]:
    """Mean and std of the return over deterministic episodes, and the mean action change per step."""
    mean, std = evaluate_policy(model, ENV_ID, n_eval_episodes=episodes, seed=SEED + 1)
    return mean, std, mean_action_change(model, episodes=min(episodes, 3))


def main() -> int:
    torch.set_num_threads(1)
    start = time.perf_counter()
    summary = run()
    print(f"trained {PLAIN_TIMESTEPS} steps of plain SAC, then {CAPS_TIMESTEPS} with CAPS, "
          f"in {time.perf_counter() - start:.1f} s")
    decreased = True
    for name, (first, last) in summary["terms"].items():
        decreased &= last < first
        print(f"loss/{name}: {first:.2e} in the first 5 log rows, {last:.2e} in the last 5")
    for label in ("before", "after"):
        mean, std, change = summary[label]
        print(f"{label} CAPS: return {mean:.1f} +/- {std:.1f} over 10 episodes, "
              f"mean action change per step {change:.3f}")
    print(f"saved to {summary['path']}; reloaded: same actions {summary['same_actions']}")
    return 0 if decreased and summary["same_actions"] else 1


if __name__ == "__main__":
    sys.exit(main())
