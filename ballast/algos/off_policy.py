"""What SAC, TD3, DDPG and DQN share: acting, storing transitions, scheduling updates, targets.

Functions, not a base class. An off-policy algorithm (a direct subclass of ``Algorithm``) has a
``replay_buffer``, an ``action_noise`` (or None), ``train(gradient_steps)``,
``exploration_actions(obs)`` (exploratory actions in the policy's space),
``policy_acts_during_warmup()`` (whether the policy rather than uniform noise acts before
``learning_starts``) and ``after_env_step()`` (run after every env step): the members of
:class:`ballast.algos.protocols.OffPolicyModel`; it calls :func:`learn_iteration` from its
``_learn_iteration``.
One iteration, as in SB3:

1. collect ``train_freq`` steps (or episodes) of every env copy: uniformly random actions while
   fewer than ``learning_starts`` steps were taken, then the policy's (plus ``action_noise``,
   clipped to [-1, 1], for Box actions); store each transition once in the replay buffer;
2. if more than ``learning_starts`` steps were taken (and stored: see :func:`ready_to_train`),
   ``train(gradient_steps)`` (``-1``: as many gradient steps as env steps were taken).

Iterations repeat until an episode ended, so ``learn(log_interval=k)`` logs every ``k``
iterations with at least one finished episode each (SB3 counts episodes).

Callbacks: ``on_rollout_end`` runs after each chunk of ``train_freq`` steps (before its gradient
steps); the update hooks (``on_minibatch``, ``before_gradient_step``, ``after_gradient_step``)
run inside ``train``, and one that returns False ends the iteration after its gradient step.

Autoreset (design principle 5): with NEXT_STEP, the step after an episode's end only resets
that env copy; it is no transition (it counts as a timestep, as every ``env.step`` call does)
and is stored as an invalid entry holding the final observation (see
:mod:`ballast.buffers.replay`). With SAME_STEP, the final observations from
``infos["final_obs"]`` are stored as a padding row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from torch import nn

from ballast.algos import checkpointing, validation
from ballast.algos.on_policy import _check_finite, track_episodes
from ballast.algos.optimizers import build_optimizer
from ballast.algos.protocols import OffPolicyModel
from ballast.buffers.her import HerReplayBuffer, check_her_kwargs
from ballast.buffers.prioritized import PrioritizedReplayBuffer, check_prioritized_kwargs
from ballast.buffers.replay import ReplayBatch, ReplayBuffer
from ballast.callback_locals import step_infos
from ballast.callbacks import BaseCallback
from ballast.checkpoint import Checkpoint
from ballast.envs.goals import goal_functions
from ballast.envs.make import autoreset_mode
from ballast.envs.vector_infos import with_final_observations
from ballast.errors import ConfigurationError
from ballast.noise import ActionNoise, VectorizedActionNoise
from ballast.optim import FlatParameters, rehome_views
from ballast.policies.config import ADAM, PolicyConfig
from ballast.policies.modes import set_training_mode as policies_set_training_mode
from ballast.ragged import collate
from ballast.schedules import Schedule
from ballast.torch_compat import foreach_copy_, foreach_lerp_

#: An iteration also ends after this many env steps without a finished episode, so logs keep coming.
MAX_ITERATION_STEPS = 1000


# --- configuration -------------------------------------------------------------------------------
@dataclass
class ReplayConfig:
    """The hyperparameters every off-policy algorithm has (see :class:`ballast.SAC` for their meaning);
    each algorithm's configuration adds its own after them."""

    learning_rate: Schedule
    buffer_size: int
    learning_starts: int
    batch_size: int
    tau: float
    gamma: float
    train_freq: tuple[int, str]
    gradient_steps: int
    prioritized_replay: bool
    replay_buffer_kwargs: dict[str, Any] | None
    replay_buffer_class: str | None

    def __post_init__(self) -> None:
        validation.check_config(self)


def parse_train_freq(train_freq: int | tuple[int, str] | list[Any]) -> tuple[int, str]:
    """SB3's ``train_freq``: an int (steps) or ``(n, "step")`` / ``(n, "episode")``."""
    value = (train_freq, "step") if isinstance(train_freq, (int, np.integer)) else tuple(train_freq)
    if len(value) != 2 or value[1] not in ("step", "episode"):
        raise ConfigurationError(f"train_freq must be an int or (n, 'step' | 'episode'), got {train_freq!r}")
    frequency = value[0]
    if isinstance(frequency, bool) or not isinstance(frequency, (int, np.integer)) or frequency < 1:
        raise ConfigurationError(f"train_freq's frequency must be a positive integer, got {frequency!r}")
    return int(frequency), str(value[1])


def policy_config(model: Any, defaults: dict[str, Any]) -> PolicyConfig:
    """The policy configuration from ``model.policy_kwargs`` over the algorithm's SB3 defaults."""
    return PolicyConfig.from_policy_kwargs(model.policy_name, model.policy_config_kwargs,
                                           algorithm=model.algorithm_name, defaults=defaults)


def check_n_envs_train_freq(train_freq: tuple[int, str], n_envs: int) -> None:
    if train_freq[1] == "episode" and n_envs > 1:
        raise ConfigurationError("train_freq in episodes needs a single env (n_envs=1), as in SB3")


#: The buffers ``replay_buffer_class`` may name besides the uniform one, by the names checkpoints keep.
REPLAY_BUFFER_CLASSES: dict[str, type[ReplayBuffer]] = {"PrioritizedReplayBuffer": PrioritizedReplayBuffer,
                                                        "HerReplayBuffer": HerReplayBuffer}


def _buffer_name(replay_buffer_class: type | str | None) -> str | None:
    """The registered name of ``replay_buffer_class`` (a class or its name), None for the uniform buffer."""
    if replay_buffer_class in (None, ReplayBuffer, "ReplayBuffer"):
        return None
    name = replay_buffer_class if isinstance(replay_buffer_class, str) else getattr(replay_buffer_class, "__name__", "")
    if REPLAY_BUFFER_CLASSES.get(name) is not None and (isinstance(replay_buffer_class, str)
                                                        or REPLAY_BUFFER_CLASSES[name] is replay_buffer_class):
        return name
    if name == "HerReplayBuffer":  # SB3's own class
        raise ConfigurationError("replay_buffer_class is SB3's HerReplayBuffer; pass ballast.HerReplayBuffer "
                                 "(from ballast import HerReplayBuffer), which takes the same replay_buffer_kwargs")
    raise ConfigurationError(
        f"replay_buffer_class={name or replay_buffer_class!r} is not a buffer Ballast builds; pass "
        "ballast.PrioritizedReplayBuffer (or prioritized_replay=True) or ballast.HerReplayBuffer, or leave it out for "
        "the uniform buffer (custom buffer classes are not supported)")


def replay_options(prioritized_replay: bool, replay_buffer_class: type | str | None,
                   replay_buffer_kwargs: dict[str, Any] | None, optimize_memory_usage: bool = False) -> dict[str, Any]:
    """The configuration fields ``prioritized_replay``, ``replay_buffer_kwargs`` and
    ``replay_buffer_class`` (a registered name, None for the uniform and prioritized buffers) from
    the constructor's keywords: SB3's ``replay_buffer_class=PrioritizedReplayBuffer`` is
    ``prioritized_replay=True``; ``ReplayBuffer`` (or None) is the uniform buffer;
    ``HerReplayBuffer`` relabels goals (:mod:`ballast.buffers.her`).

    SB3's ``optimize_memory_usage`` is accepted with either value: Ballast's buffers always store
    each observation once (a transition's successor is the next row), which is what True asks for.
    SB3's ``replay_buffer_kwargs=dict(handle_timeout_termination=False)`` (which SB3 needs beside
    ``optimize_memory_usage=True``) is honoured by the uniform and prioritized buffers: truncated
    episodes are then stored as terminated, so their last step is not bootstrapped, as in SB3.
    """
    if not isinstance(optimize_memory_usage, (bool, np.bool_)):
        raise ConfigurationError(f"optimize_memory_usage must be True or False, got {optimize_memory_usage!r}")
    name = _buffer_name(replay_buffer_class)
    kwargs = dict(replay_buffer_kwargs or {})
    timeouts = kwargs.pop("handle_timeout_termination", True)
    if not isinstance(timeouts, (bool, np.bool_)):
        raise ConfigurationError(f"replay_buffer_kwargs handle_timeout_termination must be True or False, got "
                                 f"{timeouts!r}")
    timeout_option = {} if timeouts else {"handle_timeout_termination": False}
    if name == "HerReplayBuffer":
        if prioritized_replay:
            raise ConfigurationError("HerReplayBuffer draws transitions uniformly; it does not combine with "
                                     "prioritized_replay=True (SB3 has no prioritized HER either)")
        if not timeouts:
            raise ConfigurationError("HerReplayBuffer keeps truncated episodes bootstrapped; "
                                     "handle_timeout_termination=False is taken by the uniform and prioritized "
                                     "buffers only: leave it out")
        return {"prioritized_replay": False, "replay_buffer_kwargs": check_her_kwargs(kwargs),
                "replay_buffer_class": name}
    if name == "PrioritizedReplayBuffer":
        prioritized_replay = True
    if kwargs and not prioritized_replay:
        raise ConfigurationError(
            f"replay_buffer_kwargs={kwargs} only configure the prioritized buffer or HerReplayBuffer (and "
            "handle_timeout_termination any buffer); pass prioritized_replay=True "
            "(or replay_buffer_class=ballast.PrioritizedReplayBuffer, or ballast.HerReplayBuffer) with them, or "
            "leave them out")
    if prioritized_replay:
        kwargs = check_prioritized_kwargs(kwargs)
    kwargs.update(timeout_option)
    return {"prioritized_replay": bool(prioritized_replay), "replay_buffer_kwargs": kwargs or None,
            "replay_buffer_class": None}


def make_replay_buffer(model: OffPolicyModel, buffer_size: int) -> ReplayBuffer:
    """The uniform replay buffer, or the prioritized or HER one when the configuration asks for it;
    the uniform and prioritized ones store each frame of stacked images once (HER's Dict
    observations are stored whole)."""
    cfg = model.config
    if getattr(cfg, "replay_buffer_class", None) == "HerReplayBuffer":
        if getattr(cfg, "n_steps", 1) > 1:
            raise ConfigurationError(f"HerReplayBuffer relabels one-step transitions; n_steps={cfg.n_steps} does not "
                                     "combine with it, pass n_steps=1")
        buffer = HerReplayBuffer(model.observation_space, model.action_space, buffer_size, model.n_envs,
                                 device=model.device, **cfg.replay_buffer_kwargs)
        bind_goal_functions(model, buffer)
        return buffer
    # Stacked image frames are stored once each (ballast.buffers.frame_dedup).
    settings = getattr(model, "env_settings", None)
    frames = None if settings is None else settings.stacked_frames(model.observation_space)
    kwargs = {**(cfg.replay_buffer_kwargs or {}), "stacked_frames": frames}
    if getattr(cfg, "prioritized_replay", False):
        return PrioritizedReplayBuffer(model.observation_space, model.action_space, buffer_size, model.n_envs,
                                       device=model.device, **kwargs)
    return ReplayBuffer(model.observation_space, model.action_space, buffer_size, model.n_envs,
                        device=model.device, **kwargs)


def bind_goal_functions(model: OffPolicyModel, buffer: ReplayBuffer | None) -> None:
    """Give a HER buffer the ``compute_reward`` of the model's env (none while it has no env)."""
    if isinstance(buffer, HerReplayBuffer):
        buffer.goal_functions = None if model.env is None else goal_functions(model.env)


def update_priorities(model: OffPolicyModel, batch: ReplayBatch, td_errors: torch.Tensor | None) -> None:
    """After a gradient step on a prioritized batch: the buffer's priorities from the step's
    per-sample TD errors (nothing for a uniform batch)."""
    if batch.weights is None:
        return
    if td_errors is None:
        raise ConfigurationError(
            f"{type(model).__name__}'s loss reported no per-sample TD errors for the prioritized replay buffer; "
            "a subclass that overrides the loss methods must pass the batch's weights on to them (see "
            "docs/off-policy.md#prioritized-replay)")
    model.replay_buffer.update_priorities(batch.indices, td_errors)


def vectorize_noise(noise: ActionNoise | None, n_envs: int) -> ActionNoise | None:
    """One independent noise process per env copy when there are several."""
    if noise is None or n_envs == 1:
        return noise
    if isinstance(noise, VectorizedActionNoise):
        noise = noise.base_noise
    return VectorizedActionNoise(noise, n_envs)


# --- optimisation helpers -------------------------------------------------------------------------
#: Transitions one draw of :func:`presampled_batches` aims at: enough to spread a draw's fixed cost,
#: few enough that a network's activations for all of them stay in the CPU's cache (on a 2-core
#: EPYC VM, a 256x256 MLP's forward costs 180 us per 64 rows in chunks of 512, 260 in chunks of 4,096).
PRESAMPLE_ROWS = 512


def presampled_batches(buffer: ReplayBuffer, gradient_steps: int, batch_size: int, generator: torch.Generator,
                       **sample_kwargs: Any) -> Iterator[tuple[ReplayBatch, int]]:
    """The replay batches of ``gradient_steps`` updates, drawn a chunk at a time.

    Yields ``(chunk, n)``: ``n`` batches of ``batch_size`` transitions one after another
    (``chunk.rows(i * batch_size, (i + 1) * batch_size)`` is the ``i``-th), ``n * batch_size``
    about :data:`PRESAMPLE_ROWS` (at least one batch). The buffer does not change during a train
    call, so one draw of ``n * batch_size`` transitions is distributed as ``n`` draws of
    ``batch_size`` (uniform, with replacement), at the fixed cost of one. A prioritized buffer's
    priorities change after every step, so there each chunk is one batch, drawn when the
    previous step is done. ``sample_kwargs`` go to :meth:`ReplayBuffer.sample`.
    """
    per_chunk = max(1, min(gradient_steps, PRESAMPLE_ROWS // batch_size))
    if isinstance(buffer, PrioritizedReplayBuffer):
        per_chunk = 1
    left = gradient_steps
    while left > 0:
        n = min(per_chunk, left)
        yield buffer.sample(n * batch_size, generator, **sample_kwargs), n
        left -= n


def set_learning_rate(optimizers: list[torch.optim.Optimizer], lr: float) -> None:
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group["lr"] = lr


def flatten_parameters(params: list[nn.Parameter]) -> torch.Tensor:
    """Re-home ``params`` (no gradients) as views of one new flat tensor, which is returned."""
    total = sum(p.numel() for p in params)
    data = torch.empty(total, dtype=params[0].dtype, device=params[0].device)
    offset = 0
    for p in params:
        n = p.numel()
        data[offset:offset + n].copy_(p.data.reshape(-1))
        p.data = data[offset:offset + n].view_as(p)
        offset += n
    return data


class PolyakTargets:
    """Target parameters that follow online ones: ``theta' <- (1 - tau) * theta' + tau * theta``.

    ``pairs`` are ``(target module, online parameters in the target's order)``. Where the online
    parameters are exactly those of a :class:`FlatParameters` in ``flats``, the target's are
    flattened the same way and the update is one ``lerp_`` on two flat tensors. ``statistics`` are
    ``(target buffer, online buffer)`` pairs (batch-norm running statistics) that each update copies
    whatever ``tau``, as SB3's (a target network normalises with the statistics of the online one).
    """

    def __init__(self, pairs: list[tuple[nn.Module, list[nn.Parameter]]],
                 flats: list[FlatParameters], statistics: Sequence[tuple[torch.Tensor, torch.Tensor]] = ()) -> None:
        self.statistics_targets = [target for target, _ in statistics]
        self.statistics_sources = [source for _, source in statistics]
        self.targets: list[torch.Tensor] = []
        self.sources: list[torch.Tensor] = []
        self.flattened: list[tuple[list[nn.Parameter], torch.Tensor]] = []
        for target, online in pairs:
            target_params = list(target.parameters())
            flat = next((f for f in flats if len(f.params) == len(online)
                         and all(a is b for a, b in zip(f.params, online))), None)
            if flat is not None:
                self.targets.append(flatten_parameters(target_params))
                self.sources.append(flat.param)
                self.flattened.append((target_params, self.targets[-1]))
            else:
                self.targets += target_params
                self.sources += online

    def rehome(self) -> int:
        """:func:`ballast.optim.rehome_views` for the flattened target parameters: a target given new
        tensors (``vector_to_parameters``) follows its online parameters again."""
        return sum(rehome_views(params, data) for params, data in self.flattened)

    @torch.no_grad()
    def update(self, tau: float) -> None:
        if tau == 1.0:  # a hard update (DQN's default): a copy, which reads one tensor less than lerp
            foreach_copy_(self.targets, self.sources)
        else:
            foreach_lerp_(self.targets, self.sources, tau)
        if self.statistics_targets:
            foreach_copy_(self.statistics_targets, self.statistics_sources)


# --- acting -------------------------------------------------------------------------------------
def obs_tensor(obs: Any, device: torch.device) -> Any:
    if isinstance(obs, dict):
        return {k: obs_tensor(v, device) for k, v in obs.items()}
    if isinstance(obs, (tuple, list)):
        return collate(None, obs, device)  # graphs or sets: one item per env copy
    return torch.as_tensor(obs, device=device)


@torch.inference_mode()
def policy_space_actions(policy: nn.Module, obs: Any, device: torch.device,
                         deterministic: bool) -> np.ndarray:
    """The policy's actions (before the mapping onto the env's space) for raw observations."""
    return policy(policy.normalize(obs_tensor(obs, device)), deterministic=deterministic).cpu().numpy()


def random_actions(action_space: spaces.Space, n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform actions in the policy's space: [-1, 1] for Box (the image of the uniform
    distribution over the bounds), indices for Discrete."""
    if isinstance(action_space, spaces.Box):
        return rng.uniform(-1.0, 1.0, (n, int(np.prod(action_space.shape)))).astype(np.float32)
    if isinstance(action_space, spaces.Discrete):
        return (rng.random(n) * int(action_space.n)).astype(np.int64)  # floor(U * n): uniform, faster
    raise ConfigurationError(f"no random warm-up actions for {action_space}")


def select_actions(model: OffPolicyModel, obs: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(env_actions, policy_actions)``: what the env takes and what the replay buffer stores.

    For a residual policy the random warm-up actions, the policy's actions and the action noise
    are corrections; the env takes ``clip(base + scale * correction)`` and the replay buffer
    stores that executed action in normalised units, which is what the critic is trained on.
    """
    if model.num_timesteps < model.config.learning_starts and not model.policy_acts_during_warmup():
        actions = random_actions(model.action_space, model.n_envs, model.np_rng)
    else:
        actions = model.exploration_actions(obs)
    noise = model.action_noise
    if noise is not None and isinstance(model.action_space, spaces.Box):
        actions = np.clip(actions + noise(), -1.0, 1.0).astype(np.float32)
    residual = getattr(model.policy, "residual", None)
    if residual is not None:
        with torch.inference_mode():
            base = residual.base_actions(obs_tensor(obs, model.device)).cpu().numpy()
        env_actions = residual.env_actions_numpy(base, actions)
        return env_actions, residual.stored_actions_numpy(env_actions)
    return model.policy.action_adapter.numpy(actions), actions


# --- collecting -----------------------------------------------------------------------------------
def set_training_mode(model: OffPolicyModel, mode: bool) -> None:
    """The policy in train (``mode=True``) or eval mode; see :mod:`ballast.policies.modes`."""
    policies_set_training_mode(model.policy, mode)


def collect(model: OffPolicyModel, callback: BaseCallback) -> tuple[bool, int, int]:
    """Run ``train_freq`` vector steps or episodes; returns ``(go_on, env steps, finished episodes)``.

    Every ``env.step`` call counts ``n_envs`` timesteps, reset steps included, as in on-policy
    collection, so that ``learn(N)`` runs ``N // n_envs`` vector steps.
    """
    env, buffer, cfg, policy = model.env, model.replay_buffer, model.config, model.policy
    collection = model.collection
    frequency, unit = cfg.train_freq
    n_envs = model.n_envs
    next_step_reset = autoreset_mode(env) == AutoresetMode.NEXT_STEP
    use_sde = getattr(cfg, "use_sde", False)
    sde_sample_freq = getattr(cfg, "sde_sample_freq", -1)
    normalizer = policy.normalizer
    noise = model.action_noise
    steps = episodes = 0
    set_training_mode(model, False)
    if use_sde:
        policy.reset_noise(n_envs)
    callback.on_rollout_start()
    # With SAME_STEP autoreset every step of every copy is a transition and no copy waits for a reset.
    all_valid, none_resetting = np.ones(n_envs, dtype=bool), np.zeros(n_envs, dtype=bool)
    while (steps if unit == "step" else episodes) < frequency:
        if use_sde and sde_sample_freq > 0 and steps % sde_sample_freq == 0 and steps > 0:
            policy.reset_noise(n_envs)
        obs = collection.observations
        buffer.add_observation(obs)
        env_actions, actions = select_actions(model, obs)
        next_obs, rewards, terminated, truncated, infos = env.step(env_actions)
        rewards = np.asarray(rewards, dtype=np.float64)
        _check_finite(rewards, next_obs)
        terminated, truncated = np.asarray(terminated, dtype=bool), np.asarray(truncated, dtype=bool)
        valid = ~collection.needs_reset if next_step_reset else all_valid
        episode_end = terminated | truncated
        buffer.add_transition(actions, rewards, terminated & valid, truncated & valid, valid)
        model.num_timesteps += n_envs
        track_episodes(model, rewards, episode_end, valid if next_step_reset else None, infos)
        if normalizer is not None:
            normalizer.update(obs_tensor(next_obs, model.device))
        if model.reward_normalizer is not None:
            model.reward_normalizer.update_and_normalize(rewards, episode_end, valid)
        if not next_step_reset and episode_end.any():
            buffer.add_padding(with_final_observations(next_obs, infos, episode_end))
        collection.observations, collection.infos = next_obs, infos
        collection.needs_reset = episode_end if next_step_reset else none_resetting
        finished = episode_end & valid
        if noise is not None and finished.any():
            if isinstance(noise, VectorizedActionNoise):
                noise.reset(np.flatnonzero(finished))
            else:
                noise.reset()
        steps += 1
        episodes += int(finished.sum())
        model.update_progress()
        model.after_env_step()
        callback.update_locals({
            "new_obs": next_obs, "rewards": rewards, "dones": episode_end, "actions": env_actions,
            "buffer_actions": actions, "num_collected_steps": steps,
            "infos": step_infos(model, callback, infos, episode_end, terminated, truncated, next_obs, next_step_reset)})
        if not callback.on_step():
            return False, steps * n_envs, episodes
    callback.on_rollout_end()
    return True, steps * n_envs, episodes


def ready_to_train(model: OffPolicyModel) -> bool:
    """More than ``learning_starts`` steps taken (as SB3), and as many transitions stored: a model
    loaded without its replay buffer refills it before training again."""
    buffer, learning_starts = model.replay_buffer, model.config.learning_starts
    stored = len(buffer)
    return (model.num_timesteps > max(learning_starts, 0) and buffer.rows() >= 2
            and stored >= min(learning_starts, buffer.capacity * buffer.n_envs))


def learn_iteration(model: OffPolicyModel, callback: BaseCallback) -> bool:
    """Collect and train (see the module docstring) until an episode ended; False if a callback stopped."""
    cfg = model.config
    collected = 0
    while True:
        go_on, env_steps, episodes = collect(model, callback)
        if not go_on:
            return False
        collected += env_steps
        if ready_to_train(model):
            gradient_steps = cfg.gradient_steps if cfg.gradient_steps >= 0 else env_steps
            if gradient_steps > 0:
                model.train(gradient_steps)
                if model.stop_requested:  # an update hook asked to stop
                    return False
        if episodes or collected >= MAX_ITERATION_STEPS or model.num_timesteps >= model.total_timesteps:
            break
    model.iteration += 1
    return True


def end_stored_episodes(model: OffPolicyModel) -> None:
    """Before an env reset outside the collection loop: close the episodes in the replay buffer."""
    buffer = getattr(model, "replay_buffer", None)
    if buffer is not None:
        buffer.end_episodes(model.collection.observations)


def reward_transform(model: OffPolicyModel) -> Any:
    """Scale stored rewards with the current return statistics (``normalize_rewards=True``), else None."""
    normalizer = model.reward_normalizer
    if normalizer is None:
        return None
    std = float(np.sqrt(normalizer.return_rms.var.item() + normalizer.epsilon))
    clip = normalizer.clip_reward
    return lambda rewards: torch.clamp(rewards / std, -clip, clip)


class OffPolicyMethods:
    """The methods SAC, TD3 (and DDPG) and DQN have the same way, mixed in before
    :class:`~ballast.algos.base.Algorithm`: the members of :class:`~ballast.algos.protocols.OffPolicyModel`
    that do not differ, the replay buffer's own file, SB3's network handles, and the action noise's
    state in the checkpoint."""

    #: The last update's per-sample priorities for a prioritized replay buffer (None without one).
    _td_errors: torch.Tensor | None = None

    def _rehome_parameters(self) -> None:
        super()._rehome_parameters()  # type: ignore[misc]
        targets = getattr(self, "targets", None)
        if targets is not None:
            targets.rehome()

    @property
    def optimize_memory_usage(self) -> bool:
        """SB3's flag, always True here: the replay buffer stores each observation once (a transition's
        successor is the next row), the layout SB3's ``optimize_memory_usage=True`` selects. The
        constructors accept either value (:func:`replay_options`)."""
        return True

    def learn(self, total_timesteps: int, callback: BaseCallback | Any = None, log_interval: int | None = 4,
              tb_log_name: str | None = None, reset_num_timesteps: bool = True,
              progress_bar: bool = False) -> Any:
        """:meth:`ballast.algos.base.Algorithm.learn` with SB3's off-policy default: the logger is
        dumped every 4 iterations, each of which ends with an episode."""
        return super().learn(total_timesteps, callback, log_interval, tb_log_name, reset_num_timesteps,
                             progress_bar)

    def _learn_iteration(self, callback: BaseCallback) -> bool:
        return learn_iteration(self, callback)

    def _log_rollout_stats(self) -> None:
        super()._log_rollout_stats()
        self.logger.record("time/episodes", self.episode_count, exclude="tensorboard")

    def _reset_env(self) -> None:
        end_stored_episodes(self)
        super()._reset_env()

    def set_env(self, env: Any, force_reset: bool = True) -> None:
        """:meth:`ballast.algos.base.Algorithm.set_env`; a HER buffer then relabels with the new env's
        ``compute_reward``."""
        super().set_env(env, force_reset)
        bind_goal_functions(self, self.replay_buffer)

    def _on_n_envs_changed(self) -> None:
        """A new number of env copies: a replay buffer and noise processes for them."""
        check_n_envs_train_freq(self.config.train_freq, self.n_envs)
        self.replay_buffer = make_replay_buffer(self, self.config.buffer_size)
        self.action_noise = vectorize_noise(self.action_noise, self.n_envs)

    def policy_acts_during_warmup(self) -> bool:
        return False

    def after_env_step(self) -> None:
        """Nothing by default (DQN: target updates and the exploration schedule)."""

    def save_replay_buffer(self, path: str | Path | BinaryIO) -> Path | None:
        """SB3's ``save_replay_buffer``: the replay buffer as its own safe file (JSON and safetensors, no pickle)."""
        return checkpointing.save_replay_buffer(self, path)

    def load_replay_buffer(self, path: str | Path | BinaryIO, truncate_last_traj: bool = True) -> None:
        """SB3's ``load_replay_buffer``: fill the replay buffer from :meth:`save_replay_buffer`'s file.
        ``truncate_last_traj`` is SB3's option for HER's episodes; episodes the file ends in the
        middle of are closed either way: by the env reset of the next ``learn``, or here, when the
        model is in the middle of collecting (its next step must not continue the file's newest
        row). A model whose ``replay_buffer`` was set to None or deleted (``del model.replay_buffer``,
        as SB3's tests do after saving it) gets a new one first, as SB3's load replaces the buffer."""
        if getattr(self, "replay_buffer", None) is None:
            self.replay_buffer = make_replay_buffer(self, self.config.buffer_size)
        checkpointing.load_replay_buffer(self, path)
        if self.collection.observations is not None:
            self.replay_buffer.end_episodes(None)

    @property
    def replay_buffer_class(self) -> type[ReplayBuffer]:
        """SB3's ``replay_buffer_class``: :class:`HerReplayBuffer`, :class:`PrioritizedReplayBuffer` with
        ``prioritized_replay``, else :class:`ReplayBuffer` (set it when building the model)."""
        name = getattr(self.config, "replay_buffer_class", None)
        if name is not None:
            return REPLAY_BUFFER_CLASSES[name]
        return PrioritizedReplayBuffer if self.config.prioritized_replay else ReplayBuffer

    # SB3's handles on the networks (a DQN has no actor: AttributeError, as in SB3)
    actor = property(lambda self: self.policy.actor)
    critic = property(lambda self: self.policy.critic)
    critic_target = property(lambda self: self.policy.critic_target)
    actor_target = property(lambda self: self.policy.actor_target)
    q_net = property(lambda self: self.policy.q_net)
    q_net_target = property(lambda self: self.policy.q_net_target)

    def _extra_state(self) -> dict[str, Any]:
        return {} if self.action_noise is None else {"action_noise": self.action_noise.state_dict()}

    def _load_extra(self, checkpoint: Checkpoint) -> None:
        if self.action_noise is not None and "action_noise" in checkpoint.state:
            self.action_noise.load_state_dict(checkpoint.state["action_noise"])


def register_optimizer(model: Any, name: str, parameters: list[nn.Parameter],
                       network: nn.Module, default_options: dict[str, Any] | None = None
                       ) -> tuple[FlatParameters, Any]:
    """Flat storage of ``parameters`` and their optimizer (``policy_kwargs``' ``optimizer_class``, Adam
    with ``default_options`` by default), registered in ``model.optimizers`` under ``name`` with the
    learning-rate schedule; ``network.optimizer`` answers it."""
    cfg, policy_config = model.config, model.policy_config
    flat = FlatParameters(parameters)
    optimizer = build_optimizer(flat, cfg.learning_rate(1.0), policy_config.optimizer_class,
                                policy_config.optimizer_kwargs, default=(ADAM, default_options or {}))
    return flat, model.optimizers.register(name, optimizer, flat, cfg.learning_rate, network=network)
