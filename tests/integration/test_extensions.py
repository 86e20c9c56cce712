"""The extension API of PPO and A2C: the shared MLP encoder, auxiliary modules, extra loss terms
and update hooks; their effect on training, logging, save/load and resume."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from torch import nn

from ballast import A2C, PPO, BaseCallback, CheckpointError, ConfigurationError, extensions
from ballast.encoders import build_encoder
from ballast.encoders.standard import DictEncoder, FlattenEncoder, MlpEncoder
from ballast.extensions import AuxModule, LossInputs, MissingExtraLoss, register_aux_module
from ballast.policies.numpy_actor import numpy_actor

ROOT = Path(__file__).resolve().parents[2]
ALGOS = {"ppo": (PPO, dict(n_steps=32, batch_size=16, n_epochs=2)), "a2c": (A2C, dict(n_steps=8))}
SHARED_ENCODER = dict(features_extractor_kwargs=dict(net_arch=[16]), net_arch=[16])


class Head(nn.Module):
    """A small regression head on the features; module level, so it is found again by import path."""

    def __init__(self, in_dim: int, hidden: int = 8) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).squeeze(-1)


@register_aux_module("test_extensions.RegisteredHead")
class RegisteredHead(Head):
    """The same head, found again by its registered name."""


def head_loss(inputs: LossInputs) -> dict[str, torch.Tensor]:
    """The head regresses the returns from the features (gradients reach the encoder)."""
    return {"head": nn.functional.mse_loss(inputs.aux["head"](inputs.outputs.features), inputs.batch.returns)}


def detached_head_loss(inputs: LossInputs) -> dict[str, torch.Tensor]:
    """The same loss on detached features: it trains the head only."""
    prediction = inputs.aux["head"](inputs.outputs.features.detach())
    return {"head": nn.functional.mse_loss(prediction, inputs.batch.returns)}


def half_head_loss(inputs: LossInputs) -> dict[str, tuple[torch.Tensor, float]]:
    return {"head": (head_loss(inputs)["head"], 0.5)}


def make(algo: str, seed: int = 0, **kwargs) -> PPO | A2C:
    cls, small = ALGOS[algo]
    return cls("MlpPolicy", "CartPole-v1", seed=seed, device="cpu", n_envs=2, **{**small, **kwargs})


def with_head(algo: str = "ppo", optimizer: str | dict = "shared", cls: type = Head, extra_losses=(head_loss,),
              **kwargs) -> PPO | A2C:
    """A model with the shared encoder and a head on its features, trained by ``extra_losses``."""
    aux = {"head": AuxModule(cls, {"in_dim": 16}, optimizer=optimizer)}
    return make(algo, policy_kwargs=SHARED_ENCODER, aux_modules=aux, extra_losses=list(extra_losses), **kwargs)


def state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_equal_states(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def load_example() -> ModuleType:
    """examples/ppo_aux_reward_head.py as the module ``ppo_aux_reward_head`` (registers its head)."""
    if "ppo_aux_reward_head" in sys.modules:
        return sys.modules["ppo_aux_reward_head"]
    spec = importlib.util.spec_from_file_location("ppo_aux_reward_head", ROOT / "examples" / "ppo_aux_reward_head.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["ppo_aux_reward_head"] = module
    spec.loader.exec_module(module)
    return module


# --- the shared MLP encoder ------------------------------------------------------------------------------------
def test_vector_encoders_have_no_layers_by_default_and_the_numpy_fast_path_stays():
    model = make("ppo")
    assert type(model.policy.encoder) is FlattenEncoder
    assert not list(model.policy.encoder.parameters())
    assert numpy_actor(model.policy, np.random.default_rng(0)) is not None
    assert type(build_encoder(spaces.Box(-1, 1, (3,)), options={"net_arch": []})) is FlattenEncoder


def test_net_arch_in_features_extractor_kwargs_adds_a_shared_mlp_encoder():
    model = make("ppo", policy_kwargs=dict(features_extractor_kwargs=dict(net_arch=[32, 16], activation_fn="ReLU")))
    encoder = model.policy.encoder
    assert isinstance(encoder, MlpEncoder) and encoder.features_dim == 16
    assert [type(m) for m in encoder.mlp] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU]
    assert model.policy.outputs(torch.zeros(5, 4)).features.shape == (5, 16)
    assert model.policy.trunk.weights[0].shape[1] == 16  # actor and critic read the encoder's 16 features
    assert numpy_actor(model.policy, np.random.default_rng(0)) is None  # the fast path skips the encoder
    # Every fixed-shape space; a Dict gets one MLP over the concatenation of its keys.
    options = {"net_arch": [8]}
    for space in (spaces.MultiBinary(5), spaces.Discrete(4), spaces.MultiDiscrete([2, 3])):
        encoder = build_encoder(space, options=options)
        assert isinstance(encoder, MlpEncoder) and encoder.features_dim == 8
    dict_encoder = build_encoder(spaces.Dict(a=spaces.Box(-1, 1, (3,)), b=spaces.Discrete(2)), options=options)
    assert isinstance(dict_encoder.inner, DictEncoder) and dict_encoder.features_dim == 8
    assert all(not isinstance(e, MlpEncoder) for e in dict_encoder.inner.encoders.values())


@pytest.mark.parametrize("options", [{"net_arch": [0]}, {"net_arch": "64"}, {"net_arch": [8], "activation_fn": nn.ReLU},
                                     {"net_arch": [8], "activation_fn": "NoSuchActivation"}])
def test_bad_encoder_options_raise(options):
    with pytest.raises(ConfigurationError):
        build_encoder(spaces.Box(-1, 1, (3,)), options=options)


def test_shared_encoder_model_saves_and_loads(tmp_path):
    model = make("ppo", policy_kwargs=SHARED_ENCODER)
    model.learn(64)
    loaded = PPO.load(model.save(tmp_path / "m"), device="cpu")
    assert isinstance(loaded.policy.encoder, MlpEncoder)
    assert_equal_states(state(model.policy), state(loaded.policy))


# --- no extension, unused extension --------------------------------------------------------------------------
@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_empty_extensions_train_bitwise_like_the_plain_algorithm(algo):
    plain, empty = make(algo), make(algo, aux_modules={}, extra_losses=[])
    for model in (plain, empty):
        model.learn(128)
    assert_equal_states(state(plain.policy), state(empty.policy))
    assert plain.logger.history[-1]["train/loss"] == empty.logger.history[-1]["train/loss"]


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_an_unused_aux_module_changes_no_other_random_draw(algo):
    torch.manual_seed(123)  # the global stream must not matter either: the seed decides
    plain = make(algo)
    plain_rng_after_build = torch.get_rng_state()
    extended = make(algo, aux_modules={"head": AuxModule(Head, {"in_dim": 4})})
    assert torch.equal(torch.get_rng_state(), plain_rng_after_build)
    assert torch.equal(plain.generator.get_state(), extended.generator.get_state())
    assert_equal_states(state(plain.policy), state(extended.policy))
    # The aux module's weights come from their own stream: the same in every seeded run.
    again = make(algo, seed=0, aux_modules={"head": AuxModule(Head, {"in_dim": 4})})
    assert_equal_states(state(extended.aux_modules), state(again.aux_modules))


# --- extra losses: gradients, weights, logging ----------------------------------------------------------------
def test_an_extra_loss_reaches_the_shared_encoder_and_a_detached_one_does_not():
    model = with_head()
    model.learn(64)
    batch = next(model.rollout_buffer.minibatches(16, torch.Generator().manual_seed(0)))
    encoder_params = list(model.policy.encoder.parameters())
    head_params = list(model.aux_modules["head"].parameters())

    def gradients(extra_losses):
        model.extensions.extra_losses = extra_losses
        model.flat_params.zero_grad()
        terms, _ = model.compute_losses(batch, 0.2, None)
        sum(terms.values()).backward()
        return terms, [p.grad.clone() for p in encoder_params], [p.grad.clone() for p in head_params]

    base_terms, base_encoder, base_head = gradients([])
    terms, encoder, head = gradients([head_loss])
    detached_terms, detached_encoder, detached_head = gradients([detached_head_loss])
    assert set(base_terms) == {"policy", "value"} and set(terms) == set(detached_terms) == {"policy", "value", "head"}
    assert all(g.abs().sum() > 0 for g in base_encoder)
    assert any(not torch.equal(a, b) for a, b in zip(base_encoder, encoder))
    assert all(torch.equal(a, b) for a, b in zip(base_encoder, detached_encoder))
    # Without the extra term the head gets no gradient; with it, attached or not, it does.
    assert all(g.abs().sum() == 0 for g in base_head)
    assert all(g.abs().sum() > 0 for g in head) and all(g.abs().sum() > 0 for g in detached_head)
    assert torch.equal(terms["head"], detached_terms["head"])
    # A (term, weight) pair is weighted before it is summed and logged.
    model.extensions.extra_losses = [half_head_loss]
    half_terms, _ = model.compute_losses(batch, 0.2, None)
    torch.testing.assert_close(half_terms["head"], 0.5 * terms["head"])


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_extra_terms_are_logged_and_summed_into_the_loss(algo):
    model = with_head(algo, ent_coef=0.01)
    model.learn(128)
    rows = [row for row in model.logger.history if "train/loss" in row]
    assert rows
    for row in rows:
        parts = [row[f"loss/{name}"] for name in ("policy", "value", "entropy", "head")]
        assert row["loss/head"] > 0
        assert row["train/loss"] == pytest.approx(sum(parts), rel=1e-5, abs=1e-7)


def test_extra_terms_reach_the_csv_log(tmp_path):
    model = with_head(tensorboard_log=str(tmp_path))
    model.learn(64)
    header = next(tmp_path.glob("*/progress.csv")).read_text().splitlines()[0].split(",")
    assert {"loss/head", "loss/policy", "loss/value", "train/loss"} <= set(header)


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_an_extra_term_named_like_an_algorithm_term_raises(algo):
    def clash(inputs):
        return {"policy": inputs.outputs.values.mean()}

    model = make(algo, extra_losses=[clash])
    with pytest.raises(ConfigurationError, match="'policy'"):
        model.learn(64)


def test_extra_terms_must_be_scalars():
    model = make("ppo", extra_losses=[lambda inputs: {"per_sample": inputs.outputs.values}])
    with pytest.raises(ConfigurationError, match="scalar"):
        model.learn(64)


# --- aux modules: training, device, save/load, resume -----------------------------------------------------------
@pytest.mark.parametrize("optimizer", ["shared", {"lr": 1e-3}])
@pytest.mark.parametrize("cls", [Head, RegisteredHead])
def test_aux_modules_train_save_load_and_resume(tmp_path, optimizer, cls):
    model = with_head(optimizer=optimizer, cls=cls)
    initial = state(model.aux_modules)
    model.learn(64)
    trained = state(model.aux_modules)
    assert any(not torch.equal(initial[k], trained[k]) for k in initial)
    assert all(p.device == model.device for p in model.aux_modules.parameters())
    own = optimizer != "shared"
    assert ("head" in model.extensions.own) == own

    path = model.save(tmp_path / "model")
    loaded = PPO.load(path, env="CartPole-v1", device="cpu")
    reference = loaded.extensions.to_json()["aux_modules"]["head"]["class"]
    assert reference == ("test_extensions.RegisteredHead" if cls is RegisteredHead else f"{cls.__module__}:Head")
    assert type(loaded.aux_modules["head"]) is cls
    assert_equal_states(trained, state(loaded.aux_modules))
    assert loaded.extensions.extra_losses == [head_loss]  # imported again by name
    if own:
        saved_adam, loaded_adam = model.extensions.own["head"][1], loaded.extensions.own["head"][1]
        assert loaded_adam.param_groups[0]["lr"] == 1e-3
        assert_equal_states(saved_adam.state, loaded_adam.state)
    else:  # the main optimizer's moments cover the head
        assert_equal_states(model.optimizer.state, loaded.optimizer.state)

    # Resuming twice from the file gives the same run, and the head keeps training.
    finals = []
    for _ in range(2):
        resumed = PPO.load(path, env="CartPole-v1", device="cpu")
        resumed.learn(64, reset_num_timesteps=False)
        assert resumed.num_timesteps == 128
        finals.append(state(resumed.aux_modules))
    assert_equal_states(finals[0], finals[1])
    assert any(not torch.equal(trained[k], finals[0][k]) for k in trained)


def test_load_can_replace_the_extra_losses(tmp_path):
    path = with_head().learn(64).save(tmp_path / "model")
    loaded = PPO.load(path, env="CartPole-v1", device="cpu", extra_losses=[detached_head_loss])
    assert loaded.extensions.extra_losses == [detached_head_loss]
    loaded.learn(64, reset_num_timesteps=False)


def test_a_loss_that_cannot_be_imported_loads_for_acting_and_stops_training(tmp_path):
    def local_loss(inputs):
        return head_loss(inputs)

    model = with_head(extra_losses=[local_loss])
    model.learn(64)
    path = model.save(tmp_path / "model")
    with pytest.warns(UserWarning, match="local_loss"):
        loaded = PPO.load(path, env="CartPole-v1", device="cpu")
    assert isinstance(loaded.extensions.extra_losses[0], MissingExtraLoss)
    obs = np.zeros((3, 4), dtype=np.float32)
    assert np.array_equal(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
    with pytest.raises(CheckpointError, match="extra_losses"):
        loaded.learn(64, reset_num_timesteps=False)
    # Saved again, it keeps the original reference.
    with pytest.warns(UserWarning, match="local_loss"):
        PPO.load(loaded.save(tmp_path / "again"), device="cpu")


def test_aux_classes_that_cannot_be_found_again_raise_at_construction():
    class LocalHead(Head):
        pass

    with pytest.raises(ConfigurationError, match="module level.*register_aux_module"):
        make("ppo", aux_modules={"head": AuxModule(LocalHead, {"in_dim": 4})})
    register_aux_module("test_extensions.LocalHead", LocalHead)  # registered, it is fine
    make("ppo", aux_modules={"head": AuxModule(LocalHead, {"in_dim": 4})})


@pytest.mark.parametrize(("aux", "match"), [
    ({"head": AuxModule(Head, {"in_dim": np.int64(4)})}, "JSON"),
    ({"head": AuxModule(Head, {"in_dim": 4}, optimizer={"learning_rate": 1e-3})}, "unknown options"),
    ({"head": AuxModule(Head, {"in_dim": 4}, optimizer="adam")}, "'shared' or a dict"),
    ({"a.b": AuxModule(Head, {"in_dim": 4})}, "identifiers"),
    ({"head": Head(4)}, "AuxModule"),
])
def test_bad_aux_module_specs_raise_at_construction(aux, match):
    with pytest.raises(ConfigurationError, match=match):
        make("ppo", aux_modules=aux)


def test_an_aux_class_not_registered_when_loading_is_a_clear_error(tmp_path, monkeypatch):
    class Unimportable(Head):
        pass

    register_aux_module("test_extensions.Unimportable", Unimportable)
    path = make("ppo", aux_modules={"head": AuxModule(Unimportable, {"in_dim": 4})}).save(tmp_path / "m")
    monkeypatch.delitem(extensions._AUX_REGISTRY, "test_extensions.Unimportable")  # as in a fresh process
    with pytest.raises(CheckpointError, match=r"register_aux_module\('test_extensions.Unimportable'"):
        PPO.load(path, device="cpu")


# --- update hooks ----------------------------------------------------------------------------------------------
class CountAndStop(BaseCallback):
    def __init__(self, stop_after: int) -> None:
        super().__init__()
        self.stop_after, self.calls = stop_after, 0

    def after_gradient_step(self, terms):
        self.calls += 1
        return self.calls < self.stop_after


@pytest.mark.parametrize(("algo", "stop_after"), [("ppo", 3), ("a2c", 1)])
def test_after_gradient_step_returning_false_stops_training(algo, stop_after):
    model = make(algo)
    callback = CountAndStop(stop_after)
    model.learn(100_000, callback=callback)
    assert callback.calls == stop_after and model._n_updates == stop_after
    assert model.num_timesteps == ALGOS[algo][1]["n_steps"] * 2  # one rollout of 2 env copies


class ScaleObservations(BaseCallback):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor, self.losses = factor, []

    def on_minibatch(self, batch):
        batch.observations.mul_(self.factor)
        return True

    def before_gradient_step(self, terms):
        self.losses.append(float(sum(terms.values()).detach()))
        return True


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_on_minibatch_can_change_the_batch(algo):
    same, scaled = ScaleObservations(1.0), ScaleObservations(3.0)
    make(algo).learn(64, callback=same)
    make(algo).learn(64, callback=scaled)
    assert same.losses[0] != scaled.losses[0]  # the same first minibatch, scaled observations


class ZeroGradients(BaseCallback):
    def __init__(self) -> None:
        super().__init__()
        self.norms = []

    def before_gradient_step(self, terms):
        grads = [p.grad for p in self.model.policy.parameters()]
        self.norms.append(float(sum(g.abs().sum() for g in grads)))
        for g in grads:
            g.zero_()
        return True


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_before_gradient_step_sees_and_may_change_the_gradients(algo):
    model = make(algo)
    initial = state(model.policy)
    callback = ZeroGradients()
    model.learn(64, callback=callback)
    assert callback.norms and all(n > 0 for n in callback.norms)
    # Gradients zeroed before every step: the optimizer never moves a weight.
    assert_equal_states(initial, state(model.policy))


# --- the example's loss term -----------------------------------------------------------------------------------
def test_gradcheck_of_the_example_auxiliary_loss():
    example = load_example()
    head = example.NextAngleHead(features_dim=6, hidden=5).double()
    names = [name for name, _ in head.named_parameters()]
    generator = torch.Generator().manual_seed(0)
    observations = torch.randn(7, 4, dtype=torch.float64, generator=generator)
    features = torch.randn(7, 6, dtype=torch.float64, generator=generator, requires_grad=True)
    params = [p.detach().clone().requires_grad_(True) for p in head.parameters()]

    def loss(features: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
        def functional_head(x: torch.Tensor) -> torch.Tensor:
            return torch.func.functional_call(head, dict(zip(names, params)), (x,))

        inputs = LossInputs(batch=SimpleNamespace(observations=observations),
                            outputs=SimpleNamespace(features=features), aux={"next_angle_head": functional_head},
                            model=None)
        return example.next_angle_loss(inputs)["next_angle"]

    assert torch.autograd.gradcheck(loss, (features, *params), eps=1e-6, atol=1e-6)


def test_the_example_model_saves_and_loads_with_its_head(tmp_path):
    example = load_example()
    model = example.build_model()
    model.learn(512)
    assert model.logger.history[-1]["loss/next_angle"] > 0
    loaded = PPO.load(model.save(tmp_path / "example"), device="cpu")
    assert type(loaded.aux_modules["next_angle_head"]) is example.NextAngleHead
    assert loaded.extensions.extra_losses == [example.next_angle_loss]
    assert_equal_states(state(model.aux_modules), state(loaded.aux_modules))


@pytest.mark.parametrize("algo", list(ALGOS))
def test_extra_losses_see_the_rewards_and_episode_ends_of_the_minibatch(algo):
    seen = []

    def reward_head_loss(inputs: LossInputs) -> dict[str, torch.Tensor]:
        batch = inputs.batch
        seen.append((batch.rewards.clone(), batch.terminated.clone(), batch.dones.clone(), len(batch.returns)))
        prediction = inputs.aux["head"](inputs.outputs.features)
        return {"reward": nn.functional.mse_loss(prediction, batch.rewards)}

    env = lambda: gym.make("CartPole-v1", max_episode_steps=10)  # noqa: E731
    cls, small = ALGOS[algo]
    model = cls("MlpPolicy", env, seed=0, device="cpu", n_envs=2, policy_kwargs=SHARED_ENCODER,
                aux_modules={"head": AuxModule(Head, {"in_dim": 16})}, extra_losses=[reward_head_loss],
                **small).learn(64)
    assert seen and all(len(r) == n == len(t) == len(d) for r, t, d, n in seen)
    rewards = torch.cat([r for r, _, _, _ in seen])
    terminated = torch.cat([t for _, t, _, _ in seen])
    dones = torch.cat([d for _, _, d, _ in seen])
    assert rewards.dtype == torch.float32 and torch.all(rewards == 1.0)  # CartPole pays 1 per step
    assert dones.dtype == torch.bool and dones.any() and torch.all(dones | ~terminated)  # terminated implies done
    assert (dones & ~terminated).any()  # truncations at the 10-step limit: done, not terminated
    assert "loss/reward" in model.logger.history[-1]


class CounterEnv(gym.Env):
    """The observation counts the episode's steps, so each transition's next observation is its observation + 1
    (also at the end of an episode, where the reset observation 0 follows)."""

    observation_space = gym.spaces.Box(0.0, 100.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        return np.full(1, self.t, np.float32), float(action), self.t >= 5 and action == 1, self.t >= 7, {}


@pytest.mark.parametrize("algo", list(ALGOS))
@pytest.mark.parametrize("next_step", [False, True], ids=["same-step-autoreset", "next-step-autoreset"])
def test_on_policy_extra_losses_see_the_next_observations(algo, next_step):
    seen = []

    def next_obs_loss(inputs: LossInputs) -> dict[str, torch.Tensor]:
        batch = inputs.batch
        seen.append((batch.observations.clone(), batch.next_observations.clone(), batch.dones.clone()))
        prediction = inputs.aux["head"](inputs.outputs.features)
        return {"next_obs": nn.functional.mse_loss(prediction, batch.next_observations.squeeze(-1))}

    if next_step:
        env = gym.vector.SyncVectorEnv([CounterEnv, CounterEnv], autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP)
    else:
        env = CounterEnv
    cls, small = ALGOS[algo]
    model = cls("MlpPolicy", env, seed=0, device="cpu", n_envs=1 if next_step else 2,
                policy_kwargs=SHARED_ENCODER, aux_modules={"head": AuxModule(Head, {"in_dim": 16})},
                extra_losses=[next_obs_loss],
                **small).learn(64)
    obs, next_obs, dones = (torch.cat([s[i] for s in seen]) for i in range(3))
    assert obs.shape == next_obs.shape == (len(dones), 1) and dones.any()
    torch.testing.assert_close(next_obs, obs + 1.0, rtol=0, atol=0)  # episode ends included: never the reset 0
    assert "loss/next_obs" in model.logger.history[-1]


def test_next_observations_are_normalised_as_the_observations():
    seen = []

    def next_obs_loss(inputs: LossInputs) -> dict[str, torch.Tensor]:
        seen.append((inputs.batch.observations.clone(), inputs.batch.next_observations.clone()))
        return {"zero": inputs.outputs.values.sum() * 0.0}

    model = PPO("MlpPolicy", CounterEnv, seed=0, device="cpu", n_steps=32, batch_size=16, n_epochs=1,
                normalize_observations=True, extra_losses=[next_obs_loss]).learn(64)
    obs, next_obs = (torch.cat([s[i] for s in seen]) for i in range(2))
    assert model.policy.normalizer is not None
    assert obs.abs().max() < 5 and next_obs.abs().max() < 5  # normalised, not raw counts up to 7
    assert not torch.equal(obs, next_obs)
