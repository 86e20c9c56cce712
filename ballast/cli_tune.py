"""``ballast tune``: search hyperparameters with Optuna, on this machine or a Ray cluster.

    ballast tune ppo CartPole-v1 --trials 20 --steps 20000 --out tune/ppo_cartpole
    ballast train ppo CartPole-v1 --hyperparams tune/ppo_cartpole/best_hyperparams.yml

The work is done by :func:`ballast.tuning.tune`; this module turns the command line into its options.
The options that say where runs go (``--jobs``, ``--ray``, ``--cpus-per-run``, ...) are shared with
``ballast bench`` (:func:`add_execution_options`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ballast.algos.base import ALGORITHMS
from ballast.cli import _positive_int
from ballast.execution.options import ExecutionOptions
from ballast.tracking import TRACKERS


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def add_execution_options(p: argparse.ArgumentParser, what: str, eval_episodes: int) -> None:
    """Options shared by ``tune`` and ``bench``: where the runs go and how they are evaluated."""
    p.add_argument("--jobs", type=_positive_int,
                   help=f"{what} at once: local processes, or Ray tasks in flight with --ray "
                        "(default: 1 locally, as many as the Ray cluster's CPUs hold)")
    p.add_argument("--ray", metavar="ADDRESS",
                   help=f"run the {what} as Ray tasks on the cluster at host:port, 'auto' (the cluster this machine "
                        "is part of) or 'local' (a private cluster for this command); needs ballast-rl[ray]")
    p.add_argument("--cpus-per-run", type=_non_negative_float, default=1.0,
                   help="CPUs each run asks Ray for; also its torch threads (default: 1)")
    p.add_argument("--gpus-per-run", type=_non_negative_float, default=0.0,
                   help="GPUs (or a fraction) each run asks Ray for (default: 0)")
    p.add_argument("--evals", type=_positive_int, default=5,
                   help="evaluations during each run, evenly spaced (default: 5)")
    p.add_argument("--eval-episodes", type=_positive_int, default=eval_episodes,
                   help=f"deterministic episodes per evaluation (default: {eval_episodes})")
    p.add_argument("--device", default="auto", help="torch device of each run (default: auto)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (one line per finished run stays)")
    p.add_argument("--track", choices=TRACKERS,
                   help="send each finished run (settings, metrics, files) to MLflow or Weights & Biases")


def execution_options(args: argparse.Namespace) -> ExecutionOptions:
    """The options :func:`add_execution_options` added, as the drivers take them."""
    return ExecutionOptions(jobs=args.jobs, ray=args.ray, evals=args.evals, eval_episodes=args.eval_episodes,
                            device=args.device, cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run,
                            argv=tuple(args.argv), track=args.track)


def add_tune_parser(sub: Any) -> None:
    """Register ``ballast tune``."""
    from ballast.tuning.study import PRUNERS, SAMPLERS

    p = sub.add_parser("tune", help="search hyperparameters with Optuna (locally or on Ray)",
                       description="Run Optuna trials of ALGO on ENV_ID with the zoo's search space, prune bad ones "
                                   "on their evaluations, and write the best hyperparameters as a zoo file in OUT. "
                                   "Running the command again continues the same study.")
    p.add_argument("algo", metavar="ALGO", help=f"algorithm name ({', '.join(sorted(ALGORITHMS))})")
    p.add_argument("env_id", metavar="ENV_ID", help="Gymnasium env id, e.g. CartPole-v1")
    p.add_argument("--trials", type=_positive_int, required=True,
                   help="finished trials the study should hold (earlier ones count)")
    p.add_argument("--steps", type=_positive_int, required=True, help="env steps per trial")
    p.add_argument("--out", type=Path, required=True, help="output folder (study journal, trials, best file)")
    p.add_argument("--storage", metavar="URL",
                   help="Optuna storage URL (sqlite:///f.db, postgresql://..., journal:///path); "
                        "default: the journal file OUT/study.journal")
    p.add_argument("--study-name", help="study name (default: <algo>_<env>)")
    p.add_argument("--sampler", choices=SAMPLERS, default="tpe", help="Optuna sampler (default: tpe)")
    p.add_argument("--pruner", choices=PRUNERS, default="median", help="Optuna pruner (default: median)")
    p.add_argument("--search-space", type=Path, metavar="FILE.yml",
                   help="YAML file whose entries replace those of the built-in search space")
    p.add_argument("--hyperparams", type=Path, metavar="FILE.yml",
                   help="zoo file whose entry for ENV_ID is the fixed base of every trial (n_envs, policy, ...)")
    p.add_argument("--seed", type=int, default=0, help="seed of every trial and of the sampler (default: 0)")
    add_execution_options(p, "trials", eval_episodes=5)
    p.set_defaults(handler=cmd_tune)


def cmd_tune(args: argparse.Namespace) -> int:
    """``ballast tune``: run the search, then say where the results are."""
    from ballast.tuning.tune import TuneOptions, tune

    options = TuneOptions(algorithm=args.algo, env_id=args.env_id, trials=args.trials, steps=args.steps, out=args.out,
                          storage=args.storage, study_name=args.study_name, sampler=args.sampler, pruner=args.pruner,
                          search_space=args.search_space, hyperparams=args.hyperparams, seed=args.seed,
                          execution=execution_options(args))
    result = tune(options, show_progress=not args.no_progress)
    counts = result.counts
    print(f"study {result.study_name!r} ({result.storage}): {counts['complete']} complete, {counts['pruned']} "
          f"pruned, {counts['fail']} failed")
    if result.best_number is not None:
        print(f"best: trial {result.best_number}, mean return {result.best_value:.2f}")
    for name, path in result.files.items():
        print(f"  {name + ':':<15}{path}")
    return 0
