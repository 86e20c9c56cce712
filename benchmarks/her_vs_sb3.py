"""Hindsight experience replay: Ballast's HerReplayBuffer vs SB3's, on the bit-flipping env.

``--sampling`` (cheap): relabelled batches per second. Both buffers (``buffer_size`` 100,000,
``n_sampled_goal=4``, ``goal_selection_strategy="future"``) are filled with the same number of
random-action episodes of 15-bit flipping; then ``sample(256)`` is timed, the libraries
alternating in rounds, one torch thread each; each figure is the best round (the machine is
shared, and the best round is the cost of the code). Ballast's draw includes the episode lookup,
the goal choice, the one ``compute_reward`` call and the Dict batch; SB3's is its ``sample``.
Ballast's off-policy algorithms draw ``PRESAMPLE_ROWS`` (512) transitions at a time, two batches of
256, so that draw is timed too, per batch. Writes the section ``her-sampling`` of
docs/benchmarks.md.

``--learning``: DQN + HER on ``--bits`` (15) bit flipping for ``--steps`` steps per seed, Ballast
then SB3 on each seed with the same hyperparameters (``HYPERPARAMETERS``), each in its own process;
the success rate of the greedy policy over 50 episodes. Writes the section ``her-bit-flipping``.

    .venv-bench/bin/python benchmarks/her_vs_sb3.py --sampling
    .venv-bench/bin/python benchmarks/her_vs_sb3.py --learning [--seeds 0 1 2] [--steps 30000] [--bits 15]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from common import command_line, git_revision, machine, mean_std, run_in_process, update_section

N_BITS, BUFFER, BATCH = 15, 100_000, 256
#: DQN + HER on bit flipping (the HER paper's setting: n_sampled_goal=4, future), both libraries.
HYPERPARAMETERS = (
    "dict(learning_rate=1e-3, batch_size=256, buffer_size=100_000, learning_starts=1_000, gamma=0.95, "
    "exploration_fraction=0.3, exploration_final_eps=0.05, target_update_interval=500, train_freq=1, "
    "gradient_steps=1, policy_kwargs=dict(net_arch=[256, 256]), "
    "replay_buffer_kwargs=dict(n_sampled_goal=4, goal_selection_strategy='future'))"
)

LEARNING_RUN = """
import json, time, numpy as np, torch
torch.set_num_threads(1)
if "{lib}" == "sb3":
    from stable_baselines3 import DQN, HerReplayBuffer
    from stable_baselines3.common.envs import BitFlippingEnv
else:
    from ballast import DQN, HerReplayBuffer
    from ballast.envs.testing import BitFlippingEnv
env = BitFlippingEnv(n_bits={bits})
model = DQN("MultiInputPolicy", env, replay_buffer_class=HerReplayBuffer, seed={seed}, device="cpu", **{kwargs})
start = time.perf_counter()
model.learn({steps})
elapsed = time.perf_counter() - start
test = BitFlippingEnv(n_bits={bits})
successes = []
for episode in range(50):
    obs, _ = test.reset(seed=10_000 + episode)
    done = False
    while not done:
        action, _ = model.predict(obs, deterministic=True)
        obs, _, terminated, truncated, info = test.step(action)
        done = terminated or truncated
    successes.append(bool(info["is_success"]))
print(json.dumps({{"lib": "{lib}", "seed": {seed}, "success": float(np.mean(successes)),
                  "steps_per_second": {steps} / elapsed}}))
"""


def _fill_ballast(n_steps: int) -> object:
    from ballast.buffers.her import HerReplayBuffer
    from ballast.envs.goals import goal_functions
    from ballast.envs.make import make_vector_env

    env = make_vector_env("ballast/BitFlipping-v0", 1, seed=0, env_kwargs={"n_bits": N_BITS})
    buffer = HerReplayBuffer(env.single_observation_space, env.single_action_space, BUFFER,
                             goal_functions=goal_functions(env))
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    needs_reset = np.zeros(1, dtype=bool)
    for _ in range(n_steps):
        buffer.add_observation(obs)
        action = rng.integers(N_BITS, size=1)
        obs, reward, terminated, truncated, _ = env.step(action)
        valid = ~needs_reset
        buffer.add_transition(action, reward, terminated & valid, truncated & valid, valid)
        needs_reset = terminated | truncated
    return buffer


def _fill_sb3(n_steps: int) -> object:
    from stable_baselines3 import HerReplayBuffer
    from stable_baselines3.common.envs import BitFlippingEnv
    from stable_baselines3.common.vec_env import DummyVecEnv

    env = DummyVecEnv([lambda: BitFlippingEnv(n_bits=N_BITS)])
    env.seed(0)
    buffer = HerReplayBuffer(BUFFER, env.observation_space, env.action_space, env, device="cpu")
    obs = env.reset()
    rng = np.random.default_rng(0)
    for _ in range(n_steps):
        action = rng.integers(N_BITS, size=1)
        next_obs, reward, done, infos = env.step(action)
        stored_next = {k: v.copy() for k, v in next_obs.items()}
        if done[0]:
            stored_next = {k: np.asarray(infos[0]["terminal_observation"][k])[None] for k in next_obs}
        buffer.add(obs, stored_next, action, reward, done, infos)
        obs = next_obs
    return buffer


def sampling(rounds: int, per_round: int, fill: int) -> None:
    torch.set_num_threads(1)
    buffers = {"ballast": _fill_ballast(fill), "sb3": _fill_sb3(fill)}
    generator = torch.Generator().manual_seed(0)
    # (draw, batches per draw)
    samplers = {"ballast": (lambda: buffers["ballast"].sample(BATCH, generator), 1),
                "ballast_chunk": (lambda: buffers["ballast"].sample(2 * BATCH, generator), 2),
                "sb3": (lambda: buffers["sb3"].sample(BATCH), 1)}
    rates: dict[str, list[float]] = {lib: [] for lib in samplers}
    for _ in range(rounds):
        for lib, (sample, batches) in samplers.items():
            start = time.perf_counter()
            for _ in range(per_round):
                sample()
            rates[lib].append(per_round * batches / (time.perf_counter() - start))
    ours, chunk, theirs = (max(rates[lib]) for lib in ("ballast", "ballast_chunk", "sb3"))
    body = "\n".join([
        "## HER: relabelled batches per second vs SB3",
        "",
        f"`sample({BATCH})` of a `HerReplayBuffer` (buffer_size {BUFFER:,}, n_sampled_goal=4, future) holding "
        f"{fill:,} random steps of {N_BITS}-bit flipping; best of {rounds} alternating rounds of {per_round} draws "
        "(the machine is shared). Ballast's algorithms draw 512 transitions at a time (two batches of 256), "
        "which is the second row.",
        "",
        "| library | draw | batches of 256 / s | vs SB3 |",
        "|---|---|---|---|",
        f"| Ballast | `sample(256)` | {ours:,.0f} | {ours / theirs:.1f}x |",
        f"| Ballast | `sample(512)`, as in training | {chunk:,.0f} | {chunk / theirs:.1f}x |",
        f"| SB3 2.9.2 | `sample(256)` | {theirs:,.0f} | 1.0x |",
        "",
        f"Command: `{command_line()}`; machine: {machine(1)}; revision {git_revision()}.",
    ])
    print(body)
    update_section("her-sampling", body)


def learning(seeds: list[int], steps: int, bits: int) -> None:
    results = []
    for seed in seeds:
        for lib in ("ballast", "sb3"):
            template = LEARNING_RUN.replace("{kwargs}", HYPERPARAMETERS).replace("{bits}", str(bits))
            result = run_in_process(template, lib, seed, steps)
            print(result, flush=True)
            results.append(result)
    rows = [f"| {r['seed']} | {r['lib']} | {r['success']:.2f} | {r['steps_per_second']:.0f} |" for r in results]
    summary = [f"- {lib}: success rate {mean_std([r['success'] for r in results if r['lib'] == lib])}"
               for lib in ("ballast", "sb3")]
    body = "\n".join([
        f"## HER: DQN on {bits}-bit flipping vs SB3",
        "",
        f"DQN + HerReplayBuffer, {steps:,} steps per seed, hyperparameters `{HYPERPARAMETERS}`; success rate of the "
        "greedy policy over 50 episodes.",
        "",
        "| seed | library | success rate | steps / s |",
        "|---|---|---|---|",
        *rows,
        "",
        *summary,
        "",
        f"Command: `{command_line()}`; machine: {machine(1)}; revision {git_revision()}.",
    ])
    print(body)
    update_section("her-bit-flipping", body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sampling", action="store_true")
    parser.add_argument("--learning", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=200)
    parser.add_argument("--fill", type=int, default=50_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=30_000)
    parser.add_argument("--bits", type=int, default=N_BITS)
    args = parser.parse_args()
    if args.sampling:
        sampling(args.rounds, args.per_round, args.fill)
    if args.learning:
        learning(args.seeds, args.steps, args.bits)


if __name__ == "__main__":
    main()
