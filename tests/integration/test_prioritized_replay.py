"""Prioritized replay in the algorithms: every off-policy algorithm trains with it, checkpoints carry
its state, resumes continue identically, graph observations work, and QR-DQN learns with it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from graph_envs import HotNodeEnv

import ballast
from ballast import DDPG, DQN, QRDQN, SAC, TD3, TQC, CrossQ, PrioritizedReplayBuffer, evaluate_policy
from ballast.buffers.replay import ReplayBuffer
from ballast.errors import ConfigurationError

SMALL = dict(seed=0, learning_starts=64, batch_size=16, buffer_size=500, device="cpu")
ALGOS = [(SAC, "Pendulum-v1", {}), (TD3, "Pendulum-v1", {}), (DDPG, "Pendulum-v1", {}),
         (TQC, "Pendulum-v1", {"n_quantiles": 5}), (DQN, "CartPole-v1", {}), (QRDQN, "CartPole-v1", {"n_quantiles": 5}),
         (CrossQ, "Pendulum-v1", {})]


def _weights(model) -> torch.Tensor:
    return torch.cat([t.detach().flatten().double() for t in model.policy.state_dict().values()])


@pytest.mark.parametrize(("algo", "env_id", "policy_kwargs"), ALGOS, ids=[a[0].__name__ for a in ALGOS])
def test_every_off_policy_algorithm_trains_on_prioritized_draws(algo: type, env_id: str, policy_kwargs: dict) -> None:
    model = algo("MlpPolicy", env_id, replay_buffer_class=PrioritizedReplayBuffer,
                 replay_buffer_kwargs=dict(alpha=0.6, beta=0.5), policy_kwargs={"net_arch": [16], **policy_kwargs},
                 train_freq=4, **SMALL)
    assert model.prioritized_replay and model.replay_buffer_kwargs["alpha"] == 0.6
    model.learn(200)
    buffer = model.replay_buffer
    assert isinstance(buffer, PrioritizedReplayBuffer) and model.n_updates > 0
    sampleable = buffer.tree.leaves[buffer.tree.leaves > 0]
    assert len(np.unique(sampleable)) > 10  # the TD errors of the updates set the priorities
    assert buffer.max_priority > 1.0 or sampleable.max() < 1.0
    assert buffer.current_beta == pytest.approx(0.5 + (1 - model.progress_remaining) * 0.5, abs=0.02)
    assert model.fast_path.active == (algo not in (TQC, CrossQ))
    with pytest.raises(ConfigurationError, match="cannot change"):
        model.prioritized_replay = False


def test_prioritized_replay_true_is_replay_buffer_class_and_off_is_the_uniform_buffer() -> None:
    a = DQN("MlpPolicy", "CartPole-v1", prioritized_replay=True, **SMALL)
    b = DQN("MlpPolicy", "CartPole-v1", replay_buffer_class=PrioritizedReplayBuffer, **SMALL)
    assert a.config == b.config and a.replay_buffer_class is PrioritizedReplayBuffer
    uniform = DQN("MlpPolicy", "CartPole-v1", replay_buffer_class=ReplayBuffer, **SMALL)
    assert type(uniform.replay_buffer) is ReplayBuffer and uniform.replay_buffer_class is ReplayBuffer
    with pytest.raises(ConfigurationError, match="only configure the prioritized buffer"):
        DQN("MlpPolicy", "CartPole-v1", replay_buffer_kwargs=dict(alpha=0.6), **SMALL)


def test_checkpoints_carry_the_priorities_and_resumes_continue_identically(tmp_path: Path) -> None:
    model = QRDQN("MlpPolicy", "CartPole-v1", prioritized_replay=True, train_freq=8, gradient_steps=4,
                  policy_kwargs={"net_arch": [16], "n_quantiles": 5}, **SMALL)
    model.learn(300)
    path = model.save(tmp_path / "with", include_replay_buffer=True)
    restored = QRDQN.load(path, env="CartPole-v1", device="cpu")
    assert isinstance(restored.replay_buffer, PrioritizedReplayBuffer)
    saved = model.replay_buffer.state_tensors()
    assert {"priority_tree", "priority_state", "pending_rows"} <= saved.keys()
    for name, tensor in saved.items():
        assert torch.equal(restored.replay_buffer.state_tensors()[name], tensor), name
    without = QRDQN.load(model.save(tmp_path / "without"), env="CartPole-v1", device="cpu")
    assert isinstance(without.replay_buffer, PrioritizedReplayBuffer) and without.replay_buffer.size() == 0

    finals = []
    for _ in range(2):
        resumed = QRDQN.load(path, env="CartPole-v1", device="cpu")
        resumed.learn(200, reset_num_timesteps=False)
        finals.append((_weights(resumed), resumed.replay_buffer.tree.state(), resumed.replay_buffer.current_beta))
    assert torch.equal(finals[0][0], finals[1][0])
    np.testing.assert_array_equal(finals[0][1], finals[1][1])
    assert finals[0][2] == finals[1][2]
    assert not np.array_equal(finals[0][1], model.replay_buffer.tree.state())  # the resumes trained on


def test_save_and_load_replay_buffer_keep_the_priorities(tmp_path: Path) -> None:
    model = SAC("MlpPolicy", "Pendulum-v1", prioritized_replay=True, policy_kwargs={"net_arch": [16]}, **SMALL)
    model.learn(150)
    model.save_replay_buffer(tmp_path / "buffer")
    other = SAC("MlpPolicy", "Pendulum-v1", prioritized_replay=True, policy_kwargs={"net_arch": [16]}, **SMALL)
    other.load_replay_buffer(tmp_path / "buffer")
    np.testing.assert_array_equal(other.replay_buffer.tree.state(), model.replay_buffer.tree.state())
    assert other.replay_buffer.max_priority == model.replay_buffer.max_priority
    uniform = SAC("MlpPolicy", "Pendulum-v1", policy_kwargs={"net_arch": [16]}, **SMALL)
    uniform.load_replay_buffer(tmp_path / "buffer")  # the transitions load into a uniform buffer too
    assert uniform.replay_buffer.size() == model.replay_buffer.size()


def test_graph_observations_with_prioritized_replay(tmp_path: Path) -> None:
    model = DQN("auto", lambda: HotNodeEnv(4, 10), seed=0, learning_starts=30, buffer_size=64, train_freq=4,
                batch_size=8, prioritized_replay=True).learn(100)  # the circular buffer wraps
    assert model.n_updates > 0 and model.replay_buffer.max_priority != 1.0
    loaded = DQN.load(model.save(tmp_path / "graphs", include_replay_buffer=True), env=lambda: HotNodeEnv(4, 10))
    a = model.replay_buffer.sample(16, torch.Generator().manual_seed(1))
    b = loaded.replay_buffer.sample(16, torch.Generator().manual_seed(1))
    assert torch.equal(a.indices, b.indices) and torch.equal(a.weights, b.weights)
    assert torch.equal(a.observations.nodes, b.observations.nodes)


def test_qrdqn_with_prioritized_replay_learns_cartpole() -> None:
    # rl-baselines3-zoo's CartPole-v1 settings (hyperparams/qrdqn.yml) with a smaller network and budget
    model = QRDQN("MlpPolicy", "CartPole-v1", learning_rate=2.3e-3, batch_size=64, buffer_size=100_000,
                  learning_starts=1000, target_update_interval=10, train_freq=256, gradient_steps=128,
                  exploration_fraction=0.16, exploration_final_eps=0.04, prioritized_replay=True,
                  policy_kwargs=dict(net_arch=[64, 64], n_quantiles=10), seed=2, device="cpu")
    model.learn(10_000)
    mean, _ = evaluate_policy(model, "CartPole-v1", n_eval_episodes=10, seed=100)
    assert mean > 80  # a random policy scores about 22


def test_a_subclass_whose_loss_reports_no_priorities_is_told_so() -> None:
    class OwnLoss(DQN):
        def compute_losses(self, batch):  # noqa: ANN001, ANN202
            q = self.policy.q_net(batch.observations).gather(1, batch.actions.long().unsqueeze(1)).squeeze(1)
            return {"q": ballast.losses.huber_q_loss(q, batch.rewards)}

    model = OwnLoss("MlpPolicy", "CartPole-v1", prioritized_replay=True, policy_kwargs={"net_arch": [16]}, **SMALL)
    with pytest.raises(ConfigurationError, match="reported no per-sample TD errors"):
        model.learn(100)
