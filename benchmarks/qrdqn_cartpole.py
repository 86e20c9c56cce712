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

With ``--prioritized`` it trains Ballast alone (sb3-contrib has no prioritized replay) with the
same settings and ``prioritized_replay=True`` (the buffer's defaults: ``alpha=0.5``, ``beta``
0.4 -> 1.0), evaluated the same way, and writes the section ``qrdqn-cartpole-prioritized``,
beside the other; it needs no SB3:

    python benchmarks/qrdqn_cartpole.py --prioritized [--seeds 0 1 2] [--steps 50000]
"""

from __future__ import annotations

import argparse

import numpy as np
from common import (
    alternating,
    best_model_rows,
    command_line,
    git_revision,
    machine,
    run_with_best_model,
    update_section,
)

#: rl-baselines3-zoo's CartPole-v1 hyperparameters, as Python source.
KWARGS = (
    "dict(learning_rate=2.3e-3, batch_size=64, buffer_size=100000, learning_starts=1000, gamma=0.99, "
    "target_update_interval=10, train_freq=256, gradient_steps=128, exploration_fraction=0.16, "
    "exploration_final_eps=0.04, policy_kwargs=dict(net_arch=[256, 256], n_quantiles=10))"
)

#: The same with prioritized replay (Ballast only).
PRIORITIZED_KWARGS = KWARGS[:-1] + ", prioritized_replay=True)"

IMPORTS = {"sb3_import": "from sb3_contrib import QRDQN as Algorithm",
           "ballast_import": "from ballast import QRDQN as Algorithm"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=50_000, help="the zoo's budget is 50,000")
    parser.add_argument("--prioritized", action="store_true",
                        help="Ballast alone, with prioritized replay (section qrdqn-cartpole-prioritized)")
    args = parser.parse_args()
    if args.prioritized:
        prioritized(args.seeds, args.steps)
        return
    results = alternating(lambda lib, seed: run_with_best_model(lib, seed, args.steps, kwargs=KWARGS, **IMPORTS),
                          args.seeds)
    rows, summary = best_model_rows(results, {"ballast": "Ballast", "sb3": "sb3-contrib"}, speed=True)
    ratios = [theirs["seconds"] / ours["seconds"] for ours, theirs in zip(results[0::2], results[1::2])]
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


def prioritized(seeds: list[int], steps: int) -> None:
    """Ballast's QR-DQN with prioritized replay, seed by seed, as the section beside the comparison."""
    results = [run_with_best_model("ballast", seed, steps, kwargs=PRIORITIZED_KWARGS, **IMPORTS) for seed in seeds]
    for result in results:
        print(result, flush=True)
    rows, summary = best_model_rows(results, {"ballast": "Ballast, prioritized replay"}, speed=True)
    best = [r["best"] for r in results]
    budget = "the zoo's budget" if steps >= 50_000 else f"a reduced budget ({steps:,} of the zoo's 50,000 steps)"
    body = "\n".join([
        f"### With prioritized replay ({steps // 1000}k steps)",
        "",
        f"Ballast alone (sb3-contrib has no prioritized replay), the settings above at {budget} with "
        "`prioritized_replay=True` (`alpha=0.5`, `beta` 0.4 -> 1.0, `min_priority=1e-6`), evaluated the same way.",
        "",
        *rows,
        "",
        "  \n".join(summary) + "  ",
        f"Best model kept ≥ 475 on every seed: {'yes' if min(best) >= 475 else 'no'} "
        f"({', '.join(f'{v:.0f}' for v in best)}).",
        "",
        f"Command: `{command_line()}` (revision {git_revision()}).  ",
        f"Machine: {machine(threads=1)}.",
    ])
    update_section("qrdqn-cartpole-prioritized", body)
    print(body)


if __name__ == "__main__":
    main()
