"""TQC on Pendulum-v1 with the zoo's settings: Ballast vs sb3-contrib, seed by seed.

Both libraries train TQC with rl-baselines3-zoo's Pendulum-v1 hyperparameters (hyperparams/tqc.yml:
``learning_rate=1e-3``, ``n_critics=2``, ``n_quantiles=25``, sb3-contrib's defaults otherwise) for
``--steps`` steps (the zoo's budget is 20,000), one torch thread each, each run in a fresh process,
the runs of a seed one after the other (Ballast, then sb3-contrib). The final model is evaluated
deterministically on 10 episodes (eval seed 2000 + seed); steps per second are measured over ``learn``.
Writes the section ``tqc-pendulum`` of docs/benchmarks.md. Needs SB3 and sb3-contrib (benchmark
environment only):

    make bench-venv && .venv-bench/bin/pip install sb3-contrib==2.9.2
    .venv-bench/bin/python benchmarks/tqc_pendulum.py [--seeds 0 1 2] [--steps 20000]
"""

from __future__ import annotations

import numpy as np
from common import command_line, compare_with_peer, git_revision, machine, mean_std, seed_rows, update_section

#: One seeded run in a fresh process: train, then evaluate the final model on 10 episodes.
RUN = r"""
import json, time, torch
torch.set_num_threads(1)
import gymnasium as gym
seed, lib = {seed}, "{lib}"
kwargs = dict(learning_rate=1e-3, policy_kwargs=dict(n_critics=2, n_quantiles=25))
if lib == "sb3":
    from sb3_contrib import TQC
    from stable_baselines3.common.evaluation import evaluate_policy
else:
    from ballast import TQC, evaluate_policy
model = TQC("MlpPolicy", "Pendulum-v1", seed=seed, device="cpu", **kwargs)
start = time.perf_counter()
model.learn({steps})
seconds = time.perf_counter() - start
if lib == "sb3":
    env = gym.make("Pendulum-v1")
    env.reset(seed=2000 + seed)
    mean = float(evaluate_policy(model, env, n_eval_episodes=10, deterministic=True)[0])
else:
    mean = float(evaluate_policy(model, "Pendulum-v1", n_eval_episodes=10, deterministic=True, seed=2000 + seed)[0])
print(json.dumps(dict(lib=lib, seed=seed, seconds=seconds, steps=model.num_timesteps, final=mean)))
"""


def main() -> None:
    args, ours, theirs, ratios = compare_with_peer(RUN, 20_000, __doc__)
    import sb3_contrib
    import stable_baselines3

    rows = seed_rows(ours, theirs, "sb3-contrib")
    mean_ours, mean_theirs = np.mean([r["final"] for r in ours]), np.mean([r["final"] for r in theirs])
    body = "\n".join([
        f"## TQC on Pendulum-v1 (zoo settings, {args.steps // 1000}k steps): Ballast vs sb3-contrib",
        "",
        "Both libraries with rl-baselines3-zoo's Pendulum-v1 TQC hyperparameters (`learning_rate=1e-3`, "
        "`n_critics=2`, `n_quantiles=25`, `top_quantiles_to_drop_per_net=2`, `net_arch=[256, 256]`), one torch "
        "thread, each run in a fresh process, the two runs of a seed one after the other; the final model "
        "evaluated deterministically on 10 episodes (eval seed 2000 + seed). Ballast's update runs on autograd "
        f"(TQC has no fast update). SB3 {stable_baselines3.__version__}, sb3-contrib {sb3_contrib.__version__}.",
        "",
        *rows,
        "",
        f"Final return: Ballast {mean_std([r['final'] for r in ours])}, "
        f"sb3-contrib {mean_std([r['final'] for r in theirs])}.  ",
        f"Mean ≥ -200: {'yes' if mean_ours >= -200 else 'no'}; ≥ sb3-contrib's: "
        f"{'yes' if mean_ours >= mean_theirs else 'no'}.  ",
        f"Speed: Ballast runs {np.mean(ratios):.2f}x the steps per second of sb3-contrib (per seed: "
        f"{', '.join(f'{r:.2f}' for r in ratios)}).",
        "",
        f"Command: `{command_line()}` (revision {git_revision()}).  ",
        f"Machine: {machine(threads=1)}.",
    ])
    update_section("tqc-pendulum", body)
    print(body)


if __name__ == "__main__":
    main()
