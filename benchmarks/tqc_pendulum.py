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

from common import pendulum_vs_contrib

if __name__ == "__main__":
    pendulum_vs_contrib(
        "TQC", "dict(learning_rate=1e-3, policy_kwargs=dict(n_critics=2, n_quantiles=25))", "tqc-pendulum",
        "TQC on Pendulum-v1 (zoo settings",
        "Both libraries with rl-baselines3-zoo's Pendulum-v1 TQC hyperparameters (`learning_rate=1e-3`, "
        "`n_critics=2`, `n_quantiles=25`, `top_quantiles_to_drop_per_net=2`, `net_arch=[256, 256]`), one torch "
        "thread, each run in a fresh process, the two runs of a seed one after the other; the final model "
        "evaluated deterministically on 10 episodes (eval seed 2000 + seed). Ballast's update runs on autograd "
        "(TQC has no fast update).")
