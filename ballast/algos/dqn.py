"""Deep Q-Network (DQN; Mnih et al., 2015, "Human-level control through deep reinforcement learning").

Acting is epsilon-greedy, with epsilon going linearly from ``exploration_initial_eps`` to
``exploration_final_eps`` over the first ``exploration_fraction`` of training. Each gradient
step minimises the Huber loss ``q`` between ``Q(s, a)`` and the target
``y = r + discount * max_a' Q'(s', a')`` (:func:`ballast.returns.q_learning_target`), with the
gradient norm clipped to ``max_grad_norm``. The target network ``Q'`` follows the online one
(Polyak with ``tau``; ``tau=1`` copies it) every ``target_update_interval`` env steps.

Options beyond SB3: ``double_q=True`` for Double DQN (van Hasselt et al., 2016), where the
online network picks ``a'`` and the target network evaluates it; ``n_steps > 1`` for n-step
returns (also in SB3 >= 2.6), cut at episode ends and bootstrapped at truncations.
Extensions (``docs/extending.md``): extra losses join the loss ``q``
(:meth:`DQN.compute_losses`); ``AuxModule(optimizer="shared")`` joins the Q-network's Adam
and its gradient-norm clipping. Hyperparameter names, meanings and defaults are otherwise SB3's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from ballast import losses, returns
from ballast.algos import hyperparameters, off_policy
from ballast.algos.base import Algorithm, in_own_stream
from ballast.algos.fast_path import networks_reason
from ballast.buffers.replay import ReplayBatch
from ballast.callbacks import overrides_hooks
from ballast.checkpoint import Checkpoint
from ballast.envs.make import EnvLike
from ballast.errors import ConfigurationError
from ballast.extensions import AuxModule, ExtraLoss, QOutputs, Transitions, add_extra_terms, sum_terms, term_stats
from ballast.policies.continuous import running_statistics_pairs
from ballast.policies.fast_mlp import Affine, Layers
from ballast.policies.modes import set_training_mode
from ballast.policies.q_network import DQNPolicy, QNetwork, numpy_greedy_actor
from ballast.policies.sb3_arguments import KIND_DEFAULTS
from ballast.schedules import ScheduleLike, as_schedule
from ballast.torch_compat import parameter_list_tensors


def linear_exploration(initial: float, final: float, fraction: float, progress_remaining: float) -> float:
    """SB3's epsilon schedule: linear from ``initial`` to ``final`` over the first ``fraction`` of
    training."""
    progress = 1.0 - progress_remaining
    if fraction <= 0 or progress > fraction:
        return final
    return initial + progress * (final - initial) / fraction


@dataclass
class DQNConfig(off_policy.ReplayConfig):
    """DQN's hyperparameters (see :class:`DQN`)."""

    n_steps: int
    target_update_interval: int
    exploration_fraction: float
    exploration_initial_eps: float
    exploration_final_eps: float
    max_grad_norm: float | None
    double_q: bool


class DQN(off_policy.OffPolicyMethods, Algorithm):
    """DQN with SB3's interface: ``DQN("MlpPolicy", "CartPole-v1", seed=0).learn(50_000)``.

    Args (keyword-only after ``env``; defaults as in SB3):
        learning_rate: Adam's learning rate (a number or a schedule).
        buffer_size, learning_starts, batch_size, tau, gamma, train_freq, gradient_steps: as in
            :class:`ballast.SAC` (here ``tau=1.0``: hard target updates, ``train_freq=4``).
        n_steps: n-step returns for the target (1: one-step Q-learning).
        target_update_interval: env steps (summed over env copies) between target updates.
        exploration_fraction: share of training over which epsilon decreases.
        exploration_initial_eps, exploration_final_eps: epsilon at the start and the end of it.
        max_grad_norm: gradient-norm clip (None: no clipping).
        double_q: Double DQN targets.
        prioritized_replay: draw transitions by priority (:class:`ballast.PrioritizedReplayBuffer`)
            and weight the loss by importance weights; priorities are ``|Q(s, a) - y|``.
            ``replay_buffer_class=ballast.PrioritizedReplayBuffer`` (SB3's spelling) does the same.
        replay_buffer_kwargs: the prioritized buffer's ``alpha``, ``beta``, ``final_beta``, ``min_priority``.
        aux_modules, extra_losses: extensions (``docs/extending.md``).
        The other arguments are those of :class:`ballast.PPO`.
    """

    algorithm_name = "dqn"
    config_class = DQNConfig
    loss_methods = ("compute_losses", "td_targets", "q_loss", "td_errors")
    fixed_hyperparameters = {"buffer_size": hyperparameters.REPLAY_SIZE, **hyperparameters.REPLAY_KIND}
    supported_action_spaces = (spaces.Discrete,)
    default_policy_class = DQNPolicy
    extendable_losses = ("q",)
    #: Whose SB3 policy defaults apply (:data:`ballast.policies.sb3_arguments.KIND_DEFAULTS`).
    policy_kind = "dqn"
    #: The class of Q-network the fast update computes (:meth:`_fast_path_structure`).
    q_network_class: type[QNetwork] = QNetwork

    def __init__(
        self,
        policy: str | nn.Module | type[nn.Module],
        env: EnvLike | None,
        *,
        learning_rate: ScheduleLike = 1e-4,
        buffer_size: int = 1_000_000,
        learning_starts: int = 100,
        batch_size: int = 32,
        tau: float = 1.0,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 4,
        gradient_steps: int = 1,
        n_steps: int = 1,
        target_update_interval: int = 10_000,
        exploration_fraction: float = 0.1,
        exploration_initial_eps: float = 1.0,
        exploration_final_eps: float = 0.05,
        max_grad_norm: float | None = 10.0,
        double_q: bool = False,
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
    ) -> None:
        config = DQNConfig(
            learning_rate=as_schedule(learning_rate, "learning_rate"), buffer_size=int(buffer_size),
            learning_starts=int(learning_starts), batch_size=int(batch_size), tau=float(tau),
            gamma=float(gamma),
            train_freq=off_policy.parse_train_freq(train_freq), gradient_steps=int(gradient_steps),
            n_steps=int(n_steps), target_update_interval=int(target_update_interval),
            exploration_fraction=float(exploration_fraction),
            exploration_initial_eps=float(exploration_initial_eps),
            exploration_final_eps=float(exploration_final_eps),
            max_grad_norm=None if max_grad_norm is None else float(max_grad_norm),
            double_q=bool(double_q),
            **off_policy.replay_options(prioritized_replay, replay_buffer_class, replay_buffer_kwargs,
                                       optimize_memory_usage),
        )
        self.action_noise = None
        self.exploration_rate = 0.0
        self._n_calls = 0
        self._setup(policy, env, config=config, seed=seed, device=device, n_envs=n_envs,
                    policy_kwargs=policy_kwargs, normalize_observations=normalize_observations,
                    normalize_rewards=normalize_rewards, verbose=verbose, tensorboard_log=tensorboard_log,
                    vectorization=vectorization, env_kwargs=env_kwargs,
                    frame_stack=frame_stack, observation_space=observation_space,
                    action_space=action_space, aux_modules=aux_modules, extra_losses=extra_losses,
                    stats_window_size=stats_window_size)

    def _policy_from_config(self, normalize_observations: bool) -> nn.Module:
        self.policy_config = off_policy.policy_config(self, KIND_DEFAULTS[self.policy_kind])
        return super()._policy_from_config(normalize_observations)

    def _build(self) -> None:
        cfg = self.config
        off_policy.check_n_envs_train_freq(cfg.train_freq, self.n_envs)
        self.q_params, self.optimizer = off_policy.register_optimizer(
            self, "optimizer", [*self.policy.q_net.parameters(), *self.extensions.shared_parameters()], self.policy,
            default_options=self._default_optimizer_options())
        pairs = [(self.policy.q_net_target, list(self.policy.q_net.parameters()))]
        statistics = running_statistics_pairs(self.policy.q_net_target, dict(self.policy.q_net.named_buffers()))
        self.targets = off_policy.PolyakTargets(pairs, [self.q_params], statistics)
        self.replay_buffer = off_policy.make_replay_buffer(self, cfg.buffer_size)
        self._greedy_numpy = numpy_greedy_actor(self.policy)

    def _default_optimizer_options(self) -> dict[str, Any]:
        """Adam's options when ``policy_kwargs`` name no optimizer (SB3's DQN: PyTorch's defaults)."""
        return {}

    # --- acting ------------------------------------------------------------------------------
    def _greedy(self, obs: Any) -> np.ndarray:
        if self._greedy_numpy is not None and not isinstance(obs, dict):
            return self._greedy_numpy(np.asarray(obs))
        return off_policy.policy_space_actions(self.policy, obs, self.device, deterministic=True)

    def exploration_actions(self, obs: Any) -> np.ndarray:
        """Epsilon-greedy action indices, epsilon drawn per env copy."""
        actions = self._greedy(obs)
        explore = self.np_rng.random(len(actions)) < self.exploration_rate
        if explore.any():
            random = self.np_rng.integers(0, int(self.action_space.n), len(actions))
            actions = np.where(explore, random, actions)
        return actions

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = False, action_masks: Any = None, *,
                check_finite: bool = True) -> tuple[np.ndarray, Any]:
        """Greedy actions, or epsilon-greedy ones (current exploration rate) when not ``deterministic``.

        DQN does not take action masks: ``action_masks`` other than None raise a clear error.
        """
        actions, state = super().predict(observation, state, episode_start, deterministic, action_masks,
                                         check_finite=check_finite)
        if deterministic or self.exploration_rate <= 0:
            return actions, state
        batch = np.atleast_1d(actions)
        explore = self.np_rng.random(batch.shape[0]) < self.exploration_rate
        if explore.any():
            start = int(self.action_space.start)
            random = start + self.np_rng.integers(0, int(self.action_space.n), batch.shape[0])
            batch = np.where(explore, random, batch).astype(batch.dtype)
        return (batch if np.ndim(actions) else batch.reshape(())), state

    @property
    def exploration_schedule(self) -> Callable[[float], float]:
        """SB3's ``exploration_schedule``: epsilon as a function of the remaining progress (1 -> 0)."""
        cfg = self.config
        return partial(linear_exploration, cfg.exploration_initial_eps, cfg.exploration_final_eps,
                       cfg.exploration_fraction)

    @exploration_schedule.setter
    def exploration_schedule(self, value: Any) -> None:
        raise ConfigurationError(
            "DQN's exploration_schedule follows exploration_initial_eps, exploration_final_eps and "
            "exploration_fraction; set those instead (model.exploration_fraction = 0.2)")

    def after_env_step(self) -> None:
        """After each env step: target update every ``target_update_interval`` steps, epsilon schedule."""
        cfg = self.config
        self._n_calls += 1
        if self._n_calls % max(cfg.target_update_interval // self.n_envs, 1) == 0:
            self.targets.update(cfg.tau)
        self.exploration_rate = self.exploration_schedule(self.progress_remaining)
        self.logger.record("rollout/exploration_rate", self.exploration_rate)

    # --- training ----------------------------------------------------------------------------
    @in_own_stream
    def train(self, gradient_steps: int) -> None:
        """``gradient_steps`` updates on replay batches drawn a chunk at a time
        (:func:`~ballast.algos.off_policy.presampled_batches`). On the fast path, unless double DQN
        or an ``on_minibatch`` hook (which may change a batch) needs them per step, the TD targets
        of a chunk come from one pass of the target network, which no gradient step changes.
        With prioritized replay a chunk is one batch, and its priorities are updated after its step."""
        cfg = self.config
        set_training_mode(self.policy, True)
        lr = self.optimizers.set_learning_rates(self.progress_remaining)
        self.replay_buffer.anneal(self.progress_remaining)
        fast = self._fast_update()
        per_step_targets = fast is None or cfg.double_q or overrides_hooks(self._callback, "on_minibatch")
        batch_size, normalize = cfg.batch_size, self.policy.normalize
        chunks = off_policy.presampled_batches(self.replay_buffer, gradient_steps, batch_size, self.generator,
                                               n_steps=cfg.n_steps, gamma=cfg.gamma,
                                               reward_fn=off_policy.reward_transform(self))
        for chunk, n in chunks:
            targets = None if per_step_targets else fast.targets(chunk.rewards, chunk.discounts,
                                                                 normalize(chunk.next_observations))
            for i in range(n):
                start, stop = i * batch_size, (i + 1) * batch_size
                if not self._train_step(chunk.rows(start, stop), None if targets is None else targets[start:stop]):
                    break
            else:
                continue
            break
        self.logger.record("train/n_updates", self.n_updates)
        self.logger.record("train/learning_rate", lr)

    def _train_step(self, batch: ReplayBatch, target: torch.Tensor | None) -> bool:
        """One update on a sampled batch, its statistics logged; False once a hook asked to stop."""
        self._hook("on_minibatch", batch)
        normalize = self.policy.normalize
        stats = self.update(normalize(batch.observations), batch.actions, batch.rewards,
                            normalize(batch.next_observations), batch.discounts, target=target,
                            weights=batch.weights)
        off_policy.update_priorities(self, batch, self._td_errors)
        self.n_updates += 1
        for key, value in stats.items():
            self.logger.record_mean(key, value)
        return not self.stop_requested

    def update(self, obs: Any, actions: torch.Tensor, rewards: torch.Tensor, next_obs: Any,
               discounts: torch.Tensor, *, target: torch.Tensor | None = None,
               weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One gradient step on a batch of (normalised) transitions; returns detached statistics.

        The gradient comes from the fast path (:mod:`ballast.algos.fast_path`) when it applies,
        else from autograd; the clipping, the steps and the hooks are the same on both:
        ``before_gradient_step`` runs after the gradient-norm clipping, before Adam steps;
        ``after_gradient_step`` after it. Without update hooks it is a function of fixed-shape
        tensors without host synchronisation, so ``torch.compile`` can wrap it. ``target``: the
        batch's TD targets computed beforehand (:meth:`DQNFastUpdate.targets`; fast path only).
        ``weights``: importance weights of a prioritized draw; the loss is then their weighted
        mean, and the per-sample priorities (:meth:`td_errors`) are kept for the buffer.
        """
        cfg, extensions = self.config, self.extensions
        fast = self._fast_update()
        self._td_errors = None
        if fast is not None:
            terms = fast(obs, actions, rewards, next_obs, discounts, target, weights)
            self._td_errors = fast.td_errors
        elif target is not None:
            raise ConfigurationError("DQN.update takes precomputed targets only on the fast path; "
                                     "without it the targets come from compute_losses")
        else:
            batch = Transitions(observations=obs, actions=actions, rewards=rewards, next_observations=next_obs,
                                discounts=discounts, weights=weights)
            terms = self.compute_losses(batch)
            self.q_params.zero_grad()
            extensions.zero_own_grads()
            sum_terms(terms).backward()
        if cfg.max_grad_norm is not None:
            self.q_params.clip_grad_norm_(cfg.max_grad_norm)
        self._hook("before_gradient_step", terms)
        self.optimizer.step()
        if extensions.extra_losses:
            extensions.step_own_optimizers()
        self._hook("after_gradient_step", terms)
        return term_stats(terms)

    def compute_losses(self, batch: Transitions) -> dict[str, torch.Tensor]:
        """The named, weighted terms whose sum is minimised.

        ``q``: the loss between the Q-network's estimate and the target (:meth:`q_loss`, weighted
        by ``batch.weights`` with prioritized replay, whose priorities :meth:`td_errors` gives),
        then the extra terms. A subclass may add, remove or reweight terms. Logged as
        ``loss/<name>`` and their sum as ``train/loss`` (SB3's name for the loss, which it equals
        without extra terms).
        """
        with torch.no_grad():
            target = self.td_targets(batch.rewards, batch.discounts, batch.next_observations)
        features = self.policy.q_net.encoder(batch.observations)
        loss, outputs = self.q_loss(features, batch.actions, target, batch.weights)
        if batch.weights is not None:
            self._td_errors = self.td_errors(outputs)
        terms = {"q": loss}
        extensions = self.extensions
        if extensions.extra_losses:
            add_extra_terms(terms, extensions.terms(batch, outputs, self, "q"))
        return terms

    def td_targets(self, rewards: torch.Tensor, discounts: torch.Tensor, next_obs: Any) -> torch.Tensor:
        """The TD targets of a batch (module docstring): :func:`ballast.returns.q_learning_target`."""
        policy = self.policy
        next_q_online = policy.q_net(next_obs) if self.config.double_q else None
        return returns.q_learning_target(rewards, discounts, policy.q_net_target(next_obs), next_q_online)

    def q_loss(self, features: torch.Tensor, actions: torch.Tensor, target: torch.Tensor,
               weights: torch.Tensor | None = None) -> tuple[torch.Tensor, QOutputs]:
        """The Huber loss between ``Q(s, a)`` and the targets (weighted by ``weights`` when given),
        from the encoder's output, and the outputs an extra loss receives."""
        q_all = self.policy.q_net.q_from_features(features)
        q = q_all.gather(1, actions.long().unsqueeze(1)).squeeze(1)
        return (losses.huber_q_loss(q, target, weights),
                QOutputs(features=features, q_values=q_all, q_taken=q, target_q=target))

    def td_errors(self, outputs: QOutputs) -> torch.Tensor:
        """The prioritized replay's per-sample priorities from a step's outputs: ``|Q(s, a) - y|``."""
        return (outputs.q_taken - outputs.target_q).detach().abs()

    # --- the fast path (ballast.algos.fast_path) ----------------------------------------------
    def _fast_path_structure(self) -> str | None:
        policy = self.policy
        online, target = policy.q_net, policy.q_net_target
        expected = self.q_network_class
        if type(online) is not expected or type(target) is not expected:
            return f"the Q-network is not a {expected.__name__}"
        return networks_reason([online.encoder, target.encoder], [online, target], self.q_params.params,
                               [self.q_params], [online])

    def _build_fast_update(self) -> DQNFastUpdate:
        return DQNFastUpdate(self.policy, double_q=self.config.double_q)

    # --- checkpoint ----------------------------------------------------------------------------
    def _extra_state(self) -> dict[str, Any]:
        return {**super()._extra_state(), "exploration_rate": self.exploration_rate, "n_calls": self._n_calls}

    def _load_extra(self, checkpoint: Checkpoint) -> None:
        super()._load_extra(checkpoint)
        self.exploration_rate = float(checkpoint.state.get("exploration_rate", 0.0))
        self._n_calls = int(checkpoint.state.get("n_calls", 0))


class _QLayers:
    """A :class:`~ballast.policies.q_network.QNetwork` as plain tensors: its hidden layers and its output layer."""

    def __init__(self, q_net: QNetwork) -> None:
        weights, biases = parameter_list_tensors(q_net.weights), parameter_list_tensors(q_net.biases)
        affines = [Affine("matrix", w, b) for w, b in zip(weights, biases)]
        self.encoder = q_net.encoder
        self.hidden, self.output = Layers(affines[:-1], q_net.activation_name), affines[-1]

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(Q(s, .), the hidden layers)``."""
        hidden = self.hidden.forward(self.encoder.forward(obs))
        return self.output.forward(hidden[-1]), hidden


class DQNFastUpdate:
    """DQN's gradient for the default MLP Q-network without autograd (:mod:`ballast.algos.fast_path`):
    ``(obs, actions, rewards, next_obs, discounts[, target, weights]) -> terms`` as :meth:`DQN.compute_losses`
    returns them (detached), the gradient written. The loss's derivative is
    :func:`ballast.losses.huber_q_loss_grad`, scattered to the column of the action taken."""

    def __init__(self, policy: DQNPolicy, *, double_q: bool) -> None:
        self.online, self.target = _QLayers(policy.q_net), _QLayers(policy.q_net_target)
        self.double_q = double_q
        #: The last weighted step's per-sample priorities (:meth:`DQN.td_errors`), None after an unweighted one.
        self.td_errors: torch.Tensor | None = None

    @torch.no_grad()
    def targets(self, rewards: torch.Tensor, discounts: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        """The TD targets ``r + discount * max_a Q'(s', a)`` (double DQN: ``Q'(s', argmax_a Q(s', a))``).

        Without double DQN they depend on the target network alone, which no gradient step
        changes: :meth:`DQN.train` then computes them for a whole chunk of batches at once.
        """
        next_q_online = self.online.forward(next_obs)[0] if self.double_q else None
        return returns.q_learning_target(rewards, discounts, self.target.forward(next_obs)[0], next_q_online)

    @torch.no_grad()
    def __call__(self, obs: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor, next_obs: torch.Tensor,
                 discounts: torch.Tensor, target: torch.Tensor | None = None,
                 weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if target is None:
            target = self.targets(rewards, discounts, next_obs)
        out, hidden = self.online.forward(obs)
        loss, d_out, self.td_errors = self.loss_and_grad(out, actions.long(), target, weights)
        self.online.output.weight_grad(hidden[-1], d_out)
        self.online.hidden.backward(hidden, self.online.output.input_grad(d_out))
        return {"q": loss}

    def loss_and_grad(self, q_all: torch.Tensor, actions: torch.Tensor, target: torch.Tensor,
                      weights: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The loss, its derivative with respect to the network's outputs ``q_all``
        (:func:`ballast.losses.huber_q_loss_grad` in the column of the action taken) and, with
        importance ``weights``, the per-sample priorities ``|Q(s, a) - y|`` (else None)."""
        index = actions.unsqueeze(1)
        q = q_all.gather(1, index).squeeze(1)
        d_q = losses.huber_q_loss_grad(q, target, weights).unsqueeze(1)
        d_q_all = torch.zeros_like(q_all).scatter_(1, index, d_q)
        errors = None if weights is None else (q - target).abs()
        return losses.huber_q_loss(q, target, weights), d_q_all, errors
