"""Features extractors written for SB3 (``features_extractor_class``) with every algorithm and policy name.

Each learning test is a short seeded run on an env whose best action the observation gives away
(``custom_extractors``): an untrained policy scores about half of what a trained one does. After
training, the model is saved and loaded, and its deterministic actions must be bitwise equal.
"""

from __future__ import annotations

import json
import zipfile

import gymnasium as gym
import numpy as np
import pytest
import torch
from custom_extractors import (
    EPISODE,
    BatchNormFlatten,
    CustomCNN,
    DictExtractor,
    DictSignEnv,
    MeanMaxGnn,
    SideImageEnv,
    SignEnv,
    SmallMlp,
    TrackEnv,
)
from graph_envs import HotNodeEnv
from gymnasium import spaces
from torch import nn

from ballast import A2C, DDPG, DQN, PPO, SAC, TD3, ConfigurationError, evaluate_policy, load
from ballast.common.torch_layers import BaseFeaturesExtractor, CombinedExtractor, FlattenExtractor, NatureCNN
from ballast.encoders import register_features_extractor
from ballast.noise import NormalActionNoise

SMALL = dict(features_extractor_class=SmallMlp, features_extractor_kwargs=dict(features_dim=16))
OFF_POLICY = dict(learning_starts=64, buffer_size=1000, batch_size=32, learning_rate=1e-3,
                  policy_kwargs=dict(SMALL, net_arch=[32, 32]))
NOISE = dict(action_noise=NormalActionNoise(np.zeros(1), 0.5 * np.ones(1)))
# algorithm: (class, env, hyperparameters, steps, score of a trained policy)
LEARNING = {
    "ppo": (PPO, SignEnv, dict(n_envs=4, n_steps=32, batch_size=64, n_epochs=4, learning_rate=3e-3,
                               policy_kwargs=dict(SMALL, net_arch=[16])), 1024, 7.0),
    "a2c": (A2C, SignEnv, dict(n_envs=4, n_steps=8, learning_rate=3e-3, policy_kwargs=dict(SMALL, net_arch=[16])),
            2048, 7.0),
    "dqn": (DQN, SignEnv, dict(learning_starts=64, buffer_size=1000, train_freq=1, target_update_interval=50,
                               exploration_fraction=0.3, learning_rate=3e-3, batch_size=32,
                               policy_kwargs=dict(SMALL, net_arch=[16])), 500, 7.0),
    "sac": (SAC, TrackEnv, dict(OFF_POLICY, learning_rate=2e-3), 400, -4.0),
    "td3": (TD3, TrackEnv, dict(OFF_POLICY, **NOISE), 400, -4.0),
    "ddpg": (DDPG, TrackEnv, dict(OFF_POLICY, **NOISE), 400, -4.0),
}


def encoders_of(model) -> list[nn.Module]:
    """Every features extractor of the model's policy (targets included), as SB3 would build them."""
    policy = model.policy
    if isinstance(model, DQN):
        return [policy.q_net.encoder, policy.q_net_target.encoder]
    if isinstance(model, (PPO, A2C)):
        return [e for e in (policy.encoder, policy.vf_encoder) if e is not None]
    found = [policy.actor.encoder, policy.critic.encoder, policy.critic_target.encoder]
    if hasattr(policy, "actor_target"):
        found.append(policy.actor_target.encoder)
    return [e for e in found if e is not None]


def observations(env, n: int = 16, seed: int = 7):
    """A batch of ``n`` observations of ``env`` (dicts stacked key by key)."""
    env.reset(seed=seed)
    items = [env._draw() for _ in range(n)]
    if isinstance(items[0], dict):
        return {key: np.stack([item[key] for item in items]) for key in items[0]}
    return np.stack(items)


@pytest.mark.parametrize("algo", list(LEARNING))
def test_a_custom_extractor_learns_saves_and_loads_with_equal_predictions(algo, tmp_path):
    cls, env, kwargs, steps, trained_score = LEARNING[algo]
    model = cls("MlpPolicy", env, seed=0, device="cpu", **kwargs)
    extractors = encoders_of(model)
    assert all(type(e) is SmallMlp for e in extractors)
    assert len({id(e) for e in extractors}) == len(extractors)  # SB3 builds one per network (no sharing here)
    assert not model.fast_path.active and "encoder" in model.fast_path.reason  # autograd for a custom extractor
    before_params = [p.detach().clone() for p in model.policy.parameters()]
    untrained, _ = evaluate_policy(model, env(), n_eval_episodes=5, seed=1)
    model.learn(steps)
    trained, _ = evaluate_policy(model, env(), n_eval_episodes=5, seed=1)
    assert trained >= trained_score > untrained
    # The extractor trained by autograd: its weights moved.
    first_layer = extractors[0].net[1].weight
    index = next(i for i, p in enumerate(model.policy.parameters()) if p is first_layer)
    assert not torch.equal(before_params[index], first_layer.detach())
    seen = extractors[0].seen[0]
    assert seen.dtype == torch.float32 and seen.shape[1:] == (3,)

    obs = observations(env())
    actions, _ = model.predict(obs, deterministic=True)
    path = model.save(tmp_path / f"{algo}_custom.zip")
    config = json.loads(zipfile.ZipFile(path).read("config.json"))["policy"]["config"]
    assert config["features_extractor_class"] == "custom_extractors:SmallMlp"
    assert config["features_extractor_kwargs"] == {"features_dim": 16}
    loaded = load(path)
    assert all(type(e) is SmallMlp for e in encoders_of(loaded))
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], actions)
    assert loaded.policy_config == model.policy_config


@pytest.mark.parametrize("cls", [PPO, A2C])
def test_share_features_extractor_for_ppo_and_a2c(cls):
    kwargs = dict(n_steps=32, batch_size=32) if cls is PPO else {}
    shared = cls("MlpPolicy", SignEnv, seed=0, policy_kwargs=SMALL, **kwargs)
    assert type(shared.policy.encoder) is SmallMlp and shared.policy.vf_encoder is None
    separate = cls("MlpPolicy", SignEnv, seed=0, policy_kwargs=dict(SMALL, share_features_extractor=False), **kwargs)
    assert type(separate.policy.vf_encoder) is SmallMlp and separate.policy.vf_encoder is not separate.policy.encoder
    separate.learn(64)
    obs = torch.as_tensor(observations(SignEnv()))
    # The value function reads its own extractor: changing the actor's leaves the values unchanged.
    values = separate.policy.predict_values(obs)
    with torch.no_grad():
        separate.policy.encoder.net[1].weight.mul_(2.0)
    torch.testing.assert_close(separate.policy.predict_values(obs), values, rtol=0, atol=0)


@pytest.mark.parametrize("cls", [SAC, TD3, DDPG])
def test_off_policy_actor_and_critics_extractors_as_sb3_builds_them(cls):
    model = cls("MlpPolicy", TrackEnv, seed=0, policy_kwargs=SMALL, learning_starts=10, batch_size=8)
    policy = model.policy
    assert model.policy_config.share_features_extractor is False  # SB3's default for these algorithms
    assert type(policy.critic.encoder) is SmallMlp and policy.critic.encoder is not policy.actor.encoder
    shared = cls("MlpPolicy", TrackEnv, seed=0, learning_starts=10, batch_size=8,
                 policy_kwargs=dict(SMALL, share_features_extractor=True))
    assert shared.policy.critic.encoder is None  # the critics read the actor's extractor
    assert type(shared.policy.critic_target.encoder) is SmallMlp
    actor_weights = shared.policy.actor.encoder.net[1].weight.detach().clone()
    shared.learn(40)
    assert not torch.equal(actor_weights, shared.policy.actor.encoder.net[1].weight.detach())


def test_dqn_q_net_and_target_have_their_own_extractor():
    model = DQN("MlpPolicy", SignEnv, seed=0, policy_kwargs=SMALL, learning_starts=10, batch_size=8,
                target_update_interval=1000)
    online, target = model.policy.q_net.encoder, model.policy.q_net_target.encoder
    assert online is not target
    assert all(torch.equal(a, b) for a, b in zip(online.parameters(), target.parameters()))
    model.learn(60)
    assert not all(torch.equal(a, b) for a, b in zip(online.parameters(), target.parameters()))


@pytest.mark.parametrize("cls", [PPO, DQN])
def test_a_custom_cnn_gets_float_channels_first_images_scaled_as_sb3(cls, tmp_path):
    kwargs = dict(n_steps=64, batch_size=32) if cls is PPO else dict(learning_starts=32, batch_size=16)
    policy_kwargs = dict(features_extractor_class=CustomCNN, features_extractor_kwargs=dict(features_dim=32))
    model = cls("CnnPolicy", SideImageEnv, seed=0, policy_kwargs=policy_kwargs, **kwargs)
    extractor = model.policy.encoder if cls is PPO else model.policy.q_net.encoder
    # Built for the space SB3 would show it (VecTransposeImage): channels first.
    assert extractor._observation_space.shape == (1, 36, 36)
    # SB3's default net_arch after an extractor other than NatureCNN: [64, 64].
    assert model.policy_config.net_arch == ({"pi": [64, 64], "vf": [64, 64]} if cls is PPO else {"qf": [64, 64]})
    model.learn(96)
    images = observations(SideImageEnv())
    extractor.seen = []
    actions, _ = model.predict(images, deterministic=True)
    seen = extractor.seen[0]
    assert seen.dtype == torch.float32 and seen.shape == (16, 1, 36, 36)
    expected = torch.as_tensor(images, dtype=torch.float32).permute(0, 3, 1, 2) / 255.0
    torch.testing.assert_close(seen, expected, rtol=0, atol=0)
    loaded = load(model.save(tmp_path / "cnn.zip"))
    np.testing.assert_array_equal(loaded.predict(images, deterministic=True)[0], actions)

    raw = cls("CnnPolicy", SideImageEnv, seed=0, policy_kwargs=dict(policy_kwargs, normalize_images=False), **kwargs)
    raw_extractor = raw.policy.encoder if cls is PPO else raw.policy.q_net.encoder
    raw.predict(images, deterministic=True)
    assert float(raw_extractor.seen[0].max()) == 255.0


def test_ppo_learns_with_a_custom_cnn_on_images():
    policy_kwargs = dict(features_extractor_class=CustomCNN, features_extractor_kwargs=dict(features_dim=32),
                         net_arch=[32])
    model = PPO("CnnPolicy", SideImageEnv, n_envs=4, n_steps=32, batch_size=64, n_epochs=4, learning_rate=3e-3,
                seed=0, policy_kwargs=policy_kwargs)
    untrained, _ = evaluate_policy(model, SideImageEnv(), n_eval_episodes=5, seed=1)
    model.learn(2048)
    trained, _ = evaluate_policy(model, SideImageEnv(), n_eval_episodes=5, seed=1)
    assert trained >= 7.0 > untrained


@pytest.mark.parametrize("cls", [PPO, SAC])
def test_a_custom_multi_input_extractor_gets_each_key_preprocessed(cls, tmp_path):
    env = DictSignEnv if cls is PPO else gym.wrappers.TransformAction(
        DictSignEnv(), lambda a: int(a[0] > 0), spaces.Box(-1.0, 1.0, (1,), np.float32))
    kwargs = dict(n_steps=32, batch_size=32) if cls is PPO else dict(learning_starts=16, batch_size=8)
    model = cls("MultiInputPolicy", env, seed=0, policy_kwargs=dict(features_extractor_class=DictExtractor), **kwargs)
    extractor = model.policy.encoder if cls is PPO else model.policy.actor.encoder
    assert extractor.features_dim == 8 + 3 + EPISODE + 1
    assert extractor._observation_space["image"].shape == (2, 36, 36)
    model.learn(48)
    obs = observations(DictSignEnv(), n=4)
    actions, _ = model.predict(obs, deterministic=True)
    seen = extractor.seen[0]
    torch.testing.assert_close(seen["image"], torch.as_tensor(obs["image"]).permute(0, 3, 1, 2).float() / 255.0,
                               rtol=0, atol=0)
    torch.testing.assert_close(seen["count"], torch.eye(EPISODE + 1)[torch.as_tensor(obs["count"])], rtol=0, atol=0)
    assert seen["vector"].dtype == torch.float32
    loaded = load(model.save(tmp_path / "dict.zip"))
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], actions)


def test_sb3_extractor_classes_by_name(tmp_path):
    nature = PPO("CnnPolicy", SideImageEnv, seed=0, n_steps=16, batch_size=16,
                 policy_kwargs=dict(features_extractor_class=NatureCNN,
                                    features_extractor_kwargs=dict(features_dim=24)))
    assert type(nature.policy.encoder) is NatureCNN and nature.policy.encoder.features_dim == 24
    assert nature.policy_config.net_arch == {"pi": [], "vf": []}  # SB3: no hidden layer after the NatureCNN
    combined = PPO("MultiInputPolicy", DictSignEnv, seed=0, n_steps=16, batch_size=16,
                   policy_kwargs=dict(features_extractor_class=CombinedExtractor,
                                      features_extractor_kwargs=dict(cnn_output_dim=8)))
    assert combined.policy.encoder.features_dim == 8 + 3 + EPISODE + 1
    combined.learn(32)
    obs = observations(DictSignEnv(), n=4)
    actions, _ = combined.predict(obs, deterministic=True)
    np.testing.assert_array_equal(load(combined.save(tmp_path / "c.zip")).predict(obs, deterministic=True)[0],
                                  actions)
    flat = DQN("MlpPolicy", SignEnv, seed=0, policy_kwargs=dict(features_extractor_class=FlattenExtractor))
    assert flat.policy.q_net.encoder.features_dim == 3


def test_a_custom_gnn_extractor_reads_the_ragged_graph_batch(tmp_path):
    model = PPO("auto", lambda: HotNodeEnv(4, 10), n_envs=4, n_steps=64, batch_size=64, n_epochs=4,
                learning_rate=3e-3, seed=0, policy_kwargs=dict(features_extractor_class=MeanMaxGnn, net_arch=[16]))
    untrained, _ = evaluate_policy(model, HotNodeEnv(4, 10), n_eval_episodes=5, seed=1)
    model.learn(2048)
    trained, _ = evaluate_policy(model, HotNodeEnv(4, 10), n_eval_episodes=5, seed=1)
    larger, _ = evaluate_policy(model, HotNodeEnv(30, 40), n_eval_episodes=5, seed=1)
    assert trained >= 7.0 > untrained and larger >= 6.0
    env = HotNodeEnv(4, 10)
    graphs = [env.reset(seed=s)[0] for s in range(5)]
    actions, _ = model.predict(graphs, deterministic=True)
    loaded = PPO.load(model.save(tmp_path / "gnn.zip"))
    assert type(loaded.policy.encoder) is MeanMaxGnn
    np.testing.assert_array_equal(loaded.predict(graphs, deterministic=True)[0], actions)


def test_a_custom_extractor_over_a_dict_with_a_graph_key():
    space = spaces.Dict({"graph": spaces.Graph(spaces.Box(0.0, 1.0, (2,), np.float32), None),
                         "flag": spaces.Discrete(3)})
    received = {}

    class GraphAndFlag(BaseFeaturesExtractor):
        def __init__(self, observation_space):
            super().__init__(observation_space, 2 + 3)

        def forward(self, observations):
            received.update(observations)
            graphs = observations["graph"]
            from ballast.segment import segment_reduce
            return torch.cat([segment_reduce(graphs.nodes, graphs.node_index, graphs.num_graphs, "mean"),
                              observations["flag"]], dim=1)

    register_features_extractor("tests.GraphAndFlag", GraphAndFlag)
    model = PPO("MultiInputPolicy", None, observation_space=space, action_space=spaces.Discrete(2), seed=0,
                policy_kwargs=dict(features_extractor_class=GraphAndFlag))
    instance = spaces.GraphInstance(np.array([[0.0, 1.0], [1.0, 1.0]], np.float32), None, np.array([[0, 1]]))
    model.predict({"graph": instance, "flag": 2}, deterministic=True)
    assert type(received["graph"]).__name__ == "GraphBatch"
    torch.testing.assert_close(received["flag"], torch.tensor([[0.0, 0.0, 1.0]]), rtol=0, atol=0)


# --- refusals --------------------------------------------------------------------------------------------
def test_an_extractor_that_cannot_be_found_again_is_refused_at_construction_unless_registered(tmp_path):
    class LocalExtractor(SmallMlp):
        pass

    with pytest.raises(ConfigurationError, match="defined in a function.*register_features_extractor"):
        PPO("MlpPolicy", SignEnv, policy_kwargs=dict(features_extractor_class=LocalExtractor))
    register_features_extractor("tests.LocalExtractor", LocalExtractor)
    model = PPO("MlpPolicy", SignEnv, seed=0, n_steps=16, batch_size=16,
                policy_kwargs=dict(features_extractor_class=LocalExtractor))
    path = model.save(tmp_path / "registered.zip")
    assert json.loads(zipfile.ZipFile(path).read("config.json"))["policy"]["config"][
        "features_extractor_class"] == "tests.LocalExtractor"
    assert type(PPO.load(path).policy.encoder) is LocalExtractor


def test_a_class_from_main_is_refused():
    script = type("Script", (SmallMlp,), {"__module__": "__main__"})  # as `class Script` in a script
    with pytest.raises(ConfigurationError, match=r"in __main__ \(a script\).*register_features_extractor"):
        SAC("MlpPolicy", TrackEnv, policy_kwargs=dict(features_extractor_class=script))


@pytest.mark.parametrize("kwargs", [dict(features_dim=16, activation=nn.ReLU), dict(features_dim=np.int64(4)),
                                    dict(features_dim=16, scale=float("nan"))])
def test_extractor_kwargs_that_are_not_json_data_are_refused(kwargs):
    with pytest.raises(ConfigurationError, match="features_extractor_kwargs of .*SmallMlp must be JSON data"):
        DQN("MlpPolicy", SignEnv, policy_kwargs=dict(features_extractor_class=SmallMlp,
                                                     features_extractor_kwargs=kwargs))


def test_an_extractor_without_a_positive_features_dim_is_refused():
    with pytest.raises(ConfigurationError, match="features_dim must be a positive int"):
        TD3("MlpPolicy", TrackEnv, policy_kwargs=dict(features_extractor_class=SmallMlp,
                                                      features_extractor_kwargs=dict(features_dim=0)))


def test_a_saved_extractor_that_can_no_longer_be_found_fails_to_load_with_advice(tmp_path, monkeypatch):
    register_features_extractor("tests.Vanishing", SmallMlp)
    path = PPO("MlpPolicy", SignEnv, n_steps=16, batch_size=16,
               policy_kwargs=dict(features_extractor_class="tests.Vanishing")).save(tmp_path / "v.zip")
    from ballast.import_path import MODULE_CLASSES

    monkeypatch.delitem(MODULE_CLASSES, "tests.Vanishing")  # as in a fresh process that did not register it
    with pytest.raises(ConfigurationError, match=r"register_features_extractor\('tests.Vanishing'"):
        PPO.load(path)


@pytest.mark.parametrize("algo", ["sac", "td3", "dqn"])
def test_target_networks_copy_the_batch_norm_statistics_whatever_tau(algo: str) -> None:
    """As SB3's: a target network normalises with the online network's running statistics, copied at
    each target update even when ``tau=0`` leaves its weights where they were."""
    common = dict(policy_kwargs=dict(features_extractor_class=BatchNormFlatten, net_arch=[16]), learning_starts=0,
                  batch_size=16, seed=1)
    if algo == "dqn":
        model = DQN("MlpPolicy", "CartPole-v1", tau=0.0, target_update_interval=10, **common)
        pairs = [(model.policy.q_net, model.policy.q_net_target)]
    else:
        model = (SAC if algo == "sac" else TD3)("MlpPolicy", "Pendulum-v1", tau=0.0, **common)
        pairs = [(model.policy.critic, model.policy.critic_target)]
        if algo == "td3":
            pairs.append((model.policy.actor, model.policy.actor_target))

    def statistics(network: nn.Module) -> dict[str, torch.Tensor]:
        return {name: b.clone() for name, b in network.named_buffers() if "running_" in name}

    before = [(statistics(target), [p.clone() for p in target.parameters()]) for _, target in pairs]
    model.learn(200)
    for (online, target), (target_before, target_weights) in zip(pairs, before, strict=True):
        copied = statistics(target)
        assert copied and all(not torch.equal(copied[name], target_before[name]) for name in copied)
        model.targets.update(0.0)  # the copy each target update makes: the statistics as they are now
        online_now, target_now = statistics(online), statistics(target)
        for name in online_now:
            torch.testing.assert_close(target_now[name], online_now[name], rtol=0, atol=0)
        for weight, weight_before in zip(target.parameters(), target_weights, strict=True):
            assert torch.equal(weight, weight_before)  # tau=0: the weights stay
