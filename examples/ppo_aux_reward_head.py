"""PPO on CartPole-v1 with an auxiliary prediction head that shares the policy's encoder.

The observations go through a shared MLP encoder (``features_extractor_kwargs=dict(net_arch=[64])``)
whose features feed the actor, the critic and :class:`NextAngleHead`. Auxiliary heads that
predict the reward (as in UNREAL, Jaderberg et al., 2016, arXiv:1611.05397) make the encoder
learn what matters to the task; CartPole's reward is always 1, and the discounted return moves
with the policy (its prediction error does not reliably fall), so the head predicts what the env
does next: the pole angle of the next observation. CartPole integrates with explicit Euler,
``theta' = theta + tau * theta_dot``, so the target comes from the stored observation itself.

The head's mean squared error is one more named term of PPO's loss, ``next_angle``: PPO's
optimizer trains the head, and the term's gradient shapes the shared encoder too.

Run with ``.venv/bin/python examples/ppo_aux_reward_head.py`` (under a minute on one CPU thread).
It prints the auxiliary loss at the start and the end of training (and exits with status 1
unless it decreased), evaluates the policy, then saves the model under
``runs/ppo_aux_reward_head/`` and loads it back with its head.

The checkpoint names the head's class by the name it is registered under, never pickles it: a
script that loads the file must first ``import ppo_aux_reward_head`` (or call
``register_aux_module(HEAD_NAME, ...)`` itself). A script that only acts needs nothing more;
one that goes on training passes ``extra_losses=[next_angle_loss]`` to ``PPO.load``, because a
loss defined in a script run as ``__main__`` cannot be imported by name.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from torch import nn

from ballast import PPO, evaluate_policy
from ballast.extensions import AuxModule, LossInputs, register_aux_module
from ballast.logger import Logger

ENV_ID = "CartPole-v1"
SEED = 0
TOTAL_TIMESTEPS = 50_000
RUN_DIR = Path("runs/ppo_aux_reward_head")
HEAD_NAME = "ppo_aux_reward_head.NextAngleHead"
ENCODER_SIZE = 64
TAU = 0.02  # CartPole's time step, in seconds

# rl-baselines3-zoo's PPO settings for CartPole-v1 (hyperparams/ppo.yml), for half its 100k-step budget.
HYPERPARAMS = dict(n_envs=8, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0,
                   learning_rate="lin_0.001", clip_range="lin_0.2")


@register_aux_module(HEAD_NAME)
class NextAngleHead(nn.Module):
    """Predicts the next pole angle (radians) from the encoder's features: one hidden layer, one output."""

    def __init__(self, features_dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(features_dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).squeeze(-1)


def next_angle_loss(inputs: LossInputs) -> dict[str, torch.Tensor]:
    """``mean((head(features) - (theta + tau * theta_dot))^2)``, under the term name ``next_angle``.

    CartPole's observation is ``(x, x_dot, theta, theta_dot)``; the batch holds the observations
    as stored, unnormalised here since observation normalisation is off.
    """
    obs = inputs.batch.observations
    target = obs[:, 2] + TAU * obs[:, 3]
    prediction = inputs.aux["next_angle_head"](inputs.outputs.features)
    return {"next_angle": nn.functional.mse_loss(prediction, target)}


def build_model(seed: int = SEED) -> PPO:
    """PPO with the shared encoder and the next-angle head, trained by PPO's own optimizer."""
    return PPO(
        "MlpPolicy", ENV_ID, seed=seed, device="cpu", **HYPERPARAMS,
        policy_kwargs=dict(features_extractor_kwargs=dict(net_arch=[ENCODER_SIZE]), net_arch=[64]),
        aux_modules={"next_angle_head": AuxModule(NextAngleHead, {"features_dim": ENCODER_SIZE}, optimizer="shared")},
        extra_losses=[next_angle_loss],
    )


def main() -> int:
    torch.set_num_threads(1)
    start = time.perf_counter()
    model = build_model()
    model.logger = Logger(RUN_DIR, verbose=0)  # the log also goes to runs/ppo_aux_reward_head/progress.csv
    model.learn(TOTAL_TIMESTEPS)
    train_time = time.perf_counter() - start

    # One log row per iteration; the first and last five are averaged to smooth minibatch noise.
    aux = [row["loss/next_angle"] for row in model.logger.history if "loss/next_angle" in row]
    first, last = sum(aux[:5]) / len(aux[:5]), sum(aux[-5:]) / len(aux[-5:])
    print(f"trained {model.num_timesteps} steps in {train_time:.1f} s")
    print(f"aux loss (next pole angle, MSE): {first:.2e} in the first 5 iterations, {last:.2e} in the last 5")

    mean, std = evaluate_policy(model, ENV_ID, n_eval_episodes=10, seed=SEED + 1)
    print(f"evaluation over 10 episodes: return {mean:.1f} +/- {std:.1f}")

    path = model.save(RUN_DIR / "model.zip")
    loaded = PPO.load(path, env=ENV_ID, device="cpu", extra_losses=[next_angle_loss])
    same_head = all(torch.equal(a, b) for a, b in zip(model.aux_modules.state_dict().values(),
                                                       loaded.aux_modules.state_dict().values()))
    obs = torch.rand(32, 4).numpy() - 0.5
    same_actions = (model.predict(obs, deterministic=True)[0] == loaded.predict(obs, deterministic=True)[0]).all()
    print(f"saved to {path}; reloaded with its {type(loaded.aux_modules['next_angle_head']).__name__}: "
          f"same head weights {same_head}, same actions {bool(same_actions)}")
    print(f"total time {time.perf_counter() - start:.1f} s")
    return 0 if last < first and same_head and same_actions else 1


if __name__ == "__main__":
    sys.exit(main())
