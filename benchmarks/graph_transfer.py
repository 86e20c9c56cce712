"""Train small, evaluate large: PPO on minimum vertex cover (ballast/MinVertexCover-v0).

For each seed, trains PPO on Barabási–Albert graphs of 10-20 nodes
(``examples/graph_train_small_eval_large.py``), saves it, loads the same file with envs of 50, 200
and 1000 nodes and builds covers on 20 seeded graphs of each size, next to a random valid node and
the greedy heuristic on the same graphs. Writes the table to docs/benchmarks.md (section
``graph-transfer``) and the raw results to benchmarks/results/graph_transfer.json.

    .venv/bin/python benchmarks/graph_transfer.py [--seeds 0 1 2] [--steps 16384] [--jobs 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from common import ROOT, command_line, git_revision, machine, update_section, write_json

sys.path.insert(0, str(ROOT / "examples"))


def run_one(seed: int, steps: int, graphs: int) -> dict:
    import torch

    torch.set_num_threads(1)
    from graph_train_small_eval_large import EVAL_SIZES, evaluate, train

    with tempfile.TemporaryDirectory() as tmp:
        path, seconds = train(steps, seed, Path(tmp) / "model.zip")
        rows = evaluate(path, EVAL_SIZES, graphs)
    return {"seed": seed, "steps": steps, "train_seconds": seconds, "rows": rows}


def main() -> None:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=16_384)
    parser.add_argument("--graphs", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=3)
    args = parser.parse_args()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(run_one, args.seeds, [args.steps] * len(args.seeds),
                                [args.graphs] * len(args.seeds)))
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    write_json(out / "graph_transfer.json", results)

    sizes = [row["n_nodes"] for row in results[0]["rows"]]
    lines = [
        "## Train small, evaluate large: PPO on minimum vertex cover",
        "",
        f"PPO (`policy=\"auto\"`: message-passing graph encoder with mean aggregation, 2 layers of 32, "
        "node-choice head, action masks) trained for "
        f"{args.steps} steps on Barabási–Albert graphs of 10-20 nodes (`ballast/MinVertexCover-v0`), "
        f"seeds {args.seeds}; the saved file is loaded with envs of larger graphs and builds covers "
        f"(deterministic, masked) on the same {args.graphs} seeded graphs per size as the baselines. "
        "Mean cover size, smaller is better; greedy adds the node of largest residual degree, random a uniform "
        "valid node.",
        "",
        "| nodes | PPO, per seed | PPO mean | random | greedy | PPO / greedy | PPO / random |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, n in enumerate(sizes):
        per_seed = [r["rows"][i]["model"] for r in results]
        random, greedy = results[0]["rows"][i]["random"], results[0]["rows"][i]["greedy"]
        mean = float(np.mean(per_seed))
        lines.append(f"| {n} | {', '.join(f'{v:.1f}' for v in per_seed)} | {mean:.1f} | {random:.1f} | "
                     f"{greedy:.1f} | {mean / greedy:.3f} | {mean / random:.3f} |")
    train_minutes = np.mean([r["train_seconds"] for r in results]) / 60
    lines += ["", f"Training took {train_minutes:.1f} min per seed (one torch thread).", "",
              f"Command: `{command_line()}` (git {git_revision()}).", f"Machine: {machine(1)}."]
    update_section("graph-transfer", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
