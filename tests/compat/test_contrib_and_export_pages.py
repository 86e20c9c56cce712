"""sb3-contrib's MaskablePPO page (imports ``sb3_contrib`` -> ``ballast.contrib``) and SB3's
"Exporting models" page (ONNX and TorchScript; onnx and onnxruntime are dev dependencies)."""

import os

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class InvalidActionEnvDiscrete(gym.Env):
    """sb3-contrib's test env (``sb3_contrib.common.envs``, not in ballast.contrib): observation = one-hot of
    the target action in ``dim``; ``n_invalid_actions`` random actions (never the target) are masked;
    reward 1 for the target; 100-step episodes (so a perfect policy scores 100)."""

    def __init__(self, dim: int = 80, n_invalid_actions: int = 60):
        self.dim, self.n_invalid_actions = dim, n_invalid_actions
        self.observation_space = spaces.Box(0.0, 1.0, (dim,), np.float32)
        self.action_space = spaces.Discrete(dim)

    def _draw(self):
        self.target = int(self.np_random.integers(self.dim))
        others = np.delete(np.arange(self.dim), self.target)
        self.invalid = self.np_random.choice(others, self.n_invalid_actions, replace=False)
        obs = np.zeros(self.dim, np.float32)
        obs[self.target] = 1.0
        return obs

    def action_masks(self):
        mask = np.ones(self.dim, bool)
        mask[self.invalid] = False
        return mask

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._draw(), {}

    def step(self, action):
        reward = float(int(action) == self.target)
        self.t += 1
        return self._draw(), reward, False, self.t >= 100, {}


def test_maskable_ppo_example():
    from ballast.contrib import (
        MaskablePPO,
        evaluate_policy,  # sb3_contrib.common.maskable.evaluation
        get_action_masks,  # sb3_contrib.common.maskable.utils
    )

    env = InvalidActionEnvDiscrete(dim=80, n_invalid_actions=60)
    model = MaskablePPO("MlpPolicy", env, gamma=0.4, seed=32, verbose=1, n_steps=512)  # compat: n_steps 2048 -> 512
    model.learn(2_048)  # compat: 5_000 -> 2_048
    # compat: reward_threshold=90 -> 40: 2k steps learn part of the 80 targets (20 valid actions each)
    evaluate_policy(model, env, n_eval_episodes=20, reward_threshold=40, warn=False)

    model.save("ppo_mask")
    del model  # remove to demonstrate saving and loading

    model = MaskablePPO.load("ppo_mask")

    obs, _ = env.reset()
    for _ in range(100):  # compat: while True
        # Retrieve current action mask
        action_masks = get_action_masks(env)
        action, _states = model.predict(obs, action_masks=action_masks)
        assert action_masks[action]
        obs, reward, terminated, truncated, info = env.step(action)

    assert os.path.isfile("ppo_mask.zip") and np.asarray(action).dtype == np.int64


def test_action_masker_example():
    from ballast.contrib import (
        ActionMasker,  # sb3_contrib.common.wrappers
        MaskableActorCriticPolicy,  # sb3_contrib.common.maskable.policies
        MaskablePPO,  # sb3_contrib.ppo_mask
    )

    def mask_fn(env: gym.Env) -> np.ndarray:
        # Do whatever you'd like in this function to return the action mask
        # for the current env. In this example, we assume the env has a
        # helpful method we can rely on.
        return env.unwrapped.action_masks()

    env = InvalidActionEnvDiscrete(dim=10, n_invalid_actions=5)  # compat: "..." -> a small env with masks
    env = ActionMasker(env, mask_fn)  # Wrap to enable masking

    # MaskablePPO behaves the same as SB3's PPO unless the env is wrapped
    # with ActionMasker. If the wrapper is detected, the masks are automatically
    # retrieved and used when learning.
    model = MaskablePPO(MaskableActorCriticPolicy, env, verbose=1, n_steps=128)  # compat: n_steps 2048 -> 128
    model.learn(256)  # compat: learn() -> learn(256)

    obs, _ = env.reset(seed=0)
    masks = env.action_masks()
    action, _ = model.predict(obs, action_masks=masks)
    assert masks[action] and masks.sum() == 5


def test_export_to_onnx_ppo():
    from typing import Tuple

    import torch as th

    from ballast import PPO
    from ballast.common.policies import BasePolicy

    class OnnxableSB3Policy(th.nn.Module):
        def __init__(self, policy: BasePolicy):
            super().__init__()
            self.policy = policy

        def forward(self, observation: th.Tensor) -> Tuple[th.Tensor, th.Tensor, th.Tensor]:
            return self.policy(observation, deterministic=True)

    PPO("MlpPolicy", "Pendulum-v1").save("PathToTrainedModel")
    model = PPO.load("PathToTrainedModel.zip", device="cpu")

    onnx_policy = OnnxableSB3Policy(model.policy)

    observation_size = model.observation_space.shape
    dummy_input = th.randn(1, *observation_size)
    th.onnx.export(onnx_policy, dummy_input, "my_ppo_model.onnx", opset_version=17, input_names=["input"])

    import onnx
    import onnxruntime as ort

    onnx_path = "my_ppo_model.onnx"
    onnx_model = onnx.load(onnx_path)
    onnx.checker.check_model(onnx_model)

    observation = np.zeros((1, *observation_size)).astype(np.float32)
    ort_sess = ort.InferenceSession(onnx_path)
    actions, values, log_prob = ort_sess.run(None, {"input": observation})
    with th.no_grad():
        torch_actions, torch_values, _ = model.policy(th.as_tensor(observation), deterministic=True)
    np.testing.assert_allclose(actions, torch_actions.numpy(), rtol=1e-5, atol=1e-6)


def test_export_to_onnx_and_torchscript_sac_actor():
    import torch as th

    from ballast import SAC

    class OnnxablePolicy(th.nn.Module):
        def __init__(self, actor: th.nn.Module):
            super().__init__()
            self.actor = actor

        def forward(self, observation: th.Tensor) -> th.Tensor:
            # NOTE: You may have to postprocess (unnormalize) actions
            # to the correct bounds (see commented code below)
            return self.actor(observation, deterministic=True)

    SAC("MlpPolicy", "Pendulum-v1").save("PathToTrainedModel.zip")
    model = SAC.load("PathToTrainedModel.zip", device="cpu")
    onnxable_model = OnnxablePolicy(model.policy.actor)

    observation_size = model.observation_space.shape
    dummy_input = th.randn(1, *observation_size)
    th.onnx.export(onnxable_model, dummy_input, "my_sac_actor.onnx", opset_version=17, input_names=["input"])

    import onnxruntime as ort

    observation = np.zeros((1, *observation_size)).astype(np.float32)
    ort_sess = ort.InferenceSession("my_sac_actor.onnx")
    scaled_action = ort_sess.run(None, {"input": observation})[0]
    with th.no_grad():
        np.testing.assert_allclose(scaled_action, model.actor(th.as_tensor(observation), deterministic=True).numpy(),
                                   rtol=1e-5, atol=1e-6)

    # Trace/Export to C++
    jit_path = "sac_traced.pt"
    traced_module = th.jit.trace(onnxable_model.eval(), dummy_input)
    frozen_module = th.jit.freeze(traced_module)
    frozen_module = th.jit.optimize_for_inference(frozen_module)
    th.jit.save(frozen_module, jit_path)
    loaded_module = th.jit.load(jit_path)
    action_jit = loaded_module(dummy_input)
    assert action_jit.shape == (1, 1)
