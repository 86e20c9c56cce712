"""SB3's ``policy_kwargs`` for each algorithm: every ``net_arch`` form, the defaults, the other keys, refusals."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from gymnasium import spaces
from torch import nn

from ballast import A2C, DDPG, DQN, PPO, SAC, TD3, ConfigurationError
from ballast.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
from ballast.common.torch_layers import NatureCNN
from ballast.distributions import TanhSquashed
from ballast.policies.config import PolicyConfig

VECTOR = spaces.Box(-1.0, 1.0, (4,), np.float32)
IMAGE = spaces.Box(0, 255, (36, 36, 3), np.uint8)
BOX = spaces.Box(-2.0, 2.0, (2,), np.float32)
DISCRETE = spaces.Discrete(3)
ALGOS = {"ppo": PPO, "a2c": A2C, "sac": SAC, "td3": TD3, "ddpg": DDPG, "dqn": DQN}


def build(algo: str, policy_kwargs=None, policy: str = "MlpPolicy", observation_space=VECTOR, **kwargs):
    action_space = DISCRETE if algo in ("ppo", "a2c", "dqn") else BOX
    return ALGOS[algo](policy, None, observation_space=observation_space, action_space=action_space, seed=0,
                       policy_kwargs=policy_kwargs, **kwargs)


def stacked_sizes(mlp) -> list[int]:
    """Output widths of a StackedMLP's layers."""
    return [int(w.shape[2]) for w in mlp.weights]


def hidden_sizes(model) -> dict[str, list[int]]:
    """The hidden sizes of the networks the model built, read from their weights."""
    policy = model.policy
    if isinstance(model, DQN):
        return {"qf": [int(w.shape[1]) for w in policy.q_net.weights][:-1]}
    if isinstance(model, (PPO, A2C)):
        if policy.trunk is not None:
            sizes = stacked_sizes(policy.trunk)
            return {"pi": sizes, "vf": sizes}
        return {"pi": stacked_sizes(policy.actor_mlp), "vf": stacked_sizes(policy.critic_mlp)}
    return {"pi": stacked_sizes(policy.actor.mlp), "qf": stacked_sizes(policy.critic.mlp)}


# --- net_arch ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("algo", "net_arch", "expected"), [
    ("ppo", [32, 16], {"pi": [32, 16], "vf": [32, 16]}),
    ("ppo", dict(pi=[32], vf=[8, 8]), {"pi": [32], "vf": [8, 8]}),
    ("a2c", dict(pi=[32]), {"pi": [32], "vf": []}),  # SB3: a missing key means no hidden layer
    ("a2c", [], {"pi": [], "vf": []}),
    ("sac", [32, 16], {"pi": [32, 16], "qf": [32, 16]}),
    ("sac", dict(pi=[32], qf=[8, 8]), {"pi": [32], "qf": [8, 8]}),
    ("td3", dict(pi=[8], qf=[16]), {"pi": [8], "qf": [16]}),
    ("ddpg", [24], {"pi": [24], "qf": [24]}),
    ("dqn", [32, 16], {"qf": [32, 16]}),
    ("dqn", [], {"qf": []}),
])
def test_net_arch_forms_map_to_hidden_sizes(algo, net_arch, expected):
    model = build(algo, dict(net_arch=net_arch))
    assert model.policy_config.net_arch == expected
    assert hidden_sizes(model) == expected


@pytest.mark.parametrize(("algo", "form"), [("ppo", dict(pi=[32], vf=[16])), ("sac", dict(pi=[32], qf=[16]))])
def test_a_list_holding_one_dict_warns_as_sb3_and_takes_the_dict(algo, form):
    with pytest.warns(UserWarning, match="shared layers in the mlp_extractor are removed since SB3 v1.8.0"):
        model = build(algo, dict(net_arch=[form]))
    assert hidden_sizes(model) == form


def test_the_pre_1_8_shared_layer_form_is_refused_with_the_dict_form():
    with pytest.raises(ConfigurationError, match=r"net_arch=dict\(pi=\[64, 32\], vf=\[64, 16\]\)"):
        build("ppo", dict(net_arch=[64, dict(pi=[32], vf=[16])]))
    with pytest.raises(ConfigurationError, match=r"net_arch=dict\(pi=\[64\], qf=\[64, 8\]\)"):
        build("td3", dict(net_arch=[64, dict(qf=[8])]))


@pytest.mark.parametrize(("algo", "net_arch", "message"), [
    ("ppo", dict(pi=[32], qf=[16]), r"takes the keys \['pi', 'vf'\]"),
    ("sac", dict(pi=[32], vf=[16]), r"takes the keys \['pi', 'qf'\]"),
    ("td3", dict(pi=[32]), "needs both keys 'pi'"),
    ("dqn", dict(qf=[32]), "DQN's net_arch is a list"),
    ("ppo", [64, 0], "positive layer sizes"),
    ("sac", [64.5], "positive layer sizes"),
    ("a2c", "64", "list of layer sizes or a dict"),
])
def test_malformed_net_arch_is_refused(algo, net_arch, message):
    with pytest.raises(ConfigurationError, match=message):
        build(algo, dict(net_arch=net_arch))


@pytest.mark.parametrize(("algo", "policy", "custom", "expected"), [
    ("ppo", "MlpPolicy", False, [64, 64]),
    ("ppo", "CnnPolicy", False, []),          # after the NatureCNN, no hidden layer
    ("ppo", "CnnPolicy", True, [64, 64]),     # SB3 decides by the extractor class, not the policy name
    ("sac", "MlpPolicy", False, [256, 256]),
    ("sac", "CnnPolicy", False, [256, 256]),
    ("td3", "MlpPolicy", False, [400, 300]),
    ("td3", "CnnPolicy", False, [256, 256]),
    ("td3", "CnnPolicy", True, [400, 300]),
    ("ddpg", "MlpPolicy", False, [400, 300]),
    ("dqn", "MlpPolicy", False, [64, 64]),
    ("dqn", "CnnPolicy", False, []),
    ("dqn", "CnnPolicy", True, [64, 64]),
])
def test_default_net_arch_is_sb3s(algo, policy, custom, expected):
    space = IMAGE if policy == "CnnPolicy" else VECTOR
    kwargs = dict(features_extractor_class="ballast.encoders.extractors:FlattenExtractor") if custom else None
    model = build(algo, kwargs, policy=policy, observation_space=space)
    assert all(sizes == expected for sizes in hidden_sizes(model).values())


def test_naming_the_nature_cnn_keeps_its_default_net_arch():
    model = build("ppo", dict(features_extractor_class=NatureCNN), policy="CnnPolicy", observation_space=IMAGE)
    assert model.policy_config.net_arch == {"pi": [], "vf": []}


# --- the other keys -----------------------------------------------------------------------------------------
def test_activation_fn_ortho_init_and_log_std_init():
    model = PPO("MlpPolicy", None, observation_space=VECTOR, action_space=BOX, seed=0,
                policy_kwargs=dict(activation_fn=nn.ReLU, ortho_init=False, log_std_init=-1.5, net_arch=[8]))
    config = model.policy_config
    assert (config.activation_fn, config.ortho_init, config.log_std_init) == ("ReLU", False, -1.5)
    assert model.policy.trunk.activation_name == "ReLU"
    torch.testing.assert_close(model.policy.action_head.log_std.detach(), torch.full((2,), -1.5))
    assert build("dqn", dict(activation_fn="torch.nn.Tanh")).policy.q_net.activation_name == "Tanh"


@pytest.mark.parametrize(("algo", "key"), [
    ("ppo", "n_critics"), ("a2c", "clip_mean"), ("sac", "squash_output"), ("td3", "log_std_init"),
    ("ddpg", "use_expln"), ("dqn", "share_features_extractor"), ("dqn", "n_critics"), ("ppo", "features_extractor"),
])
def test_keys_the_algorithms_policy_does_not_take_are_refused_with_the_supported_ones(algo, key):
    with pytest.raises(ConfigurationError, match=rf"unknown policy_kwargs \['{key}'\] for {algo.upper()}; supported: "
                                                 r"\[.*'net_arch'"):
        build(algo, {key: 1})


def test_n_critics_and_clip_mean():
    sac = build("sac", dict(n_critics=3, clip_mean=1.0, net_arch=[8]), use_sde=True)
    assert sac.policy.critic.n_critics == 3 and sac.policy.actor.clip_mean == 1.0
    assert build("td3", dict(n_critics=1, net_arch=[8])).policy.critic.n_critics == 1
    with pytest.raises(ConfigurationError, match="n_critics must be a positive int"):
        build("sac", dict(n_critics=0))


def test_normalize_images_false_gives_the_cnn_raw_pixel_values():
    model = build("dqn", dict(normalize_images=False), policy="CnnPolicy", observation_space=IMAGE)
    seen = []
    model.policy.q_net.encoder.cnn.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    model.predict(np.full((36, 36, 3), 200, np.uint8), deterministic=True)
    assert float(seen[0].max()) == 200.0 and seen[0].shape == (1, 3, 36, 36)


# --- gSDE: use_expln and squash_output -----------------------------------------------------------------------
def test_use_expln_sets_the_gsde_std_of_ppo():
    model = PPO("MlpPolicy", None, observation_space=VECTOR, action_space=BOX, seed=0, use_sde=True,
                policy_kwargs=dict(use_expln=True, log_std_init=1.0, net_arch=[8]))
    # expln(1) = log1p(1 + 1e-6) + 1 for log_std > 0 (instead of exp(1))
    torch.testing.assert_close(model.policy.action_head.sigma().detach(),
                               torch.full((8, 2), math.log1p(1.0 + 1e-6) + 1.0))


def test_squash_output_needs_gsde_as_in_sb3():
    with pytest.raises(ConfigurationError, match=r"only available when using gSDE \(use_sde=True\)"):
        PPO("MlpPolicy", None, observation_space=VECTOR, action_space=BOX, policy_kwargs=dict(squash_output=True))


def test_squash_output_with_gsde_squashes_the_distribution_and_unscales_actions():
    model = PPO("MlpPolicy", None, observation_space=VECTOR, action_space=BOX, seed=0, use_sde=True,
                policy_kwargs=dict(squash_output=True, net_arch=[8], log_std_init=0.5))
    obs = torch.as_tensor(np.random.default_rng(0).uniform(-1, 1, (32, 4)).astype(np.float32))
    out = model.policy.outputs(obs)
    assert isinstance(out.distribution, TanhSquashed)
    actions = out.distribution.sample().detach()
    assert float(actions.abs().max()) <= 1.0
    # log pi(a) = log N(atanh(a)) - sum log(1 - a^2 + 1e-6), computed by hand
    u = torch.atanh(actions.clamp(-1 + 1e-7, 1 - 1e-7))
    gaussian = out.distribution.base
    expected = (torch.distributions.Normal(gaussian.mean, gaussian.std).log_prob(u).sum(-1)
                - torch.log(1 - torch.tanh(u) ** 2 + 1e-6).sum(-1))
    torch.testing.assert_close(out.distribution.log_prob(actions), expected, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out.distribution.entropy(), -expected, rtol=1e-4, atol=1e-4)  # SB3's estimate
    # predict maps tanh(mean) in [-1, 1] onto [low, high], as SB3's unscale_action
    action, _ = model.predict(obs[:1].numpy(), deterministic=True)
    mean = torch.tanh(out.distribution.base.mean[0]).detach().numpy()
    np.testing.assert_allclose(action[0], -2.0 + 0.5 * (mean + 1.0) * 4.0, rtol=1e-6)


def test_squash_output_trains_with_ppo():
    model = PPO("MlpPolicy", "Pendulum-v1", seed=0, use_sde=True, n_steps=64, batch_size=32, n_epochs=2,
                ent_coef=0.01, policy_kwargs=dict(squash_output=True, net_arch=[16]))
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(128)
    assert all(torch.isfinite(p).all() for p in model.policy.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.policy.parameters()))


# --- optimizer_class / optimizer_kwargs -------------------------------------------------------------------
def test_optimizer_class_defaults_to_the_algorithms_and_is_stored_as_a_path_with_json_kwargs():
    # None: the algorithm's default, decided as SB3 decides it (PPO: Adam with eps=1e-5, A2C: RMSprop).
    assert build("ppo").policy_config.optimizer_class is None
    assert build("ppo").policy_config.optimizer_kwargs == {}
    assert type(build("ppo").optimizer).__name__ == "FlatAdam" and build("ppo").optimizer.param_groups[0]["eps"] == 1e-5
    assert build("dqn").policy_config.optimizer_kwargs == {}
    config = build("a2c", dict(optimizer_class=RMSpropTFLike, optimizer_kwargs=dict(alpha=0.99, eps=1e-5))
                   ).policy_config
    assert config.optimizer_class == "ballast.optim:RMSpropTFLike"
    assert config.optimizer_kwargs == {"alpha": 0.99, "eps": 1e-5}
    adam = build("sac", dict(optimizer_class="torch.optim:Adam", optimizer_kwargs=dict(betas=(0.5, 0.9))))
    assert adam.policy_config.optimizer_class == "torch.optim.adam:Adam"
    assert adam.policy_config.optimizer_kwargs == {"betas": [0.5, 0.9]}  # as JSON keeps it


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(optimizer_class=nn.Linear), "must be a torch.optim.Optimizer class"),
    (dict(optimizer_class="torch.optim:Nope"), "cannot be imported"),
    (dict(optimizer_kwargs=dict(lr=1e-3)), "must not hold lr"),
    (dict(optimizer_kwargs=dict(momentum=0.9)), "do not fit"),             # Adam takes no momentum
    (dict(optimizer_class=RMSpropTFLike, optimizer_kwargs=dict(eps=-1.0)), "do not fit"),
    (dict(optimizer_kwargs=dict(eps=np.float32(1e-5))), "must be JSON data"),
])
def test_bad_optimizer_settings_are_refused(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        build("dqn", kwargs)


# --- the saved form ----------------------------------------------------------------------------------------
def test_the_config_round_trips_through_json_and_reads_the_older_form():
    config = build("td3", dict(net_arch=dict(pi=[8], qf=[16]), features_extractor_kwargs=dict(net_arch=[4]))
                   ).policy_config
    assert PolicyConfig.from_json(config.to_json()) == config
    old = {**config.to_json(), "encoder_options": {"encoder_class": "mod:Cls", "width": 3}}
    del old["features_extractor_class"], old["features_extractor_kwargs"]
    read = PolicyConfig.from_json(old)
    assert (read.features_extractor_class, read.features_extractor_kwargs) == ("mod:Cls", {"width": 3})


def test_built_in_encoder_options_are_checked():
    assert build("ppo", dict(features_extractor_kwargs=dict(features_dim=32)), policy="CnnPolicy",
                 observation_space=IMAGE).policy.encoder.features_dim == 32
    with pytest.raises(ConfigurationError, match=r"unknown features_extractor_kwargs \['width'\] for Ballast's"):
        build("ppo", dict(features_extractor_kwargs=dict(width=3)))


def test_cnn_policy_refuses_non_images_unless_told_they_are_normalized():
    with pytest.raises(ConfigurationError, match="CnnPolicy needs uint8 image"):
        build("dqn", policy="CnnPolicy")
    scaled = spaces.Box(0.0, 1.0, (3, 36, 36), np.float32)
    model = build("dqn", dict(normalize_images=False, features_extractor_kwargs=dict(normalized_image=True)),
                  policy="CnnPolicy", observation_space=scaled)
    assert type(model.policy.q_net.encoder) is NatureCNN


def test_policy_kwargs_of_a_warning_free_model_raise_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build("ppo", dict(net_arch=dict(pi=[8], vf=[8])))
