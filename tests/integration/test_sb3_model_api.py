"""SB3's model and policy API on Ballast's models: attributes, parameters, files, predict's rules."""

from __future__ import annotations

import copy
import io
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from torch import nn

from ballast import A2C, DDPG, DQN, PPO, SAC, TD3, ConfigurationError, ObservationError
from ballast.algos.hyperparameters import TrainFreq, TrainFrequencyUnit
from ballast.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
from ballast.errors import CheckpointError, SpaceMismatchError
from ballast.policies import ActorCriticPolicy
from ballast.policies.base import BasePolicy

SMALL = {"net_arch": [16]}


def ppo(**kwargs) -> PPO:
    kwargs.setdefault("policy_kwargs", SMALL)
    return PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=32, n_epochs=2, seed=0, device="cpu", **kwargs)


def sac(**kwargs) -> SAC:
    return SAC("MlpPolicy", "Pendulum-v1", buffer_size=500, learning_starts=32, batch_size=16, seed=0, device="cpu",
               policy_kwargs=SMALL, **kwargs)


# --- hyperparameters as attributes --------------------------------------------------------------------------
def test_hyperparameters_read_as_sb3_reads_them() -> None:
    model = ppo(learning_rate=1e-3, clip_range_vf=0.3)
    read = (model.gamma, model.learning_rate, model.n_steps, model.batch_size, model.n_epochs)
    assert read == (0.99, 1e-3, 64, 32, 2)
    assert model.clip_range(1.0) == 0.2 and model.clip_range_vf(0.5) == 0.3  # schedules, as SB3 holds them
    assert model.lr_schedule(0.5) == 1e-3 and model.ent_coef == 0.0 and model.target_kl is None
    scheduled = ppo(learning_rate=lambda progress: 1e-3 * progress)
    assert callable(scheduled.learning_rate) and scheduled.learning_rate(0.5) == pytest.approx(5e-4)
    off = sac(tau=0.02, train_freq=(2, "episode"))
    assert (off.tau, off.buffer_size, off.learning_starts, off.ent_coef, off.target_entropy) == (0.02, 500, 32,
                                                                                                "auto", -1.0)
    assert off.train_freq == TrainFreq(2, TrainFrequencyUnit.EPISODE) and off.train_freq.unit == "episode"
    dqn = DQN("MlpPolicy", "CartPole-v1", buffer_size=500, target_update_interval=7, device="cpu")
    assert (dqn.target_update_interval, dqn.exploration_rate, dqn.exploration_final_eps) == (7, 0.0, 0.05)


def test_a_hyperparameter_set_after_construction_is_used_or_refused() -> None:
    model = ppo()
    model.learning_rate = 1e-3
    model.gamma = 0.9
    model.clip_range = 0.1
    model.learn(64)
    assert model.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)
    assert model.config.gamma == 0.9 and model.logger.history[-1]["train/clip_range"] == pytest.approx(0.1)
    with pytest.raises(ConfigurationError, match="n_steps cannot change.*rollout buffer"):
        model.n_steps = 128
    with pytest.raises(ConfigurationError, match="batch_size must be > 1"):
        model.batch_size = 1  # the constructor's own checks
    with pytest.raises(ConfigurationError, match="buffer_size cannot change"):
        sac().buffer_size = 10
    with pytest.raises(ConfigurationError, match="ent_coef cannot change"):
        sac().ent_coef = 0.1
    off = sac()
    off.tau = 1.0
    assert off.config.tau == 1.0
    with pytest.raises(ConfigurationError, match=r"tau=.* expected a number in \[0, 1\]"):
        off.tau = 2.0


# --- network handles ------------------------------------------------------------------------------------------
def test_the_network_handles_sb3_code_reaches_for() -> None:
    off = sac()
    assert off.actor is off.policy.actor and off.critic is off.policy.critic
    assert off.critic_target is off.policy.critic_target
    assert TD3("MlpPolicy", "Pendulum-v1", policy_kwargs=SMALL).actor_target is not None
    dqn = DQN("MlpPolicy", "CartPole-v1", policy_kwargs=SMALL)
    assert dqn.q_net is dqn.policy.q_net and dqn.q_net_target is dqn.policy.q_net_target
    assert not hasattr(dqn, "actor") and not hasattr(ppo(), "actor")
    model = ppo()
    assert model.policy.device == torch.device("cpu")
    assert isinstance(model.policy.features_extractor, nn.Module)
    assert model.policy.action_net is model.policy.action_head.net and model.policy.value_net is model.policy.value_head
    assert off.actor.features_extractor is off.policy.actor.encoder
    assert dqn.q_net.features_extractor is dqn.policy.q_net.encoder


def test_networks_answer_the_optimizer_that_steps_them() -> None:
    off, dqn, model = sac(), DQN("MlpPolicy", "CartPole-v1", policy_kwargs=SMALL), ppo()
    assert off.actor.optimizer is off.actor_optimizer and off.critic.optimizer is off.critic_optimizer
    assert dqn.policy.optimizer is dqn.optimizer and model.policy.optimizer is model.optimizer
    assert off.policy.optimizer is None  # SB3's SAC policy has an actor and a critic optimizer, none of its own
    clone = copy.deepcopy(model.policy)  # a copy (export, a target) copies no optimizer state
    assert clone.optimizer is model.optimizer
    with pytest.raises(ConfigurationError, match="optimizer_class"):
        model.policy.optimizer = torch.optim.SGD(model.policy.parameters(), lr=0.1)
    assert model.policy.optimizer is model.optimizer


# --- parameters ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("build", "names"), [
    (ppo, {"policy", "policy.optimizer"}),
    (sac, {"policy", "actor.optimizer", "critic.optimizer", "ent_coef_optimizer"}),
    (lambda: TD3("MlpPolicy", "Pendulum-v1", policy_kwargs=SMALL), {"policy", "actor.optimizer", "critic.optimizer"}),
    (lambda: DQN("MlpPolicy", "CartPole-v1", policy_kwargs=SMALL), {"policy", "policy.optimizer"}),
])
def test_get_parameters_names_what_sb3_names(build, names) -> None:
    assert set(build().get_parameters()) == names


def test_set_parameters_from_a_dict_or_a_file_gives_the_same_predictions(tmp_path) -> None:
    trained, fresh = ppo().learn(128), PPO("MlpPolicy", "CartPole-v1", policy_kwargs=SMALL, seed=1, device="cpu")
    obs = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    expected = trained.predict(obs, deterministic=True)[0]
    fresh.set_parameters(trained.get_parameters())
    np.testing.assert_array_equal(fresh.predict(obs, deterministic=True)[0], expected)
    other = PPO("MlpPolicy", "CartPole-v1", policy_kwargs=SMALL, seed=2, device="cpu")
    other.set_parameters(trained.save(tmp_path / "trained"))
    np.testing.assert_array_equal(other.predict(obs, deterministic=True)[0], expected)
    assert other.optimizer.state_dict()["state"], "the optimizer's state came with the weights"
    with pytest.raises(ConfigurationError, match="missing.*policy.optimizer"):
        other.set_parameters({"policy": trained.policy.state_dict()})
    other.set_parameters({"policy": trained.policy.state_dict()}, exact_match=False)
    with pytest.raises(ConfigurationError, match="does not have"):
        other.set_parameters({"critic.optimizer": {}}, exact_match=False)
    params = trained.get_parameters()
    params["policy"].popitem()  # a tensor missing: torch's strict load_state_dict error, as SB3 expects
    with pytest.raises(RuntimeError, match="do not fit"):
        other.set_parameters(params, exact_match=True)


# --- files --------------------------------------------------------------------------------------------------
def test_save_and_load_through_binary_file_objects() -> None:
    model = ppo().learn(64)
    buffer = io.BytesIO()
    assert model.save(buffer) is None
    loaded = PPO.load(io.BytesIO(buffer.getvalue()))
    obs = np.zeros((3, 4), np.float32)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])


def test_save_exclude_and_include(tmp_path) -> None:
    model = sac().learn(64)
    model.save(tmp_path / "no_optimizers", exclude=["env", "optimizers"])
    loaded = SAC.load(tmp_path / "no_optimizers")
    assert not loaded.actor_optimizer.state and model.actor_optimizer.state
    with pytest.raises(ConfigurationError, match="needs them"):
        model.save(tmp_path / "x", exclude=["policy"])
    model.save(tmp_path / "with_buffer", include=["replay_buffer"])
    assert len(SAC.load(tmp_path / "with_buffer").replay_buffer) == len(model.replay_buffer) > 0
    # verbose is saved, as SB3 saves it; exclude leaves it out, include wins over exclude, load's keyword over both
    model.verbose = 2
    model.save(tmp_path / "quiet", exclude=["verbose"])
    model.save(tmp_path / "loud", exclude=["verbose"], include=["verbose"])
    assert (SAC.load(tmp_path / "quiet").verbose, SAC.load(tmp_path / "loud").verbose) == (0, 2)
    assert SAC.load(tmp_path / "loud", verbose=1).verbose == 1


def test_replay_buffer_round_trip_through_its_own_safe_file(tmp_path) -> None:
    model = sac().learn(96)
    path = model.save_replay_buffer(tmp_path / "buffer")
    other = sac()
    other.load_replay_buffer(path)
    a, b = model.replay_buffer.state_tensors(), other.replay_buffer.state_tensors()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(SpaceMismatchError):
        SAC("MlpPolicy", "MountainCarContinuous-v0", buffer_size=500).load_replay_buffer(path)
    with pytest.raises(CheckpointError, match="not a replay buffer"):
        other.load_replay_buffer(model.save(tmp_path / "model"))
    other.replay_buffer = None  # SB3's scripts drop the buffer before loading one
    other.load_replay_buffer(path)
    assert other.replay_buffer.size() == model.replay_buffer.size()
    del other.replay_buffer  # as SB3's own tests do
    with pytest.raises(AttributeError):
        other.replay_buffer  # noqa: B018
    other.load_replay_buffer(path)
    assert other.replay_buffer.size() == model.replay_buffer.size()
    sb3_file = tmp_path / "sb3_buffer.pkl"  # what SB3's save_replay_buffer writes: a pickle
    sb3_file.write_bytes(b"\x80\x04\x95" + bytes(32))
    with pytest.raises(CheckpointError, match="pickle.*never unpickles"):
        other.load_replay_buffer(sb3_file)
    with pytest.raises(CheckpointError, match="pickle.*never unpickles"), open(sb3_file, "rb") as file_object:
        other.load_replay_buffer(file_object)
    assert not hasattr(ppo(), "save_replay_buffer")


def test_load_takes_sb3_s_keywords_and_names_an_unknown_one(tmp_path, capsys) -> None:
    path = ppo().save(tmp_path / "model")
    loaded = PPO.load(path, env="CartPole-v1", device="cpu", custom_objects={"lr_schedule": lambda _: 0.0},
                      print_system_info=True, force_reset=True, n_epochs=3)
    assert loaded.lr_schedule(1.0) == 0.0 and loaded.n_epochs == 3
    assert "SAVED MODEL SYSTEM INFO" in capsys.readouterr().out
    with pytest.raises(TypeError, match="unexpected keyword arguments \\['n_stepz'\\]"):
        PPO.load(path, n_stepz=3)
    with pytest.warns(UserWarning, match="not a hyperparameter"):
        PPO.load(path, custom_objects={"nonsense": 1})


# --- the policy on its own --------------------------------------------------------------------------------
@pytest.mark.parametrize("build", [ppo, sac, lambda: DQN("MlpPolicy", "CartPole-v1", policy_kwargs=SMALL, seed=0)])
def test_policy_predict_save_and_load(build, tmp_path) -> None:
    model = build()
    obs = np.stack([model.observation_space.sample() for _ in range(5)])
    expected, state = model.predict(obs, deterministic=True)
    actions, state = model.policy.predict(obs, None, None, True)
    np.testing.assert_array_equal(actions, expected)
    assert state is None
    path = model.policy.save(tmp_path / "policy")
    for loaded in (BasePolicy.load(path), type(model.policy).load(path), BasePolicy.load(model.save(tmp_path / "m"))):
        np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], expected)
    if not isinstance(model.policy, ActorCriticPolicy):
        with pytest.raises(CheckpointError, match="not a ActorCriticPolicy"):
            ActorCriticPolicy.load(path)


# --- predict's rules ----------------------------------------------------------------------------------------
def test_one_discrete_action_is_a_0d_array_as_sb3_s() -> None:
    obs = np.zeros(4, np.float32)
    for model in (ppo(), DQN("MlpPolicy", "CartPole-v1", policy_kwargs=SMALL, device="cpu")):
        action, _ = model.predict(obs, deterministic=True)
        assert isinstance(action, np.ndarray) and action.shape == () and action.dtype == np.int64
    model.exploration_rate = 1.0  # epsilon-greedy keeps the shape
    assert model.predict(obs)[0].shape == ()
    assert model.predict(np.zeros((3, 4), np.float32))[0].shape == (3,)


def test_predict_refuses_the_pair_gymnasium_reset_returns() -> None:
    model = ppo()
    with pytest.raises(ObservationError, match="reset\\(\\) returns both"):
        model.predict(gym.make("CartPole-v1").reset(seed=0))


class Float64Box(gym.Env):
    observation_space = spaces.Box(-1.0, 1.0, (2,), np.float64)
    action_space = spaces.Box(-1.0, 1.0, (1,), np.float64)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2), {}

    def step(self, action):
        return np.zeros(2), 0.0, False, False, {}


@pytest.mark.parametrize("algo", [PPO, SAC, TD3, DDPG])
def test_a_float64_box_gets_float64_actions(algo) -> None:
    model = algo("MlpPolicy", Float64Box(), policy_kwargs=SMALL, device="cpu")
    action, _ = model.predict(np.zeros(2))
    assert action.dtype == np.float64 and action.shape == (1,)


class DropoutEncoder(nn.Module):
    """A features extractor with dropout, recording the mode of each forward pass."""

    takes_raw_observations = True

    def __init__(self, observation_space: spaces.Space, features_dim: int = 8) -> None:
        super().__init__()
        self.features_dim = features_dim
        self.net = nn.Sequential(nn.Linear(int(np.prod(observation_space.shape)), features_dim), nn.Dropout(0.5))
        self.modes: list[bool] = []

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        self.modes.append(self.training)
        return self.net(obs.float().reshape(obs.shape[0], -1))


def test_predict_runs_in_eval_mode_and_learn_updates_in_train_mode() -> None:
    from ballast.encoders import register_features_extractor

    register_features_extractor("test_dropout_encoder", DropoutEncoder)
    model = ppo(policy_kwargs=dict(SMALL, features_extractor_class=DropoutEncoder))
    encoder = model.policy.encoder
    obs = np.ones((4, 4), np.float32)
    first, _ = model.predict(obs, deterministic=True)
    second, _ = model.predict(obs, deterministic=True)
    np.testing.assert_array_equal(first, second)  # dropout off
    assert encoder.modes and not any(encoder.modes)
    encoder.modes.clear()
    model.learn(64)
    assert True in encoder.modes and False in encoder.modes  # collection in eval, updates in train mode


class AlwaysZero(ActorCriticPolicy):
    """A policy subclass that overrides ``forward``, the one override point for acting."""

    def forward(self, obs, deterministic=False, action_masks=None):  # noqa: ANN001, ANN201
        actions, values, log_prob = super().forward(obs, deterministic, action_masks)
        zeros = torch.zeros_like(actions)
        return zeros, values, self.outputs(obs).distribution.log_prob(zeros)


def test_a_policy_overriding_forward_acts_the_same_in_learn_and_predict() -> None:
    model = PPO(AlwaysZero, "CartPole-v1", n_steps=64, batch_size=32, device="cpu", policy_kwargs=SMALL)
    model.learn(64)
    actions = model.rollout_buffer.actions.reshape(-1)
    assert (actions == 0).all()
    assert (model.predict(np.zeros((6, 4), np.float32))[0] == 0).all()


# --- construction ---------------------------------------------------------------------------------------------
def test_invalid_hyperparameters_are_refused_as_sb3_refuses_them() -> None:
    with pytest.raises(ConfigurationError, match="clip_range_vf=-0.1 cannot work: expected a number > 0"):
        ppo(clip_range_vf=-0.1)
    with pytest.raises(ConfigurationError, match="batch_size must be > 1"):
        PPO("MlpPolicy", "CartPole-v1", batch_size=1)
    with pytest.raises(ConfigurationError, match="n_steps \\* n_envs must be greater than 1"):
        PPO("MlpPolicy", "CartPole-v1", n_steps=1, batch_size=2)
    with pytest.warns(UserWarning, match="truncated mini-batch"):
        PPO("MlpPolicy", "CartPole-v1", n_steps=100, batch_size=64)
    with pytest.raises(ConfigurationError, match="ent_coef=.auto_0. cannot work"):
        SAC("MlpPolicy", "Pendulum-v1", ent_coef="auto_0")


def test_device_cuda_without_cuda_falls_back_to_the_cpu_with_a_warning() -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.warns(UserWarning, match="CUDA is not available"):
        model = PPO("MlpPolicy", "CartPole-v1", device="cuda", policy_kwargs=SMALL)
    assert model.device == torch.device("cpu") and model.policy.device == torch.device("cpu")


def test_stats_window_size_bounds_the_episode_statistics() -> None:
    model = ppo(stats_window_size=3).learn(256)
    assert model.ep_info_buffer.maxlen == 3 and len(model.ep_info_buffer) == 3
    assert set(model.ep_info_buffer[0]) == {"r", "l", "t"}
    assert PPO.load(io.BytesIO(_bytes(model))).ep_info_buffer.maxlen == 3


def _bytes(model) -> bytes:
    buffer = io.BytesIO()
    model.save(buffer)
    return buffer.getvalue()


def test_optimizer_class_and_kwargs_are_used_saved_and_loaded(tmp_path) -> None:
    sgd = ppo(policy_kwargs=dict(SMALL, optimizer_class=torch.optim.SGD, optimizer_kwargs=dict(momentum=0.9)))
    sgd.learn(64)
    assert isinstance(sgd.optimizer, torch.optim.SGD) and sgd.optimizer.param_groups[0]["momentum"] == 0.9
    assert sgd.fast_path.active  # the fast path only writes gradients, whatever steps them
    loaded = PPO.load(sgd.save(tmp_path / "sgd"))
    assert isinstance(loaded.optimizer, torch.optim.SGD)
    torch.testing.assert_close(loaded.optimizer.state_dict()["state"][0]["momentum_buffer"],
                               sgd.optimizer.state_dict()["state"][0]["momentum_buffer"])
    a2c = A2C("MlpPolicy", "CartPole-v1", policy_kwargs=dict(optimizer_class=RMSpropTFLike,
                                                              optimizer_kwargs=dict(alpha=0.99, eps=1e-5)))
    assert isinstance(a2c.optimizer, RMSpropTFLike)
    assert type(A2C("MlpPolicy", "CartPole-v1").optimizer).__name__ == "FlatRMSprop"  # SB3's default for A2C
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DQN("MlpPolicy", "CartPole-v1", policy_kwargs=dict(optimizer_kwargs=dict(eps=1e-4)))


def dqn_following_each_step() -> DQN:
    return DQN("MlpPolicy", "CartPole-v1", buffer_size=500, learning_starts=32, batch_size=16, target_update_interval=1,
               seed=0, device="cpu", policy_kwargs=SMALL)


@pytest.mark.parametrize("build", [ppo, sac, dqn_following_each_step], ids=["ppo", "sac", "dqn"])
def test_parameters_as_one_vector_are_read_written_and_still_trained(build) -> None:
    model = build()
    vector = model.policy.parameters_to_vector()
    assert vector.dtype == np.float32 and vector.shape == (sum(p.numel() for p in model.policy.parameters()),)
    model.policy.load_from_vector(vector * 0.5)
    np.testing.assert_array_equal(model.policy.parameters_to_vector(), vector * 0.5)
    with pytest.raises(ConfigurationError, match=f"{vector.size} parameter values, the vector {vector.size - 1}"):
        model.policy.load_from_vector(vector[1:])
    # torch's own function gives the parameters new tensors; learn steps them all the same.
    torch.nn.utils.vector_to_parameters(torch.as_tensor(vector), model.policy.parameters())
    model.learn(128)
    sizes = [p.numel() for p in model.policy.parameters()]
    for p, before in zip(model.policy.parameters(), np.split(vector, np.cumsum(sizes)[:-1]), strict=True):
        # every parameter moved: the trained ones by their optimizer, the targets by following them
        assert not np.array_equal(p.detach().numpy().reshape(-1), before)


def test_save_adds_zip_only_to_a_path_without_a_suffix_as_sb3(tmp_path) -> None:
    model = ppo()
    assert model.save(tmp_path / "model") == tmp_path / "model.zip"
    assert model.save(tmp_path / "model.pkl") == tmp_path / "model.pkl"
    assert model.policy.save(tmp_path / "policy.pkl") == tmp_path / "policy.pkl"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pkl", "model.zip", "policy.pkl"]
    obs = np.zeros((3, 4), dtype=np.float32)
    expected = model.predict(obs, deterministic=True)[0]
    for loaded in (PPO.load(tmp_path / "model"), PPO.load(tmp_path / "model.pkl")):
        np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], expected)
    policy = BasePolicy.load(tmp_path / "policy.pkl")
    np.testing.assert_array_equal(policy.predict(obs, deterministic=True)[0], expected)
