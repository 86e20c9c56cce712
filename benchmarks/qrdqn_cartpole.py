"""QR-DQN on CartPole-v1 with the zoo's settings: Ballast vs sb3-contrib, seed by seed.

Both libraries train QR-DQN with rl-baselines3-zoo's CartPole-v1 hyperparameters
(hyperparams/qrdqn.yml: ``net_arch=[256, 256]``, ``n_quantiles=10``) for ``--steps`` steps (the
zoo's budget is 50,000), one torch thread each, the runs of a seed one after the other (Ballast,
then sb3-contrib). During training each library's ``EvalCallback`` evaluates the greedy policy
every 5,000 steps on 10 episodes and keeps the best model (as rl-zoo's ``train.py`` does); the
final and the best model are then evaluated on 20 fresh episodes (eval seed 2000 + seed). Steps
per second are measured over ``learn`` (evaluations included, the same for both). Writes the
section ``qrdqn-cartpole`` of docs/benchmarks.md. Needs SB3 and sb3-contrib (benchmark environment
only):

    make bench-venv && .venv-bench/bin/pip install sb3-contrib==2.9.2
    .venv-bench/bin/python benchmarks/qrdqn_cartpole.py [--seeds 0 1 2] [--steps 50000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np
from common import command_line, git_revision, machine, mean_std, update_section

RUN = r"""
import json, tempfile, time, torch
torch.set_num_threads(1)
import gymnasium as gym
kwargs = dict(learning_rate=2.3e-3, batch_size=64, buffer_size=100000, learning_starts=1000, gamma=0.99,
              target_update_interval=10, train_freq=256, gradient_steps=128, exploration_fraction=0.16,
              exploration_final_eps=0.04, policy_kwargs=dict(net_arch=[256, 256], n_quantiles=10))
seed, lib = {seed}, "{lib}"
folder = tempfile.mkdtemp()
if lib == "sb3":
    from sb3_contrib import QRDQN
    from stable_baselines3.common.callbacks import EvalCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    eval_env = make_vec_env("CartPole-v1", n_envs=1, seed=1000 + seed)
    callback = EvalCallback(eval_env, n_eval_episodes=10, eval_freq=5000, best_model_save_path=folder,
                            log_path=folder, verbose=0)
else:
    from ballast import QRDQN
    from ballast.callbacks import EvalCallback
    from ballast.evaluation import evaluate_policy
    callback = EvalCallback("CartPole-v1", n_eval_episodes=10, eval_freq=5000, best_model_save_path=folder,
                            seed=1000 + seed, verbose=0)
model = QRDQN("MlpPolicy", "CartPole-v1", seed=seed, device="cpu", **kwargs)
start = time.perf_counter()
model.learn({steps}, callback=callback)
seconds = time.perf_counter() - start
if lib == "sb3":
    curve = [float(sum(r) / len(r)) for r in callback.evaluations_results]
else:
    curve = [mean for _, mean, _ in callback.evaluations]

def score(m):
    if lib == "sb3":
        env = gym.make("CartPole-v1")
        env.reset(seed=2000 + seed)
        return float(evaluate_policy(m, env, n_eval_episodes=20, deterministic=True)[0])
    return float(evaluate_policy(m, "CartPole-v1", n_eval_episodes=20, deterministic=True, seed=2000 + seed)[0])

best = QRDQN.load(folder + "/best_model.zip", device="cpu")
print(json.dumps(dict(lib=lib, seed=seed, seconds=seconds, steps=model.num_timesteps, curve=curve,
                      final=score(model), best=score(best))))
"""


def run(lib: str, seed: int, steps: int) -> dict:
    code = RUN.format(lib=lib, seed=seed, steps=steps)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{lib} seed {seed} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=50_000, help="the zoo's budget is 50,000")
    args = parser.parse_args()
    results = []
    for seed in args.seeds:  # alternating: one library, then the other, on the same seed
        for lib in ("ballast", "sb3"):
            results.append(run(lib, seed, args.steps))
            print(results[-1], flush=True)
    rows = ["| | seed | steps/s | eval every 5k steps (10 episodes) | final model | best model kept |",
            "|---|---|---|---|---|---|"]
    summary = []
    for lib, name in (("ballast", "Ballast"), ("sb3", "sb3-contrib")):
        runs = [r for r in results if r["lib"] == lib]
        for r in runs:
            curve = ", ".join(f"{v:.0f}" for v in r["curve"])
            rows.append(f"| {name} | {r['seed']} | {r['steps'] / r['seconds']:.0f} | {curve} | {r['final']:.1f} | "
                        f"{r['best']:.1f} |")
        summary.append(f"{name}: final model {mean_std([r['final'] for r in runs])}, "
                       f"best model {mean_std([r['best'] for r in runs])}")
    ratios = [ours["seconds"] / theirs["seconds"] for ours, theirs in zip(results[1::2], results[0::2])]
    ours_best = [r["best"] for r in results if r["lib"] == "ballast"]
    import sb3_contrib
    import stable_baselines3

    budget = ("the zoo's budget" if args.steps >= 50_000 else
              f"a reduced budget ({args.steps:,} of the zoo's 50,000 steps, to keep the run short)")
    body = "\n".join([
        f"## QR-DQN on CartPole-v1 (zoo settings, {args.steps // 1000}k steps): Ballast vs sb3-contrib",
        "",
        "Both libraries with rl-baselines3-zoo's CartPole-v1 QR-DQN hyperparameters "
        f"(`net_arch=[256, 256]`, `n_quantiles=10`) at {budget}, one torch thread, the two runs of a seed "
        "one after the other; each library's `EvalCallback` evaluates every 5,000 steps on 10 episodes and "
        "keeps the best model; the final and the best model are then evaluated on 20 fresh episodes (eval seed "
        f"2000 + seed). Steps per second over `learn`, evaluations included. SB3 {stable_baselines3.__version__}, "
        f"sb3-contrib {sb3_contrib.__version__}.",
        "",
        *rows,
        "",
        "  \n".join(summary) + "  ",
        f"Speed: Ballast runs {np.mean(ratios):.2f}x the steps per second of sb3-contrib (per seed: "
        f"{', '.join(f'{r:.2f}' for r in ratios)}).  ",
        f"Best model kept ≥ 475 on every seed: {'yes' if min(ours_best) >= 475 else 'no'} "
        f"(Ballast: {', '.join(f'{v:.0f}' for v in ours_best)}).",
        "",
        f"Command: `{command_line()}` (revision {git_revision()}).  ",
        f"Machine: {machine(threads=1)}.",
    ])
    update_section("qrdqn-cartpole", body)
    print(body)


if __name__ == "__main__":
    main()
