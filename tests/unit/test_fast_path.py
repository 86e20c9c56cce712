"""The fast gradient path: every algorithm's updates equal autograd's, and it steps aside, saying why,
where it does not apply.

One fixture for every algorithm: :func:`twins` builds two identical models, one whose updates take
the fast path and one with ``use_fast_path = False``; the tests feed both the same batches (or run
the same seeded training) and compare weights, optimizer states, gradients and logged values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from ballast import A2C, DDPG, DQN, PPO, QRDQN, SAC, TD3, BaseCallback
from ballast.algos.base import Algorithm
from ballast.envs.controllers import pendulum_swing_up
from ballast.errors import ConfigurationError
from ballast.extensions import AuxModule, LossInputs
from ballast.torch_compat import public_fallbacks

BATCH = 48
DEVICES = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


# --- the shared fixture ---------------------------------------------------------------------------
#: Logged numbers that come from the clock, not from training.
CLOCK_KEYS = {"time/fps", "time/time_elapsed"}


def twins(build: Callable[[], Algorithm]) -> tuple[Algorithm, Algorithm]:
    """``(fast, reference)``: the same model twice, the reference on autograd; identical to start with."""
    fast, reference = build(), build()
    reference.use_fast_path = False
    assert fast.fast_path.active, fast.fast_path.reason
    assert not reference.fast_path.active
    assert_same(state(fast), state(reference), rtol=0, atol=0)
    return fast, reference


def flat_grads(model: Algorithm) -> list[torch.Tensor]:
    return [entry.parameters.param.grad for entry in model.optimizers if entry.parameters is not None]


def state(model: Algorithm) -> dict[str, torch.Tensor]:
    """The policy's tensors, every optimizer's state and every gradient."""
    out = {f"policy.{k}": v.detach().clone() for k, v in model.policy.state_dict().items()}
    for group, tensors in model.optimizers.state_tensors().items():
        out.update({f"{group}.{k}": v.detach().clone() for k, v in tensors.items()})
    out.update({f"grad.{i}": g.clone() for i, g in enumerate(flat_grads(model))})
    return out


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], rtol: float, atol: float) -> None:
    assert a.keys() == b.keys()
    for key in b:
        torch.testing.assert_close(a[key], b[key], rtol=rtol, atol=atol, msg=lambda m, k=key: f"{k}: {m}")


def assert_same_stats(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key, value in b.items():
        torch.testing.assert_close(a[key], value.detach(), rtol=1e-5, atol=1e-6, msg=key)


def poison_grads(model: Algorithm) -> None:
    """Every gradient the fast path must write, set to a value it would never leave behind."""
    for grad in flat_grads(model):
        grad.fill_(123.0)


# --- off-policy algorithms: one update on the same batches ---------------------------------------------
def continuous_batches(obs_dim: int, action_dim: int, steps: int, seed: int) -> list[tuple[torch.Tensor, ...]]:
    """Transitions with terminations (discount 0) and bootstrapped steps (truncations included)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(steps):
        discounts = torch.full((BATCH,), 0.99)
        discounts[::5] = 0.0
        out.append((torch.randn(BATCH, obs_dim, generator=g), torch.rand(BATCH, action_dim, generator=g) * 2 - 1,
                    torch.randn(BATCH, generator=g), torch.randn(BATCH, obs_dim, generator=g), discounts))
    return out


def box_model(algo: type, obs_dim: int, action_dim: int, device: str = "cpu", **kwargs) -> Algorithm:
    policy_kwargs = dict(net_arch=kwargs.pop("net_arch", [32, 24]), activation_fn=kwargs.pop("activation", "ReLU"),
                         share_features_extractor=kwargs.pop("share", False))
    if "n_critics" in kwargs:
        policy_kwargs["n_critics"] = kwargs.pop("n_critics")
    model = algo("MlpPolicy", None, observation_space=spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32),
                 action_space=spaces.Box(-2.0, 2.0, (action_dim,), np.float32), seed=0, device=device,
                 learning_rate=1e-3, tau=0.05, policy_kwargs=policy_kwargs, **kwargs)
    with torch.no_grad():
        if algo is SAC:
            # Raw log-stds beyond the clamp range [-20, 2] (their zero gradient is exercised) and
            # larger mean weights, so that tanh saturates for some samples.
            layer = model.policy.actor.log_std
            layer.bias[0] = 2.0
            if layer.bias.shape[0] > 1:
                layer.bias[1] = -20.0
                layer.weight[1].mul_(30.0)
            layer.weight[0].mul_(30.0)
            model.policy.actor.mu.weight.mul_(3.0)
        else:  # some actions near the tanh's saturation
            model.policy.actor.mu.weight.mul_(5.0)
            model.policy.actor_target.mu.weight.mul_(5.0)
    return model


def dqn_model(activation: str, net_arch: list[int], double_q: bool, algo: type = DQN, **policy_kwargs: object
              ) -> DQN:
    # Acrobot: 6 observations, 3 actions
    return algo("MlpPolicy", "Acrobot-v1", seed=0, learning_rate=1e-3, double_q=double_q, max_grad_norm=10.0,
                policy_kwargs={"net_arch": net_arch, "activation_fn": activation, **policy_kwargs})


def dqn_batches(model: DQN, steps: int, seed: int) -> list[tuple[torch.Tensor, ...]]:
    rng = np.random.default_rng(seed)
    obs_dim, out = model.observation_space.shape[0], []
    for _ in range(steps):
        obs = torch.as_tensor(rng.normal(0, 2, (BATCH, obs_dim)), dtype=torch.float32)
        next_obs = torch.as_tensor(rng.normal(0, 2, (BATCH, obs_dim)), dtype=torch.float32)
        actions = torch.as_tensor(rng.integers(0, model.action_space.n, BATCH))
        # Rewards large enough that some TD errors fall on each side of the Huber loss's kink.
        rewards = torch.as_tensor(rng.normal(0, 3, BATCH), dtype=torch.float32)
        discounts = torch.as_tensor(np.where(rng.random(BATCH) < 0.3, 0.0, 0.99 ** rng.integers(1, 4, BATCH)),
                                    dtype=torch.float32)  # terminations and n-step discounts
        out.append((obs, actions, rewards, next_obs, discounts))
    return out


def sac_case(**kw: object) -> dict:
    interval = kw.pop("target_update_interval", 1)
    obs_dim, action_dim = kw.pop("obs_dim"), kw.pop("action_dim")
    return dict(build=lambda device: box_model(SAC, obs_dim, action_dim, device, target_update_interval=interval,
                                               **kw),
                batches=lambda model: continuous_batches(obs_dim, action_dim, 6, obs_dim + action_dim),
                flag=lambda step: step % interval == 0)


def td3_case(algo: type, **kw: object) -> dict:
    obs_dim, action_dim = kw.pop("obs_dim"), kw.pop("action_dim")
    delay = kw.get("policy_delay", 2) if algo is TD3 else 1
    return dict(build=lambda device: box_model(algo, obs_dim, action_dim, device, **kw),
                batches=lambda model: continuous_batches(obs_dim, action_dim, 6, obs_dim + action_dim),
                flag=lambda step: step % delay == 0)


def dqn_case(activation: str, net_arch: list[int], double_q: bool, algo: type = DQN, **policy_kwargs: object
             ) -> dict:
    return dict(build=lambda device: dqn_model(activation, net_arch, double_q, algo, **policy_kwargs),
                batches=lambda model: dqn_batches(model, 3, seed=0), flag=None)


OFF_POLICY = {
    "sac-relu-twin-auto": sac_case(obs_dim=3, action_dim=1, n_critics=2, ent_coef="auto"),
    "sac-tanh-one-fixed": sac_case(obs_dim=3, action_dim=1, activation="Tanh", n_critics=1, ent_coef=0.1,
                                   target_update_interval=2),
    "sac-relu-three": sac_case(obs_dim=17, action_dim=6, n_critics=3, ent_coef=0.1),
    "sac-tanh-auto0.5": sac_case(obs_dim=17, action_dim=6, activation="Tanh", ent_coef="auto_0.5",
                                 target_update_interval=2),
    "sac-one-layer": sac_case(obs_dim=17, action_dim=6, ent_coef="auto", net_arch=[40]),
    "sac-no-layer": sac_case(obs_dim=3, action_dim=2, ent_coef="auto", net_arch=[]),
    "sac-shared-encoder": sac_case(obs_dim=17, action_dim=1, activation="Tanh", share=True),
    "td3-relu": td3_case(TD3, obs_dim=3, action_dim=1, n_critics=2),
    "td3-tanh-three-no-noise": td3_case(TD3, obs_dim=17, action_dim=6, activation="Tanh", n_critics=3,
                                        target_policy_noise=0.0),
    "td3-one-critic": td3_case(TD3, obs_dim=17, action_dim=6, n_critics=1, policy_delay=1, net_arch=[40]),
    "ddpg-tanh": td3_case(DDPG, obs_dim=3, action_dim=2, activation="Tanh"),
    "dqn-relu": dqn_case("ReLU", [64, 64], False),
    "dqn-double": dqn_case("ReLU", [32], True),
    "dqn-tanh-narrow": dqn_case("Tanh", [16, 24, 8], False),
    "dqn-no-layer": dqn_case("Tanh", [], True),
    "qrdqn-relu": dqn_case("ReLU", [64, 64], False, QRDQN, n_quantiles=25),
    "qrdqn-double-tanh": dqn_case("Tanh", [16, 8], True, QRDQN, n_quantiles=7),
    "qrdqn-no-layer": dqn_case("ReLU", [], False, QRDQN, n_quantiles=3),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", list(OFF_POLICY))
def test_off_policy_updates_equal_autograd(name: str, device: str) -> None:
    case = OFF_POLICY[name]
    if device != "cpu" and case["flag"] is None:
        pytest.skip("the DQN case builds its model from an env id on the CPU")
    fast, reference = twins(lambda: case["build"](device))
    for step, batch in enumerate(case["batches"](fast), start=1):
        batch = tuple(t.to(device) for t in batch)
        poison_grads(fast)  # what the fast path writes must overwrite it; what it leaves must stay as autograd's
        poison_grads(reference)
        args = batch if case["flag"] is None else (*batch, case["flag"](step))
        torch.manual_seed(step)
        expected = reference.update(*args)
        torch.manual_seed(step)
        got = fast.update(*args)
        assert_same_stats(got, expected)
        assert_same(state(fast), state(reference), rtol=1e-4, atol=1e-6)
    # The test has teeth: the gradients are far from zero and the parameters moved.
    assert max(g[g != 123.0].abs().max() for g in flat_grads(reference)) > 1e-3
    initial = case["build"](device)
    assert any(not torch.equal(p, q) for p, q in zip(reference.policy.parameters(), initial.policy.parameters()))


@pytest.mark.parametrize("name", ["sac-relu-twin-auto", "td3-relu", "ddpg-tanh", "dqn-relu", "dqn-double",
                                  "qrdqn-relu", "qrdqn-double-tanh"])
def test_importance_weighted_updates_equal_autograd(name: str) -> None:
    """With prioritized replay's importance weights, the fast path writes autograd's gradients of
    the weighted loss and reports the same per-sample priorities."""
    case = OFF_POLICY[name]
    fast, reference = twins(lambda: case["build"]("cpu"))
    generator = torch.Generator().manual_seed(5)
    for step, batch in enumerate(case["batches"](fast), start=1):
        weights = torch.rand(batch[1].shape[0], generator=generator) + 0.05
        args = batch if case["flag"] is None else (*batch, case["flag"](step))
        torch.manual_seed(step)
        expected = reference.update(*args, weights=weights)
        torch.manual_seed(step)
        got = fast.update(*args, weights=weights)
        assert_same_stats(got, expected)
        assert_same(state(fast), state(reference), rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(fast._td_errors, reference._td_errors, rtol=1e-4, atol=1e-6)
        assert reference._td_errors.shape == weights.shape and reference._td_errors.abs().max() > 1e-3
    # the test has teeth: without the weights, the first step ends elsewhere
    unweighted, weighted = twins(lambda: case["build"]("cpu"))
    first = case["batches"](unweighted)[0]
    args = first if case["flag"] is None else (*first, case["flag"](1))
    for model, weights in ((unweighted, None), (weighted, torch.linspace(0.1, 1.0, first[1].shape[0]))):
        torch.manual_seed(1)
        model.update(*args, weights=weights)
    assert any(not torch.equal(p, q) for p, q in zip(weighted.policy.parameters(), unweighted.policy.parameters()))


# --- on-policy algorithms: one iteration of the same rollout -----------------------------------------------
ON_POLICY = {
    "ppo-cartpole": (PPO, "CartPole-v1", {}),
    "ppo-cartpole-entropy": (PPO, "CartPole-v1", {"ent_coef": 0.05, "normalize_advantage": False}),
    "ppo-relu-three-layers": (PPO, "CartPole-v1", {"policy_kwargs": {"activation_fn": "ReLU",
                                                                     "net_arch": [32, 16, 8]}}),
    "ppo-separate-nets": (PPO, "CartPole-v1", {"policy_kwargs": {"net_arch": {"pi": [32], "vf": [16, 8]}}}),
    "ppo-pendulum": (PPO, "Pendulum-v1", {"clip_range_vf": 0.3}),
    "ppo-pendulum-entropy": (PPO, "Pendulum-v1", {"ent_coef": 0.01, "policy_kwargs": {"net_arch": [16]}}),
    "a2c-cartpole": (A2C, "CartPole-v1", {"ent_coef": 0.01}),
    "a2c-pendulum-adam": (A2C, "Pendulum-v1", {"use_rms_prop": False, "normalize_advantage": True}),
}


@pytest.mark.parametrize("name", list(ON_POLICY))
def test_on_policy_iterations_equal_autograd(name: str) -> None:
    algo, env_id, kwargs = ON_POLICY[name]
    extra = {"n_steps": 64, "batch_size": 16, "n_epochs": 2} if algo is PPO else {"n_steps": 16, "n_envs": 4}
    fast, reference = twins(lambda: algo("MlpPolicy", env_id, seed=3, device="cpu", **extra, **kwargs))
    poison_grads(fast)
    for model in (fast, reference):  # acting may draw from torch's global generator, which both share
        torch.manual_seed(0)
        model.learn(64)
    assert_same(state(fast), state(reference), rtol=1e-4, atol=1e-6)
    assert fast.logger.history[-1].keys() == reference.logger.history[-1].keys()
    for key, value in reference.logger.history[-1].items():
        if key not in CLOCK_KEYS:
            assert fast.logger.history[-1][key] == pytest.approx(value, rel=1e-4, abs=1e-6), key


def _ppo_batch_with_clipping(model: PPO):  # noqa: ANN202
    batch = next(model.rollout_buffer.minibatches(48, torch.Generator().manual_seed(0)))
    # Spread the ratios over [e^-0.5, e^0.5] so that every case of the clipped surrogate occurs.
    shift = torch.linspace(-0.5, 0.5, batch.old_log_prob.shape[0])
    return dataclasses.replace(batch, old_log_prob=batch.old_log_prob + shift,
                               old_values=batch.returns + torch.linspace(-1.0, 1.0, batch.returns.shape[0]))


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
@pytest.mark.parametrize("clip_range_vf", [None, 0.3])
def test_ppo_gradients_equal_autograd_on_every_side_of_both_clips(env_id: str, clip_range_vf: float | None) -> None:
    model = PPO("MlpPolicy", env_id, seed=3, n_steps=64, batch_size=32, n_epochs=1, ent_coef=0.02, device="cpu")
    model.learn(64)
    batch = _ppo_batch_with_clipping(model)
    model.flat_params.zero_grad()
    ref_terms, ref_stats = model.compute_losses(batch, 0.2, clip_range_vf)
    sum(ref_terms.values()).backward()
    ref_grad = model.flat_params.param.grad.clone()
    poison_grads(model)
    terms, stats = model._fast_update()(batch, 0.2, clip_range_vf)
    assert_same_stats(terms, ref_terms)
    assert_same_stats(stats, ref_stats)
    torch.testing.assert_close(model.flat_params.param.grad, ref_grad, rtol=1e-4, atol=1e-6)
    assert ref_grad.abs().max() > 1e-3


def test_a_clipped_sample_contributes_no_policy_gradient() -> None:
    """Hand check of the surrogate's derivative: with A > 0 and rho above 1 + eps the sample is clipped."""
    model = PPO("MlpPolicy", "CartPole-v1", seed=0, n_steps=64, normalize_advantage=False, vf_coef=0.0, device="cpu")
    model.learn(64)
    batch = next(model.rollout_buffer.minibatches(None, torch.Generator().manual_seed(0)))
    one = dataclasses.replace(batch.slice(0, 1), advantages=torch.ones(1))
    fast = model._fast_update()
    head_grad = model.policy.action_head.net.weight.grad
    for shift, expect_zero in ((-1.0, True), (0.0, False)):  # old log-prob lower by 1: rho = e > 1.2
        fast(dataclasses.replace(one, old_log_prob=one.old_log_prob + shift), 0.2, None)
        assert (head_grad.abs().max() == 0) == expect_zero


# --- seeded training: the same run on both paths --------------------------------------------------------
TRAINING = {
    "ppo": lambda: PPO("MlpPolicy", "CartPole-v1", seed=0, device="cpu", n_steps=128, batch_size=32, n_epochs=2),
    "a2c": lambda: A2C("MlpPolicy", "Pendulum-v1", seed=0, device="cpu"),
    "sac": lambda: SAC("MlpPolicy", "Pendulum-v1", seed=0, device="cpu", learning_starts=32, batch_size=32,
                       target_update_interval=2, policy_kwargs=dict(net_arch=[32, 32])),
    "td3": lambda: TD3("MlpPolicy", "Pendulum-v1", seed=0, device="cpu", learning_starts=32, batch_size=32,
                       policy_kwargs=dict(net_arch=[32, 32])),
    "dqn": lambda: DQN("MlpPolicy", "CartPole-v1", seed=3, device="cpu", learning_starts=100, batch_size=32,
                       train_freq=16, gradient_steps=8, target_update_interval=50,
                       policy_kwargs={"net_arch": [32, 32]}),
    "qrdqn": lambda: QRDQN("MlpPolicy", "CartPole-v1", seed=3, device="cpu", learning_starts=100, batch_size=32,
                           learning_rate=1e-3, train_freq=16, gradient_steps=8, target_update_interval=50,
                           policy_kwargs={"net_arch": [32, 32], "n_quantiles": 10}),
}

TRAINING["dqn-prioritized"] = lambda: DQN("MlpPolicy", "CartPole-v1", seed=3, device="cpu", learning_starts=100,
                                          batch_size=32, train_freq=16, gradient_steps=8, target_update_interval=50,
                                          prioritized_replay=True, policy_kwargs={"net_arch": [32, 32]})
TRAINING["qrdqn-prioritized"] = lambda: QRDQN(
    "MlpPolicy", "CartPole-v1", seed=3, device="cpu", learning_starts=100, batch_size=32, learning_rate=1e-3,
    train_freq=16, gradient_steps=8, target_update_interval=50, prioritized_replay=True,
    replay_buffer_kwargs={"alpha": 0.6}, policy_kwargs={"net_arch": [32, 32], "n_quantiles": 10})
TRAINING["sac-prioritized"] = lambda: SAC("MlpPolicy", "Pendulum-v1", seed=0, device="cpu", learning_starts=32,
                                          batch_size=32, prioritized_replay=True, policy_kwargs=dict(net_arch=[32]))


@pytest.mark.parametrize("name", list(TRAINING))
def test_seeded_training_on_both_paths_ends_the_same(name: str) -> None:
    """Seeded ``learn`` runs (collection, sampling, schedules, target updates, logging) end with the
    same weights on both paths, up to rounding grown over the steps."""
    fast, reference = twins(TRAINING[name])
    steps = 256 if name in ("ppo", "a2c") else 160
    for model in (fast, reference):  # acting may draw from torch's global generator, which both share
        torch.manual_seed(0)
        model.learn(steps)
    assert fast.n_updates == reference.n_updates > 0
    for (key, value), other in zip(reference.policy.state_dict().items(), fast.policy.state_dict().values()):
        torch.testing.assert_close(other, value, rtol=1e-3, atol=1e-5, msg=key)
    assert reference.logger.history[-1].keys() == fast.logger.history[-1].keys()
    if name.endswith("prioritized"):  # the priorities came from the same TD errors on both paths
        np.testing.assert_allclose(fast.replay_buffer.tree.leaves, reference.replay_buffer.tree.leaves,
                                   rtol=1e-3, atol=1e-5)
        assert fast.replay_buffer.tree.total() > 0
    initial = TRAINING[name]()
    assert any(not torch.equal(p, q) for p, q in zip(reference.policy.parameters(), initial.policy.parameters()))


# --- pieces of the fast layers ------------------------------------------------------------------------
@pytest.mark.parametrize("n_critics", [2, 3])
def test_the_minimum_backpropagates_through_each_samples_chosen_critic_only(n_critics: int) -> None:
    """On CPU each critic backpropagates only the rows where it is the minimum; the result equals
    backpropagating ``d_q`` into the chosen critic and zeros into the others, and autograd's."""
    model = box_model(SAC, 17, 6, n_critics=n_critics, activation="Tanh")
    critic = model._fast_update().critic
    x = torch.randn(BATCH, 23, generator=torch.Generator().manual_seed(1))
    d_q = torch.linspace(-1.0, 1.0, BATCH) / BATCH
    with torch.no_grad():
        trace = critic.forward(x)
        chosen = trace.q.min(dim=0).indices
        assert len(set(chosen.tolist())) > 1
        full = torch.zeros_like(trace.q).scatter_(0, chosen.unsqueeze(0), d_q.unsqueeze(0))
        expected = critic.layers.backward(trace.hidden, critic.output.input_grad(full), weight_grads=False,
                                          input_columns=slice(17, None))
        torch.testing.assert_close(critic.min_input_grad(trace, chosen, d_q, slice(17, None)), expected,
                                   rtol=1e-5, atol=1e-7)
        actions = x[:, 17:].clone().requires_grad_(True)
    with torch.enable_grad():
        q_min = model.policy.critic.q_from_features(x[:, :17], actions, detach_params=True).min(dim=0).values
        (q_min * d_q).sum().backward()
    torch.testing.assert_close(expected, actions.grad, rtol=1e-5, atol=1e-7)


def test_the_clamped_log_std_gets_no_gradient_and_an_unclamped_one_does() -> None:
    model = box_model(SAC, 3, 2, ent_coef=0.1)
    with torch.no_grad():
        layer = model.policy.actor.log_std
        layer.weight.zero_()
        layer.bias.copy_(torch.tensor([2.5, -1.0]))  # the first beyond LOG_STD_MAX for every sample
    model.update(*continuous_batches(3, 2, steps=1, seed=0)[0], update_target=True)
    assert model.policy.actor.log_std.bias.grad[0] == 0
    assert model.policy.actor.log_std.bias.grad[1] != 0


def test_both_sides_of_the_huber_kink_are_exercised() -> None:
    model = dqn_model("ReLU", [8], False)
    obs, actions, rewards, next_obs, discounts = dqn_batches(model, 1, seed=0)[0]
    with torch.no_grad():
        q = model.policy.q_net(obs).gather(1, actions.unsqueeze(1)).squeeze(1)
        target = rewards + discounts * model.policy.q_net_target(next_obs).max(1).values
    error = (q - target).abs()
    assert (error < 1).any() and (error > 1).any()


def test_the_public_fallbacks_of_the_private_kernels_give_the_same_updates() -> None:
    case = OFF_POLICY["sac-tanh-auto0.5"]
    private, public = case["build"]("cpu"), case["build"]("cpu")
    for step, batch in enumerate(case["batches"](private), start=1):
        torch.manual_seed(step)
        private.update(*batch, True)
        with public_fallbacks():
            torch.manual_seed(step)
            public.update(*batch, True)
    assert_same(state(public), state(private), rtol=1e-4, atol=1e-5)


# --- where it runs, and where it steps aside ------------------------------------------------------------
class _Hooked(BaseCallback):
    def __init__(self) -> None:
        super().__init__()
        self.norms: list[float] = []

    def before_gradient_step(self, terms: dict) -> bool:
        self.norms.append(float(self.model.critic_params.param.grad.norm()))
        return True


def test_update_hooks_keep_the_fast_path_and_see_its_gradients() -> None:
    model = SAC("MlpPolicy", "Pendulum-v1", seed=0, device="cpu", learning_starts=16, batch_size=8,
                policy_kwargs=dict(net_arch=[8]))
    hook = _Hooked()

    def no_autograd(*args: object, **kwargs: object) -> None:
        raise AssertionError("the fast path should have computed the losses")

    model.compute_critic_losses = no_autograd
    model.learn(32, callback=hook)
    assert model.fast_path.active
    assert hook.norms and all(n > 0 for n in hook.norms)


def test_a_changed_tau_is_honoured_on_the_fast_path() -> None:
    model = box_model(TD3, 3, 1, policy_delay=1)
    assert model.fast_path.active
    model.config.tau = 1.0  # a hard update: the targets become copies
    model.update(*continuous_batches(3, 1, steps=1, seed=0)[0], True)
    for online, target in zip(model.policy.critic.parameters(), model.policy.critic_target.parameters()):
        torch.testing.assert_close(target, online, rtol=0, atol=0)


def _zero_extra(inputs: LossInputs) -> dict[str, torch.Tensor]:
    return {"zero": inputs.outputs.values.sum() * 0.0}


class _MyPPO(PPO):
    algorithm_name = "my_ppo"

    def compute_losses(self, batch, clip_range, clip_range_vf):  # noqa: ANN001, ANN201
        return super().compute_losses(batch, clip_range, clip_range_vf)


class _MySAC(SAC):
    def compute_actor_losses(self, batch, pi, ent_coef):  # noqa: ANN001, ANN201
        return super().compute_actor_losses(batch, pi, ent_coef)


class _MyQRDQN(QRDQN):
    def q_loss(self, features, actions, target):  # noqa: ANN001, ANN201
        return super().q_loss(features, actions, target)


class _Probe(torch.nn.Module):
    def __init__(self, in_dim: int = 4) -> None:
        super().__init__()
        self.net = torch.nn.Linear(in_dim, 1)


def _dict_cartpole() -> gym.Env:
    env = gym.make("CartPole-v1")
    return gym.wrappers.TransformObservation(env, lambda o: {"x": o}, gym.spaces.Dict({"x": env.observation_space}))


REFUSALS = [
    (lambda: PPO("MlpPolicy", "Pendulum-v1", use_sde=True), "gSDE"),
    (lambda: PPO("MlpPolicy", "CartPole-v1", policy_kwargs={"activation_fn": "ELU"}), "activation is ELU"),
    (lambda: PPO("MlpPolicy", "CartPole-v1", extra_losses=[_zero_extra]), "extra loss"),
    (lambda: _MyPPO("MlpPolicy", "CartPole-v1"), "_MyPPO overrides compute_losses"),
    (lambda: PPO("MlpPolicy", "Pendulum-v1", base_policy=pendulum_swing_up), "residual"),
    (lambda: SAC("MlpPolicy", "Pendulum-v1", use_sde=True), "gSDE"),
    (lambda: SAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(features_extractor_kwargs=dict(net_arch=[8]))),
     "encoder is a MlpEncoder"),
    (lambda: _MySAC("MlpPolicy", "Pendulum-v1"), "_MySAC overrides compute_actor_losses"),
    (lambda: SAC("MlpPolicy", "Pendulum-v1",
                 aux_modules={"head": AuxModule(torch.nn.Linear, {"in_features": 3, "out_features": 1})}),
     "auxiliary modules"),
    (lambda: TD3("MlpPolicy", "Pendulum-v1", base_policy=pendulum_swing_up), "residual"),
    (lambda: DQN("MlpPolicy", "CartPole-v1", aux_modules={"aux": AuxModule(_Probe, {"in_dim": 4})}),
     "auxiliary modules"),
    (lambda: DQN("MultiInputPolicy", _dict_cartpole()), "not a FlattenEncoder"),
    (lambda: _MyQRDQN("MlpPolicy", "CartPole-v1"), "_MyQRDQN overrides q_loss"),
]


@pytest.mark.parametrize(("build", "reason"), REFUSALS)
def test_it_steps_aside_and_says_why(build: Callable[[], Algorithm], reason: str) -> None:
    model = build()
    status = model.fast_path
    assert not status.active and not status
    assert reason in status.reason
    assert model._fast_update() is None
    assert str(status).startswith("fast path off: ")


@pytest.mark.parametrize("algo", [PPO, A2C, SAC, TD3, DDPG, DQN, QRDQN])
def test_the_default_mlp_policy_takes_it_and_a_switch_turns_it_off(algo: type) -> None:
    env_id = "CartPole-v1" if algo in (PPO, A2C, DQN, QRDQN) else "Pendulum-v1"
    model = algo("MlpPolicy", env_id, policy_kwargs={"net_arch": [8]})
    assert model.fast_path.active and str(model.fast_path).startswith("fast path on: ")
    model.use_fast_path = False
    assert not model.fast_path.active and "use_fast_path" in model.fast_path.reason
    assert model._fast_update() is None


def test_verbose_learn_says_once_whether_it_runs(capsys: pytest.CaptureFixture) -> None:
    model = DQN("MlpPolicy", "CartPole-v1", verbose=1, learning_starts=8, policy_kwargs={"net_arch": [8]})
    model.learn(16)
    model.learn(16)
    out = capsys.readouterr().out
    assert out.count("fast path on") == 1


class _ObservingCallback(BaseCallback):
    """Overrides on_minibatch (so a batch could change before its update) without changing anything."""

    def on_minibatch(self, batch: object) -> bool:
        return True


def test_dqn_targets_of_a_chunk_at_once_equal_targets_per_step(monkeypatch: pytest.MonkeyPatch) -> None:
    given = []
    original = DQN.update

    def spy(self: DQN, *args: object, **kwargs: object) -> dict:
        given.append(kwargs.get("target") is not None)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DQN, "update", spy)
    chunked, per_step = TRAINING["dqn"](), TRAINING["dqn"]()
    chunked.learn(600)
    assert given and all(given)
    given.clear()
    per_step.learn(600, callback=_ObservingCallback())
    assert given and not any(given)
    assert chunked.n_updates == per_step.n_updates > 200
    torch.testing.assert_close(chunked.q_params.param, per_step.q_params.param, rtol=1e-4, atol=1e-5)


def test_precomputed_dqn_targets_need_the_fast_path() -> None:
    model = dqn_model("ReLU", [8], False)
    model.use_fast_path = False
    obs, actions, rewards, next_obs, discounts = dqn_batches(model, 1, seed=0)[0]
    with pytest.raises(ConfigurationError, match="fast path"):
        model.update(obs, actions, rewards, next_obs, discounts, target=rewards)
