"""Residual policies: the action mapping, zero initialisation, log-probabilities, clipping, save/load."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from ballast import A2C, DDPG, PPO, SAC, TD3, evaluate_policy
from ballast.algos.on_policy import collect_rollout
from ballast.callbacks import BaseCallback
from ballast.envs.controllers import pendulum_swing_up
from ballast.errors import (
    CheckpointError,
    ConfigurationError,
    ExportError,
    SpaceMismatchError,
    UnsupportedSpaceError,
)
from ballast.residual import CallableBase, ModelBase, ModuleBase, OnnxBase, ResidualActions

ALGOS = [PPO, A2C, SAC, TD3, DDPG]
OBS = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 3.0], [-1.0, 0.0, -2.0], [0.6, -0.8, 7.5], [0.99, 0.14, -0.3]],
               dtype=np.float32)


def small(cls: type, **kwargs):
    """A small residual model on Pendulum-v1 with the swing-up controller as base."""
    net = {"net_arch": [32, 32]}
    options = {"n_steps": 16, "batch_size": 16} if cls is PPO else {"n_steps": 8} if cls is A2C else \
        {"learning_starts": 20, "batch_size": 16}
    return cls("MlpPolicy", "Pendulum-v1", seed=0, policy_kwargs=net,
               **{"base_policy": pendulum_swing_up, **options, **kwargs})


def far_out(obs: np.ndarray) -> np.ndarray:
    """A base that asks for more torque than Pendulum allows."""
    return np.full((len(obs), 1), 5.0, dtype=np.float32)


class Recorder(gym.Wrapper):
    """Records the actions the env receives."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.actions: list[np.ndarray] = []

    def step(self, action):
        self.actions.append(np.array(action, dtype=np.float32).reshape(-1))
        return self.env.step(action)


@pytest.mark.parametrize("cls", ALGOS)
def test_fresh_residual_agent_acts_exactly_as_its_base(cls) -> None:
    model = small(cls)
    actions, _ = model.predict(OBS, deterministic=True)
    np.testing.assert_array_equal(actions, pendulum_swing_up(OBS))


@pytest.mark.parametrize("cls", [PPO, SAC])
def test_base_sees_raw_observations_when_normalisation_is_on(cls) -> None:
    model = small(cls, normalize_observations=True)
    rms = model.policy.normalizer.stats["obs"]
    rms.mean.fill_(3.0)
    rms.var.fill_(0.01)
    actions, _ = model.predict(OBS, deterministic=True)
    np.testing.assert_array_equal(actions, pendulum_swing_up(OBS))


def test_fresh_residual_evaluation_return_equals_the_bases() -> None:
    class Base:
        def predict(self, obs, deterministic=True):
            return pendulum_swing_up(obs), None

    model = small(SAC)
    mine = evaluate_policy(model, "Pendulum-v1", n_eval_episodes=2, seed=5, return_episode_rewards=True)
    base = evaluate_policy(Base(), "Pendulum-v1", n_eval_episodes=2, seed=5, return_episode_rewards=True)
    assert mine == base


def test_networks_see_the_base_action_appended_in_normalised_units() -> None:
    model = small(SAC)
    net_obs, base = model.policy.normalize_with_base(torch.as_tensor(OBS))
    assert net_obs.shape == (len(OBS), 4)
    np.testing.assert_array_equal(net_obs[:, :3].numpy(), OBS)
    np.testing.assert_allclose(net_obs[:, 3].numpy(), pendulum_swing_up(OBS)[:, 0] / 2.0, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(base.numpy(), pendulum_swing_up(OBS))
    plain = small(SAC, append_base_action=False)
    assert plain.policy.normalize(torch.as_tensor(OBS)).shape == (len(OBS), 3)
    assert plain.policy.actor.encoder.features_dim == 3


def test_action_mapping_by_hand() -> None:
    """clip(base + scale * half_width * r) in env units; the critic's input is its normalised,
    straight-through-clipped form."""
    space = gym.spaces.Box(np.array([-2.0, 0.0], dtype=np.float32), np.array([2.0, 10.0], dtype=np.float32))
    base = CallableBase(lambda obs: np.zeros((len(obs), 2)), 2)
    mapping = ResidualActions(base, gym.spaces.Box(-1, 1, (3,)), space, scale=0.5, append_base_action=True)
    base_actions = torch.tensor([[1.5, 5.0], [-1.0, 9.0]])
    residual = torch.tensor([[0.5, -0.2], [0.1, 1.0]], requires_grad=True)
    # half widths (2, 5): [1.5 + 0.5*2*0.5, 5 + 0.5*5*(-0.2)] = [2.0, 4.5]; [-1 + 0.1, 9 + 2.5] -> clip 10
    env = mapping.env_actions(base_actions, residual)
    np.testing.assert_allclose(env.detach().numpy(), [[2.0, 4.5], [-0.9, 10.0]], atol=1e-6)
    np.testing.assert_allclose(mapping.env_actions_numpy(base_actions.numpy(), residual.detach().numpy()),
                               env.detach().numpy(), atol=1e-6)
    # normalised: base (0.75, 0), (-0.5, 0.8); plus 0.5 * r -> (1.0, -0.1), (-0.45, 1.3 -> 1.0)
    critic = mapping.critic_actions(base_actions, residual)
    np.testing.assert_allclose(critic.detach().numpy(), [[1.0, -0.1], [-0.45, 1.0]], atol=1e-6)
    critic.sum().backward()
    np.testing.assert_allclose(residual.grad.numpy(), np.full((2, 2), 0.5))  # straight through the clip
    stored = mapping.stored_actions_numpy(env.detach().numpy())
    np.testing.assert_allclose(stored, [[1.0, -0.1], [-0.45, 1.0]], atol=1e-6)


def test_base_outside_the_bounds_is_clipped() -> None:
    model = small(SAC, base_policy=far_out)
    actions, _ = model.predict(OBS, deterministic=True)
    np.testing.assert_array_equal(actions, np.full((len(OBS), 1), 2.0, dtype=np.float32))
    obs, _ = model.policy.normalize_with_base(torch.as_tensor(OBS))
    np.testing.assert_array_equal(obs[:, 3].numpy(), np.ones(len(OBS)))


def test_ppo_stores_the_sampled_residual_and_its_log_probability() -> None:
    """Zero head, log_std 0: r ~ N(0, 1), log p(r) = -r^2 / 2 - log(2 pi) / 2, whatever was executed."""
    env = Recorder(gym.make("Pendulum-v1"))
    model = PPO("MlpPolicy", env, seed=3, n_steps=32, batch_size=32, base_policy=pendulum_swing_up,
                residual_scale=0.5)
    model._reset_env()
    env.actions.clear()
    callback = BaseCallback()
    callback.init_callback(model)
    collect_rollout(model, model.rollout_buffer, callback)
    r = model.rollout_buffer.actions.reshape(32)
    expected = -0.5 * r.astype(np.float64) ** 2 - 0.5 * math.log(2 * math.pi)
    np.testing.assert_allclose(model.rollout_buffer.log_probs.reshape(32), expected, rtol=1e-5)
    stored_obs = model.rollout_buffer.observations.array.reshape(32, 4)
    base = pendulum_swing_up(stored_obs[:, :3])[:, 0]
    executed = np.clip(base + 0.5 * 2.0 * r, -2.0, 2.0)
    np.testing.assert_allclose(np.concatenate(env.actions), executed, atol=1e-6)
    assert (np.abs(base + r) > 2.0).any()  # some samples were clipped, yet stored unclipped


def test_sac_replay_buffer_holds_the_executed_action() -> None:
    env = Recorder(gym.make("Pendulum-v1"))
    model = SAC("MlpPolicy", env, seed=1, learning_starts=40, base_policy=pendulum_swing_up,
                policy_kwargs={"net_arch": [16]})
    model.learn(40)
    stored = model.replay_buffer.actions[:40].reshape(40)
    np.testing.assert_allclose(stored, np.concatenate(env.actions[:40]) / 2.0, atol=1e-6)


def test_critic_warmup_leaves_the_actor_untouched() -> None:
    model = small(SAC, critic_warmup_steps=10_000)
    actor = [p.detach().clone() for p in model.policy.actor.parameters()]
    critic = [p.detach().clone() for p in model.policy.critic.parameters()]
    model.learn(60)
    assert all(torch.equal(a, b) for a, b in zip(actor, model.policy.actor.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(critic, model.policy.critic.parameters()))
    ppo = small(PPO, critic_warmup_steps=10_000)
    head = ppo.policy.action_head.net.weight.detach().clone()
    ppo.learn(32)
    assert torch.equal(head, ppo.policy.action_head.net.weight)


def test_the_base_is_frozen_and_not_in_any_optimizer() -> None:
    base = PPO("MlpPolicy", "Pendulum-v1", seed=0, n_steps=16, batch_size=16)
    model = small(PPO, base_policy=base)
    before = [p.detach().clone() for p in model.policy.residual.parameters()]
    model.learn(32)
    assert all(not p.requires_grad for p in model.policy.residual.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, model.policy.residual.parameters()))


def test_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(UnsupportedSpaceError, match="Box action space"):
        PPO("MlpPolicy", "CartPole-v1", base_policy=lambda obs: np.zeros(len(obs)))
    with pytest.raises(ConfigurationError, match="give base_policy"):
        SAC("MlpPolicy", "Pendulum-v1", residual_scale=0.5)
    with pytest.raises(ConfigurationError, match=r"expected \(2, 1\)"):
        SAC("MlpPolicy", "Pendulum-v1", base_policy=lambda obs: np.zeros((len(obs), 3)))
    with pytest.raises(ConfigurationError, match="neither an existing file"):
        SAC("MlpPolicy", "Pendulum-v1", base_policy="no/such/file.zip")
    with pytest.raises(ConfigurationError, match="cannot import"):
        SAC("MlpPolicy", "Pendulum-v1", base_policy="ballast.envs.controllers:nothing_here")
    with pytest.raises(ConfigurationError, match="residual_scale must be positive"):
        SAC("MlpPolicy", "Pendulum-v1", base_policy=pendulum_swing_up, residual_scale=0.0)
    other = SAC("MlpPolicy", "MountainCarContinuous-v0", policy_kwargs={"net_arch": [8]})
    with pytest.raises(SpaceMismatchError, match="observation space"):
        SAC("MlpPolicy", "Pendulum-v1", base_policy=other)


def test_variable_size_observations_are_refused() -> None:
    box = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)
    graph = gym.spaces.Graph(gym.spaces.Box(-1.0, 1.0, (3,), np.float32), None)
    points = gym.spaces.Sequence(gym.spaces.Box(-1.0, 1.0, (2,), np.float32))
    for space in (graph, points, gym.spaces.Dict({"graph": graph, "x": gym.spaces.Box(-1.0, 1.0, (2,))})):
        for append in (True, False):
            with pytest.raises(UnsupportedSpaceError, match="fixed-size observations"):
                SAC("auto", None, observation_space=space, action_space=box, append_base_action=append,
                    base_policy=lambda obs: np.zeros((1, 1), np.float32))


def test_masks_do_not_apply_to_residual_policies(tmp_path) -> None:
    model = small(PPO)
    with pytest.raises(UnsupportedSpaceError, match="action masks are not supported"):
        model.predict(OBS, action_masks=np.ones((len(OBS), 1), dtype=bool))
    with pytest.raises(ExportError, match="takes no mask"):
        model.export(tmp_path / "out", format="onnx", action_masks=True)


@pytest.mark.parametrize("cls", [SAC, TD3])
def test_extensions_wait_with_the_actor_during_critic_warmup(cls) -> None:
    seen_bases = []

    def probe(inputs):
        seen_bases.append(inputs.batch.base_actions is not None and inputs.batch.next_base_actions is not None)
        return {"probe": 1e-3 * inputs.outputs.actor.actions.pow(2).mean()}

    class Terms(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.steps = []

        def after_gradient_step(self, terms) -> bool:
            self.steps.append((self.model.num_timesteps, set(terms)))
            return True

    model = small(cls, critic_warmup_steps=30, extra_losses=[probe], train_freq=1, gradient_steps=1)
    actor = [p.detach().clone() for p in model.policy.actor.parameters()]
    callback = Terms()
    model.learn(28, callback=callback)  # gradient steps from step 21: all in the warm-up
    assert callback.steps and all("actor" not in keys and "probe" not in keys for _, keys in callback.steps)
    assert all(torch.equal(a, b) for a, b in zip(actor, model.policy.actor.parameters()))
    assert ("alpha" in callback.steps[0][1]) is (cls is SAC)
    model.learn(10, callback=callback, reset_num_timesteps=False)
    assert any({"actor", "probe"} <= keys for _, keys in callback.steps)
    assert seen_bases and all(seen_bases)


# --- save / load -----------------------------------------------------------------------------------
def _trained(model):
    """Give the residual a non-zero output, so that a load that lost it would show."""
    for name, param in model.policy.named_parameters():
        if param.requires_grad and not name.startswith("residual"):
            with torch.no_grad():
                param.add_(0.05 * torch.randn_like(param))
    return model


@pytest.mark.parametrize("cls", [PPO, SAC, TD3])
def test_save_load_with_an_importable_callable_base(cls, tmp_path) -> None:
    model = _trained(small(cls))
    before, _ = model.predict(OBS, deterministic=True)
    assert not np.array_equal(before, pendulum_swing_up(OBS))
    loaded = cls.load(model.save(tmp_path / "m"))
    assert isinstance(loaded.policy.residual.base, CallableBase)
    assert loaded.policy.residual.base.import_path == "ballast.envs.controllers:pendulum_swing_up"
    np.testing.assert_array_equal(loaded.predict(OBS, deterministic=True)[0], before)


def test_a_callable_without_import_path_must_be_passed_at_load(tmp_path) -> None:
    model = _trained(small(SAC, base_policy=lambda obs: pendulum_swing_up(obs)))
    before, _ = model.predict(OBS, deterministic=True)
    with pytest.warns(UserWarning, match=r"no import path.*base_policy=\.\.\."):
        path = model.save(tmp_path / "m")
    with pytest.raises(CheckpointError, match="base_policy=your_function"):
        SAC.load(path)
    loaded = SAC.load(path, base_policy=pendulum_swing_up)
    np.testing.assert_array_equal(loaded.predict(OBS, deterministic=True)[0], before)


def test_an_unimportable_callable_path_names_the_fix(tmp_path) -> None:
    model = small(SAC, base_policy=CallableBase(pendulum_swing_up, 1, import_path="gone_module:controller"))
    with pytest.raises(CheckpointError, match="cannot be imported"):
        SAC.load(model.save(tmp_path / "m"))


class DampingLaw(torch.nn.Module):
    """A torch base: torque ``-k * angular velocity``, with ``k`` a parameter (built without arguments)."""

    def __init__(self) -> None:
        super().__init__()
        self.gain = torch.nn.Parameter(torch.tensor([0.5]))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return (-self.gain * obs[:, 2:3]).clamp(-2.0, 2.0)


@pytest.mark.parametrize("cls", [PPO, SAC])
def test_a_torch_module_base_is_frozen_saved_loaded_and_exported(cls, tmp_path) -> None:
    law = DampingLaw()
    with torch.no_grad():
        law.gain.fill_(0.8)  # not the constructor's value: the saved weights must carry it
    model = small(cls, base_policy=law)
    base = model.policy.residual.base
    assert isinstance(base, ModuleBase) and base.module is not law and not base.module.gain.requires_grad
    expected = np.clip(-0.8 * OBS[:, 2:3], -2.0, 2.0)
    np.testing.assert_allclose(model.predict(OBS, deterministic=True)[0], expected, atol=1e-6)  # a fresh agent
    model = _trained(model)
    assert base.module.gain.item() == pytest.approx(0.8)  # training never touches the base
    before, _ = model.predict(OBS, deterministic=True)
    loaded = cls.load(model.save(tmp_path / "m"))  # rebuilt from the import path, weights from the file
    assert loaded.policy.residual.base.module.gain.item() == pytest.approx(0.8)
    np.testing.assert_array_equal(loaded.predict(OBS, deterministic=True)[0], before)
    pytest.importorskip("onnxruntime")
    assert model.export(tmp_path / "onnx", format="onnx").exists()  # carried in the graph, parity checked


def test_a_module_base_whose_class_needs_arguments_is_passed_at_load(tmp_path) -> None:
    class Gain(torch.nn.Module):
        def __init__(self, k: float) -> None:
            super().__init__()
            self.k = k

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            return -self.k * obs[:, 2:3]

    model = small(SAC, base_policy=Gain(0.3))
    with pytest.warns(UserWarning, match="no import path"):
        path = model.save(tmp_path / "m")
    with pytest.raises(CheckpointError, match="base_policy=your_module"):
        SAC.load(path)
    loaded = SAC.load(path, base_policy=Gain(0.3))
    np.testing.assert_array_equal(loaded.predict(OBS, deterministic=True)[0], model.predict(OBS, deterministic=True)[0])
    with pytest.raises(ConfigurationError, match=r"shape \(2, 2\).*expected \(2, 1\)"):
        small(SAC, base_policy=torch.nn.Linear(3, 2))


@pytest.mark.parametrize("cls", [PPO, SAC])
def test_save_load_with_a_ballast_base_needs_no_original_file(cls, tmp_path) -> None:
    base = _trained(SAC("MlpPolicy", "Pendulum-v1", seed=2, policy_kwargs={"net_arch": [16]}))
    base_path = base.save(tmp_path / "base")
    model = _trained(small(cls, base_policy=str(base_path), normalize_observations=True))
    assert isinstance(model.policy.residual.base, ModelBase)
    fresh = small(cls, base_policy=base)
    np.testing.assert_array_equal(fresh.predict(OBS, deterministic=True)[0], base.predict(OBS, deterministic=True)[0])
    before, _ = model.predict(OBS, deterministic=True)
    path = model.save(tmp_path / "m")
    base_path.unlink()
    loaded = cls.load(path)
    np.testing.assert_array_equal(loaded.predict(OBS, deterministic=True)[0], before)
    np.testing.assert_array_equal(loaded.policy.residual.base.policy.act(torch.as_tensor(OBS), True).numpy(),
                                  base.predict(OBS, deterministic=True)[0])


def test_save_load_with_an_onnx_base(tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    base = _trained(SAC("MlpPolicy", "Pendulum-v1", seed=2, policy_kwargs={"net_arch": [16]}))
    out = base.export(tmp_path / "onnx")
    model = _trained(small(SAC, base_policy=str(out / "policy.onnx")))
    assert isinstance(model.policy.residual.base, OnnxBase)
    fresh = small(PPO, base_policy=str(out / "policy.onnx"))
    np.testing.assert_allclose(fresh.predict(OBS, deterministic=True)[0], base.predict(OBS, deterministic=True)[0],
                               atol=1e-5)
    before, _ = model.predict(OBS, deterministic=True)
    path = model.save(tmp_path / "m")
    (out / "policy.onnx").unlink()
    loaded = SAC.load(path)
    np.testing.assert_array_equal(loaded.predict(OBS, deterministic=True)[0], before)


def test_export_refuses_bases_it_cannot_carry(tmp_path) -> None:
    model = small(SAC)
    with pytest.raises(ExportError, match="callable base"):
        model.export(tmp_path / "x")


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_carries_a_ballast_base(fmt, tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    base = _trained(SAC("MlpPolicy", "Pendulum-v1", seed=2, policy_kwargs={"net_arch": [16]}))
    model = _trained(small(PPO, base_policy=base, normalize_observations=True))
    out = model.export(tmp_path / fmt, format=fmt)  # the parity check against predict runs inside
    assert out.exists()
    with pytest.raises(ExportError, match="MATLAB"):
        model.export(tmp_path / "m", format="matlab")


class DictReach(gym.Env):
    """Dict observations, Box actions in [-1, 1]^2."""

    observation_space = gym.spaces.Dict({"pos": gym.spaces.Box(-1, 1, (2,), np.float32),
                                         "goal": gym.spaces.Box(-1, 1, (2,), np.float32)})
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.obs = {k: self.np_random.uniform(-1, 1, 2).astype(np.float32) for k in ("pos", "goal")}
        return self.obs, {}

    def step(self, action):
        return self.obs, -float(np.sum((self.obs["goal"] - self.obs["pos"] - action) ** 2)), True, False, {}


def towards_goal(obs: dict) -> np.ndarray:
    return 0.5 * (obs["goal"] - obs["pos"])


def test_dict_observations_gain_a_base_action_key() -> None:
    model = SAC("MultiInputPolicy", DictReach(), seed=0, base_policy=towards_goal, learning_starts=10,
                policy_kwargs={"net_arch": [16]})
    obs = {"pos": OBS[:, :2], "goal": OBS[:, 1:]}
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], np.clip(towards_goal(obs), -1, 1))
    net_obs, _ = model.policy.normalize_with_base({k: torch.as_tensor(v) for k, v in obs.items()})
    assert set(net_obs) == {"pos", "goal", "base_action"}
    model.learn(30)


def test_onnx_export_merges_an_onnx_base(tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    base = _trained(SAC("MlpPolicy", "Pendulum-v1", seed=2, policy_kwargs={"net_arch": [16]}))
    base_file = base.export(tmp_path / "base") / "policy.onnx"
    model = _trained(small(SAC, base_policy=str(base_file), normalize_observations=True))
    out = model.export(tmp_path / "merged")  # the parity check against predict runs inside
    import onnxruntime

    session = onnxruntime.InferenceSession(str(out / "policy.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["obs"]
    got = session.run(None, {"obs": OBS})[0]
    np.testing.assert_allclose(got, model.predict(OBS, deterministic=True)[0], atol=1e-5)
    with pytest.raises(ExportError, match="ONNX base"):
        model.export(tmp_path / "ts", format="torchscript")


def test_wrapper_executes_the_same_mapping() -> None:
    from ballast.envs import ResidualActionWrapper

    env = ResidualActionWrapper(Recorder(gym.make("Pendulum-v1")), pendulum_swing_up, residual_scale=0.5)
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4,)
    base = pendulum_swing_up(obs[None, :3])[0]
    np.testing.assert_allclose(obs[3], base[0] / 2.0, atol=1e-7)
    _, _, _, _, info = env.step(np.array([0.8], dtype=np.float32))
    executed = np.clip(base + 0.5 * 2.0 * 0.8, -2.0, 2.0)
    np.testing.assert_allclose(info["executed_action"], executed, atol=1e-6)
    np.testing.assert_allclose(env.env.actions[-1], executed, atol=1e-6)
    np.testing.assert_array_equal(info["base_action"], base)
    with pytest.raises(UnsupportedSpaceError):
        ResidualActionWrapper(gym.make("CartPole-v1"), lambda obs: np.zeros((len(obs), 1)))
