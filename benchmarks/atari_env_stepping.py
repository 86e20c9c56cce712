"""Stepping 8 Atari copies: in this process, in 2 threads, or in 2 worker processes of 4 copies each.

How much a parallel env could give PPO on Breakout on this machine. Each mode steps 8 copies of
``BreakoutNoFrameskip-v4`` with Ballast's ``AtariWrapper`` (SB3's defaults) for ``--steps`` agent steps
of random actions (the same for every mode), resetting a copy when its episode ends, and reports agent
steps per second:

* ``sequential``: one copy after another, as ``DummyVecEnv`` steps them;
* ``threads``: two threads of four copies (ale-py keeps the GIL while it emulates);
* ``processes``: two worker processes of four copies, actions sent through pipes and observations
  written into shared memory (the least a process-parallel vector env has to do).

Writes the section ``atari-env-stepping`` of docs/benchmarks.md.

    .venv-bench/bin/python benchmarks/atari_env_stepping.py [--steps 600] [--repeats 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import shared_memory

import numpy as np
from common import command_line, git_revision, machine, update_section

ENV_ID = "BreakoutNoFrameskip-v4"
N_ENVS, GROUP = 8, 4


def make_envs(first: int, count: int) -> list:
    import ale_py
    import gymnasium as gym

    from ballast.envs.atari_wrappers import AtariWrapper

    gym.register_envs(ale_py)
    envs = [AtariWrapper(gym.make(ENV_ID)) for _ in range(count)]
    for i, env in enumerate(envs):
        env.reset(seed=first + i)
    return envs


def step_copy(env, action: int) -> np.ndarray:
    obs, _, terminated, truncated, _ = env.step(action)
    if terminated or truncated:
        obs, _ = env.reset()
    return obs


def worker(rank: int, conn, name: str) -> None:
    envs = make_envs(rank * GROUP, GROUP)
    memory = shared_memory.SharedMemory(name=name)
    frames = np.ndarray((N_ENVS, 84, 84, 1), np.uint8, buffer=memory.buf)
    conn.send("ready")
    while (actions := conn.recv()) is not None:
        for j, env in enumerate(envs):
            frames[rank * GROUP + j] = step_copy(env, actions[j])
        conn.send("done")
    del frames
    memory.close()


def sequential(actions: np.ndarray) -> float:
    envs = make_envs(0, N_ENVS)
    start = time.perf_counter()
    for row in actions:
        for env, action in zip(envs, row):
            step_copy(env, action)
    return len(actions) * N_ENVS / (time.perf_counter() - start)


def threads(actions: np.ndarray) -> float:
    envs = make_envs(0, N_ENVS)

    def group(rank: int, row: np.ndarray) -> None:
        for j in range(GROUP):
            step_copy(envs[rank * GROUP + j], row[rank * GROUP + j])

    with ThreadPoolExecutor(N_ENVS // GROUP) as pool:
        start = time.perf_counter()
        for row in actions:
            list(pool.map(group, range(N_ENVS // GROUP), [row] * (N_ENVS // GROUP)))
        return len(actions) * N_ENVS / (time.perf_counter() - start)


def processes(actions: np.ndarray) -> float:
    memory = shared_memory.SharedMemory(create=True, size=N_ENVS * 84 * 84)
    context = mp.get_context("spawn")
    pipes, workers = [], []
    try:
        for rank in range(N_ENVS // GROUP):
            ours, theirs = context.Pipe()
            workers.append(context.Process(target=worker, args=(rank, theirs, memory.name), daemon=True))
            workers[-1].start()
            pipes.append(ours)
        for pipe in pipes:
            pipe.recv()
        start = time.perf_counter()
        for row in actions:
            for rank, pipe in enumerate(pipes):
                pipe.send(row[rank * GROUP:(rank + 1) * GROUP])
            for pipe in pipes:
                pipe.recv()
        rate = len(actions) * N_ENVS / (time.perf_counter() - start)
        for pipe in pipes:
            pipe.send(None)
        for process in workers:
            process.join()
        return rate
    finally:
        memory.close()
        memory.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600, help="agent steps of the 8 copies per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    actions = np.random.default_rng(0).integers(0, 4, size=(args.steps, N_ENVS))
    modes = {"sequential": sequential, "threads": threads, "processes": processes}
    rates = {name: [] for name in modes}
    for _ in range(args.repeats):  # the modes alternate, so a slower spell of the machine hits each
        for name, measure in modes.items():
            rates[name].append(measure(actions))
            print(name, f"{rates[name][-1]:.0f}", flush=True)
    base = np.median(rates["sequential"])
    rows = ["| mode | agent steps/s per repeat | median | vs sequential |", "|---|---|---|---|"]
    for name, values in rates.items():
        rows.append(f"| {name} | {', '.join(f'{v:,.0f}' for v in values)} | {np.median(values):,.0f} | "
                    f"{np.median(values) / base:.2f}x |")
    body = "\n".join([
        "## Stepping 8 Atari copies: one process, threads, worker processes",
        "",
        f"`{ENV_ID}` with `AtariWrapper` (SB3's defaults), random actions, {args.steps} agent steps of all 8 "
        "copies per measurement: one copy after another (as `DummyVecEnv`), 2 threads of 4 copies, 2 worker "
        "processes of 4 copies (pipes for actions, shared memory for frames).",
        "",
        *rows,
        "",
        f"Command: `{command_line()}` (revision {git_revision()}).  ",
        f"Machine: {machine()}.",
    ])
    update_section("atari-env-stepping", body)
    print(body)


if __name__ == "__main__":
    main()
