"""Train small, deploy large: PPO on minimum vertex cover with 10-20 nodes, evaluated on 50, 200 and 1000.

The policy reads the graph with a message-passing encoder and scores every node with the same
weights, so nothing in it depends on the number of nodes: the model saved after training on small
graphs loads with an env of 1000-node graphs as it is (``PPO.load(path, env=...)``). It chooses
among the valid nodes only (the env's action masks) and is compared, on the same seeded graphs,
with a random valid node and with the greedy heuristic (the node of largest residual degree).

    python examples/graph_train_small_eval_large.py --steps 16384 --graphs 20

Prints one row per size: mean cover size of the model, of random and of greedy (smaller is better),
and the model's ratio to greedy.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import ballast
from ballast.envs.graph_problems import ENV_ID, model_policy, run_baseline

TRAIN_SIZES = (10, 20)
EVAL_SIZES = (50, 200, 1000)
PPO_SETTINGS: dict[str, Any] = dict(
    n_envs=8, n_steps=128, batch_size=256, n_epochs=4, learning_rate=1e-3, gamma=1.0, gae_lambda=0.95,
    ent_coef=0.01, clip_range=0.2,
    # Mean aggregation keeps a node's embedding on the same scale whatever its degree, which matters
    # when the hubs of 1000-node graphs have far more neighbours than any node seen in training.
    # The node head reads the message-passed embeddings: a good cover node depends on its neighbourhood.
    policy_kwargs=dict(features_extractor_kwargs=dict(hidden_dim=32, n_layers=2, aggregation="mean",
                                                      node_outputs="final"),
                       net_arch=[32, 32]),
)


def train(steps: int, seed: int, path: Path) -> tuple[Path, float]:
    """Train PPO on graphs of ``TRAIN_SIZES`` nodes and save it to ``path``; returns the path and the seconds."""
    model = ballast.PPO("auto", ENV_ID, env_kwargs={"n_nodes": TRAIN_SIZES}, seed=seed, device="cpu",
                        **PPO_SETTINGS)
    start = time.perf_counter()
    model.learn(steps)
    return model.save(path), time.perf_counter() - start


def evaluate(path: Path, sizes: tuple[int, ...], graphs: int, eval_seed: int = 10_000) -> list[dict[str, Any]]:
    """Cover sizes of the saved model, random and greedy on ``graphs`` seeded graphs of each size."""
    rows = []
    for n in sizes:
        # The same file, loaded with an env of larger graphs: no weight changes, no surgery.
        model = ballast.PPO.load(path, env=gym.make(ENV_ID, n_nodes=n), device="cpu")
        seeds = range(eval_seed, eval_seed + graphs)
        learned = run_baseline(model_policy(model), seeds, n_nodes=n)
        random = run_baseline("random", seeds, n_nodes=n)
        greedy = run_baseline("greedy", seeds, n_nodes=n)
        rows.append({"n_nodes": n, "model": float(np.mean(learned)), "random": float(np.mean(random)),
                     "greedy": float(np.mean(greedy)), "ratio_to_greedy": float(np.mean(learned) / np.mean(greedy)),
                     "graphs": graphs})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=16_384, help="PPO training steps on 10-20 node graphs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--graphs", type=int, default=20, help="evaluation graphs per size")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(EVAL_SIZES))
    parser.add_argument("--save", type=Path, default=None, help="where to keep the trained model")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path, seconds = train(args.steps, args.seed, args.save or Path(tmp) / "mvc_ppo.zip")
        print(f"trained {args.steps} steps on {TRAIN_SIZES[0]}-{TRAIN_SIZES[1]} nodes in {seconds:.0f} s -> {path}")
        print(f"{'nodes':>6} {'model':>8} {'random':>8} {'greedy':>8} {'model/greedy':>13}")
        for row in evaluate(path, tuple(args.sizes), args.graphs):
            print(f"{row['n_nodes']:>6} {row['model']:>8.1f} {row['random']:>8.1f} {row['greedy']:>8.1f} "
                  f"{row['ratio_to_greedy']:>13.3f}")


if __name__ == "__main__":
    main()
