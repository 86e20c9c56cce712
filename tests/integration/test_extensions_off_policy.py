"""The extension API of SAC, TD3, DDPG and DQN: auxiliary modules, extra loss terms joining the
actor's or the critic's loss, update hooks; their effect on training, logging, save/load and resume."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest
import torch
from gymnasium import spaces
from torch import nn

from ballast import DDPG, DQN, PPO, SAC, TD3, TQC, BaseCallback, ConfigurationError, CrossQ
from ballast.extensions import AuxModule, LossInputs, QOutputs, Transitions, adds_to
from ballast.policies.config import PolicyConfig
from ballast.policies.continuous import SACPolicy

ROOT = Path(__file__).resolve().parents[2]
ENCODER = dict(features_extractor_kwargs=dict(net_arch=[16]), net_arch=[16])
SMALL = dict(learning_starts=32, batch_size=16, buffer_size=2_000)
ALGOS = {
    "sac": (SAC, "Pendulum-v1", dict(policy_kwargs=dict(**ENCODER, share_features_extractor=True))),
    "td3": (TD3, "Pendulum-v1", dict(policy_kwargs=dict(**ENCODER, share_features_extractor=True))),
    "ddpg": (DDPG, "Pendulum-v1", dict(policy_kwargs=dict(**ENCODER, share_features_extractor=True))),
    "tqc": (TQC, "Pendulum-v1", dict(policy_kwargs=dict(**ENCODER, share_features_extractor=True, n_quantiles=5))),
    "crossq": (CrossQ, "Pendulum-v1", dict(policy_kwargs=dict(**ENCODER, share_features_extractor=True))),
    "dqn": (DQN, "CartPole-v1", dict(train_freq=1, target_update_interval=50, policy_kwargs=ENCODER)),
}


#: The algorithms whose loss methods take SAC's arguments ``(batch, pi, ent_coef)``.
SAC_LIKE = ("sac", "tqc", "crossq")


class Head(nn.Module):
    """A small regression head on features; module level, so a checkpoint finds it by import path."""

    def __init__(self, in_dim: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, 8), nn.Tanh(), nn.Linear(8, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).squeeze(-1)


def features_of(outputs) -> torch.Tensor:
    """The features an extra loss reads: DQN's encoder's, else the actor's (actor loss) or the critic's."""
    if isinstance(outputs, QOutputs):
        return outputs.features
    return outputs.actor.features if outputs.loss == "actor" else outputs.critic_features


def reward_head_loss(inputs: LossInputs) -> dict[str, torch.Tensor]:
    """The head regresses the rewards from the features (gradients reach the encoder)."""
    prediction = inputs.aux["head"](features_of(inputs.outputs))
    return {"head": nn.functional.mse_loss(prediction, inputs.batch.rewards)}


def detached_reward_head_loss(inputs: LossInputs) -> dict[str, torch.Tensor]:
    """The same on detached features: it trains the head only."""
    prediction = inputs.aux["head"](features_of(inputs.outputs).detach())
    return {"head": nn.functional.mse_loss(prediction, inputs.batch.rewards)}


@adds_to("critic")
def critic_reward_head_loss(inputs: LossInputs) -> dict[str, torch.Tensor]:
    return reward_head_loss(inputs)


@adds_to("critic")
def detached_critic_reward_head_loss(inputs: LossInputs) -> dict[str, torch.Tensor]:
    return detached_reward_head_loss(inputs)


def half_head_loss(inputs: LossInputs) -> dict[str, tuple[torch.Tensor, float]]:
    return {"half_head": (reward_head_loss(inputs)["head"], 0.5)}


def inert_loss(inputs: LossInputs) -> dict[str, tuple[torch.Tensor, float]]:
    """A term of weight 0 that reads every output: it must change no number of the update."""
    outputs = inputs.outputs
    parts = [outputs.q_values.sum()]
    parts.append(outputs.features.sum() if isinstance(outputs, QOutputs) else outputs.critic_features.sum())
    if not isinstance(outputs, QOutputs) and outputs.actor is not None:
        parts.append(outputs.actor.actions.sum() + outputs.actor.features.sum())
    return {f"inert_{getattr(outputs, 'loss', 'q')}": (sum(parts) ** 2, 0.0)}


@adds_to("critic")
def inert_critic_loss(inputs: LossInputs) -> dict[str, tuple[torch.Tensor, float]]:
    return inert_loss(inputs)


def make(algo: str, seed: int = 0, **kwargs):
    cls, env, options = ALGOS[algo]
    return cls("MlpPolicy", env, seed=seed, device="cpu", **{**SMALL, **options, **kwargs})


def with_head(algo: str, optimizer="shared", extra_losses=(reward_head_loss,), **kwargs):
    return make(algo, aux_modules={"head": AuxModule(Head, {"in_dim": 16}, optimizer=optimizer)},
                extra_losses=list(extra_losses), **kwargs)


def state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_equal_states(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def flat_optimizer_states(model) -> dict[str, torch.Tensor]:
    groups = {**model.optimizers.state_tensors(), **model._extra_tensors()}
    return {f"{group}.{k}": v for group, tensors in groups.items() for k, v in tensors.items()}


# --- no extension, inert extensions -------------------------------------------------------------------------------
@pytest.mark.parametrize("algo", ["sac", "td3", "ddpg", "dqn", "tqc", "crossq"])
def test_inert_extensions_train_bitwise_like_the_plain_algorithm(algo):
    """An unused aux module with its own optimizer and extra terms of weight 0 that read every
    output leave every weight and every logged loss of a seeded run unchanged. (An aux module in
    the main optimizer lengthens its flat parameter: Adam's vectorised arithmetic may then round
    some of the policy's elements differently, so it is left out.)"""
    # Built and trained one after the other: the target noise and SAC's samples draw from torch's
    # global stream, which building a model seeds.
    plain = make(algo).learn(200)
    aux = {"own": AuxModule(Head, {"in_dim": 16}, optimizer={"lr": 1e-3})}
    inert = [inert_loss] if algo == "dqn" else [inert_loss, inert_critic_loss]
    extended = make(algo, aux_modules=aux, extra_losses=inert).learn(200)
    assert_equal_states(state(plain.policy), state(extended.policy))
    plain_row, extended_row = plain.logger.history[-1], extended.logger.history[-1]
    assert {"train/loss", "loss/q" if algo == "dqn" else "loss/critic"} <= set(plain_row)
    assert any(key.startswith("loss/inert") for key in extended_row)
    for key, value in plain_row.items():
        if key not in ("time/fps", "time/time_elapsed"):  # the clock's, not training's
            assert extended_row[key] == value, key


# --- extra losses: gradients, joining a loss, logging -----------------------------------------------------------
def encoder_gradients(model, algo: str, loss: str, extra_losses: list) -> tuple[dict, list, list]:
    """The terms of one loss on a fixed replay batch, and the gradients of the encoder and the head."""
    model.extensions.extra_losses = extra_losses
    sample = model.replay_buffer.sample(16, torch.Generator().manual_seed(0))
    batch = Transitions(sample.observations, sample.actions, sample.rewards, sample.next_observations,
                        sample.discounts)
    policy = model.policy
    head_params = list(model.aux_modules["head"].parameters())
    for p in [*policy.parameters(), *head_params]:
        p.grad = None if p.grad is None else p.grad.zero_()
    torch.manual_seed(1)  # SAC's actor samples
    if algo == "dqn":
        encoder, terms = policy.q_net.encoder, model.compute_losses(batch)
    elif loss == "critic":
        encoder = policy.critic.encoder
        pi = policy.actor.outputs(batch.observations) if algo in SAC_LIKE else None
        terms = (model.compute_critic_losses(batch, pi, torch.tensor(0.1)) if algo in SAC_LIKE
                 else model.compute_critic_losses(batch))
    else:
        encoder = policy.actor.encoder
        terms = (model.compute_actor_losses(batch, policy.actor.outputs(batch.observations), torch.tensor(0.1))
                 if algo in SAC_LIKE else model.compute_actor_losses(batch))
    sum(terms.values()).backward()
    grads = [p.grad.clone() for p in encoder.parameters()]
    head = [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in head_params]
    return terms, grads, head


@pytest.mark.parametrize(("algo", "loss"), [("sac", "actor"), ("td3", "actor"), ("sac", "critic"), ("td3", "critic"),
                                            ("dqn", "q"), ("tqc", "actor"), ("tqc", "critic"), ("crossq", "actor"),
                                            ("crossq", "critic")])
def test_an_extra_loss_reaches_the_shared_encoder_and_a_detached_one_does_not(algo, loss):
    # The critic's encoder is its own (not shared with the actor) when its loss is extended.
    kwargs = {"policy_kwargs": ENCODER} if loss == "critic" else {}
    attached, detached = ((critic_reward_head_loss, detached_critic_reward_head_loss) if loss == "critic"
                          else (reward_head_loss, detached_reward_head_loss))
    model = with_head(algo, extra_losses=[attached], **kwargs)
    model.learn(64)
    base_terms, base_encoder, base_head = encoder_gradients(model, algo, loss, [])
    terms, encoder, head = encoder_gradients(model, algo, loss, [attached])
    detached_terms, detached_encoder, detached_head = encoder_gradients(model, algo, loss, [detached])
    assert set(terms) == set(detached_terms) == set(base_terms) | {"head"} and "head" not in base_terms
    assert all(g.abs().sum() > 0 for g in base_encoder)
    assert any(not torch.equal(a, b) for a, b in zip(base_encoder, encoder))
    assert all(torch.equal(a, b) for a, b in zip(base_encoder, detached_encoder))
    assert all(g.abs().sum() == 0 for g in base_head)
    assert all(g.abs().sum() > 0 for g in head) and all(g.abs().sum() > 0 for g in detached_head)
    torch.testing.assert_close(terms["head"], detached_terms["head"])


def test_a_critic_term_is_not_in_the_actor_loss_and_an_actor_term_not_in_the_critic_loss():
    model = with_head("sac", extra_losses=[critic_reward_head_loss, half_head_loss], policy_kwargs=ENCODER)
    model.learn(64)
    terms, _, _ = encoder_gradients(model, "sac", "critic", model.extensions.extra_losses)
    assert set(terms) == {"critic", "head"}
    terms, _, _ = encoder_gradients(model, "sac", "actor", model.extensions.extra_losses)
    assert set(terms) == {"actor", "alpha", "half_head"}
    # (term, weight): the weighted term enters the sum.
    unweighted = reward_head_loss(LossInputs(batch=SimpleNamespace(rewards=torch.ones(3)),
                                             outputs=SimpleNamespace(loss="actor", actor=SimpleNamespace(
                                                 features=torch.ones(3, 16))), aux=model.aux_modules, model=model))
    weighted = half_head_loss(LossInputs(batch=SimpleNamespace(rewards=torch.ones(3)),
                                         outputs=SimpleNamespace(loss="actor", actor=SimpleNamespace(
                                             features=torch.ones(3, 16))), aux=model.aux_modules, model=model))
    assert weighted["half_head"][1] == 0.5 and torch.equal(weighted["half_head"][0], unweighted["head"])


@pytest.mark.parametrize(("algo", "names"), [("sac", ("critic", "actor", "alpha", "head", "half_head")),
                                             ("dqn", ("q", "head", "half_head"))])
def test_extra_terms_are_logged_and_summed_into_the_loss(algo, names):
    extra = [critic_reward_head_loss, half_head_loss] if algo == "sac" else [reward_head_loss, half_head_loss]
    model = with_head(algo, extra_losses=extra)
    model.learn(300)
    rows = [row for row in model.logger.history if "train/loss" in row]
    assert rows
    for row in rows:
        assert row["loss/head"] > 0
        assert row["loss/half_head"] == pytest.approx(0.5 * row["loss/head"], rel=0.5)  # same head, other batch
        assert row["train/loss"] == pytest.approx(sum(row[f"loss/{name}"] for name in names), rel=1e-5, abs=1e-6)


def test_extra_loss_names_and_targets_are_checked():
    @adds_to("value")
    def unknown_target(inputs):
        return {}

    with pytest.raises(ConfigurationError, match="'value'.*'actor', 'critic'"):
        make("sac", extra_losses=[unknown_target])
    with pytest.raises(ConfigurationError, match="'critic'.*'loss'"):
        PPO("MlpPolicy", "CartPole-v1", device="cpu", extra_losses=[critic_reward_head_loss])
    with pytest.raises(ConfigurationError, match="'critic'.*'q'"):
        make("dqn", extra_losses=[critic_reward_head_loss])
    with pytest.raises(ConfigurationError, match="'shared', 'actor', 'critic' or a dict"):
        with_head("td3", optimizer="target")
    with pytest.raises(ConfigurationError, match="'shared' or a dict"):
        with_head("dqn", optimizer="critic")

    def clash(inputs):
        return {"critic": inputs.outputs.q_values.mean()}

    model = make("td3", extra_losses=[adds_to("critic")(clash)])
    with pytest.raises(ConfigurationError, match="'critic'"):
        model.learn(100)


def test_aux_modules_join_the_optimizer_they_name():
    shared, critic = with_head("sac"), with_head("sac", optimizer="critic", extra_losses=[critic_reward_head_loss])
    head_shared, head_critic = list(shared.aux_modules.parameters()), list(critic.aux_modules.parameters())
    assert all(any(p is q for q in shared.actor_params.params) for p in head_shared)
    assert not any(any(p is q for q in shared.critic_params.params) for p in head_shared)
    assert all(any(p is q for q in critic.critic_params.params) for p in head_critic)
    dqn = with_head("dqn")
    assert all(any(p is q for q in dqn.q_params.params) for p in dqn.aux_modules.parameters())


# --- aux modules: training, save/load, resume ---------------------------------------------------------------------
@pytest.mark.parametrize(("algo", "optimizer", "loss"), [
    ("sac", "shared", reward_head_loss), ("sac", "critic", critic_reward_head_loss),
    ("td3", "shared", reward_head_loss), ("ddpg", {"lr": 1e-3}, critic_reward_head_loss),
    ("dqn", {"lr": 1e-3}, reward_head_loss), ("tqc", "critic", critic_reward_head_loss),
    ("crossq", "shared", reward_head_loss),
])
def test_aux_modules_train_save_load_and_resume(tmp_path, algo, optimizer, loss):
    cls = ALGOS[algo][0]
    env = ALGOS[algo][1]
    model = with_head(algo, optimizer=optimizer, extra_losses=[loss])
    initial = state(model.aux_modules)
    model.learn(150)
    trained = state(model.aux_modules)
    assert any(not torch.equal(initial[k], trained[k]) for k in initial)
    own = isinstance(optimizer, dict)
    assert ("head" in model.extensions.own) == own

    path = model.save(tmp_path / "model", include_replay_buffer=True)
    loaded = cls.load(path, env=env, device="cpu")
    assert type(loaded.aux_modules["head"]) is Head
    assert loaded.extensions.extra_losses == [loss]  # imported again by name, with its adds_to mark
    assert_equal_states(trained, state(loaded.aux_modules))
    assert_equal_states(flat_optimizer_states(model), flat_optimizer_states(loaded))  # moments of a shared head too
    if own:
        assert loaded.extensions.own["head"][1].param_groups[0]["lr"] == 1e-3
        assert_equal_states(model.extensions.own["head"][1].state, loaded.extensions.own["head"][1].state)

    finals = []
    for _ in range(2):
        resumed = cls.load(path, env=env, device="cpu")
        resumed.learn(100, reset_num_timesteps=False)
        assert resumed.num_timesteps == 250
        finals.append((state(resumed.aux_modules), state(resumed.policy)))
    assert_equal_states(finals[0][0], finals[1][0])
    assert_equal_states(finals[0][1], finals[1][1])
    assert any(not torch.equal(trained[k], finals[0][0][k]) for k in trained)  # the head keeps training


# --- update hooks ---------------------------------------------------------------------------------------------------
class Recorder(BaseCallback):
    """Records the hooks' calls; stops after ``stop_after`` gradient steps; optionally zeroes the gradients."""

    def __init__(self, stop_after: int = 10**9, zero_gradients: bool = False, scale: float = 1.0) -> None:
        super().__init__()
        self.stop_after, self.zero_gradients, self.scale = stop_after, zero_gradients, scale
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.first_loss: float | None = None

    def on_minibatch(self, batch):
        self.calls.append(("on_minibatch", ()))
        batch.observations.mul_(self.scale)
        return True

    def before_gradient_step(self, terms):
        self.calls.append(("before_gradient_step", tuple(terms)))
        if self.first_loss is None:
            self.first_loss = float(sum(terms.values()).detach())
        if self.zero_gradients:
            for p in self.model.policy.parameters():
                if p.grad is not None:
                    p.grad.zero_()
        return True

    def after_gradient_step(self, terms):
        self.calls.append(("after_gradient_step", tuple(terms)))
        return sum(name == "after_gradient_step" for name, _ in self.calls) < self.stop_after


@pytest.mark.parametrize("algo", ["sac", "td3", "dqn"])
def test_after_gradient_step_returning_false_stops_training(algo):
    model = make(algo)
    callback = Recorder(stop_after=3)
    model.learn(100_000, callback=callback)
    assert model._n_updates == 3
    assert model.num_timesteps == SMALL["learning_starts"] + 3  # one gradient step per env step from there on
    names = [name for name, _ in callback.calls]
    per_step = {"sac": ["on_minibatch", "before_gradient_step", "before_gradient_step", "after_gradient_step"],
                "dqn": ["on_minibatch", "before_gradient_step", "after_gradient_step"]}
    if algo == "td3":  # the actor (and its hook) every policy_delay = 2 gradient steps
        short, full = per_step["dqn"], per_step["sac"]
        assert names == short + full + short
    else:
        assert names == per_step[algo] * 3
    terms = [keys for name, keys in callback.calls if name == "before_gradient_step"]
    if algo == "sac":
        assert terms[:2] == [("critic",), ("actor", "alpha")]
    elif algo == "dqn":
        assert terms[0] == ("q",)


@pytest.mark.parametrize("algo", ["sac", "td3", "dqn"])
def test_before_gradient_step_may_change_the_gradients(algo):
    model = make(algo)
    initial = state(model.policy)
    model.learn(100, callback=Recorder(zero_gradients=True))
    assert model._n_updates > 0
    assert_equal_states(initial, state(model.policy))  # no optimizer moved a weight of the policy


@pytest.mark.parametrize("algo", ["sac", "dqn"])
def test_on_minibatch_can_change_the_batch(algo):
    same, scaled = Recorder(), Recorder(scale=3.0)
    make(algo).learn(40, callback=same)
    make(algo).learn(40, callback=scaled)
    assert same.first_loss is not None and same.first_loss != scaled.first_loss


# --- the example: an action regulariser for SAC -------------------------------------------------------------------
def load_example() -> ModuleType:
    if "sac_action_regulariser" in sys.modules:
        return sys.modules["sac_action_regulariser"]
    spec = importlib.util.spec_from_file_location("sac_action_regulariser",
                                                  ROOT / "examples" / "sac_action_regulariser.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["sac_action_regulariser"] = module
    spec.loader.exec_module(module)
    return module


def regulariser_inputs(mean, next_obs, params, actor, names):
    """LossInputs for ``action_regulariser`` whose actor is ``actor`` with the given parameters (functional)."""
    def deterministic(x):
        return torch.func.functional_call(actor, dict(zip(names, params)), (x,), {"deterministic": True})

    model = SimpleNamespace(policy=SimpleNamespace(actor=SimpleNamespace(deterministic=deterministic)))
    return LossInputs(batch=SimpleNamespace(next_observations=next_obs),
                      outputs=SimpleNamespace(actor=SimpleNamespace(mean=mean)), aux={}, model=model)


def test_the_example_loss_matches_the_hand_computed_terms_and_passes_gradcheck():
    example = load_example()
    actions = spaces.Box(-2.0, 2.0, (2,), np.float32)
    config = PolicyConfig(net_arch={"pi": [5], "qf": [5]}, activation_fn="ReLU")
    actor = SACPolicy(spaces.Box(-1.0, 1.0, (3,), np.float32), actions, config=config).actor.double()
    actor.encoder = nn.Identity()  # the standard encoder casts to float32; the actor's MLP and heads follow
    names = [name for name, _ in actor.named_parameters()]
    generator = torch.Generator().manual_seed(0)
    next_obs = torch.randn(6, 3, dtype=torch.float64, generator=generator, requires_grad=True)
    mean = torch.randn(6, 2, dtype=torch.float64, generator=generator, requires_grad=True)
    params = [p.detach().clone().requires_grad_(True) for p in actor.parameters()]

    terms = example.action_regulariser(regulariser_inputs(mean, next_obs, params, actor, names))
    with torch.no_grad():  # by hand: the latent is ReLU(W1 s + b1), the action tanh(mu(latent))
        w1, b1 = actor.mlp.weights[0][0], actor.mlp.biases[0][0]
        next_action = torch.tanh(torch.relu(next_obs @ w1 + b1) @ actor.mu.weight.T + actor.mu.bias)
        temporal = ((torch.tanh(mean) - next_action) ** 2).sum(-1).mean()
        magnitude = (mean ** 2).sum(-1).mean()
    assert terms["temporal_smoothness"][1] == example.TEMPORAL_WEIGHT
    assert terms["action_magnitude"][1] == example.MAGNITUDE_WEIGHT
    torch.testing.assert_close(terms["temporal_smoothness"][0].detach(), temporal)
    torch.testing.assert_close(terms["action_magnitude"][0].detach(), magnitude)

    def weighted(mean: torch.Tensor, next_obs: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
        out = example.action_regulariser(regulariser_inputs(mean, next_obs, params, actor, names))
        return sum(term * weight for term, weight in out.values())

    assert torch.autograd.gradcheck(weighted, (mean, next_obs, *params), eps=1e-6, atol=1e-6)


def test_the_example_trains_with_its_terms_logged_and_loads(tmp_path):
    example = load_example()
    summary = example.run(plain_timesteps=200, regularised_timesteps=300, run_dir=tmp_path, learning_starts=100,
                          batch_size=32, policy_kwargs=dict(net_arch=[16]), eval_episodes=1)
    rows = summary["model"].logger.history
    names = ("critic", "actor", "alpha", *example.TERMS)
    assert all(row[f"loss/{name}"] > 0 for row in rows if "train/loss" in row for name in example.TERMS)
    assert all(row["train/loss"] == pytest.approx(sum(row[f"loss/{name}"] for name in names), rel=1e-5, abs=1e-6)
               for row in rows if "train/loss" in row)
    assert set(summary["terms_before"]) == set(summary["terms_after"]) == set(example.TERMS)
    assert summary["same_actions"] and summary["model"].num_timesteps == 500


# --- the pieces: intermediate outputs, transitions, term sums -------------------------------------------------------
@pytest.mark.parametrize("algo", ["sac", "td3"])
def test_the_policies_intermediate_outputs_are_those_of_their_forward_passes(algo):
    model = make(algo, policy_kwargs=ENCODER)
    policy, obs = model.policy, torch.randn(5, 3)
    actions = torch.rand(5, 1) * 2 - 1
    torch.manual_seed(0)
    out = policy.actor.outputs(obs)
    torch.manual_seed(0)
    expected = policy.actor.action_log_prob(obs) if algo == "sac" else (policy.actor(obs), None)
    assert torch.equal(out.actions, expected[0]) and torch.equal(out.features, policy.actor.encoder(obs))
    if algo == "sac":
        assert torch.equal(out.log_prob, expected[1])
        assert torch.equal(torch.tanh(out.mean), policy.actor.deterministic(obs))
    features = policy.critic_features(obs)
    assert torch.equal(features, policy.critic.encoder(obs))
    assert torch.equal(policy.critic.q_from_features(features, actions), policy.q_values(obs, actions))
    detached = out.detached()
    assert not detached.actions.requires_grad and torch.equal(detached.actions, out.actions)


def test_transitions_terminations_and_term_sums():
    from ballast.extensions import sum_terms, term_stats

    batch = Transitions(observations=None, actions=None, rewards=torch.tensor([1.0, 2.0, 3.0]),
                        next_observations=None, discounts=torch.tensor([0.99, 0.0, 0.9801]))
    assert torch.equal(batch.terminations, torch.tensor([0.0, 1.0, 0.0]))
    a = torch.tensor(1.5, requires_grad=True)
    terms = {"critic": a * 2, "actor": torch.tensor(-0.5), "extra": torch.tensor(0.25)}
    assert sum_terms({"only": terms["critic"]}) is terms["critic"]  # one term: no extra operation
    stats = term_stats(terms)
    assert stats["train/loss"].item() == 2.75 and stats["loss/critic"].item() == 3.0
    assert not any(v.requires_grad for v in stats.values())


def test_an_own_optimizer_steps_only_in_gradient_steps_where_an_extra_term_ran():
    actor_only = with_head("td3", optimizer={"lr": 1e-3}).learn(100)  # policy_delay=2: every second step
    assert actor_only._n_updates > 2
    assert int(actor_only.extensions.own["head"][1].state["step"]) == actor_only._n_updates // 2
    every_step = with_head("td3", optimizer={"lr": 1e-3}, extra_losses=[critic_reward_head_loss]).learn(100)
    assert int(every_step.extensions.own["head"][1].state["step"]) == every_step._n_updates
