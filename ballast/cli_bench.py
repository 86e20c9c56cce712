"""``ballast bench``: a grid of runs (algorithms x envs x seeds) and its summary tables.

    ballast bench --algos ppo,a2c --envs CartPole-v1,Acrobot-v1 --seeds 5 --steps 50000 --out bench/

The work is done by :func:`ballast.bench.bench`; this module turns the command line into its options.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ballast.cli import _positive_int
from ballast.cli_tune import add_execution_options, execution_options


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one name (comma-separated)")
    return names


def add_bench_parser(sub: Any) -> None:
    """Register ``ballast bench``."""
    p = sub.add_parser("bench", help="train a grid of algorithms x envs x seeds and tabulate the results",
                       description="Train every algorithm on every env with seeds 0..N-1, each run a normal run "
                                   "folder in OUT/runs, and write OUT/summary.md, summary.csv and runs.csv. Runs "
                                   "already in OUT are not run again.")
    p.add_argument("--algos", type=_names, required=True, help="comma-separated algorithms, e.g. ppo,a2c")
    p.add_argument("--envs", type=_names, required=True, help="comma-separated env ids, e.g. CartPole-v1,Acrobot-v1")
    p.add_argument("--seeds", type=_positive_int, default=3, help="seeds per cell: 0..N-1 (default: 3)")
    p.add_argument("--steps", type=_positive_int, help="env steps per run (default: n_timesteps of the settings)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--hyperparams", default="default", metavar="default|zoo|ballast|PATH",
                   help="settings of each run: the algorithms' defaults, the zoo files Ballast ships, Ballast's own "
                        "entries where it has them (the zoo's elsewhere), a zoo file, or a folder of <algo>.yml "
                        "files (default: default)")
    p.add_argument("--library", default="ballast", help="library that trains the runs (default: ballast)")
    add_execution_options(p, "runs", eval_episodes=10)
    p.set_defaults(handler=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    """``ballast bench``: run the grid, print the summary table."""
    from ballast.bench import BenchOptions, bench

    options = BenchOptions(algorithms=args.algos, env_ids=args.envs, seeds=args.seeds, out=args.out, steps=args.steps,
                           hyperparams=args.hyperparams, library=args.library, execution=execution_options(args))
    result = bench(options, show_progress=not args.no_progress)
    print(result.files["summary"].read_text(encoding="utf-8"))
    for name, path in result.files.items():
        print(f"  {name + ':':<13}{path}")
    return 0
