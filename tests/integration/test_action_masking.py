"""Action masking end to end: learning, predict, evaluate_policy, checkpoints, mask sources."""

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from ballast import A2C, DQN, PPO, ActionMaskError, ConfigurationError, evaluate_policy
from ballast.algos.on_policy import collect_rollout
from ballast.callbacks import BaseCallback
from ballast.envs import ActionMasker


class HiddenValidity(gym.Env):
    """Action ``a`` pays ``a / (n - 1)`` when valid; an invalid action costs 1 and ends the episode.

    Which actions are valid (action 0 always, each other with probability 1/2) changes every step
    and does not show in the observation, so without masks the only safe policy is action 0
    (return 0), while with masks the best is the largest valid action (return about 7.7 over 10 steps).
    """

    def __init__(self, n: int = 5, horizon: int = 10, mask_in_info: bool = False) -> None:
        self.n, self.horizon, self.mask_in_info = n, horizon, mask_in_info
        self.observation_space = spaces.Box(0, 1, (1,), np.float32)
        self.action_space = spaces.Discrete(n)
        self.invalid_taken = 0

    def _draw(self) -> None:
        self.valid = self.np_random.random(self.n) < 0.5
        self.valid[0] = True

    def _obs(self) -> np.ndarray:
        return np.array([self.t / self.horizon], np.float32)

    def _info(self) -> dict:
        return {"action_mask": self.valid.copy()} if self.mask_in_info else {}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self._draw()
        return self._obs(), self._info()

    def step(self, action):
        self.t += 1
        if not self.valid[action]:
            self.invalid_taken += 1
            return self._obs(), -1.0, True, False, self._info()
        reward = action / (self.n - 1)
        self._draw()
        return self._obs(), float(reward), False, self.t >= self.horizon, self._info()


def make_factory(masked: bool, created: list, **kwargs):
    def make():
        env = HiddenValidity(**kwargs)
        created.append(env)
        return ActionMasker(env, lambda e: e.unwrapped.valid) if masked else env
    return make


PPO_ARGS = dict(n_envs=4, n_steps=64, batch_size=64, n_epochs=4, learning_rate=3e-3, seed=0, device="cpu")


def test_masked_ppo_learns_what_unmasked_ppo_cannot():
    returns = {}
    for masked in (True, False):
        created = []
        model = PPO("MlpPolicy", make_factory(masked, created), **PPO_ARGS).learn(3072)
        if masked:
            assert sum(env.invalid_taken for env in created) == 0
        returns[masked], _ = evaluate_policy(model, make_factory(masked, [])(), n_eval_episodes=20, seed=1)
    # Picking a uniformly random valid action returns about 3.8; the best masked policy about 7.7.
    assert returns[True] > 7.0
    assert returns[False] < 2.0


def test_masked_a2c_never_takes_an_invalid_action_and_learns():
    created = []
    model = A2C("MlpPolicy", make_factory(True, created), n_envs=4, learning_rate=3e-3, seed=0, device="cpu")
    model.learn(4000)
    assert sum(env.invalid_taken for env in created) == 0
    mean, _ = evaluate_policy(model, make_factory(True, [])(), n_eval_episodes=20, seed=1)
    assert mean > 6.0


def test_masks_from_info_are_used_for_learning_and_evaluation():
    created = []
    model = PPO("MlpPolicy", make_factory(False, created, mask_in_info=True), **PPO_ARGS).learn(1024)
    assert model.rollout_buffer.masked
    assert sum(env.invalid_taken for env in created) == 0
    env = HiddenValidity(mask_in_info=True)
    evaluate_policy(model, env, n_eval_episodes=10, seed=3, deterministic=False)
    assert env.invalid_taken == 0


def test_stored_log_probs_are_those_of_the_masked_distribution():
    model = PPO("MlpPolicy", make_factory(True, []), **PPO_ARGS)
    model._reset_env()
    buffer = model.rollout_buffer
    callback = BaseCallback()
    callback.init_callback(model)
    assert collect_rollout(model, buffer, callback)
    index = torch.arange(buffer.n_steps * buffer.n_envs)
    masks = buffer.action_masks.gather(index)
    actions = torch.from_numpy(buffer.actions.reshape(-1))
    assert masks.gather(1, actions[:, None]).all(), "a sampled action was masked"
    with torch.no_grad():
        dist = model.policy.outputs(buffer.observations.gather(index), masks).distribution
        torch.testing.assert_close(torch.from_numpy(buffer.log_probs.reshape(-1)), dist.log_prob(actions))
        unmasked = model.policy.outputs(buffer.observations.gather(index)).distribution.log_prob(actions)
    assert (unmasked < dist.log_prob(actions) - 1e-3).any()


def test_predict_with_masks():
    model = PPO("MlpPolicy", make_factory(True, []), **PPO_ARGS)
    obs = np.array([0.3], np.float32)
    for action in range(5):
        mask = np.eye(5, dtype=bool)[action]
        assert model.predict(obs, deterministic=True, action_masks=mask)[0] == action
        assert model.predict(obs, deterministic=False, action_masks=mask.astype(np.int8))[0] == action
    batch = np.array([[0.1], [0.2], [0.3]], np.float32)
    masks = np.array([[0, 0, 1, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 1]], dtype=np.int8)
    actions, _ = model.predict(batch, action_masks=masks)
    np.testing.assert_array_equal(actions, [2, 0, 4])
    with pytest.raises(ActionMaskError, match=r"shape \(3, 5\)"):
        model.predict(batch, action_masks=masks[:2])
    with pytest.raises(ActionMaskError, match="allows no action"):
        model.predict(obs, action_masks=np.zeros(5, bool))
    with pytest.raises(ActionMaskError, match=r"shape \(5,\)"):
        model.predict(obs, action_masks=np.ones(4, bool))


def test_multidiscrete_masks_in_learning_and_predict():
    class TwoChoices(gym.Env):
        observation_space = spaces.Box(-1, 1, (2,), np.float32)
        action_space = spaces.MultiDiscrete([3, 2])

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.violations = getattr(self, "violations", 0)
            return np.zeros(2, np.float32), {}

        def step(self, action):
            self.violations += int(action[0] == 1 or action[1] == 0)
            return np.zeros(2, np.float32), 1.0, False, False, {}

        def action_masks(self):
            return np.array([1, 0, 1, 0, 1], dtype=bool)

    env = TwoChoices()
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=32, n_epochs=1, seed=0, device="cpu").learn(64)
    assert env.violations == 0
    actions, _ = model.predict(np.zeros((50, 2), np.float32), action_masks=np.tile([1, 0, 1, 0, 1], (50, 1)))
    assert (actions[:, 0] != 1).all() and (actions[:, 1] == 1).all()


def test_use_masking_in_evaluate_policy():
    model = PPO("MlpPolicy", make_factory(True, []), **PPO_ARGS)
    with pytest.raises(ConfigurationError, match="use_masking=True"):
        evaluate_policy(model, HiddenValidity(), n_eval_episodes=1, use_masking=True)
    created = []
    evaluate_policy(model, make_factory(True, created)(), n_eval_episodes=5, deterministic=False, seed=0,
                    use_masking=False)
    assert created[0].invalid_taken > 0


def test_checkpoint_unaffected_and_masked_predictions_survive_save_load(tmp_path):
    model = PPO("MlpPolicy", make_factory(True, []), **PPO_ARGS).learn(256)
    model.save(tmp_path / "m.zip")
    loaded = PPO.load(tmp_path / "m.zip", env=make_factory(True, []))
    obs = np.linspace(0, 1, 8, dtype=np.float32)[:, None]
    masks = np.random.default_rng(0).random((8, 5)) < 0.5
    masks[:, 0] = True
    np.testing.assert_array_equal(model.predict(obs, deterministic=True, action_masks=masks)[0],
                                  loaded.predict(obs, deterministic=True, action_masks=masks)[0])
    loaded.learn(256, reset_num_timesteps=False)


def test_policies_without_mask_support_say_so():
    model = DQN("MlpPolicy", HiddenValidity(), learning_starts=0, seed=0, device="cpu")
    with pytest.raises(ConfigurationError, match="does not take action masks"):
        model.predict(np.array([0.0], np.float32), action_masks=np.ones(5, bool))
    # evaluate_policy's default leaves masks out for such a model instead of failing.
    evaluate_policy(model, make_factory(True, [])(), n_eval_episodes=1)


def test_action_masker_arguments():
    class WithMethod(HiddenValidity):
        def valid_actions(self):
            return self.valid

    env = ActionMasker(WithMethod(), "valid_actions")
    env.reset(seed=0)
    np.testing.assert_array_equal(env.action_masks(), env.unwrapped.valid)
    with pytest.raises(ConfigurationError, match="no such method"):
        ActionMasker(HiddenValidity(), "nope")


@pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("action_space", [spaces.Discrete(6, start=1), spaces.MultiDiscrete([3, 4])])
def test_export_with_a_mask_input(fmt, action_space, tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    obs_space = spaces.Box(-1, 1, (3,), np.float32)
    model = PPO("MlpPolicy", None, observation_space=obs_space, action_space=action_space, seed=0, device="cpu",
                policy_kwargs=dict(net_arch=[16]))
    with torch.no_grad():  # sharp logits, so that the unmasked choice is often masked out
        model.policy.action_head.net.weight.mul_(300.0)
    out = model.export(tmp_path / fmt, format=fmt, action_masks=True)
    assert "parity" in capsys.readouterr().out.lower()
    meta = json.loads((out / "metadata.json").read_text())
    assert [i["name"] for i in meta["inputs"]] == ["obs", "action_mask"] and meta["parity"]["passed"]
    rng = np.random.default_rng(5)
    obs = rng.uniform(-1, 1, (64, 3)).astype(np.float32)
    width = 6 if isinstance(action_space, spaces.Discrete) else 7
    masks = rng.random((64, width)) < 0.4
    masks[:, 0] = True
    if width == 7:
        masks[:, 3] = True
    if fmt == "onnx":
        session = ort.InferenceSession(str(out / "policy.onnx"), providers=["CPUExecutionProvider"])
        got = session.run(None, {"obs": obs, "action_mask": masks})[0]
    else:
        got = torch.jit.load(str(out / "policy.pt"))(torch.from_numpy(obs), torch.from_numpy(masks)).numpy()
    want, _ = model.predict(obs, deterministic=True, action_masks=masks)
    np.testing.assert_array_equal(got, want)
    unmasked, _ = model.predict(obs, deterministic=True)
    assert (unmasked != want).any()


def test_export_with_masks_refuses_what_it_cannot_do(tmp_path):
    from ballast.export import ExportError

    box = PPO("MlpPolicy", None, observation_space=spaces.Box(-1, 1, (2,)), action_space=spaces.Box(-1, 1, (1,)),
              device="cpu")
    with pytest.raises(ExportError, match="Discrete and MultiDiscrete"):
        box.export(tmp_path / "a", format="onnx", action_masks=True)
    model = PPO("MlpPolicy", make_factory(True, []), **PPO_ARGS)
    with pytest.raises(ExportError, match="not MATLAB"):
        model.export(tmp_path / "b", format="matlab", action_masks=True)


def test_mask_detection_leaves_async_workers_alive():
    from ballast.masking import env_has_mask_method

    plain = gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="async")
    try:
        assert not env_has_mask_method(plain)
        plain.reset(seed=0)
        plain.step(np.zeros(2, dtype=np.int64))  # the workers still run
    finally:
        plain.close()
    masked = gym.vector.AsyncVectorEnv([make_factory(True, [])] * 2)
    try:
        assert env_has_mask_method(masked)
        masked.reset(seed=0)
        assert len(masked.call("action_masks")) == 2
    finally:
        masked.close()


def test_terminal_states_may_allow_no_action():
    """After the last step nothing is valid; with NEXT_STEP autoreset that state is still the current
    observation for one step, whose action the vector env does not take."""

    class UseEachOnce(gym.Env):
        observation_space = spaces.MultiBinary(3)
        action_space = spaces.Discrete(3)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.used = np.zeros(3, dtype=np.int8)
            return self.used.copy(), {}

        def step(self, action):
            assert not self.used[action], "a used action was taken"
            self.used[action] = 1
            return self.used.copy(), 1.0, bool(self.used.all()), False, {}

        def action_masks(self):
            return self.used == 0

    model = PPO("MlpPolicy", UseEachOnce, n_envs=2, n_steps=16, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(64)
    returns, lengths = evaluate_policy(model, UseEachOnce(), n_eval_episodes=3, return_episode_rewards=True)
    assert returns == [3.0] * 3 and lengths == [3] * 3


def test_masked_updates_use_the_masked_loss():
    """PPO's fast path knows no masks: masked rollouts are updated through autograd on the masked
    distribution, whose log-ratio starts at 0 (the same distribution as at collection)."""
    seen = []

    class Watch(BaseCallback):
        def on_minibatch(self, batch):
            _, stats = self.model.compute_losses(batch, 0.2, None)
            seen.append((batch.action_masks is not None, float(stats["log_ratio"].abs().max())))
            return True

    masked = PPO("MlpPolicy", make_factory(True, []), **{**PPO_ARGS, "n_epochs": 1}).learn(256, callback=Watch())
    assert seen and all(masked for masked, _ in seen) and seen[0][1] < 1e-5
    assert not masked.fast_path.active and "action masks" in masked.fast_path.reason
    unmasked = PPO("MlpPolicy", make_factory(False, []), **{**PPO_ARGS, "n_epochs": 1}).learn(256)
    assert unmasked.fast_path.active
