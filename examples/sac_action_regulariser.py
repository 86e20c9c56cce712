"""SAC on Pendulum-v1 with an action regulariser: CAPS temporal smoothness and a magnitude penalty.

Two terms join SAC's actor loss through one extra loss, :func:`action_regulariser`:

* ``temporal_smoothness``, CAPS's temporal term (Mysore et al., 2021, "Regularizing Action
  Policies for Smooth Control with Reinforcement Learning", arXiv:2012.06644):
  ``mean ||pi(s_t) - pi(s_{t+1})||^2`` over replayed transitions, where ``pi`` is the
  deterministic action ``tanh(mean)`` that ``predict(deterministic=True)`` and every export use
  (the squared distance, where CAPS uses the norm, keeps the term smooth at zero);
* ``action_magnitude``, ``mean ||mean||^2`` of the Gaussian mean before the tanh squash, the
  regulariser of the original SAC implementation (Haarnoja et al., 2018): a policy that pushes
  its mean deep into tanh's flat tails switches between full actions and gets vanishing
  gradients there.

The regulariser refines a trained policy: plain SAC first learns the swing-up, then the same
model is loaded with :func:`action_regulariser` as an extra loss and trains on, with a tenth of
the learning rate. An extra loss of
SAC joins the actor's loss by default, so the actor's optimizer minimises ``actor + alpha +
temporal_smoothness + action_magnitude``; each term is logged as ``loss/<name>``.

Run with ``.venv/bin/python examples/sac_action_regulariser.py`` (about a minute and a half of
CPU time on one thread). It prints the two terms on a fixed set of replayed transitions before
and after the regularised training (exit status 1 unless both decreased), their logged values,
and the return and mean action change per step of the deterministic policy before and after;
the log and the models go to ``runs/sac_action_regulariser/``. A loss defined in a script run as
``__main__`` cannot be imported by name from a checkpoint, so training a loaded model again
needs ``SAC.load(path, extra_losses=[action_regulariser])``.

Measured with that command (a 2-core machine shared with other jobs, PyTorch 2.13 on CPU, one
thread; 6,000 plain steps, then 4,000 regularised ones; 400 s wall, 85 s of CPU), weighted
values on 2,048 fixed replayed transitions: temporal_smoothness 2.86 before, 0.277 after;
action_magnitude 2.25 before, 0.426 after. Logged per iteration (``progress.csv``),
temporal_smoothness falls 0.716, 0.276, 0.235, 0.222, ... to 0.20 over the last five rows,
action_magnitude 0.551, 0.313, then 0.31 to 0.35. Over 10 deterministic episodes the return is
-121.2 +/- 77.0 before and -133.0 +/- 84.3 after, and the mean action change per step 0.038
before and 0.025 after: smoother control for a slightly lower return.
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
from ballast.extensions import ActorCriticOutputs, LossInputs, Transitions
from ballast.logger import Logger

ENV_ID = "Pendulum-v1"
SEED = 0
PLAIN_TIMESTEPS, REGULARISED_TIMESTEPS = 6_000, 4_000
RUN_DIR = Path("runs/sac_action_regulariser")
#: CAPS's lambda_T and the magnitude penalty's weight (the actor loss is of the order of the Q-values).
TEMPORAL_WEIGHT, MAGNITUDE_WEIGHT = 30.0, 1.0
TERMS = ("temporal_smoothness", "action_magnitude")
#: The regularised phase refines the policy with a tenth of the learning rate.
FINE_TUNING_LEARNING_RATE = 1e-4

# rl-baselines3-zoo's SAC learning rate for Pendulum-v1 (hyperparams/sac.yml), smaller networks.
HYPERPARAMS = dict(learning_rate=1e-3, policy_kwargs=dict(net_arch=[64, 64]))


def action_regulariser(inputs: LossInputs) -> dict[str, tuple[torch.Tensor, float]]:
    """The weighted ``temporal_smoothness`` and ``action_magnitude`` terms (module docstring).

    ``inputs.outputs.actor.mean`` is the actor's Gaussian mean for the batch's observations,
    from SAC's own forward pass (with gradients); the next observations take one more actor pass.
    """
    mean = inputs.outputs.actor.mean
    next_action = inputs.model.policy.actor.deterministic(inputs.batch.next_observations)
    temporal = (torch.tanh(mean) - next_action).square().sum(-1).mean()
    magnitude = mean.square().sum(-1).mean()
    return {"temporal_smoothness": (temporal, TEMPORAL_WEIGHT), "action_magnitude": (magnitude, MAGNITUDE_WEIGHT)}


@torch.no_grad()
def regulariser_values(model: SAC, transitions: Any) -> dict[str, float]:
    """The weighted terms of :func:`action_regulariser` for ``model`` on a fixed replay sample."""
    policy = model.policy
    batch = Transitions(observations=policy.normalize(transitions.observations), actions=transitions.actions,
                        rewards=transitions.rewards, next_observations=policy.normalize(transitions.next_observations),
                        discounts=transitions.discounts)
    outputs = ActorCriticOutputs(loss="actor", actor=policy.actor.outputs(batch.observations), critic_features=None,
                                 q_values=torch.empty(0), target_q=None)
    terms = action_regulariser(LossInputs(batch=batch, outputs=outputs, aux=model.aux_modules, model=model))
    return {name: float(term * weight) for name, (term, weight) in terms.items()}


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


def logged_means(model: SAC, name: str, rows: int = 5) -> tuple[float, float]:
    """The logged term ``loss/<name>`` averaged over the first and the last ``rows`` log rows."""
    values = [row[f"loss/{name}"] for row in model.logger.history if f"loss/{name}" in row]
    return float(np.mean(values[:rows])), float(np.mean(values[-rows:]))


def evaluate(model: SAC, episodes: int) -> tuple[float, float, float]:
    """Mean and std of the return over deterministic episodes, and the mean action change per step."""
    mean, std = evaluate_policy(model, ENV_ID, n_eval_episodes=episodes, seed=SEED + 1)
    return mean, std, mean_action_change(model, episodes=min(episodes, 3))


def run(plain_timesteps: int = PLAIN_TIMESTEPS, regularised_timesteps: int = REGULARISED_TIMESTEPS,
        run_dir: Path = RUN_DIR, eval_episodes: int = 10, **overrides: Any) -> dict[str, Any]:
    """Plain SAC, then the same model trained on with the regulariser; returns a summary.

    ``overrides`` replace hyperparameters (the tests run a tiny budget).
    """
    run_dir = Path(run_dir)
    # 1. Plain SAC learns to swing the pendulum up; nothing keeps its actions smooth or moderate.
    plain = SAC("MlpPolicy", ENV_ID, seed=SEED, device="cpu", **{**HYPERPARAMS, **overrides})
    plain.learn(plain_timesteps)
    before = evaluate(plain, eval_episodes)
    fixed = plain.replay_buffer.sample(2048, torch.Generator().manual_seed(SEED))
    path = plain.save(run_dir / "plain.zip", include_replay_buffer=True)

    # 2. The same model, loaded with the regulariser, trains on: its terms join the actor's loss.
    model = SAC.load(path, env=ENV_ID, device="cpu", extra_losses=[action_regulariser],
                     learning_rate=FINE_TUNING_LEARNING_RATE)
    model.logger = Logger(run_dir, verbose=0)  # the log also goes to <run_dir>/progress.csv
    model.learn(regularised_timesteps, reset_num_timesteps=False)
    after = evaluate(model, eval_episodes)

    path = model.save(run_dir / "model.zip")
    loaded = SAC.load(path, env=ENV_ID, device="cpu", extra_losses=[action_regulariser])
    obs = np.stack([loaded.observation_space.sample() for _ in range(32)])
    same_actions = np.array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
    return {"model": model, "before": before, "after": after, "path": path, "same_actions": same_actions,
            "terms_before": regulariser_values(plain, fixed), "terms_after": regulariser_values(model, fixed),
            "logged": {name: logged_means(model, name) for name in TERMS}}


def main() -> int:
    torch.set_num_threads(1)
    start = time.perf_counter()
    summary = run()
    print(f"trained {PLAIN_TIMESTEPS} steps of plain SAC, then {REGULARISED_TIMESTEPS} with the regulariser, "
          f"in {time.perf_counter() - start:.1f} s")
    decreased = True
    for name in TERMS:
        before, after = summary["terms_before"][name], summary["terms_after"][name]
        first, last = summary["logged"][name]
        decreased &= after < before
        print(f"loss/{name} on 2048 replayed transitions: {before:.3g} before, {after:.3g} after "
              f"(logged while training: {first:.3g} in the first 5 rows, {last:.3g} in the last 5)")
    for label in ("before", "after"):
        mean, std, change = summary[label]
        print(f"{label}: return {mean:.1f} +/- {std:.1f} over 10 episodes, mean action change per step {change:.3f}")
    print(f"saved to {summary['path']}; reloaded: same actions {summary['same_actions']}")
    return 0 if decreased and summary["same_actions"] else 1


if __name__ == "__main__":
    sys.exit(main())
