"""sb3-contrib's masking names, from ``ballast.contrib``: the same classes and functions under their names."""

from __future__ import annotations

import numpy as np
import pytest
from test_action_masking import PPO_ARGS, HiddenValidity, make_factory

from ballast import PPO
from ballast.common.vec_env import DummyVecEnv
from ballast.contrib import (
    ActionMasker,
    MaskableActorCriticPolicy,
    MaskableEvalCallback,
    MaskablePPO,
    evaluate_policy,
    get_action_masks,
    is_masking_supported,
)
from ballast.errors import ConfigurationError


def test_sb3_contrib_s_maskable_script_runs_and_never_takes_an_invalid_action(tmp_path) -> None:
    created: list = []
    env = DummyVecEnv([make_factory(True, created) for _ in range(4)])
    assert is_masking_supported(env)
    model = MaskablePPO(MaskableActorCriticPolicy, env, **{k: v for k, v in PPO_ARGS.items() if k != "n_envs"})
    callback = MaskableEvalCallback(make_factory(True, [])(), eval_freq=64, n_eval_episodes=4, verbose=0,
                                    log_path=str(tmp_path))
    model.learn(1024, callback=callback)
    assert sum(e.invalid_taken for e in created) == 0
    assert callback.evaluations_results and (tmp_path / "evaluations.npz").exists()
    obs = env.reset()
    masks = get_action_masks(env)
    assert masks.shape == (4, 5) and masks[:, 0].all()
    actions, _ = model.predict(obs, action_masks=masks, deterministic=True)
    assert all(masks[i, a] for i, a in enumerate(actions))
    loaded = MaskablePPO.load(model.save(tmp_path / "maskable"))
    assert isinstance(loaded, MaskablePPO) and type(PPO.load(tmp_path / "maskable.zip")) is PPO
    mean, _ = evaluate_policy(loaded, make_factory(True, [])(), n_eval_episodes=5)
    assert mean > 0


def test_learn_without_masking_ignores_the_masks() -> None:
    created: list = []
    model = MaskablePPO("MlpPolicy", make_factory(True, created), **PPO_ARGS)
    model.learn(256, use_masking=False)
    assert not model.rollout_buffer.masked and model.fast_path.active
    assert sum(e.invalid_taken for e in created) > 0


def test_maskable_evaluation_needs_masks_and_action_masker_takes_sb3_contrib_s_keyword() -> None:
    model = PPO("MlpPolicy", make_factory(True, []), **PPO_ARGS)
    with pytest.raises(ConfigurationError, match="use_masking=True"):
        evaluate_policy(model, HiddenValidity(), n_eval_episodes=1)
    env = ActionMasker(HiddenValidity(), action_mask_fn=lambda e: e.unwrapped.valid)
    env.reset(seed=0)
    np.testing.assert_array_equal(get_action_masks(env), env.unwrapped.valid)
    assert is_masking_supported(env) and not is_masking_supported(HiddenValidity())
