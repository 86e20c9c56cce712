"""RecurrentPPO on CartPoleNoVel-v1 with the zoo's settings: Ballast vs sb3-contrib, seed by seed.

Both libraries train RecurrentPPO with rl-baselines3-zoo's CartPoleNoVel-v1 hyperparameters
(hyperparams/ppo_lstm.yml: 8 envs, ``n_steps=32``, ``batch_size=256``, ``gae_lambda=0.8``,
``gamma=0.98``, ``n_epochs=20``, ``learning_rate=lin_0.001``, ``clip_range=lin_0.2``, sb3-contrib's
policy defaults: one LSTM of 256 units each for actor and critic) for ``--steps`` steps (the zoo's
budget is 100,000), one torch thread each, each run in a fresh process, the runs of a seed one
after the other (Ballast, then sb3-contrib). The env is the zoo's: CartPole-v1 with the cart and
pole velocities set to zero (Ballast registers it as CartPoleNoVel-v1; the sb3-contrib run wraps
CartPole-v1 the same way, as the zoo's ``MaskVelocityWrapper`` does). The final model is evaluated
deterministically on 10 episodes (eval seed 2000 + seed), the state carried; steps per second are
measured over ``learn``. Writes the section ``recurrent-ppo-novel`` of docs/benchmarks.md. Needs
SB3 and sb3-contrib (benchmark environment only):

    make bench-venv && .venv-bench/bin/pip install sb3-contrib==2.9.2
    .venv-bench/bin/python benchmarks/recurrent_ppo_novel.py [--seeds 0 1 2] [--steps 100000]
"""

from __future__ import annotations

import numpy as np
from common import command_line, compare_with_peer, git_revision, machine, mean_std, seed_rows, update_section

#: One seeded run in a fresh process: train, then evaluate the final model on 10 episodes.
RUN = r"""
import json, time, torch
torch.set_num_threads(1)
import gymnasium as gym
import numpy as np
seed, lib = {seed}, "{lib}"
kwargs = dict(n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0)
if lib == "sb3":
    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.utils import LinearSchedule

    class MaskVelocity(gym.ObservationWrapper):  # the zoo's MaskVelocityWrapper for CartPole-v1
        def observation(self, observation):
            return observation * np.array([1, 0, 1, 0], dtype=observation.dtype)

    make = lambda: MaskVelocity(gym.make("CartPole-v1"))
    env = make_vec_env(make, n_envs=8, seed=seed)
    model = RecurrentPPO("MlpLstmPolicy", env, seed=seed, device="cpu", learning_rate=LinearSchedule(1e-3, 0.0, 1.0),
                         clip_range=LinearSchedule(0.2, 0.0, 1.0), **kwargs)
else:
    from ballast import RecurrentPPO, evaluate_policy
    model = RecurrentPPO("MlpLstmPolicy", "CartPoleNoVel-v1", n_envs=8, seed=seed, device="cpu",
                         learning_rate="lin_0.001", clip_range="lin_0.2", **kwargs)
start = time.perf_counter()
model.learn({steps})
seconds = time.perf_counter() - start
if lib == "sb3":
    eval_env = make_vec_env(make, n_envs=1, seed=2000 + seed)
    mean = float(evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)[0])
else:
    mean = float(evaluate_policy(model, "CartPoleNoVel-v1", n_eval_episodes=10, deterministic=True,
                                 seed=2000 + seed)[0])
print(json.dumps(dict(lib=lib, seed=seed, seconds=seconds, steps=model.num_timesteps, final=mean)))
"""


def main() -> None:
    args, ours, theirs, ratios = compare_with_peer(RUN, 100_000, __doc__)
    import sb3_contrib
    import stable_baselines3

    rows = seed_rows(ours, theirs, "sb3-contrib")
    mean_ours, mean_theirs = np.mean([r["final"] for r in ours]), np.mean([r["final"] for r in theirs])
    body = "\n".join([
        f"## RecurrentPPO on CartPoleNoVel-v1 (zoo settings, {args.steps // 1000}k steps): Ballast vs sb3-contrib",
        "",
        "Both libraries with rl-baselines3-zoo's CartPoleNoVel-v1 ppo_lstm hyperparameters (8 envs, `n_steps=32`, "
        "`batch_size=256`, `gae_lambda=0.8`, `gamma=0.98`, `n_epochs=20`, `learning_rate=lin_0.001`, "
        "`clip_range=lin_0.2`, LSTMs of 256 units for actor and critic), one torch thread, each run in a fresh "
        "process, the two runs of a seed one after the other; the final model evaluated deterministically on 10 "
        "episodes (eval seed 2000 + seed) with its state carried. Ballast runs each LSTM once over a minibatch's "
        "padded sequences; sb3-contrib steps it one time step at a time when a minibatch holds an episode start. "
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
    update_section("recurrent-ppo-novel", body)
    print(body)


if __name__ == "__main__":
    main()
