"""Atari replay memory: resident memory of a replay buffer filled with stacked 84 x 84 frames.

Contenders, each measured in a fresh process per size:

* Ballast: the replay buffer of ``DQN("CnnPolicy", BreakoutNoFrameskip-v4 with AtariWrapper,
  frame_stack=4, buffer_size=N)``, which keeps each frame once (``ballast/buffers/frame_dedup.py``);
* SB3: ``stable_baselines3.common.buffers.ReplayBuffer(N, Box(0, 255, (84, 84, 4), uint8), Discrete(4),
  optimize_memory_usage=True, handle_timeout_termination=False)``, whole stacks, successors in the
  next row.

Each process first plays Breakout with random actions (AtariWrapper: grayscale 84 x 84 frames, a
lost life ends the learner's episode) to get a pool of real frames and their episode ends
(``--frames random``: random uint8 frames, episodes of 100 to 1000 steps), builds its buffer, reads
its resident set size (``VmRSS`` of ``/proc/self/status``), writes N rows, one ``add`` each, of
4-frame stacks (zeros before an episode's first frame, as frame stacking makes them) cycling
through the pool, and reads it again. The growth is what the buffer's N rows hold in memory:
measured, not computed. SB3 is measured only up to ``--sb3-max`` transitions (its observations
alone need 28,224 bytes each: 26 GiB for 1M); larger sizes say "not measured".

    .venv-bench/bin/python benchmarks/atari_replay_memory.py --transitions 100000 300000 1000000

(``.venv-bench`` has both libraries; ``--write-docs`` replaces the section ``atari-replay-memory``
of docs/benchmarks.md.)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

N_STACK, SIDE = 4, 84
FRAME_POOL = 4000
GAME = "BreakoutNoFrameskip-v4"
MIB = 2**20


def rss_bytes() -> int:
    """This process's resident set size."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def frame_pool(source: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(frames, ends)``: ``FRAME_POOL`` frames ``(84, 84)`` in the order an episode stream shows them;
    ``ends[i]``: frame ``i`` is the last of its episode."""
    rng = np.random.default_rng(seed)
    if source == "random":
        frames = rng.integers(1, 256, (FRAME_POOL, SIDE, SIDE), dtype=np.uint8)
        ends = np.zeros(FRAME_POOL, dtype=bool)
        last = np.cumsum(rng.integers(100, 1001, FRAME_POOL))
        ends[last[last < FRAME_POOL]] = True
        return frames, ends
    import gymnasium as gym

    from ballast.envs.atari_wrappers import AtariWrapper
    from ballast.envs.make import ensure_registered

    ensure_registered(GAME)
    env = AtariWrapper(gym.make(GAME))
    obs, _ = env.reset(seed=seed)
    frames, ends = np.empty((FRAME_POOL, SIDE, SIDE), dtype=np.uint8), np.zeros(FRAME_POOL, dtype=bool)
    i = 0
    while i < FRAME_POOL:
        frames[i] = obs[..., 0]
        obs, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        i += 1
        if (terminated or truncated) and i < FRAME_POOL:  # the final observation, then a reset
            frames[i], ends[i] = obs[..., 0], True
            obs, _ = env.reset()
            i += 1
    env.close()
    return frames, ends


def stacks(frames: np.ndarray, ends: np.ndarray) -> Iterator[tuple[np.ndarray, bool]]:
    """``(stack, last)`` for the observations of an endless episode stream cycling through the pool:
    ``(1, 84, 84, 4)`` stacks, zeros before an episode's first frame; ``last``: the episode's final one."""
    stack = np.zeros((1, SIDE, SIDE, N_STACK), dtype=np.uint8)
    i = 0
    while True:
        stack[..., :-1] = stack[..., 1:]
        stack[0, :, :, -1] = frames[i % len(frames)]
        last = bool(ends[i % len(ends)])
        yield stack.copy(), last
        if last:
            stack[...] = 0
        i += 1


def fill_ballast(n: int, frames: np.ndarray, ends: np.ndarray) -> dict:
    """Build DQN's buffer as DQN builds it, then write ``n`` rows as its collector does (NEXT_STEP
    autoreset: an episode's final observation gets a row of its own, which is no transition)."""
    from ballast import DQN, make_atari_env
    from ballast.buffers.frame_dedup import FrameDedupStorage

    model = DQN("CnnPolicy", make_atari_env(GAME, n_envs=1, seed=0), frame_stack=N_STACK, buffer_size=n,
                learning_starts=n + 1, device="cpu", seed=0)
    buffer = model.replay_buffer
    assert isinstance(buffer.observations, FrameDedupStorage), type(buffer.observations)
    action, reward, no = np.zeros(1, dtype=np.int64), np.ones(1), np.zeros(1, dtype=bool)
    before, start = rss_bytes(), time.perf_counter()
    stream = stacks(frames, ends)
    stack, final = next(stream)
    for _ in range(n):
        following, last = next(stream)
        # an episode's final observation has a row of its own, whose step only resets the env (invalid)
        buffer.add(stack, action, reward, np.array([last and not final]), no, np.array([not final]))
        stack, final = following, last
    return {"rss_growth": rss_bytes() - before, "seconds": time.perf_counter() - start,
            "allocated": buffer.nbytes(), "rows": buffer.size()}


def fill_sb3(n: int, frames: np.ndarray, ends: np.ndarray) -> dict:
    """SB3's buffer with ``optimize_memory_usage=True``, ``n`` transitions added."""
    from gymnasium import spaces
    from stable_baselines3.common.buffers import ReplayBuffer

    space = spaces.Box(0, 255, (SIDE, SIDE, N_STACK), np.uint8)
    buffer = ReplayBuffer(n, space, spaces.Discrete(4), device="cpu", optimize_memory_usage=True,
                          handle_timeout_termination=False)
    action, reward, infos = np.zeros(1, dtype=np.int64), np.ones(1, dtype=np.float32), [{}]
    before, start = rss_bytes(), time.perf_counter()
    stream = stacks(frames, ends)
    obs, _ = next(stream)
    for _ in range(n):
        next_obs, last = next(stream)
        buffer.add(obs, next_obs, action, reward, np.array([last]), infos)
        obs = next(stream)[0] if last else next_obs
    arrays = (buffer.observations, buffer.actions, buffer.rewards, buffer.dones, buffer.timeouts)
    return {"rss_growth": rss_bytes() - before, "seconds": time.perf_counter() - start,
            "allocated": int(sum(a.nbytes for a in arrays)), "rows": buffer.size()}


def child(contender: str, n: int, source: str) -> None:
    frames, ends = frame_pool(source)
    result = (fill_ballast if contender == "ballast" else fill_sb3)(n, frames, ends)
    print(json.dumps({"contender": contender, "transitions": n, **result}))


def measure(contender: str, n: int, source: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", contender, "--n", str(n), "--frames", source],
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"  {contender} {n:,}: {result['rss_growth'] / MIB:,.0f} MiB in {result['seconds']:.0f} s", flush=True)
    return result


def sb3_available() -> bool:
    try:
        import stable_baselines3  # noqa: F401
    except ImportError:
        return False
    return True


def table(ours: list[dict], theirs: dict[int, dict], sb3_max: int, has_sb3: bool) -> str:
    lines = ["| transitions | Ballast MiB (measured) | Ballast bytes / transition | SB3 MiB | SB3 bytes / transition | "
             "SB3 / Ballast |", "|---|---|---|---|---|---|"]
    for result in ours:
        n = result["transitions"]
        mib, per = result["rss_growth"] / MIB, result["rss_growth"] / n
        sb3 = theirs.get(n)
        if sb3 is None:
            why = "not measured" if has_sb3 and n > sb3_max else "not measured (SB3 not installed)"
            if has_sb3 and n > sb3_max:
                why += f" (its observations alone: {n * SIDE * SIDE * N_STACK / 2**30:.1f} GiB)"
            lines.append(f"| {n:,} | {mib:,.0f} | {per:,.0f} | {why} | | |")
        else:
            sb3_mib, sb3_per = sb3["rss_growth"] / MIB, sb3["rss_growth"] / n
            lines.append(f"| {n:,} | {mib:,.0f} | {per:,.0f} | {sb3_mib:,.0f} (measured) | {sb3_per:,.0f} | "
                         f"{sb3_per / per:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transitions", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--sb3-max", type=int, default=300_000, help="largest size SB3 is measured at")
    parser.add_argument("--frames", choices=["ale", "random"], default="ale")
    parser.add_argument("--write-docs", action="store_true", help="replace the section in docs/benchmarks.md")
    parser.add_argument("--child", choices=["ballast", "sb3"], help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.n, args.frames)
        return
    has_sb3 = sb3_available()
    ours, theirs = [], {}
    for n in sorted(args.transitions):
        ours.append(measure("ballast", n, args.frames))
        if has_sb3 and n <= args.sb3_max:
            theirs[n] = measure("sb3", n, args.frames)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import command_line, git_revision, machine, update_section

    frames = ("real Breakout frames (AtariWrapper, random actions, a pool of "
              f"{FRAME_POOL:,} cycled)" if args.frames == "ale" else "random uint8 frames")
    sizes = {"Ballast": [r["transitions"] for r in ours], "SB3": list(theirs)}
    measured = "; ".join(f"{name} at {', '.join(f'{n:,}' for n in ns)} transitions"
                         for name, ns in sizes.items() if ns)
    allocated = ours[-1]["allocated"] / ours[-1]["transitions"]
    body = "\n".join([
        "## Atari replay memory",
        "",
        f"Resident memory (RSS growth, one fresh process per contender and size) of a replay buffer filled with N "
        f"rows of 84 x 84 x 4 uint8 stacks of {frames}: Ballast's DQN buffer with `frame_stack=4`, which "
        "keeps each frame once, and SB3's "
        "`ReplayBuffer(optimize_memory_usage=True, handle_timeout_termination=False)`. "
        f"Measured: {measured}; every other cell says \"not measured\".",
        "",
        table(ours, theirs, args.sb3_max, has_sb3),
        "",
        f"Ballast allocates {allocated:,.0f} bytes per transition at {ours[-1]['transitions']:,}: one 7,056-byte "
        "frame, 10 bytes of frame bookkeeping, the action (8), the reward (4) and three flags (3), and a slack of "
        "195 frames per env copy; the pages it has not written yet are not resident. With real frames it "
        "measures a little less: a stack equal to the previous one (a still screen) stores no new frame.",
        "",
        f"Command: `{command_line()}` (revision {git_revision()}).  ",
        f"Machine: {machine()}.",
    ])
    print()
    print(body)
    if args.write_docs:
        update_section("atari-replay-memory", body)


if __name__ == "__main__":
    main()
