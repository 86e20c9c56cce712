"""Deep Deterministic Policy Gradient (DDPG; Lillicrap et al., 2016, arXiv:1509.02971).

As in SB3, DDPG is TD3 (:mod:`ballast.algos.td3`) with one critic (``n_critics=1``), the actor
updated at every gradient step (``policy_delay=1``) and no target policy smoothing (SB3's
``target_policy_noise=0.1`` with ``target_noise_clip=0``: the noise is clipped to nothing). This
class only fixes those three settings and SB3's DDPG signature; every step of the algorithm is
TD3's code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from gymnasium import spaces
from torch import nn

from ballast.algos.td3 import TD3
from ballast.envs.make import EnvLike
from ballast.extensions import AuxModule, ExtraLoss
from ballast.noise import ActionNoise
from ballast.schedules import ScheduleLike

_FIXED = ("policy_delay", "target_policy_noise", "target_noise_clip")


class DDPG(TD3):
    """DDPG with SB3's interface: ``DDPG("MlpPolicy", "Pendulum-v1", action_noise=..., seed=0)``.

    Arguments and defaults as :class:`ballast.TD3` without ``policy_delay``,
    ``target_policy_noise`` and ``target_noise_clip``; ``policy_kwargs=dict(n_critics=2)``
    gives it twin critics.
    """

    algorithm_name = "ddpg"
    default_n_critics = 1

    def __init__(
        self,
        policy: str | nn.Module | type[nn.Module],
        env: EnvLike | None,
        *,
        learning_rate: ScheduleLike = 1e-3,
        buffer_size: int = 1_000_000,
        learning_starts: int = 100,
        batch_size: int = 256,
        tau: float = 0.005,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 1,
        action_noise: ActionNoise | dict[str, Any] | None = None,
        n_steps: int = 1,
        prioritized_replay: bool = False,
        replay_buffer_class: type | str | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        stats_window_size: int = 100,
        aux_modules: Mapping[str, AuxModule] | None = None,
        extra_losses: Iterable[ExtraLoss] | None = None,
        normalize_observations: bool = False,
        normalize_rewards: bool = False,
        policy_kwargs: dict[str, Any] | None = None,
        n_envs: int = 1,
        vectorization: str = "auto",
        env_kwargs: dict[str, Any] | None = None,
        frame_stack: int | None = None,
        seed: int | None = None,
        device: str | torch.device = "auto",
        verbose: int = 0,
        tensorboard_log: str | None = None,
        observation_space: spaces.Space | None = None,
        action_space: spaces.Space | None = None,
        base_policy: Any = None,
        residual_scale: float = 1.0,
        append_base_action: bool = True,
        critic_warmup_steps: int = 0,
    ) -> None:
        super().__init__(
            policy, env, learning_rate=learning_rate, buffer_size=buffer_size,
            learning_starts=learning_starts, batch_size=batch_size, tau=tau, gamma=gamma,
            train_freq=train_freq, gradient_steps=gradient_steps, action_noise=action_noise, n_steps=n_steps,
            policy_delay=1, target_policy_noise=0.1, target_noise_clip=0.0, stats_window_size=stats_window_size,
            aux_modules=aux_modules, extra_losses=extra_losses,
            prioritized_replay=prioritized_replay, replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=optimize_memory_usage,
            normalize_observations=normalize_observations, normalize_rewards=normalize_rewards,
            policy_kwargs=policy_kwargs, n_envs=n_envs, vectorization=vectorization, env_kwargs=env_kwargs,
            frame_stack=frame_stack,
            seed=seed, device=device, verbose=verbose, tensorboard_log=tensorboard_log,
            observation_space=observation_space, action_space=action_space, base_policy=base_policy,
            residual_scale=residual_scale, append_base_action=append_base_action,
            critic_warmup_steps=critic_warmup_steps,
        )

    def _config_to_json(self) -> dict[str, Any]:
        return {k: v for k, v in super()._config_to_json().items() if k not in _FIXED}
