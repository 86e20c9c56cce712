"""Soft Actor-Critic (Haarnoja et al., 2018, arXiv:1801.01290; automatic entropy, arXiv:1812.05905).

Each gradient step on a replay batch, as SB3 orders it:

1. ``alpha``: the loss of ``log alpha`` (:func:`ballast.losses.entropy_coef_loss`), when
   ``ent_coef="auto"``; the target and the actor loss use alpha from before its update;
2. ``critic``: ``0.5 * sum_i mean((Q_i(s, a) - y)^2)`` with the soft target
   ``y = r + discount * (min_i Q'_i(s', a') - alpha * log pi(a'|s'))``
   (:func:`ballast.returns.soft_q_target`);
3. ``actor``: ``mean(alpha * log pi(a~|s) - min_i Q_i(s, a~))`` with the updated critics, whose
   weights get no gradient from it (:func:`ballast.losses.sac_actor_loss`);
4. Adam steps on the actor and ``log alpha``, and every ``target_update_interval`` gradient
   steps Polyak averaging of the target critics.

Hyperparameter names, meanings and defaults are SB3's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from ballast import losses, returns
from ballast.algos import off_policy
from ballast.algos.base import Algorithm
from ballast.callbacks import BaseCallback
from ballast.checkpoint import Checkpoint
from ballast.envs.make import EnvLike
from ballast.errors import ConfigurationError
from ballast.noise import ActionNoise, as_action_noise, noise_to_json
from ballast.optim import FlatParameters, make_adam
from ballast.policies.continuous import SACPolicy, target_pairs
from ballast.residual.actions import residual_options
from ballast.schedules import Schedule, ScheduleLike, as_schedule

#: SB3's SAC policy defaults (``policy_kwargs`` override them).
SAC_POLICY_DEFAULTS: dict[str, Any] = {
    "net_arch": [256, 256], "activation_fn": "ReLU", "ortho_init": False, "log_std_init": -3.0,
    "share_features_extractor": False, "n_critics": 2,
}


@dataclass
class SACConfig:
    """SAC's hyperparameters (see :class:`SAC`)."""

    learning_rate: Schedule
    buffer_size: int
    learning_starts: int
    batch_size: int
    tau: float
    gamma: float
    train_freq: tuple[int, str]
    gradient_steps: int
    action_noise: dict[str, Any] | None
    n_steps: int
    ent_coef: str | float
    target_update_interval: int
    target_entropy: str | float
    use_sde: bool
    sde_sample_freq: int
    use_sde_at_warmup: bool

    def __post_init__(self) -> None:
        if isinstance(self.ent_coef, str) and not self.ent_coef.startswith("auto"):
            raise ConfigurationError(
                f"ent_coef must be a number, 'auto' or 'auto_<init>', got {self.ent_coef!r}")
        if isinstance(self.target_entropy, str) and self.target_entropy != "auto":
            raise ConfigurationError(
                f"target_entropy must be a number or 'auto', got {self.target_entropy!r}")
        if self.n_steps < 1 or self.batch_size < 1 or self.target_update_interval < 1:
            raise ConfigurationError("n_steps, batch_size and target_update_interval must be at least 1")


class SAC(Algorithm):
    """SAC with SB3's interface: ``SAC("MlpPolicy", "Pendulum-v1", seed=0).learn(20_000)``.

    Args (keyword-only after ``env``; defaults as in SB3):
        learning_rate: for actor, critics and entropy coefficient (a number or a schedule).
        buffer_size: replay buffer capacity in transitions.
        learning_starts: steps of uniformly random actions before learning starts.
        batch_size: minibatch size of each gradient step.
        tau: Polyak coefficient of the target critics (1 = hard copy).
        gamma: discount factor.
        train_freq: update every ``train_freq`` steps, or ``(n, "step")`` / ``(n, "episode")``.
        gradient_steps: gradient steps after each collection (-1: as many as transitions collected).
        action_noise: optional extra exploration noise (:mod:`ballast.noise`).
        n_steps: n-step returns for the critic target (1: one-step TD).
        ent_coef: the entropy coefficient alpha; ``"auto"`` learns it (initial value 1, or
            ``"auto_0.1"`` for 0.1), a number fixes it.
        target_update_interval: gradient steps between target updates.
        target_entropy: entropy target when learning alpha; ``"auto"`` is ``-dim(action space)``.
        use_sde, sde_sample_freq, use_sde_at_warmup: gSDE exploration instead of independent
            Gaussian noise, new noise every ``sde_sample_freq`` steps (-1: at each collection),
            and gSDE instead of uniform actions during the warm-up.
        The other arguments (including the residual ones, ``base_policy`` ...) are those of
        :class:`ballast.PPO`.
    """

    algorithm_name = "sac"
    config_class = SACConfig
    supported_action_spaces = (spaces.Box,)
    default_policy_class = SACPolicy

    def __init__(
        self,
        policy: str | nn.Module | type[nn.Module],
        env: EnvLike | None,
        *,
        learning_rate: ScheduleLike = 3e-4,
        buffer_size: int = 1_000_000,
        learning_starts: int = 100,
        batch_size: int = 256,
        tau: float = 0.005,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 1,
        action_noise: ActionNoise | dict[str, Any] | None = None,
        n_steps: int = 1,
        ent_coef: str | float = "auto",
        target_update_interval: int = 1,
        target_entropy: str | float = "auto",
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        use_sde_at_warmup: bool = False,
        normalize_observations: bool = False,
        normalize_rewards: bool = False,
        policy_kwargs: dict[str, Any] | None = None,
        n_envs: int = 1,
        vectorization: str = "auto",
        env_kwargs: dict[str, Any] | None = None,
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
        self.action_noise = as_action_noise(action_noise)
        config = SACConfig(
            learning_rate=as_schedule(learning_rate, "learning_rate"), buffer_size=int(buffer_size),
            learning_starts=int(learning_starts), batch_size=int(batch_size), tau=float(tau),
            gamma=float(gamma),
            train_freq=off_policy.parse_train_freq(train_freq), gradient_steps=int(gradient_steps),
            action_noise=noise_to_json(self.action_noise), n_steps=int(n_steps),
            ent_coef=ent_coef if isinstance(ent_coef, str) else float(ent_coef),
            target_update_interval=int(target_update_interval),
            target_entropy=target_entropy if isinstance(target_entropy, str) else float(target_entropy),
            use_sde=bool(use_sde), sde_sample_freq=int(sde_sample_freq),
            use_sde_at_warmup=bool(use_sde_at_warmup),
        )
        self._setup(policy, env, config=config, seed=seed, device=device, n_envs=n_envs,
                    policy_kwargs=policy_kwargs, normalize_observations=normalize_observations,
                    normalize_rewards=normalize_rewards, verbose=verbose, tensorboard_log=tensorboard_log,
                    vectorization=vectorization, env_kwargs=env_kwargs, observation_space=observation_space,
                    action_space=action_space,
                    residual=residual_options(base_policy, residual_scale, append_base_action, critic_warmup_steps))

    def _policy_from_config(self, normalize_observations: bool) -> nn.Module:
        self.policy_config = off_policy.policy_config(self.policy_name, self.policy_kwargs,
                                                      SAC_POLICY_DEFAULTS)
        return super()._policy_from_config(normalize_observations)

    def _build(self) -> None:
        cfg = self.config
        off_policy.check_n_envs_train_freq(cfg.train_freq, self.n_envs)
        lr = cfg.learning_rate(1.0)
        policy = self.policy
        self.actor_params, self.actor_optimizer = off_policy.make_optimizer(policy.actor, lr)
        self.critic_params, self.critic_optimizer = off_policy.make_optimizer(policy.critic, lr)
        self.targets = off_policy.PolyakTargets(target_pairs(policy), [self.critic_params])
        if cfg.target_entropy == "auto":
            self.target_entropy = -float(np.prod(self.action_space.shape))
        else:
            self.target_entropy = float(cfg.target_entropy)
        if isinstance(cfg.ent_coef, str):
            init = float(cfg.ent_coef.split("_")[1]) if "_" in cfg.ent_coef else 1.0
            if init <= 0:
                raise ConfigurationError(f"the initial value of ent_coef must be positive, got {init}")
            self.log_ent_coef: nn.Parameter | None = nn.Parameter(
                torch.full((1,), float(np.log(init)), device=self.device))
            self.ent_coef_params = FlatParameters([self.log_ent_coef])
            self.ent_coef_optimizer = make_adam(self.ent_coef_params, lr=lr)
            self.ent_coef_tensor = None
        else:
            self.log_ent_coef = self.ent_coef_params = self.ent_coef_optimizer = None
            self.ent_coef_tensor = torch.tensor(float(cfg.ent_coef), device=self.device)
        self.replay_buffer = off_policy.make_replay_buffer(self, cfg.buffer_size)
        self.action_noise = off_policy.vectorize_noise(self.action_noise, self.n_envs)
        if self.action_noise is not None and self.seed is not None:
            self.action_noise.seed(self.seed)

    def _on_n_envs_changed(self) -> None:
        off_policy.check_n_envs_train_freq(self.config.train_freq, self.n_envs)
        self.replay_buffer = off_policy.make_replay_buffer(self, self.config.buffer_size)
        self.action_noise = off_policy.vectorize_noise(self.action_noise, self.n_envs)

    def _reset_env(self) -> None:
        off_policy.end_stored_episodes(self)
        super()._reset_env()

    # --- acting ------------------------------------------------------------------------------
    def _acts_during_warmup(self) -> bool:
        return self.config.use_sde and self.config.use_sde_at_warmup

    def _policy_actions(self, obs: Any) -> np.ndarray:
        return off_policy.policy_space_actions(self.policy, obs, self.device, deterministic=False)

    def _on_step(self) -> None:
        pass

    def _learn_iteration(self, callback: BaseCallback) -> bool:
        return off_policy.learn_iteration(self, callback)

    # --- training ----------------------------------------------------------------------------
    def train(self, gradient_steps: int) -> None:
        """``gradient_steps`` updates, each on a fresh replay batch."""
        cfg = self.config
        off_policy.set_training_mode(self, True)
        lr = cfg.learning_rate(self._progress_remaining)
        optimizers = [self.actor_optimizer, self.critic_optimizer]
        if self.ent_coef_optimizer is not None:
            optimizers.append(self.ent_coef_optimizer)
        off_policy.set_learning_rate(optimizers, lr)
        reward_fn = off_policy.reward_transform(self)
        for _ in range(gradient_steps):
            batch = self.replay_buffer.sample(cfg.batch_size, self._generator, n_steps=cfg.n_steps,
                                              gamma=cfg.gamma, reward_fn=reward_fn)
            self._n_updates += 1
            update_target = self._n_updates % cfg.target_update_interval == 0
            if self.residual_actions is None:
                normalize = self.policy.normalize
                stats = self.update(normalize(batch.observations), batch.actions, batch.rewards,
                                    normalize(batch.next_observations), batch.discounts, update_target)
            else:
                obs, base = self.policy.normalize_with_base(batch.observations)
                next_obs, next_base = self.policy.normalize_with_base(batch.next_observations)
                stats = self.update(obs, batch.actions, batch.rewards, next_obs, batch.discounts, update_target,
                                    base=base, next_base=next_base, update_actor=not self._actor_frozen())
            for key, value in stats.items():
                self.logger.record_mean(key, value)
        self.logger.record("train/n_updates", self._n_updates)
        self.logger.record("train/learning_rate", lr)
        if cfg.use_sde:
            self.logger.record("train/std", self.policy.actor.sde_std().detach().mean())

    def update(self, obs: Any, actions: torch.Tensor, rewards: torch.Tensor, next_obs: Any,
               discounts: torch.Tensor, update_target: bool, *, base: torch.Tensor | None = None,
               next_base: torch.Tensor | None = None, update_actor: bool = True) -> dict[str, torch.Tensor]:
        """One gradient step on a batch of (normalised) transitions; returns detached statistics.

        A function of fixed-shape tensors without host synchronisation, so ``torch.compile`` can wrap it.
        For a residual agent ``base`` and ``next_base`` are the base's env actions: the actor's
        corrections become executed actions (``ResidualActions.critic_actions``) before the critic
        sees them, while log-probabilities stay those of the corrections. ``update_actor=False``
        (critic warm-up) trains the critic and the entropy coefficient, not the actor.
        """
        policy, cfg = self.policy, self.config
        actor = policy.actor
        noise = None
        if cfg.use_sde:  # one gSDE matrix for the batch, new at each gradient step, as in SB3
            noise = torch.randn(1, actor.latent_dim, actor.action_dim, device=actions.device)
        actions_pi, log_prob = actor.action_log_prob(obs, noise)
        if self.log_ent_coef is not None:
            ent_coef = self.log_ent_coef.detach().exp()
            terms = {"alpha": losses.entropy_coef_loss(self.log_ent_coef, log_prob, self.target_entropy)}
        else:
            ent_coef, terms = self.ent_coef_tensor, {}
        with torch.no_grad():
            next_actions, next_log_prob = actor.action_log_prob(next_obs, noise)
            if next_base is not None:
                next_actions = policy.residual.critic_actions(next_base, next_actions)
            next_q = policy.q_values(next_obs, next_actions, target=True)
            target = returns.soft_q_target(rewards, discounts, next_q, next_log_prob, ent_coef)
        terms["critic"] = 0.5 * losses.q_regression_loss(policy.q_values(obs, actions), target)
        self.critic_params.zero_grad()
        terms["critic"].backward()
        self.critic_optimizer.step()
        if not update_actor:
            # Critic warm-up: the actor waits; alpha still follows the (unchanged) policy's entropy,
            # so that it has the value it would have had when the actor starts.
            stats = {"train/critic_loss": terms["critic"].detach(), "train/ent_coef": ent_coef.detach().reshape(())}
            if self.log_ent_coef is not None:
                self.ent_coef_params.zero_grad()
                terms["alpha"].backward()
                self.ent_coef_optimizer.step()
                stats["train/ent_coef_loss"] = terms["alpha"].detach()
            if update_target:
                self.targets.update(cfg.tau)
            return stats
        if base is not None:
            actions_pi = policy.residual.critic_actions(base, actions_pi)
        q_pi = policy.q_values(obs, actions_pi, detach_params=True)
        terms["actor"] = losses.sac_actor_loss(log_prob, q_pi, ent_coef)
        # The alpha loss reaches only log(alpha) and the actor loss only the actor (alpha enters it
        # detached), so one backward serves both; stepping alpha last changes nothing, since this
        # step's target and actor loss use alpha from before its update, as in SB3.
        self.actor_params.zero_grad()
        if self.log_ent_coef is not None:
            self.ent_coef_params.zero_grad()
            (terms["actor"] + terms["alpha"]).backward()
            self.ent_coef_optimizer.step()
        else:
            terms["actor"].backward()
        self.actor_optimizer.step()
        if update_target:
            self.targets.update(cfg.tau)
        stats = {"train/critic_loss": terms["critic"].detach(), "train/actor_loss": terms["actor"].detach(),
                 "train/ent_coef": ent_coef.detach().reshape(())}
        if "alpha" in terms:
            stats["train/ent_coef_loss"] = terms["alpha"].detach()
        return stats

    # --- checkpoint ----------------------------------------------------------------------------
    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        optimizers = {"actor_optimizer": self.actor_optimizer, "critic_optimizer": self.critic_optimizer}
        if self.ent_coef_optimizer is not None:
            optimizers["ent_coef_optimizer"] = self.ent_coef_optimizer
        return optimizers

    def _extra_tensors(self) -> dict[str, dict[str, torch.Tensor]]:
        tensors = {name: self._optimizer_group(opt)[0] for name, opt in self._optimizers().items()}
        ent = self.log_ent_coef if self.log_ent_coef is not None else self.ent_coef_tensor
        tensors["ent_coef"] = {"log_ent_coef" if self.log_ent_coef is not None else "ent_coef": ent.detach()}
        return tensors

    def _extra_state(self) -> dict[str, Any]:
        state = {name: self._optimizer_group(opt)[1] for name, opt in self._optimizers().items()}
        if self.action_noise is not None:
            state["action_noise"] = self.action_noise.state_dict()
        return state

    def _load_extra(self, checkpoint: Checkpoint) -> None:
        for name, optimizer in self._optimizers().items():
            if name in checkpoint.tensors and name in checkpoint.state:
                self._restore_optimizer(optimizer, checkpoint.tensors[name], checkpoint.state[name])
        saved = checkpoint.tensors.get("ent_coef", {})
        with torch.no_grad():
            if self.log_ent_coef is not None and "log_ent_coef" in saved:
                self.log_ent_coef.copy_(saved["log_ent_coef"])
        if self.action_noise is not None and "action_noise" in checkpoint.state:
            self.action_noise.load_state_dict(checkpoint.state["action_noise"])
