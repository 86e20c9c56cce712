"""QR-DQN: sb3-contrib's defaults, learning, checkpoints, resuming with the replay buffer, the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import ballast
from ballast import DQN, QRDQN, ConfigurationError, evaluate_policy
from ballast.extensions import AuxModule
from ballast.optim import FlatAdam
from ballast.policies.q_network import QuantileNetwork, numpy_greedy_actor
from ballast.zoo import load_hyperparams
from tests.integration.cli_runs import train_with_cli

HYPERPARAMS = Path(__file__).resolve().parents[2] / "hyperparams"
SMALL = dict(policy_kwargs=dict(net_arch=[32, 32], n_quantiles=8), learning_starts=50, batch_size=32,
             buffer_size=5000, learning_rate=1e-3, target_update_interval=100, device="cpu")


def _observations(n: int = 32) -> np.ndarray:
    return (np.random.default_rng(0).normal(size=(n, 4)) * 2).astype(np.float32)


def test_defaults_are_sb3_contribs() -> None:
    model = QRDQN("MlpPolicy", "CartPole-v1", device="cpu")
    assert (model.learning_rate, model.buffer_size, model.learning_starts, model.batch_size) == (5e-5, 1_000_000,
                                                                                                  100, 32)
    assert (model.tau, model.gamma, tuple(model.train_freq), model.gradient_steps) == (1.0, 0.99, (4, "step"), 1)
    assert (model.target_update_interval, model.exploration_fraction, model.exploration_initial_eps,
            model.exploration_final_eps, model.max_grad_norm) == (10_000, 0.005, 1.0, 0.01, None)
    assert model.n_quantiles == 200 and model.policy.config.net_arch["qf"] == [64, 64]
    assert isinstance(model.policy.q_net, QuantileNetwork) and model.policy.q_net.weights[-1].shape == (64, 400)
    assert isinstance(model.optimizer, FlatAdam) and model.optimizer.param_groups[0]["eps"] == pytest.approx(0.01 / 32)
    from ballast import contrib, qrdqn

    assert contrib.QRDQN is QRDQN and qrdqn.QRDQN is QRDQN and qrdqn.MlpPolicy is type(model.policy)


def test_q_values_are_the_means_of_the_quantiles_and_act_greedily() -> None:
    model = QRDQN("MlpPolicy", "CartPole-v1", seed=0, **SMALL).learn(300)
    obs = torch.as_tensor(_observations())
    with torch.no_grad():
        quantiles = model.policy.q_net.quantiles(obs)
        q_values = model.policy.q_net(obs)
    assert quantiles.shape == (32, 8, 2)
    torch.testing.assert_close(q_values, quantiles.mean(dim=1))
    np.testing.assert_array_equal(model.predict(obs.numpy(), deterministic=True)[0], q_values.argmax(dim=1).numpy())
    actor = numpy_greedy_actor(model.policy)  # collection's NumPy path gives the same actions
    assert actor is not None and actor.n_quantiles == 8
    np.testing.assert_array_equal(actor(obs.numpy()), q_values.argmax(dim=1).numpy())


def test_qrdqn_learns_cartpole() -> None:
    # rl-baselines3-zoo's CartPole-v1 settings (hyperparams/qrdqn.yml) with a smaller network and budget
    model = QRDQN("MlpPolicy", "CartPole-v1", learning_rate=2.3e-3, batch_size=64, buffer_size=100_000,
                  learning_starts=1000, target_update_interval=10, train_freq=256, gradient_steps=128,
                  exploration_fraction=0.16, exploration_final_eps=0.04,
                  policy_kwargs=dict(net_arch=[64, 64], n_quantiles=10), seed=0, device="cpu")
    model.learn(15_000)
    mean, _ = evaluate_policy(model, "CartPole-v1", n_eval_episodes=10, seed=100)
    assert mean > 80  # a random policy scores about 22; seeds 0-3 score 117-261 here


def test_save_load_gives_bitwise_identical_predictions(tmp_path: Path) -> None:
    model = QRDQN("MlpPolicy", "CartPole-v1", seed=0, normalize_observations=True, **SMALL).learn(300)
    obs = _observations()
    loaded = QRDQN.load(model.save(tmp_path / "qrdqn"), env="CartPole-v1")
    assert type(loaded) is QRDQN and type(ballast.load(tmp_path / "qrdqn.zip")) is QRDQN
    assert loaded.n_quantiles == 8 and loaded.max_grad_norm is None
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
    with torch.no_grad():
        mine = model.policy.q_net.quantiles(model.policy.normalize(torch.as_tensor(obs)))
        theirs = loaded.policy.q_net.quantiles(loaded.policy.normalize(torch.as_tensor(obs)))
    assert torch.equal(mine, theirs)
    assert loaded.exploration_rate == model.exploration_rate and loaded.num_timesteps == model.num_timesteps


def test_resume_with_the_replay_buffer_continues_the_same_run(tmp_path: Path) -> None:
    def weights(m: QRDQN) -> torch.Tensor:
        return torch.cat([t.flatten() for t in m.policy.state_dict().values()])

    model = QRDQN("MlpPolicy", "CartPole-v1", seed=0, **SMALL).learn(400)
    path = model.save(tmp_path / "qrdqn", include_replay_buffer=True)
    finals = []
    for _ in range(2):
        resumed = QRDQN.load(path, env="CartPole-v1", device="cpu")
        assert resumed.replay_buffer.size() == model.replay_buffer.size() == 400
        resumed.learn(300, reset_num_timesteps=False)
        finals.append((weights(resumed), resumed.num_timesteps, resumed.n_updates))
    assert torch.equal(finals[0][0], finals[1][0]) and finals[0][1:] == finals[1][1:] == (700, 650 // 4 + 1)
    assert not torch.equal(finals[0][0], weights(model))


@pytest.mark.parametrize("kwargs", [dict(double_q=True), dict(n_steps=3), dict(max_grad_norm=0.5),
                                    dict(n_envs=2)])
def test_options(kwargs: dict) -> None:
    model = QRDQN("MlpPolicy", "CartPole-v1", seed=0, **SMALL, **kwargs).learn(300)
    assert model.n_updates > 0
    assert np.isfinite(model.logger.history[-1]["train/loss"])


def test_extensions_join_the_quantile_loss() -> None:
    seen = {}

    def spread(inputs: object) -> dict:
        outputs = inputs.outputs
        seen["shapes"] = (tuple(outputs.quantiles.shape), tuple(outputs.target_quantiles.shape),
                          tuple(outputs.q_values.shape), tuple(outputs.q_taken.shape))
        return {"spread": 0.01 * outputs.quantiles.std(dim=1).mean()}

    aux = {"probe": AuxModule(torch.nn.Linear, {"in_features": 4, "out_features": 1}, optimizer="shared")}
    model = QRDQN("MlpPolicy", "CartPole-v1", seed=0, extra_losses=[spread], aux_modules=aux, **SMALL).learn(200)
    assert not model.fast_path and "extra loss" in model.fast_path.reason
    assert seen["shapes"] == ((32, 8), (32, 8), (32, 2), (32,))
    assert "loss/spread" in model.logger.history[-1] and "loss/q" in model.logger.history[-1]


def test_dict_and_image_observations() -> None:
    from tests.integration.test_off_policy import DictCartPole, DotImageEnv

    model = QRDQN("MultiInputPolicy", DictCartPole, **SMALL).learn(200)
    assert model.n_updates > 0
    image = QRDQN("CnnPolicy", DotImageEnv(), buffer_size=500, learning_starts=30, batch_size=8,
                  policy_kwargs={"n_quantiles": 4}, device="cpu").learn(80)
    assert image.policy.q_net.n_quantiles == 4 and image.n_updates > 0


def test_a_policy_without_quantiles_is_refused() -> None:
    from ballast.policies.q_network import DQNPolicy

    with pytest.raises(ConfigurationError, match="QuantileNetwork"):
        QRDQN(DQNPolicy, "CartPole-v1", device="cpu")
    with pytest.raises(ConfigurationError, match="n_quantiles"):
        DQN("MlpPolicy", "CartPole-v1", policy_kwargs={"n_quantiles": 5})
    with pytest.raises(ConfigurationError, match="n_quantiles must be a positive int"):
        QRDQN("MlpPolicy", "CartPole-v1", policy_kwargs={"n_quantiles": 0})


def test_zoo_file_and_cli_train(tmp_path: Path) -> None:
    settings = load_hyperparams(HYPERPARAMS / "qrdqn.yml", "CartPole-v1")
    assert settings.algorithm == "qrdqn" and settings.n_timesteps == 50_000
    assert settings.kwargs["policy_kwargs"] == {"net_arch": [256, 256], "n_quantiles": 10}
    for env_id in ("MountainCar-v0", "Acrobot-v1", "LunarLander-v3"):
        assert load_hyperparams(HYPERPARAMS / "qrdqn.yml", env_id).algorithm == "qrdqn"
    config, loaded = train_with_cli("qrdqn", "CartPole-v1", 1200, tmp_path)
    assert config["algorithm"] == "qrdqn" and config["resolved"]["policy_config"]["n_quantiles"] == 10
    assert type(loaded) is QRDQN and loaded.num_timesteps >= 1200 and loaded.n_updates > 0
