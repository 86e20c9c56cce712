"""RecurrentPPO on the zoo's NoVel envs with the zoo's settings: Ballast vs sb3-contrib, seed by seed.

Both libraries train RecurrentPPO with rl-baselines3-zoo's tuned hyperparameters
(hyperparams/ppo_lstm.yml) for ``--steps`` steps (the zoo's budget is 100,000 for both envs), one
torch thread each, each run in a fresh process, the runs of a seed one after the other (Ballast,
then sb3-contrib):

- ``CartPoleNoVel-v1``: 8 envs, ``n_steps=32``, ``batch_size=256``, ``gae_lambda=0.8``, ``gamma=0.98``,
  ``n_epochs=20``, ``learning_rate=lin_0.001``, ``clip_range=lin_0.2``;
- ``PendulumNoVel-v1``: 4 envs, ``n_steps=1024``, ``gae_lambda=0.95``, ``gamma=0.9``, ``n_epochs=10``,
  ``learning_rate=1e-3``, ``clip_range=0.2``, gSDE with ``sde_sample_freq=4``;

both with observation and reward normalisation (sb3-contrib: ``VecNormalize``; Ballast: in the
model) and ``policy_kwargs=dict(ortho_init=False, activation_fn=nn.ReLU, lstm_hidden_size=64,
enable_critic_lstm=True, net_arch=dict(pi=[64], vf=[64]))``. Evaluation uses the training
statistics, frozen, and raw rewards. The env is the zoo's: the base task with its velocities set to
zero (Ballast registers it under the zoo's id; the sb3-contrib run wraps the base task the same way,
as the zoo's ``MaskVelocityWrapper`` does). The final model is evaluated deterministically on 10
episodes (eval seed 2000 + seed), the state carried; steps per second are measured over ``learn``.
Writes the section ``recurrent-ppo-novel`` (CartPole) or ``recurrent-ppo-pendulum-novel`` of
docs/benchmarks.md. Needs SB3 and sb3-contrib (benchmark environment only):

    make bench-venv && .venv-bench/bin/pip install sb3-contrib==2.9.2
    .venv-bench/bin/python benchmarks/recurrent_ppo_novel.py [--env PendulumNoVel-v1] [--seeds 0 1 2] [--steps 100000]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from common import command_line, compare_with_peer, git_revision, machine, mean_std, seed_rows, update_section

#: Per env: the base task, the velocity entries the zoo masks, the number of env copies, the
#: zoo's hyperparameters as Python source (``lin_`` schedules written per library), the section.
ENVS = {
    "CartPoleNoVel-v1": dict(
        base="CartPole-v1", mask="[1, 0, 1, 0]", n_envs=8, section="recurrent-ppo-novel",
        kwargs="dict(n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0)",
        sb3_schedules="learning_rate=LinearSchedule(1e-3, 0.0, 1.0), clip_range=LinearSchedule(0.2, 0.0, 1.0)",
        ballast_schedules='learning_rate="lin_0.001", clip_range="lin_0.2"',
        settings="8 envs, `n_steps=32`, `batch_size=256`, `gae_lambda=0.8`, `gamma=0.98`, `n_epochs=20`, "
                 "`learning_rate=lin_0.001`, `clip_range=lin_0.2`"),
    "PendulumNoVel-v1": dict(
        base="Pendulum-v1", mask="[1, 1, 0]", n_envs=4, section="recurrent-ppo-pendulum-novel",
        kwargs="dict(n_steps=1024, gae_lambda=0.95, gamma=0.9, n_epochs=10, ent_coef=0.0, learning_rate=1e-3, "
               "clip_range=0.2, use_sde=True, sde_sample_freq=4)",
        sb3_schedules="", ballast_schedules="",
        settings="4 envs, `n_steps=1024`, `gae_lambda=0.95`, `gamma=0.9`, `n_epochs=10`, `learning_rate=1e-3`, "
                 "`clip_range=0.2`, gSDE with `sde_sample_freq=4`"),
}

#: One seeded run in a fresh process: train, then evaluate the final model on 10 episodes.
RUN = r"""
import json, time, torch
torch.set_num_threads(1)
import gymnasium as gym
import numpy as np
seed, lib = {seed}, "{lib}"
kwargs = KWARGS
kwargs["policy_kwargs"] = dict(ortho_init=False, activation_fn=torch.nn.ReLU, lstm_hidden_size=64,
                               enable_critic_lstm=True, net_arch=dict(pi=[64], vf=[64]))
if lib == "sb3":
    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.utils import LinearSchedule
    from stable_baselines3.common.vec_env import VecNormalize

    class MaskVelocity(gym.ObservationWrapper):  # the zoo's MaskVelocityWrapper
        def observation(self, observation):
            return observation * np.array(MASK, dtype=observation.dtype)

    make = lambda: MaskVelocity(gym.make("BASE"))
    env = VecNormalize(make_vec_env(make, n_envs=N_ENVS, seed=seed), gamma=kwargs["gamma"])
    model = RecurrentPPO("MlpLstmPolicy", env, seed=seed, device="cpu", SB3_SCHEDULES **kwargs)
else:
    from ballast import RecurrentPPO, evaluate_policy
    model = RecurrentPPO("MlpLstmPolicy", "ENV", n_envs=N_ENVS, seed=seed, device="cpu", normalize_observations=True,
                         normalize_rewards=True, BALLAST_SCHEDULES **kwargs)
start = time.perf_counter()
model.learn({steps})
seconds = time.perf_counter() - start
if lib == "sb3":
    eval_env = VecNormalize(make_vec_env(make, n_envs=1, seed=2000 + seed), training=False, norm_reward=False)
    eval_env.obs_rms = env.obs_rms
    mean = float(evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)[0])
else:
    mean = float(evaluate_policy(model, "ENV", n_eval_episodes=10, deterministic=True, seed=2000 + seed)[0])
print(json.dumps(dict(lib=lib, seed=seed, seconds=seconds, steps=model.num_timesteps, final=mean)))
"""


def template(env: str) -> str:
    """:data:`RUN` for ``env``, its ``{lib}``, ``{seed}`` and ``{steps}`` fields left to fill."""
    spec = ENVS[env]
    schedules = {name: f"{spec[name]}, " if spec[name] else "" for name in ("sb3_schedules", "ballast_schedules")}
    return (RUN.replace("KWARGS", spec["kwargs"]).replace("MASK", spec["mask"]).replace("BASE", spec["base"])
            .replace("N_ENVS", str(spec["n_envs"])).replace("SB3_SCHEDULES ", schedules["sb3_schedules"])
            .replace("BALLAST_SCHEDULES ", schedules["ballast_schedules"]).replace("ENV", env))


def main() -> None:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--env", choices=sorted(ENVS), default="CartPoleNoVel-v1")
    known, rest = pre.parse_known_args()
    env, spec = known.env, ENVS[known.env]
    sys.argv = [sys.argv[0], *rest]
    args, ours, theirs, ratios = compare_with_peer(template(env), 100_000, __doc__)
    import sb3_contrib
    import stable_baselines3

    rows = seed_rows(ours, theirs, "sb3-contrib")
    mean_ours, mean_theirs = np.mean([r["final"] for r in ours]), np.mean([r["final"] for r in theirs])
    body = "\n".join([
        f"## RecurrentPPO on {env} (zoo settings, {args.steps // 1000}k steps): Ballast vs sb3-contrib",
        "",
        f"Both libraries with rl-baselines3-zoo's tuned {env} ppo_lstm hyperparameters ({spec['settings']}, "
        "observation and reward normalisation, LSTMs of 64 units for actor and critic and ReLU layers of 64, "
        "`ortho_init=False`), one torch thread, each run in a fresh process, the two runs of a "
        "seed one after the other; the final model evaluated deterministically on 10 episodes (eval seed "
        "2000 + seed) with its state carried. Ballast runs each LSTM once over a minibatch's padded "
        "sequences; sb3-contrib steps it one time step at a time when a minibatch holds an episode start. "
        f"SB3 {stable_baselines3.__version__}, sb3-contrib {sb3_contrib.__version__}.",
        "",
        *rows,
        "",
        f"Final return: Ballast {mean_std([r['final'] for r in ours])}, "
        f"sb3-contrib {mean_std([r['final'] for r in theirs])}.  ",
        f"Mean ≥ sb3-contrib's: {'yes' if mean_ours >= mean_theirs else 'no'}.  ",
        f"Speed: Ballast runs {np.mean(ratios):.2f}x the steps per second of sb3-contrib (per seed: "
        f"{', '.join(f'{r:.2f}' for r in ratios)}).",
        "",
        f"Command: `{command_line()}` (revision {git_revision()}).  ",
        f"Machine: {machine(threads=1)}.",
    ])
    update_section(spec["section"], body)
    print(body)


if __name__ == "__main__":
    main()
