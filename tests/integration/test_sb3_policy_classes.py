"""SB3's policy classes: built with SB3's arguments, subclassed with ``_build_mlp_extractor``, given
keys of their own in ``policy_kwargs``, found under SB3's module paths, and saved without env buffers."""

from __future__ import annotations

import io

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from ballast import DQN, PPO, SAC, ConfigurationError
from ballast.checkpoint import checkpoint_to_bytes, read_checkpoint_bytes
from ballast.common.policies import ActorCriticPolicy, BasePolicy, MultiInputActorCriticPolicy
from ballast.policies.continuous import SACPolicy, TD3Policy
from ballast.policies.q_network import DQNPolicy

CARTPOLE = gym.make("CartPole-v1")
PENDULUM = gym.make("Pendulum-v1")


def _hidden_sizes(module: nn.Module) -> list[tuple[int, ...]]:
    return [tuple(p.shape) for p in module.parameters() if p.dim() >= 2]


# --- SB3's constructor arguments -----------------------------------------------------------------------------
def test_a_policy_built_alone_takes_sb3_s_positional_arguments_and_defaults() -> None:
    policy = ActorCriticPolicy(CARTPOLE.observation_space, CARTPOLE.action_space, lambda _: 1e-3, [32],
                               nn.ReLU, False)
    cfg = policy.config
    assert cfg.net_arch == {"pi": [32], "vf": [32]} and cfg.activation_fn == "ReLU" and cfg.ortho_init is False
    sac = SACPolicy(PENDULUM.observation_space, PENDULUM.action_space, lambda _: 3e-4)
    # SB3's SAC policy: ReLU, [256, 256] for actor and critics, log_std_init=-3, two critics, own encoders
    assert (sac.config.activation_fn, sac.config.net_arch, sac.config.log_std_init) == (
        "ReLU", {"pi": [256, 256], "qf": [256, 256]}, -3.0)
    assert TD3Policy(PENDULUM.observation_space, PENDULUM.action_space).config.net_arch == {
        "pi": [400, 300], "qf": [400, 300]}
    dqn = DQNPolicy(CARTPOLE.observation_space, CARTPOLE.action_space, None, [8])
    assert _hidden_sizes(dqn.q_net)[:2] == [(4, 8), (8, 2)]  # stored (inputs, outputs)
    with pytest.raises(ConfigurationError, match="net_arch"):
        ActorCriticPolicy(CARTPOLE.observation_space, CARTPOLE.action_space, None, "wide")


def test_sb3_arguments_replace_the_fields_of_a_given_config() -> None:
    base = PPO("MlpPolicy", "CartPole-v1", policy_kwargs={"net_arch": [24]}).policy.config
    policy = ActorCriticPolicy(CARTPOLE.observation_space, CARTPOLE.action_space, None, config=base, ortho_init=False)
    assert policy.config.ortho_init is False and policy.config.net_arch == {"pi": [24], "vf": [24]}
    assert base.ortho_init is True  # the given config is not changed


def test_forward_returns_sb3_s_actions_values_and_log_probs() -> None:
    policy = ActorCriticPolicy(CARTPOLE.observation_space, CARTPOLE.action_space, lambda _: 1e-3)
    actions, values, log_prob = policy(torch.zeros(5, 4), deterministic=True)
    assert actions.shape == (5,) and values.shape == (5, 1) and log_prob.shape == (5,)


def test_a_policy_built_alone_has_sb3_s_optimizer_and_it_trains() -> None:
    torch.manual_seed(0)
    policy = ActorCriticPolicy(CARTPOLE.observation_space, CARTPOLE.action_space, lambda _: 0.01)
    optimizer = policy.optimizer
    assert isinstance(optimizer, torch.optim.Adam) and optimizer is policy.optimizer
    assert optimizer.param_groups[0]["lr"] == 0.01 and optimizer.param_groups[0]["eps"] == 1e-5
    obs = torch.randn(64, 4)
    target = (obs[:, 0] > 0).long()  # behaviour cloning of a simple rule
    for _ in range(200):
        values, log_prob, entropy = policy.evaluate_actions(obs, target)
        assert values.shape == (64, 1) and log_prob.shape == entropy.shape == (64,)
        loss = -log_prob.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert (policy(obs, deterministic=True)[0] == target).float().mean() > 0.95
    assert ActorCriticPolicy(CARTPOLE.observation_space, CARTPOLE.action_space).optimizer is None
    assert policy.predict_values(obs).shape == (64, 1)
    sgd = ActorCriticPolicy(CARTPOLE.observation_space, CARTPOLE.action_space, lambda _: 0.1,
                            optimizer_class=torch.optim.SGD, optimizer_kwargs={"momentum": 0.5})
    assert isinstance(sgd.optimizer, torch.optim.SGD) and sgd.optimizer.param_groups[0]["momentum"] == 0.5


def test_sac_and_dqn_policies_built_alone_have_sb3_s_optimizers() -> None:
    sac = SACPolicy(PENDULUM.observation_space, PENDULUM.action_space, lambda _: 3e-4)
    actor_opt, critic_opt = sac.actor.optimizer, sac.critic.optimizer
    assert isinstance(actor_opt, torch.optim.Adam) and actor_opt is sac.actor.optimizer and sac.optimizer is None
    stepped = {id(p) for group in critic_opt.param_groups for p in group["params"]}
    assert stepped == {id(p) for p in sac.critic.parameters()}  # not the targets'
    assert not stepped & {id(p) for p in sac.critic_target.parameters()} and sac.critic_target.optimizer is None
    dqn = DQNPolicy(CARTPOLE.observation_space, CARTPOLE.action_space, lambda _: 1e-3)
    stepped = {id(p) for group in dqn.optimizer.param_groups for p in group["params"]}
    assert stepped == {id(p) for p in dqn.q_net.parameters()}


# --- subclassing SB3's way -------------------------------------------------------------------------------------
class TwoTowers(nn.Module):
    """SB3's mlp_extractor interface, with separate actor and critic layers of different widths."""

    def __init__(self, feature_dim: int, width: int = 24) -> None:
        super().__init__()
        self.latent_dim_pi, self.latent_dim_vf = width, 2 * width
        self.policy_net = nn.Sequential(nn.Linear(feature_dim, width), nn.ReLU())
        self.value_net = nn.Sequential(nn.Linear(feature_dim, 2 * width), nn.ReLU())

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
        return self.policy_net(features)

    def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
        return self.value_net(features)


class TwoTowerPolicy(ActorCriticPolicy):
    """SB3's custom-policy pattern: arguments passed on, ``_build_mlp_extractor`` overridden, a key of its own."""

    def __init__(self, observation_space, action_space, lr_schedule, *args, tower_width: int = 24, **kwargs):  # noqa: ANN001
        self.tower_width = tower_width
        kwargs["ortho_init"] = False
        super().__init__(observation_space, action_space, lr_schedule, *args, **kwargs)

    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = TwoTowers(self.features_dim, self.tower_width)


def test_an_sb3_style_subclass_learns_saves_and_loads(tmp_path) -> None:
    model = PPO(TwoTowerPolicy, "CartPole-v1", n_steps=256, batch_size=64, learning_rate=3e-3, seed=0,
                policy_kwargs={"tower_width": 16})
    policy = model.policy
    assert isinstance(policy.mlp_extractor, TwoTowers) and policy.tower_width == 16
    assert policy.action_net.in_features == 16 and policy.value_net.in_features == 32
    assert not model.fast_path.active and "TwoTowerPolicy" in model.fast_path.reason
    model.learn(16_000)
    obs = np.stack([CARTPOLE.observation_space.sample() * 0.1 for _ in range(8)])
    loaded = PPO.load(model.save(tmp_path / "towers"))
    assert isinstance(loaded.policy, TwoTowerPolicy) and loaded.policy.tower_width == 16
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
    from ballast import evaluate_policy

    mean_return, _ = evaluate_policy(model, gym.make("CartPole-v1"), n_eval_episodes=10, seed=0)
    assert mean_return > 150  # it learned: a random policy scores about 20


def test_keys_a_user_class_does_not_take_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="tower_height"):
        PPO(TwoTowerPolicy, "CartPole-v1", policy_kwargs={"tower_height": 3})
    with pytest.raises(ConfigurationError, match="tower_width"):
        PPO("MlpPolicy", "CartPole-v1", policy_kwargs={"tower_width": 3})  # Ballast's class takes no such key
    with pytest.raises(ConfigurationError, match="JSON"):
        PPO(TwoTowerPolicy, "CartPole-v1", policy_kwargs={"tower_width": object()})


def test_the_default_mlp_extractor_answers_sb3_s_interface() -> None:
    policy = ActorCriticPolicy(CARTPOLE.observation_space, CARTPOLE.action_space, None, [16])
    features = policy.extract_features(torch.zeros(3, 4))
    latent_pi, latent_vf = policy.mlp_extractor(features)
    assert policy.mlp_extractor.latent_dim_pi == 16 and latent_pi.shape == (3, 16) and latent_vf.shape == (3, 16)
    torch.testing.assert_close(policy.mlp_extractor.forward_actor(features), latent_pi)
    split = ActorCriticPolicy(CARTPOLE.observation_space, CARTPOLE.action_space, None, {"pi": [8], "vf": [12]})
    assert split.mlp_extractor.forward_critic(split.extract_features(torch.zeros(3, 4))).shape == (3, 12)


# --- SB3's module paths and policy classes -------------------------------------------------------------------
def test_sb3_module_paths_name_the_policy_classes() -> None:
    from ballast.a2c import A2C as A2C_
    from ballast.ddpg.policies import MlpPolicy as DDPGMlp
    from ballast.dqn.policies import CnnPolicy as DQNCnn
    from ballast.dqn.policies import MlpPolicy as DQNMlp
    from ballast.ppo import PPO as PPO_
    from ballast.ppo import MlpPolicy
    from ballast.sac.policies import MlpPolicy as SACMlp
    from ballast.td3.policies import TD3Policy as TD3Policy_

    assert PPO_ is PPO and A2C_.__name__ == "A2C" and MlpPolicy is ActorCriticPolicy
    assert SACMlp is SACPolicy and DDPGMlp is TD3Policy_ is TD3Policy and DQNMlp is DQNPolicy
    assert issubclass(DQNCnn, DQNPolicy) and DQNCnn.default_policy_name == "CnnPolicy"
    assert issubclass(ActorCriticPolicy, BasePolicy)
    model = PPO(MlpPolicy, "CartPole-v1")
    assert model.fast_path.active  # the class SB3 calls MlpPolicy is Ballast's default policy
    assert SAC(SACMlp, "Pendulum-v1").policy_name == "MlpPolicy"


def test_a_cnn_policy_class_builds_the_nature_cnn() -> None:
    from ballast.common.torch_layers import NatureCNN
    from ballast.dqn.policies import CnnPolicy

    images = gym.spaces.Box(0, 255, (84, 84, 1), np.uint8)
    policy = CnnPolicy(images, gym.spaces.Discrete(3), lambda _: 1e-4)
    assert isinstance(policy.q_net.encoder, NatureCNN)
    assert _hidden_sizes(policy.q_net)[-1] == (512, 3)  # SB3's DQN: no hidden layer after the CNN


def test_multi_input_policy_class_on_a_dict_space() -> None:
    space = gym.spaces.Dict({"a": gym.spaces.Box(-1, 1, (3,)), "b": gym.spaces.Discrete(4)})
    policy = MultiInputActorCriticPolicy(space, gym.spaces.Discrete(2), lambda _: 1e-3)
    action, _ = policy.predict(space.sample())
    assert action.shape == () and policy.policy_name == "MultiInputPolicy"


def test_sac_actor_get_std_is_gsde_s() -> None:
    gsde = SAC("MlpPolicy", "Pendulum-v1", use_sde=True, policy_kwargs={"net_arch": [8]})
    assert gsde.actor.get_std().shape == (8, 1)
    with pytest.raises(ConfigurationError, match="gSDE"):
        SAC("MlpPolicy", "Pendulum-v1", policy_kwargs={"net_arch": [8]}).actor.get_std()


# --- the state dict holds what was learned ---------------------------------------------------------------------
def test_the_state_dict_leaves_out_the_action_bounds_and_older_files_still_load() -> None:
    model = DQN("MlpPolicy", "CartPole-v1", policy_kwargs={"net_arch": [8]}, seed=1)
    keys = set(model.policy.state_dict())
    assert not any(key.startswith("action_adapter.") for key in keys)
    assert all(value.is_floating_point() for value in model.policy.state_dict().values())
    buffer = io.BytesIO()
    model.save(buffer)
    ckpt = read_checkpoint_bytes(buffer.getvalue(), "test")
    ckpt.tensors["policy"]["action_adapter.start"] = torch.zeros(1, dtype=torch.long)  # as older files have it
    loaded = DQN.load(io.BytesIO(checkpoint_to_bytes(ckpt)))
    obs = np.zeros((2, 4), np.float32)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
