"""The typed contract between the shared loops and the algorithms.

:func:`ballast.algos.on_policy.collect_rollout` and :func:`ballast.algos.off_policy.collect` are
free functions shared by the algorithms; what they read and change on a model is declared here, as
:class:`typing.Protocol` classes, so a reader (and a type checker) sees the whole contract in one
place, and an algorithm is anything that has these members.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import VectorEnv
from torch import nn

from ballast.buffers import RolloutBuffer
from ballast.buffers.replay import ReplayBuffer
from ballast.extensions import Extensions
from ballast.logger import Logger
from ballast.noise import ActionNoise
from ballast.policies.normalize import RewardNormalizer


@dataclass
class CollectionState:
    """Where collection stands in a model's env, between iterations and ``learn`` calls.

    ``observations`` and ``infos``: what the env returned last (``observations`` is None until the
    env is reset, and after ``set_env``); ``needs_reset``: the env copies whose next step only
    resets them (Gymnasium's NEXT_STEP autoreset: their episode ended at the last step);
    ``episode_returns``, ``episode_lengths``: the raw reward and step count of each copy's running
    episode.
    """

    observations: Any = None
    infos: dict[str, Any] = field(default_factory=dict)
    needs_reset: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    episode_returns: np.ndarray = field(default_factory=lambda: np.zeros(0))
    episode_lengths: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    #: Reads the env's action masks (:class:`ballast.masking.MaskReader`), built for the current env.
    mask_reader: Any = None
    #: A recurrent policy's memory: the copies whose next step starts an episode (their state is
    #: reset to zeros before it), and the state after the last step (``RNNStates``; None: zeros).
    episode_starts: np.ndarray = field(default_factory=lambda: np.ones(0, dtype=bool))
    recurrent_state: Any = None

    def reset(self, observations: Any, infos: dict[str, Any], n_envs: int) -> None:
        """The state right after ``env.reset()``."""
        self.observations, self.infos = observations, infos
        self.needs_reset = np.zeros(n_envs, dtype=bool)
        self.episode_returns = np.zeros(n_envs)
        self.episode_lengths = np.zeros(n_envs, dtype=int)
        self.episode_starts = np.ones(n_envs, dtype=bool)


class CollectingModel(Protocol):
    """What both collection loops read and change on a model."""

    env: VectorEnv
    policy: nn.Module
    device: torch.device
    observation_space: spaces.Space
    action_space: spaces.Space
    n_envs: int
    num_timesteps: int
    total_timesteps: int
    iteration: int
    start_time: int
    collection: CollectionState
    np_rng: np.random.Generator
    reward_normalizer: RewardNormalizer | None
    ep_info_buffer: deque[dict[str, float]]
    ep_success_buffer: deque[float]
    episode_count: int
    logger: Logger

    def update_progress(self) -> None: ...


class OnPolicyConfig(Protocol):
    n_steps: int
    gamma: float
    gae_lambda: float
    use_sde: bool
    sde_sample_freq: int


class OnPolicyModel(CollectingModel, Protocol):
    """A model :mod:`ballast.algos.on_policy` collects rollouts for (PPO, A2C)."""

    config: OnPolicyConfig
    rollout_buffer: RolloutBuffer
    #: Its aux modules and extra losses (with extra losses, rollouts keep the next observations).
    extensions: Extensions
    #: Whether the env's action masks are used when it gives them (sb3-contrib's ``learn(use_masking=)``).
    use_masking: bool

    def train(self) -> None: ...


class OffPolicyConfig(Protocol):
    learning_starts: int
    train_freq: tuple[int, str]
    gradient_steps: int


class OffPolicyModel(CollectingModel, Protocol):
    """A model :mod:`ballast.algos.off_policy` collects transitions for (SAC, TD3, DDPG, DQN).

    ``exploration_actions(obs)``: the actions it explores with, in the policy's space;
    ``policy_acts_during_warmup()``: whether those (rather than uniform actions) are taken before
    ``learning_starts``; ``after_env_step()``: run after every env step (DQN's target updates and
    epsilon schedule); ``train(gradient_steps)``: the updates.
    """

    config: OffPolicyConfig
    replay_buffer: ReplayBuffer
    action_noise: ActionNoise | None
    stop_requested: bool

    def exploration_actions(self, obs: Any) -> np.ndarray: ...

    def policy_acts_during_warmup(self) -> bool: ...

    def after_env_step(self) -> None: ...

    def train(self, gradient_steps: int) -> None: ...
