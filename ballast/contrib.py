"""sb3-contrib's names for action masking, in one place: ``from ballast.contrib import MaskablePPO, ...``.

Ballast's PPO and A2C mask actions themselves whenever the env gives masks (``docs/action-masking.md``),
so these are the same classes and functions under sb3-contrib's names and signatures:

| sb3-contrib | here |
|---|---|
| ``sb3_contrib.MaskablePPO`` | :class:`MaskablePPO`: :class:`ballast.PPO`, with ``learn(..., use_masking=True)`` |
| ``sb3_contrib.common.wrappers.ActionMasker`` | :class:`ballast.envs.ActionMasker` (``action_mask_fn``) |
| ``sb3_contrib.common.wrappers.TimeFeatureWrapper`` | :class:`ballast.envs.TimeFeatureWrapper` |
| ``sb3_contrib.common.maskable.utils.get_action_masks`` | :func:`get_action_masks` |
| ``sb3_contrib.common.maskable.utils.is_masking_supported`` | :func:`is_masking_supported` |
| ``sb3_contrib.common.maskable.evaluation.evaluate_policy`` | :func:`evaluate_policy` (``use_masking=True``) |
| ``sb3_contrib.common.maskable.callbacks.MaskableEvalCallback`` | :class:`MaskableEvalCallback` |
| ``sb3_contrib.common.maskable.policies.MaskableActorCriticPolicy`` | :class:`ballast.policies.ActorCriticPolicy` |

and sb3-contrib's QR-DQN, TQC, CrossQ and RecurrentPPO: ``sb3_contrib.QRDQN`` is :class:`ballast.QRDQN` (also
``ballast.qrdqn.QRDQN``, with its policies in ``ballast.qrdqn.policies``), ``sb3_contrib.TQC`` is
:class:`ballast.TQC` (also ``ballast.tqc.TQC``, with its policies in ``ballast.tqc.policies``),
``sb3_contrib.CrossQ`` is :class:`ballast.CrossQ` (also ``ballast.crossq.CrossQ``, with its policies
in ``ballast.crossq.policies``), ``sb3_contrib.RecurrentPPO`` is :class:`ballast.RecurrentPPO` (also
``ballast.ppo_recurrent.RecurrentPPO``, with ``MlpLstmPolicy``, ``CnnLstmPolicy`` and ``MultiInputLstmPolicy``
in ``ballast.ppo_recurrent``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.vector import VectorEnv

from ballast.algos.crossq import CrossQ
from ballast.algos.ppo import PPO
from ballast.algos.ppo_recurrent import RecurrentPPO
from ballast.algos.qrdqn import QRDQN
from ballast.algos.tqc import TQC
from ballast.callbacks import BaseCallback, EvalCallback
from ballast.envs.masker import ActionMasker
from ballast.envs.time_feature import TimeFeatureWrapper
from ballast.evaluation import evaluate_policy as _evaluate_policy
from ballast.masking import MASK_METHOD, call_copies
from ballast.policies import ActorCriticPolicy

MaskableActorCriticPolicy = ActorCriticPolicy
MaskableMultiInputActorCriticPolicy = ActorCriticPolicy


class MaskablePPO(PPO):
    """sb3-contrib's ``MaskablePPO``: :class:`ballast.PPO`, which reads the env's action masks by itself;
    ``learn(use_masking=False)`` trains without them. Saved and loaded as a PPO model."""

    def learn(self, total_timesteps: int, callback: BaseCallback | Any = None, log_interval: int = 1,
              tb_log_name: str | None = None, reset_num_timesteps: bool = True, use_masking: bool = True,
              progress_bar: bool = False) -> MaskablePPO:
        self.use_masking = bool(use_masking)
        return super().learn(total_timesteps, callback=callback, log_interval=log_interval, tb_log_name=tb_log_name,
                             reset_num_timesteps=reset_num_timesteps, progress_bar=progress_bar)


def is_masking_supported(env: Any) -> bool:
    """Whether every copy of ``env`` (a vector env, SB3-style or Gymnasium's, or a single env) has an
    ``action_masks()`` method."""
    if isinstance(env, VectorEnv):
        try:
            return all(call_copies(env, "has_wrapper_attr", MASK_METHOD))
        except (AttributeError, NotImplementedError):
            return False
    if hasattr(env, "env_method"):
        return all(env.env_method("has_wrapper_attr", MASK_METHOD))
    return callable(getattr(env, MASK_METHOD, None))


def get_action_masks(env: Any) -> np.ndarray:
    """The action masks of every copy of ``env``, stacked: ``(n_envs, mask size)`` (one row for a
    single env, as sb3-contrib's ``get_action_masks`` gives for a VecEnv of one)."""
    if isinstance(env, VectorEnv):
        return np.stack(call_copies(env, MASK_METHOD))
    if hasattr(env, "env_method"):
        return np.stack(env.env_method(MASK_METHOD))
    return np.asarray(getattr(env, MASK_METHOD)())


def evaluate_policy(model: Any, env: Any, n_eval_episodes: int = 10, deterministic: bool = True,
                    render: bool = False, callback: Any = None, reward_threshold: float | None = None,
                    return_episode_rewards: bool = False, warn: bool = True, use_masking: bool = True
                    ) -> tuple[float, float] | tuple[list[float], list[int]]:
    """sb3-contrib's maskable ``evaluate_policy``: :func:`ballast.evaluate_policy` with ``use_masking=True``
    (the env must give masks)."""
    return _evaluate_policy(model, env, n_eval_episodes, deterministic, render, callback, reward_threshold,
                            return_episode_rewards, warn, use_masking=use_masking)


class MaskableEvalCallback(EvalCallback):
    """sb3-contrib's ``MaskableEvalCallback``: :class:`ballast.EvalCallback` evaluating with the env's
    masks (``use_masking=True``, the default: the env must give them) or without."""

    def __init__(self, eval_env: Any, callback_on_new_best: BaseCallback | None = None,
                 callback_after_eval: BaseCallback | None = None, n_eval_episodes: int = 5, eval_freq: int = 10000,
                 log_path: str | Path | None = None, best_model_save_path: str | Path | None = None,
                 deterministic: bool = True, render: bool = False, verbose: int = 1, warn: bool = True,
                 use_masking: bool = True) -> None:
        super().__init__(eval_env, callback_on_new_best, callback_after_eval, n_eval_episodes, eval_freq, log_path,
                         best_model_save_path, deterministic, render, verbose, warn, use_masking=use_masking)


__all__ = ["ActionMasker", "CrossQ", "MaskableActorCriticPolicy", "MaskableEvalCallback",
           "MaskableMultiInputActorCriticPolicy", "MaskablePPO", "QRDQN", "RecurrentPPO", "TQC", "evaluate_policy",
           "get_action_masks", "is_masking_supported", "TimeFeatureWrapper"]
