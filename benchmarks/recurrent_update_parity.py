"""RecurrentPPO's update in Ballast and in sb3-contrib from the same weights and rollout: do they agree?

sb3-contrib's ``RecurrentPPO`` collects two rollouts of ``CartPoleNoVel-v1`` (CartPole-v1 with its
velocities set to zero, as the zoo's ``MaskVelocityWrapper`` does) with the zoo's ppo_lstm settings
(8 envs, ``n_steps=32``, ``gae_lambda=0.8``, ``gamma=0.98``, LSTMs of 64 units for actor and critic,
ReLU layers of 64, ``ortho_init=False``) but a constant learning rate (1e-3) and clip range (0.2), and
no normalisation (the update reads the stored observations either way). At the end of the second
rollout (the first update done, so the rollout starts from carried, non-zero states) its weights
and rollout are copied into a Ballast ``RecurrentPPO`` built with the same settings: the weights by
name (as ``ballast.import_sb3`` maps them), the observations, actions, rewards, episode starts and
the states each step was acted from. Ballast then

- evaluates the rollout's values and log-probabilities with one pass of each LSTM over every env
  copy's sequence (cut at episode starts), against sb3-contrib's, computed one step at a time while
  acting;
- computes its advantages and returns (GAE) from sb3-contrib's values, against sb3-contrib's;
- runs ``train()`` from sb3-contrib's values and log-probabilities, and the weights it ends with are
  compared with sb3-contrib's after its own update of the same rollout.

Both libraries cut each minibatch's rows into sequences at the same places only when they rotate
the rollout at the same point: sb3-contrib's rotation (``np.random.randint`` in its buffer) and
Ballast's (``torch.randint``) are replaced by the same fixed points. Two updates are compared: the
zoo's (``batch_size=256``, the whole rollout, 20 epochs) and minibatches of 64 (4 per epoch, 4 epochs).

    .venv-bench/bin/python benchmarks/recurrent_update_parity.py

Writes the section ``recurrent-update-parity`` of docs/benchmarks.md. Needs sb3-contrib (benchmark
environment only).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from common import command_line, git_revision, machine, update_section

N_ENVS, N_STEPS = 8, 32
ROWS = N_ENVS * N_STEPS


def settings(batch_size: int, epochs: int) -> dict:
    return dict(n_steps=N_STEPS, batch_size=batch_size, n_epochs=epochs, gae_lambda=0.8, gamma=0.98,
                ent_coef=0.0, learning_rate=1e-3, clip_range=0.2, seed=0, device="cpu",
                policy_kwargs=dict(ortho_init=False, activation_fn=torch.nn.ReLU, lstm_hidden_size=64,
                                   enable_critic_lstm=True, net_arch=dict(pi=[64], vf=[64])))


def rotation_points(epochs: int, seed: int) -> list[int]:
    """One rotation point per epoch (each library draws one per epoch, whatever the batch size)."""
    return [int(p) for p in np.random.default_rng(seed).integers(0, ROWS, epochs)]


def contrib_rollout(batch_size: int, epochs: int, points: list[int]) -> tuple[dict, dict]:
    """sb3-contrib's weights and second rollout before its second update, and its weights after it.
    Its rotation points are ``points`` (``epochs`` for each of the two updates)."""
    import sb3_contrib.common.recurrent.buffers as contrib_buffers
    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    import ballast  # noqa: F401  (registers CartPoleNoVel-v1, the zoo's masked CartPole)

    env = make_vec_env("CartPoleNoVel-v1", n_envs=N_ENVS, seed=0)
    model = RecurrentPPO("MlpLstmPolicy", env, **settings(batch_size, epochs))
    before: dict = {}

    class Snapshot(BaseCallback):
        def _on_step(self) -> bool:
            return True

        def _on_rollout_end(self) -> None:
            # Ballast's optimizer starts fresh: so does sb3-contrib's for the update compared.
            self.model.policy.optimizer.state.clear()
            buf = self.model.rollout_buffer
            before["weights"] = {k: v.detach().clone() for k, v in self.model.policy.state_dict().items()}
            before["rollout"] = {name: np.array(getattr(buf, name)) for name in
                                 ("observations", "actions", "rewards", "episode_starts", "values", "log_probs",
                                  "advantages", "returns", "hidden_states_pi", "cell_states_pi",
                                  "hidden_states_vf", "cell_states_vf")}

    buffer_class = contrib_buffers.RecurrentRolloutBuffer
    compute = buffer_class.compute_returns_and_advantage

    def recorded_compute(self, last_values: torch.Tensor, dones: np.ndarray) -> None:  # its arguments are not in
        before["last_values"] = last_values.detach().numpy().reshape(-1)  # the callback's locals
        before["last_dones"] = np.asarray(dones, dtype=bool)
        compute(self, last_values, dones)

    buffer_class.compute_returns_and_advantage = recorded_compute
    calls, randint = iter(points), contrib_buffers.np.random.randint
    contrib_buffers.np.random.randint = lambda n, *a, **k: next(calls) if n == ROWS and not a and not k \
        else randint(n, *a, **k)
    try:
        model.learn(2 * ROWS, callback=Snapshot())
    finally:
        contrib_buffers.np.random.randint, buffer_class.compute_returns_and_advantage = randint, compute
    after = {k: v.detach().clone() for k, v in model.policy.state_dict().items()}
    return before, after


def ballast_model(batch_size: int, epochs: int):
    import ballast

    return ballast.RecurrentPPO("MlpLstmPolicy", "CartPoleNoVel-v1", n_envs=N_ENVS, **settings(batch_size, epochs))


def update_parity(batch_size: int, epochs: int, seed: int) -> dict:
    """The largest differences between the libraries' rollout values, advantages and updated weights."""
    from ballast.buffers.sequences import RNNStates
    from ballast.interop.sb3 import _recurrent

    points = rotation_points(epochs, seed) + rotation_points(epochs, seed + 1)
    before, contrib_after = contrib_rollout(batch_size, epochs, points)
    model = ballast_model(batch_size, epochs)
    _, _, mapped = _recurrent({}, before["weights"])
    missing, unexpected = model.policy.load_state_dict(mapped, strict=False)
    if unexpected or [k for k in missing if not k.startswith("normalizer")]:
        raise SystemExit(f"the policies differ: unexpected {unexpected}, missing {missing}")
    rollout, buf = before["rollout"], model.rollout_buffer
    starts = rollout["episode_starts"].astype(bool)
    # sb3-contrib marks the first step of an episode; Ballast the last step of one (no truncation here).
    ends = np.concatenate([starts[1:], before["last_dones"][None]], axis=0)
    keep = torch.from_numpy(1.0 - starts.astype(np.float32))  # sb3-contrib stores the state before the reset
    for t in range(N_STEPS):
        state = RNNStates(*(tuple(torch.from_numpy(rollout[f"{part}_states_{branch}"][t]) * keep[t][None, :, None]
                                  for part in ("hidden", "cell")) for branch in ("pi", "vf")))
        buf.add_states(t, state, starts[t])
        buf.add(t, rollout["observations"][t], rollout["actions"][t].reshape(buf.actions[t].shape),
                rollout["rewards"][t], ends[t], ends[t], np.ones(N_ENVS, dtype=bool))
    buf.evaluate(model.policy)
    result = {"value": float(np.abs(buf.values - rollout["values"]).max()),
              "log_prob": float(np.abs(buf.log_probs - rollout["log_probs"]).max()),
              "episode_starts": int(starts.sum())}
    buf.values[:] = rollout["values"]
    buf.log_probs[:] = rollout["log_probs"]
    buf.compute_returns_and_advantages(before["last_values"], model.config.gamma, model.config.gae_lambda)
    result["advantage"] = float(np.abs(buf.advantages - rollout["advantages"]).max())
    result["return"] = float(np.abs(buf.returns - rollout["returns"]).max())
    ours_calls, randint = iter(points[epochs:]), torch.randint
    torch.randint = lambda high, size, *a, **k: (torch.tensor([next(ours_calls)]) if high == ROWS and
                                                 tuple(size) == (1,) else randint(high, size, *a, **k))
    try:
        model.train()
    finally:
        torch.randint = randint
    ours = model.policy.state_dict()
    start, end = _recurrent({}, before["weights"])[2], _recurrent({}, contrib_after)[2]
    result["weight"] = max((ours[k] - end[k]).abs().max().item() for k in end)
    result["relative"] = max((ours[k] - end[k]).abs().max().item() / max((end[k] - start[k]).abs().max().item(),
                                                                         1e-12) for k in end)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[100, 200, 300], help="rotation point draws")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = ["| update | rotation draw | episode starts in the rollout | values, log-probabilities: largest difference "
            "| advantages, returns: largest difference | weights after the update: largest difference (relative "
            "to the update) |", "|---|---|---|---|---|---|"]
    for batch_size, epochs, label in ((ROWS, 20, "the zoo's: whole rollout, 20 epochs"),
                                      (64, 4, "minibatches of 64, 4 epochs")):
        for seed in args.seeds:
            r = update_parity(batch_size, epochs, seed)
            rows.append(f"| {label} | {seed} | {r['episode_starts']} | {r['value']:.1e}, {r['log_prob']:.1e} | "
                        f"{r['advantage']:.1e}, {r['return']:.1e} | {r['weight']:.1e} ({r['relative']:.1e}) |")
            print(rows[-1], flush=True)
    body = "\n".join([
        "## RecurrentPPO: Ballast's update against sb3-contrib's, from the same weights and rollout",
        "",
        "sb3-contrib's `RecurrentPPO` on `CartPoleNoVel-v1` with the zoo's ppo_lstm settings (8 envs, `n_steps=32`, "
        "`gae_lambda=0.8`, `gamma=0.98`, LSTMs of 64 units for actor and critic) but a constant learning rate (1e-3) "
        "and clip range (0.2) and no normalisation; its second rollout (the states carried from the first) and its "
        "weights copied into Ballast's `RecurrentPPO` by name; Ballast's values and log-probabilities (one LSTM pass "
        "over each env copy's sequences) and its GAE, then each library's `train()` on the same rollout, both "
        "rotating the rollout at the same points (sb3-contrib's random rotation, one per epoch). sb3-contrib "
        "2.9.2.",
        "",
        *rows,
        "",
        "The rollout values and log-probabilities are sb3-contrib's own, computed one step at a time while acting, "
        "against Ballast's one pass over whole sequences; the update starts from sb3-contrib's values.",
        "",
        f"Command: `{command_line()}` (revision {git_revision()}).  ",
        f"Machine: {machine(threads=1)}.",
    ])
    update_section("recurrent-update-parity", body)
    print(body)


if __name__ == "__main__":
    main()
