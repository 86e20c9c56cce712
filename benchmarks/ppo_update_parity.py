"""One PPO update on an Atari game in Ballast and in SB3 from the same weights and rollout: do they agree?

First the envs: both libraries' 8 seeded copies (``make_atari_env`` and a 4-frame stack: SB3's
``VecFrameStack``, Ballast's) are stepped with the same random actions for ``--env-steps`` steps, and
their observations, rewards, dones and final observations compared.

Then the update: SB3 collects one rollout with the zoo's Atari PPO settings but a constant learning
rate and clip range, and ``batch_size`` the whole rollout so that no shuffling order enters. At the
end of the rollout (before SB3 trains) its weights and rollout are copied into a Ballast PPO built with
the same settings: the weights by name (``CnnPolicy``), the observations (channels last, as Ballast's
frame stack keeps them), actions, rewards, episode boundaries, values and log-probabilities. Ballast
computes its own advantages and returns from them (GAE), which are compared with SB3's; then both
libraries run ``train()`` (``--epochs`` full-batch Adam steps, gradient clipping included) and the
weights they end with are compared.

    .venv-bench/bin/python benchmarks/ppo_update_parity.py [--envs BreakoutNoFrameskip-v4 PongNoFrameskip-v4]
        [--epochs 2] [--env-steps 3000]

Writes the section ``ppo-update-parity`` of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from common import command_line, git_revision, machine, sb3_rollout_snapshot, update_section

N_ENVS, N_STEPS = 8, 128
#: SB3's policy parameter names -> Ballast's (the shared encoder; SB3 also lists it as pi_/vf_features_extractor).
NAMES = {"features_extractor.": "encoder.", "action_net.": "action_head.net.", "value_net.": "value_head."}


def settings(epochs: int, batch_size: int = N_STEPS * N_ENVS) -> dict:
    return dict(n_steps=N_STEPS, batch_size=batch_size, n_epochs=epochs, learning_rate=2.5e-4, clip_range=0.1,
                vf_coef=0.5, ent_coef=0.01, seed=0, device="cpu")


def sb3_rollout(env_id: str, epochs: int, batch_size: int = N_STEPS * N_ENVS) -> tuple[dict, dict]:
    """SB3's weights and rollout at the end of its first rollout, and its weights after ``train()``."""
    import ale_py
    import gymnasium
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import VecFrameStack

    gymnasium.register_envs(ale_py)
    env = VecFrameStack(make_atari_env(env_id, n_envs=N_ENVS, seed=0), 4)
    model = PPO("CnnPolicy", env, **settings(epochs, batch_size))
    before: dict = {}

    model.learn(N_STEPS * N_ENVS, callback=sb3_rollout_snapshot(before))
    after = {k: v.detach().clone() for k, v in model.policy.state_dict().items()}
    return before, after


def env_parity(env_id: str, steps: int) -> dict:
    """Step both libraries' vector envs with the same seeded random actions: the largest observation
    difference (final observations included), the steps whose rewards or dones differ, the episode ends."""
    import ale_py
    import gymnasium
    from stable_baselines3.common import env_util
    from stable_baselines3.common.vec_env import VecFrameStack

    import ballast
    from ballast.envs import VecFrameStack as BallastVecFrameStack

    gymnasium.register_envs(ale_py)
    theirs = VecFrameStack(env_util.make_atari_env(env_id, n_envs=N_ENVS, seed=0), 4)
    ours = BallastVecFrameStack(ballast.make_atari_env(env_id, n_envs=N_ENVS, seed=0), 4)
    worst = float(np.abs(theirs.reset().astype(float) - ours.reset().astype(float)).max())
    rng, mismatched_steps, dones = np.random.default_rng(0), 0, 0
    for _ in range(steps):
        actions = rng.integers(0, theirs.action_space.n, N_ENVS)
        obs_s, rew_s, done_s, info_s = theirs.step(actions)
        obs_b, rew_b, done_b, info_b = ours.step(actions)
        gap = float(np.abs(obs_s.astype(float) - obs_b.astype(float)).max())
        finals = [float(np.abs(np.asarray(info_s[i]["terminal_observation"], float)
                               - np.asarray(info_b[i]["terminal_observation"], float)).max())
                  for i in np.flatnonzero(done_s & done_b)]
        worst = max(worst, gap, *finals)
        mismatched_steps += int((rew_s != rew_b).any() or (done_s != done_b).any())
        dones += int(done_s.sum())
    return {"observation": worst, "mismatched_steps": mismatched_steps, "dones": dones}


def model_env_parity(env_id: str, steps: int) -> dict:
    """The env a Ballast PPO steps while it learns (``PPO(..., frame_stack=4).env``, reset as ``learn``
    resets it) against SB3's, with the same random actions, and both libraries' monitor files."""
    import glob
    import tempfile

    import ale_py
    import gymnasium
    from stable_baselines3.common import env_util
    from stable_baselines3.common.vec_env import VecFrameStack

    import ballast

    gymnasium.register_envs(ale_py)
    with tempfile.TemporaryDirectory() as theirs_dir, tempfile.TemporaryDirectory() as ours_dir:
        theirs = VecFrameStack(env_util.make_atari_env(env_id, n_envs=N_ENVS, seed=0, monitor_dir=theirs_dir), 4)
        model = ballast.PPO("CnnPolicy", ballast.make_atari_env(env_id, n_envs=N_ENVS, seed=0, monitor_dir=ours_dir),
                            frame_stack=4, seed=0, device="cpu")
        ours = model.env
        obs_b, _ = ours.reset(seed=model.seed)
        worst = float(np.abs(theirs.reset().astype(float) - np.asarray(obs_b, float)).max())
        rng, mismatched_steps = np.random.default_rng(1), 0
        for _ in range(steps):
            actions = rng.integers(0, theirs.action_space.n, N_ENVS)
            obs_s, rew_s, done_s, _ = theirs.step(actions)
            obs_b, rew_b, terminated, truncated, _ = ours.step(actions)
            worst = max(worst, float(np.abs(obs_s.astype(float) - np.asarray(obs_b, float)).max()))
            mismatched_steps += int((rew_s != rew_b).any() or (done_s != (terminated | truncated)).any())
        theirs.close()
        ours.close()

        def games(folder: str) -> list[list[str]]:
            return [line.split(",")[:2] for path in sorted(glob.glob(f"{folder}/*.monitor.csv"))
                    for line in open(path).read().splitlines()[2:]]

        theirs_games, ours_games = games(theirs_dir), games(ours_dir)
    return {"observation": worst, "mismatched_steps": mismatched_steps, "games": len(theirs_games),
            "same_games": theirs_games == ours_games}


def ballast_model(env_id: str, epochs: int, batch_size: int = N_STEPS * N_ENVS):
    import ballast

    return ballast.PPO("CnnPolicy", ballast.make_atari_env(env_id, n_envs=N_ENVS, seed=0), frame_stack=4,
                       **settings(epochs, batch_size))


def ballast_name(sb3_name: str) -> str | None:
    for theirs, ours in NAMES.items():
        if sb3_name.startswith(theirs):
            return ours + sb3_name[len(theirs):]
    return None


def update_parity(env_id: str, epochs: int, batch_size: int = N_STEPS * N_ENVS, shuffles: int = 100) -> dict:
    """Both libraries' update from SB3's first rollout and weights: the largest differences. With
    ``batch_size`` below the rollout, both libraries draw the same minibatches: SB3's shuffles (its
    ``np.random.permutation`` of its env-major rollout order) are replaced by fixed ones (seeded from
    ``shuffles``), and Ballast's (``torch.randperm`` of its step-major order) by the same ones re-indexed."""
    import stable_baselines3.common.buffers as sb3_buffers

    size = N_STEPS * N_ENVS
    orders = [np.random.default_rng(shuffles + epoch).permutation(size) for epoch in range(epochs)]
    theirs_calls, ours_calls = iter(orders * 2), iter([torch.as_tensor((o % N_STEPS) * N_ENVS + o // N_STEPS)
                                                       for o in orders] * 2)
    permutation, randperm = np.random.permutation, torch.randperm
    sb3_buffers.np.random.permutation = lambda n: next(theirs_calls).copy() if n == size else permutation(n)
    try:
        before, sb3_after = sb3_rollout(env_id, epochs, batch_size)
    finally:
        sb3_buffers.np.random.permutation = permutation
    model = ballast_model(env_id, epochs, batch_size)
    mapped = {ballast_name(k): v for k, v in before["weights"].items() if ballast_name(k) is not None}
    missing, unexpected = model.policy.load_state_dict(mapped, strict=False)
    if unexpected or missing:
        raise SystemExit(f"the policies differ: SB3's {unexpected} have no place in Ballast's, Ballast's {missing} "
                         "were not given")
    rollout, buf = before["rollout"], model.rollout_buffer
    observations = rollout["observations"].transpose(0, 1, 3, 4, 2)  # SB3's (4, 84, 84) -> Ballast's (84, 84, 4)
    # SB3 marks the first step of an episode; Ballast the last step of one (terminated: no truncation here).
    ends = np.concatenate([rollout["episode_starts"][1:], before["last_dones"][None]], axis=0).astype(bool)
    for t in range(N_STEPS):
        buf.add(t, observations[t], rollout["actions"][t].reshape(buf.actions[t].shape), rollout["rewards"][t],
                ends[t], ends[t], np.ones(N_ENVS, dtype=bool))
    buf.values[:] = rollout["values"]
    buf.log_probs[:] = rollout["log_probs"]
    buf.compute_returns_and_advantages(before["last_values"], model.config.gamma, model.config.gae_lambda)
    result = {"advantage": float(np.abs(buf.advantages - rollout["advantages"]).max()),
              "largest_advantage": float(np.abs(rollout["advantages"]).max()),
              "return": float(np.abs(buf.returns - rollout["returns"]).max()), "weight": 0.0, "relative": 0.0}
    torch.randperm = lambda n, *args, **kwargs: next(ours_calls).clone() if n == size else randperm(n, *args, **kwargs)
    try:
        model.train()
    finally:
        torch.randperm = randperm
    ours = model.policy.state_dict()
    for name, theirs in sb3_after.items():
        key = ballast_name(name)
        if key is None:
            continue
        change = (theirs - before["weights"][name]).abs().max().item()
        diff = (ours[key] - theirs).abs().max().item()
        result["weight"] = max(result["weight"], diff)
        result["relative"] = max(result["relative"], diff / max(change, 1e-12))
    return result


def rounding_yardstick(env_id: str, epochs: int, batch_size: int, shuffles: int) -> float:
    """How far SB3 drifts from itself over the same minibatch update (same weights, rollout and
    shuffles as :func:`update_parity`) when only its convolutions' memory layout changes (channels
    last): the size that float rounding alone reaches, for comparison with Ballast's difference."""
    import stable_baselines3.common.buffers as sb3_buffers
    from stable_baselines3.common import torch_layers

    size = N_STEPS * N_ENVS
    results = []
    for channels_last in (False, True):
        orders = iter([np.random.default_rng(shuffles + epoch).permutation(size) for epoch in range(epochs)])
        permutation, forward = np.random.permutation, torch_layers.NatureCNN.forward
        sb3_buffers.np.random.permutation = (lambda n, orders=orders, permutation=permutation:
                                             next(orders).copy() if n == size else permutation(n))
        if channels_last:
            torch_layers.NatureCNN.forward = lambda self, obs: self.linear(
                self.cnn(obs.contiguous(memory_format=torch.channels_last)))
        try:
            results.append(sb3_rollout(env_id, epochs, batch_size)[1])
        finally:
            sb3_buffers.np.random.permutation, torch_layers.NatureCNN.forward = permutation, forward
    plain, other = results
    return max((plain[k] - other[k]).abs().max().item() for k in plain if plain[k].is_floating_point())


def initial_weights_difference(env_id: str) -> float:
    """The largest difference between the weights both libraries' ``PPO("CnnPolicy", ..., seed=0)`` start from."""
    import ale_py
    import gymnasium
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import VecFrameStack

    gymnasium.register_envs(ale_py)
    theirs = PPO("CnnPolicy", VecFrameStack(make_atari_env(env_id, n_envs=N_ENVS, seed=0), 4), seed=0, device="cpu")
    ours = ballast_model(env_id, 1).policy.state_dict()
    return max((ours[ballast_name(k)] - v).abs().max().item() for k, v in theirs.policy.state_dict().items()
               if ballast_name(k) is not None)


def training_loop_checks(env_id: str) -> dict:
    """What the full-batch update leaves out: Ballast's learning rate and clip range per update under
    the zoo's ``lin_`` schedules against SB3's formula (progress ``1 - num_timesteps / total`` after each
    rollout), Adam's step count across rollouts, and the action frequencies of the policy's sampling
    against its probabilities (100,000 draws for one observation)."""
    import ballast

    model = ballast.PPO("CnnPolicy", ballast.make_atari_env(env_id, n_envs=N_ENVS, seed=0), frame_stack=4,
                        n_steps=16, batch_size=64, n_epochs=2, learning_rate=lambda f: 2.5e-4 * f,
                        clip_range=lambda f: 0.1 * f, seed=0, device="cpu")
    total, seen = 640, []
    train = model.train

    def recorded_train() -> None:
        train()
        seen.append((model.num_timesteps, model.optimizer.param_groups[0]["lr"],
                     model.logger.name_to_value.get("train/clip_range", float("nan"))))

    model.train = recorded_train
    model.learn(total)
    errors = [abs(value - scale * (1 - t / total))
              for t, lr, clip in seen for value, scale in ((lr, 2.5e-4), (clip, 0.1))]
    schedule = float(np.max(errors))  # NaN (a clip range not logged) propagates
    adam_steps = int(next(iter(model.optimizer.state_dict()["state"].values()))["step"])
    torch.manual_seed(0)
    obs = model.policy.normalize(torch.randint(0, 256, (1, 84, 84, 4), dtype=torch.uint8).expand(10_000, -1, -1, -1))
    with torch.no_grad():
        model.policy.action_head.net.bias.copy_(torch.linspace(1.0, -0.5, model.action_space.n))
        probs = torch.softmax(model.policy.outputs(obs[:1]).distribution.logits, -1)[0].numpy()
        counts = sum(np.bincount(model.policy(obs)[0].numpy().reshape(-1), minlength=len(probs)) for _ in range(10))
    return {"schedule": schedule, "updates": model.n_updates, "adam_steps": adam_steps,
            "sampling": float(np.abs(counts / counts.sum() - probs).max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=["BreakoutNoFrameskip-v4", "PongNoFrameskip-v4"])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--env-steps", type=int, default=3000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = ["| env | env steps compared (episode ends) | largest observation difference | steps whose rewards or "
            "dones differ | advantages, returns: largest difference | weights after the update: largest difference "
            "(relative to the update) |", "|---|---|---|---|---|---|"]
    for env_id in args.envs:
        env = env_parity(env_id, args.env_steps)
        update = update_parity(env_id, args.epochs)
        rows.append(f"| {env_id} | {args.env_steps:,} x {N_ENVS} ({env['dones']:,}) | {env['observation']:g} | "
                    f"{env['mismatched_steps']} | {update['advantage']:.1e}, {update['return']:.1e} (advantages up "
                    f"to {update['largest_advantage']:.2f}) | {update['weight']:.1e} ({update['relative']:.1e}) |")
        print(rows[-1], flush=True)
    model_env = model_env_parity(args.envs[0], args.env_steps)
    minibatches = [update_parity(args.envs[0], 4, 256, shuffles) for shuffles in (100, 200, 300)]
    yardsticks = [rounding_yardstick(args.envs[0], 4, 256, shuffles) for shuffles in (100, 200, 300)]
    initial = initial_weights_difference(args.envs[0])
    loop = training_loop_checks(args.envs[0])
    body = "\n".join([
        "## PPO on Atari: Ballast's env pipeline and update against SB3's, step by step",
        "",
        f"Both libraries' `make_atari_env` (8 copies, seed 0) with a 4-frame stack, stepped with the same random "
        f"actions; then one rollout of SB3's PPO (the zoo's Atari settings, constant learning rate 2.5e-4 and clip "
        f"range 0.1, the whole rollout as one batch) copied with SB3's weights into Ballast's PPO, Ballast's GAE "
        f"computed from the same rewards, values and episode ends, and {args.epochs} full-batch updates "
        "(`train()`) run by each library.",
        "",
        *rows,
        "",
        f"What a learning run adds, on {args.envs[0]}: the env the Ballast model steps while it learns "
        f"(`PPO(..., frame_stack=4).env`, reset as `learn` resets it) against SB3's, {args.env_steps:,} steps of the "
        f"same random actions: largest observation difference {model_env['observation']:g}, "
        f"{model_env['mismatched_steps']} steps whose rewards or dones differ, and the monitor files' "
        f"{model_env['games']:,} games (score, length) {'identical' if model_env['same_games'] else 'different'}. "
        "The zoo's minibatches (4 epochs of 256), both libraries drawing the same ones from SB3's weights and "
        "rollout, for three sets of shuffles: weights within "
        + ", ".join(f"{m['weight']:.1e} ({m['relative']:.1e} of the update)" for m in minibatches)
        + " of SB3's. For scale, SB3 against itself, with only its convolutions' memory layout changed "
        "(channels last), ends " + ", ".join(f"{y:.1e}" for y in yardsticks) + " apart over the same three "
        "updates: rounding differences grow over the 16 Adam steps (a ReLU that switches, a ratio that crosses the "
        "clip range) by amounts that depend on the order. "
        f"Both libraries' `PPO(\"CnnPolicy\", ..., seed=0)` start from weights {initial:g} apart.",
        "",
        f"The training loop around the update, on {args.envs[0]} (5 rollouts of 16 steps, 2 epochs of minibatches "
        f"of 64, the zoo's `lin_` schedules): the learning rate and clip range of every update differ from SB3's "
        f"formula (progress `1 - num_timesteps / total` after each rollout) by at most {loop['schedule']:.1e}; "
        f"Adam took {loop['adam_steps']} steps for {loop['updates']} updates (its state carries over from one "
        f"rollout to the next); sampled actions (100,000 draws for one observation) match the policy's "
        f"probabilities within {100 * loop['sampling']:.2f} percentage points.",
        "",
        f"Command: `{command_line()}` (revision {git_revision()}).  ",
        f"Machine: {machine(threads=1)}.",
    ])
    update_section("ppo-update-parity", body)
    print(body)


if __name__ == "__main__":
    main()
