"""Recurrent minibatches: sequence cuts, padding, stored initial states, and the one-pass unroll
against stepping the policy one step at a time with resets at episode starts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from ballast.buffers import RecurrentRolloutBuffer
from ballast.buffers.sequences import RNNStates, sequences_from_breaks, split_sequences
from ballast.policies.recurrent import RecurrentActorCriticPolicy, reset_states


def test_sequences_cut_at_env_changes_and_episode_starts() -> None:
    # 3 steps of 2 env copies, flattened step by step: row t * 2 + e. Env 0 starts an episode at t = 2.
    starts = torch.tensor([True, True, False, False, True, False])
    env_major = torch.tensor([0, 2, 4, 1, 3, 5])
    seqs = split_sequences(env_major, starts, stride=2, n_first=2)
    assert seqs.seq.tolist() == [0, 0, 1, 2, 2, 2]
    assert seqs.time.tolist() == [0, 1, 0, 0, 1, 2]
    assert seqs.starts.tolist() == [0, 2, 3]
    assert (seqs.n_seq, seqs.max_len) == (3, 3)


def test_a_rotated_order_starts_a_sequence_at_the_wrap_and_at_a_rollout_start() -> None:
    starts = torch.zeros(6, dtype=torch.bool)
    rotated = torch.tensor([3, 5, 0, 2, 4, 1])  # env 1 from t = 1, then env 0 from t = 0, then env 1's t = 0
    seqs = split_sequences(rotated, starts, stride=2, n_first=2)
    assert seqs.seq.tolist() == [0, 0, 1, 1, 1, 2]
    assert seqs.starts.tolist() == [0, 2, 5]


def test_pad_places_each_row_and_unpad_reads_it_back() -> None:
    seqs = sequences_from_breaks(torch.tensor([True, False, False, True, True, False]))
    rows = torch.arange(6.0).unsqueeze(-1) + 1  # 1..6, no zero, so padding shows as zero
    padded = seqs.pad(rows)
    assert padded.shape == (3, 3, 1)
    assert padded[:, :, 0].t().tolist() == [[1, 2, 3], [4, 0, 0], [5, 6, 0]]  # one sequence per column
    assert seqs.mask().t().tolist() == [[True, True, True], [True, False, False], [True, True, False]]
    assert torch.equal(seqs.unpad(padded), rows)


def _policy(cell: str = "lstm", **kwargs) -> RecurrentActorCriticPolicy:
    torch.manual_seed(0)
    return RecurrentActorCriticPolicy(spaces.Box(-1, 1, (3,), np.float32), spaces.Discrete(2),
                                      lstm_hidden_size=8, n_lstm_layers=2, recurrent_cell=cell, **kwargs)


def _step_by_step(policy, obs, starts, state):
    """Each env copy stepped one step at a time, the state reset to zeros where an episode starts:
    ``(log-probs of action 1, values)``, both ``(n_steps, n_envs)``."""
    log_probs, values = [], []
    for t in range(obs.shape[0]):
        state = RNNStates(reset_states(state.pi, starts[t]), reset_states(state.vf, starts[t]))
        out, state = policy.step(obs[t], state)
        log_probs.append(out.distribution.log_prob(torch.ones(obs.shape[1], dtype=torch.long)))
        values.append(out.values)
    return torch.stack(log_probs), torch.stack(values)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("critic", [dict(), dict(shared_lstm=True, enable_critic_lstm=False),
                                    dict(enable_critic_lstm=False)])
def test_one_pass_over_sequences_equals_stepping_with_resets(cell: str, critic: dict) -> None:
    policy = _policy(cell, **critic)
    n_steps, n_envs = 7, 3
    obs = torch.randn(n_steps, n_envs, 3)
    starts = torch.zeros(n_steps, n_envs)
    starts[0, 0] = starts[3, 0] = starts[5, 1] = starts[1, 2] = starts[2, 2] = 1.0
    given = policy.initial_state(n_envs)
    given = RNNStates(*(tuple(torch.randn_like(p) for p in branch) for branch in given))  # a rollout's start state
    with torch.no_grad():
        expected_log_probs, expected_values = _step_by_step(policy, obs, starts, given)
        # The same through the buffer: states stored as collection stores them, then one unroll.
        buffer = RecurrentRolloutBuffer(policy.observation_space, policy.action_space, n_steps, n_envs,
                                        state_shape=(2, 8), state_parts=policy.state_parts)
        state = given
        for t in range(n_steps):
            state = RNNStates(reset_states(state.pi, starts[t]), reset_states(state.vf, starts[t]))
            buffer.add_states(t, state, starts[t].numpy().astype(bool))
            buffer.add(t, obs[t].numpy(), np.ones(n_envs, np.int64), np.zeros(n_envs), np.zeros(n_envs, bool),
                       np.zeros(n_envs, bool), np.ones(n_envs, bool))
            state = policy.step(obs[t], state)[1]
        buffer.evaluate(policy)
    torch.testing.assert_close(torch.from_numpy(buffer.log_probs), expected_log_probs, atol=1e-6, rtol=0)
    torch.testing.assert_close(torch.from_numpy(buffer.values), expected_values, atol=1e-6, rtol=0)


def test_minibatches_hold_whole_valid_sequences_with_their_stored_states() -> None:
    policy = _policy()
    n_steps, n_envs = 6, 2
    buffer = RecurrentRolloutBuffer(policy.observation_space, policy.action_space, n_steps, n_envs,
                                    state_shape=(2, 8), state_parts=2)
    valid = np.ones((n_steps, n_envs), bool)
    valid[2, 0] = False  # NEXT_STEP's reset step of env 0: its episode ended at t = 1, a new one starts at t = 3
    starts = np.zeros((n_steps, n_envs), bool)
    starts[0] = True
    starts[3, 0] = True
    for t in range(n_steps):
        state = RNNStates(*(tuple(torch.full((2, n_envs, 8), float(10 * t + 1)) for _ in range(2))
                            for _ in range(2)))
        buffer.add_states(t, state, starts[t])
        buffer.add(t, np.full((n_envs, 3), t, np.float32), np.zeros(n_envs, np.int64), np.ones(n_envs),
                   np.zeros(n_envs, bool), np.zeros(n_envs, bool), valid[t])
    buffer.evaluate(policy)
    buffer.compute_returns_and_advantages(np.zeros(n_envs), 0.99, 0.95)
    generator = torch.Generator().manual_seed(0)
    batches = list(buffer.minibatches(4, generator))
    assert sum(len(b.returns) for b in batches) == valid.sum() == 11  # every valid step once, the reset step never
    for batch in batches:
        seqs, times = batch.sequences, batch.observations[:, 0]
        for j in range(seqs.n_seq):
            rows = (seqs.seq == j).nonzero().flatten()
            steps = times[rows]
            assert torch.equal(steps, steps[0] + torch.arange(len(rows), dtype=steps.dtype))  # consecutive steps
            first = int(steps[0])
            # the sequence begins from the state stored at its first step
            assert torch.all(batch.lstm_states.pi[0][:, j] == 10 * first + 1)
        # no sequence of env 0 spans the reset step at t = 2 (its rows hold t <= 1 or t >= 3 only)
    # One minibatch of the whole rollout is rotated too, as sb3-contrib rotates it: in env-major order
    # (env 0: t 0, 1, 3, 4, 5; env 1: t 0-5) the sequences start at positions 0, 2 and 5, and a rotation
    # point inside a sequence cuts it in two.
    order = [(0, 0), (0, 1), (0, 3), (0, 4), (0, 5), (1, 0), (1, 1), (1, 2), (1, 3), (1, 4), (1, 5)]
    splits = set()
    for seed in range(40):
        generator = torch.Generator().manual_seed(seed)
        split = int(torch.randint(len(order), (1,), generator=torch.Generator().manual_seed(seed)))
        splits.add(split)
        (whole,) = list(buffer.minibatches(None, generator))
        rotated = order[split:] + order[:split]
        assert whole.observations[:, 0].tolist() == [float(t) for _, t in rotated]
        assert whole.sequences.n_seq == (3 if split in (0, 2, 5) else 4)
    assert len(splits) > 5
