"""Recurrent PPO: PPO with an LSTM (or GRU) policy, sb3-contrib's ``RecurrentPPO``.

The policy carries a hidden state across the steps of an episode, so it can act on what
observations alone do not show (velocities from positions, a cue seen earlier). One iteration is
PPO's: collect ``n_steps`` vector steps from the carried state (:mod:`ballast.algos.on_policy`
stores the state each step acted from, and where episodes start), compute GAE, then ``n_epochs``
passes of minibatches. A minibatch is a set of sequences (:mod:`ballast.buffers.recurrent`), each
starting from a known state and staying inside one episode; the policy's recurrent layers run over
them at once (:meth:`RecurrentActorCriticPolicy.sequence_outputs`), and the losses are PPO's
(:func:`ballast.algos.ppo.ppo_losses`) over the minibatch's real steps, so padding never enters
them. Hyperparameter names and defaults are sb3-contrib's (``n_steps=128, batch_size=128``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from gymnasium import spaces
from torch import nn

from ballast.algos.ppo import PPO, PPOConfig
from ballast.buffers import RecurrentRolloutBatch
from ballast.buffers.sequences import RNNStates
from ballast.checkpoint import Checkpoint
from ballast.envs.make import EnvLike
from ballast.errors import ConfigurationError
from ballast.extensions import AuxModule, ExtraLoss
from ballast.policies.actor_critic import PolicyOutput
from ballast.policies.recurrent import (
    RecurrentActorCriticCnnPolicy,
    RecurrentActorCriticPolicy,
    RecurrentMultiInputActorCriticPolicy,
)
from ballast.schedules import ScheduleLike

#: sb3-contrib's policy names and the SB3 policy name whose default encoder each uses.
LSTM_POLICY_NAMES = {"MlpLstmPolicy": "MlpPolicy", "CnnLstmPolicy": "CnnPolicy",
                     "MultiInputLstmPolicy": "MultiInputPolicy"}


@dataclass
class RecurrentPPOConfig(PPOConfig):
    """RecurrentPPO's hyperparameters: PPO's, with ``batch_size=None`` meaning the whole rollout (as in sb3-contrib)."""

    batch_size: int | None


class RecurrentPPO(PPO):
    """sb3-contrib's ``RecurrentPPO``: ``RecurrentPPO("MlpLstmPolicy", "CartPoleNoVel-v1", seed=0).learn(100_000)``.

    Arguments and defaults are sb3-contrib's (``n_steps=128``, ``batch_size=128``, the others as
    :class:`ballast.PPO`'s), followed by Ballast's (normalisation inside the model, ``n_envs``,
    extensions, ...). Policies: ``"MlpLstmPolicy"``, ``"CnnLstmPolicy"``, ``"MultiInputLstmPolicy"``
    or a :class:`RecurrentActorCriticPolicy` class; ``policy_kwargs`` take sb3-contrib's
    ``lstm_hidden_size`` (256), ``n_lstm_layers`` (1), ``shared_lstm`` (False),
    ``enable_critic_lstm`` (True), ``lstm_kwargs``, and Ballast's ``recurrent_cell`` (``"lstm"``
    or ``"gru"``). ``predict(obs, state, episode_start)`` returns ``(action, state)`` as
    sb3-contrib's; ``ballast.evaluate_policy`` carries the state. ``base_policy``,
    ``residual_scale``, ``append_base_action`` and ``critic_warmup_steps`` learn a recurrent
    correction over a frozen base controller, as :class:`ballast.PPO`'s (docs/residual.md): the
    base acts on each step's raw observation, the networks read it with the base's action appended.
    """

    algorithm_name = "ppo_lstm"
    config_class = RecurrentPPOConfig
    default_policy_class: ClassVar[type[nn.Module]] = RecurrentActorCriticPolicy
    supported_action_spaces = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)
    #: sb3-contrib's ``policy_aliases``.
    policy_aliases: ClassVar[dict[str, type[nn.Module]]] = {
        "MlpLstmPolicy": RecurrentActorCriticPolicy, "CnnLstmPolicy": RecurrentActorCriticCnnPolicy,
        "MultiInputLstmPolicy": RecurrentMultiInputActorCriticPolicy}

    def __init__(
        self,
        policy: str | nn.Module | type[nn.Module],
        env: EnvLike | None,
        *,
        learning_rate: ScheduleLike = 3e-4,
        n_steps: int = 128,
        batch_size: int | None = 128,
        n_epochs: int = 10,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        clip_range: ScheduleLike = 0.2,
        clip_range_vf: ScheduleLike | None = None,
        normalize_advantage: bool = True,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        target_kl: float | None = None,
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
            _policy_argument(policy), env, learning_rate=learning_rate, n_steps=n_steps, batch_size=batch_size,
            n_epochs=n_epochs, gamma=gamma, gae_lambda=gae_lambda, clip_range=clip_range, clip_range_vf=clip_range_vf,
            normalize_advantage=normalize_advantage, ent_coef=ent_coef, vf_coef=vf_coef, max_grad_norm=max_grad_norm,
            use_sde=use_sde, sde_sample_freq=sde_sample_freq, target_kl=target_kl,
            stats_window_size=stats_window_size, aux_modules=aux_modules, extra_losses=extra_losses,
            normalize_observations=normalize_observations, normalize_rewards=normalize_rewards,
            policy_kwargs=policy_kwargs, n_envs=n_envs, vectorization=vectorization, env_kwargs=env_kwargs,
            frame_stack=frame_stack,
            seed=seed, device=device, verbose=verbose, tensorboard_log=tensorboard_log,
            observation_space=observation_space, action_space=action_space, base_policy=base_policy,
            residual_scale=residual_scale, append_base_action=append_base_action,
            critic_warmup_steps=critic_warmup_steps)
        if not getattr(self.policy, "recurrent", False):
            raise ConfigurationError(
                f"RecurrentPPO needs a recurrent policy (MlpLstmPolicy, CnnLstmPolicy, MultiInputLstmPolicy or a "
                f"RecurrentActorCriticPolicy subclass), got {type(self.policy).__name__}; use PPO for it")

    # --- the update reads sequences ------------------------------------------------------------
    def _batch_outputs(self, batch: RecurrentRolloutBatch) -> PolicyOutput:
        return self.policy.sequence_outputs(batch.observations, batch.sequences, batch.lstm_states,
                                            batch.action_masks)

    def _fast_path_structure(self) -> str | None:
        return ("the policy is recurrent (LSTM/GRU): its gradients come from autograd, the fast path has no "
                "recurrent layers")

    # --- sb3-contrib's names -----------------------------------------------------------------------------
    @property
    def _last_lstm_states(self) -> RNNStates:
        """sb3-contrib's ``_last_lstm_states``: the actor's and critic's states after the last step collected."""
        state = self.collection.recurrent_state
        return state if state is not None else self.policy.initial_state(self.n_envs)

    @property
    def _last_episode_starts(self) -> Any:
        """SB3's ``_last_episode_starts``: the copies whose next step starts an episode."""
        return self.collection.episode_starts

    # --- the hidden state in the checkpoint -----------------------------------------------------------
    def _extra_tensors(self) -> dict[str, dict[str, torch.Tensor]]:
        """The last rollout's hidden state (actor and critic), saved with the model."""
        state = self._last_lstm_states
        return {"recurrent_state": {f"{branch}.{i}": part.detach().cpu().contiguous()
                                    for branch, parts in zip(("pi", "vf"), state) for i, part in enumerate(parts)}}

    def _load_extra(self, checkpoint: Checkpoint) -> None:
        saved = checkpoint.tensors.get("recurrent_state")
        if not saved:
            return
        parts = self.policy.state_parts
        state = RNNStates(*(tuple(saved[f"{branch}.{i}"].to(self.device) for i in range(parts))
                            for branch in ("pi", "vf")))
        if state.pi[0].shape[1] == self.n_envs:
            self.collection.recurrent_state = state


def _policy_argument(policy: Any) -> Any:
    """sb3-contrib's policy names as Ballast's ("MlpLstmPolicy" -> "MlpPolicy" with the recurrent class)."""
    if isinstance(policy, str) and policy in LSTM_POLICY_NAMES:
        return LSTM_POLICY_NAMES[policy]
    return policy
