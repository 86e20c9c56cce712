"""What every algorithm shares: env handling, seeding, ``predict``, the ``learn`` loop, save/load.

An algorithm subclass supplies its configuration dataclass, builds its modules and optimizers in
``_build``, and implements one training iteration in ``_learn_iteration``. Nothing else is
inherited: rollouts, returns and losses are separate components and pure functions.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import VectorEnv
from torch import nn

from ballast.callbacks import BaseCallback, as_callback
from ballast.checkpoint import (
    Checkpoint,
    optimizer_from_tensors,
    optimizer_to_tensors,
    read_checkpoint,
    write_checkpoint,
)
from ballast.envs.make import EnvLike, env_id_of, make_vec_env
from ballast.envs.normalize import RewardNormalizer
from ballast.errors import CheckpointError, ConfigurationError, SpaceMismatchError
from ballast.extensions import AuxModule, Extensions, ExtraLoss, resolve_extra_losses
from ballast.import_path import import_path, path_of
from ballast.logger import Logger
from ballast.masking import mask_rule, policy_supports_masks
from ballast.policies import ActorCriticPolicy, PolicyConfig
from ballast.policies.config import POLICY_NAMES, check_policy_fits_space
from ballast.policies.continuous import SACPolicy, TD3Policy
from ballast.policies.q_network import DQNPolicy
from ballast.ragged import collate
from ballast.residual.actions import (
    ResidualActions,
    ResidualOptions,
    check_residual_action_space,
    check_residual_observation_space,
)
from ballast.residual.bases import as_base_policy, base_from_checkpoint
from ballast.schedules import CallableSchedule, ConstantSchedule, LinearSchedule, schedule_to_json
from ballast.spaces import (
    batch_observation,
    check_action_space,
    check_observation_space,
    is_image_space,
    same_kind,
    space_from_json,
    space_to_json,
    spaces_equal,
)
from ballast.transfer import ENV_BUFFER_PREFIXES, describe_difference, mismatch_error, size_mismatches

ALGORITHMS: dict[str, type[Algorithm]] = {}
POLICY_CLASSES: dict[str, type[nn.Module]] = {"ActorCriticPolicy": ActorCriticPolicy, "SACPolicy": SACPolicy,
                                              "TD3Policy": TD3Policy, "DQNPolicy": DQNPolicy}


def _copies_for(env: EnvLike, n_envs: int) -> int:
    """How many copies to build from ``env``: ``n_envs`` for ids and factories, 1 for an instance or vector env."""
    return 1 if isinstance(env, (VectorEnv, gym.Env)) else n_envs


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` means CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def obs_to_tensor(obs: Any, device: torch.device, space: spaces.Space | None = None) -> Any:
    """NumPy observations (or a dict of them) as tensors on ``device``, without copies on CPU; graphs
    and sets (tuples of items) as a :class:`~ballast.ragged.GraphBatch` or :class:`~ballast.ragged.SetBatch`."""
    if space is not None or isinstance(obs, (tuple, list)):
        return collate(space, obs, device)
    if isinstance(obs, dict):
        return {k: torch.as_tensor(np.asarray(v), device=device) for k, v in obs.items()}
    return torch.as_tensor(np.asarray(obs), device=device)


def auto_policy_name(observation_space: spaces.Space) -> str:
    """The SB3 policy name that fits the observation space."""
    if isinstance(observation_space, spaces.Dict):
        return "MultiInputPolicy"
    if is_image_space(observation_space):
        return "CnnPolicy"
    return "MlpPolicy"


def import_class(path: str) -> type:
    """Import ``module:QualName``; only called for names a user registered or passed explicitly."""
    try:
        return import_path(path)
    except (ImportError, AttributeError) as err:
        raise CheckpointError(f"cannot import {path!r} named in the checkpoint ({err})") from None


class Algorithm:
    """Base of all algorithms; see the module docstring."""

    algorithm_name: ClassVar[str] = ""
    config_class: ClassVar[type] = object
    supported_action_spaces: ClassVar[tuple[type, ...]] = ()
    default_policy_class: ClassVar[type[nn.Module]] = ActorCriticPolicy
    #: The losses an extra loss may join (``ballast.extensions.adds_to``), the default first.
    extendable_losses: ClassVar[tuple[str, ...]] = ("loss",)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Only a class that names itself registers: a user subclass of PPO must not replace "ppo".
        if "algorithm_name" in cls.__dict__ and cls.algorithm_name:
            ALGORITHMS[cls.algorithm_name] = cls

    def _setup(
        self,
        policy: str | nn.Module | type[nn.Module],
        env: EnvLike | None,
        *,
        config: Any,
        seed: int | None,
        device: str | torch.device,
        n_envs: int,
        policy_kwargs: dict[str, Any] | None,
        normalize_observations: bool,
        normalize_rewards: bool,
        verbose: int,
        tensorboard_log: str | None,
        vectorization: str,
        env_kwargs: dict[str, Any] | None,
        observation_space: spaces.Space | None = None,
        action_space: spaces.Space | None = None,
        aux_modules: Mapping[str, AuxModule] | None = None,
        extra_losses: Iterable[ExtraLoss] | None = None,
        residual: ResidualOptions | None = None,
    ) -> None:
        self.config = config
        self.seed = seed
        self.device = resolve_device(device)
        self.verbose = verbose
        self.tensorboard_log = tensorboard_log
        self.vectorization = vectorization
        self.env_id = env_id_of(env)
        self.env_kwargs = dict(env_kwargs or {})
        self.normalize_rewards = normalize_rewards
        self.env: VectorEnv | None = None
        self.n_envs = n_envs
        if env is not None:
            self.env = make_vec_env(env, n_envs, seed=seed, vectorization=vectorization, env_kwargs=env_kwargs)
            self.n_envs = self.env.num_envs
            observation_space = self.env.single_observation_space
            action_space = self.env.single_action_space
        if observation_space is None or action_space is None:
            raise ConfigurationError("give an env, or both observation_space and action_space")
        check_observation_space(observation_space)
        check_action_space(action_space, self.supported_action_spaces, self.algorithm_name.upper())
        if getattr(config, "use_sde", False) and not isinstance(action_space, spaces.Box):
            raise ConfigurationError(f"use_sde=True needs a Box action space, but the env's is {action_space}")
        self.observation_space, self.action_space = observation_space, action_space
        self.residual_options = residual
        self.residual_actions: ResidualActions | None = None
        if residual is not None:
            check_residual_action_space(action_space)
            check_residual_observation_space(observation_space)
            base = as_base_policy(residual.base_policy, observation_space, action_space)
            self.residual_actions = ResidualActions(base, observation_space, action_space,
                                                    scale=residual.residual_scale,
                                                    append_base_action=residual.append_base_action)
        self.set_random_seed(seed)
        self.policy_kwargs = dict(policy_kwargs or {})
        self.policy = self._make_policy(policy, normalize_observations).to(self.device)
        # Aux modules draw their initial weights from a stream of their own, so adding one leaves
        # every other random draw of a seeded run unchanged.
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed + 1)
            self.extensions = Extensions(aux_modules, extra_losses, self.device, losses=self.extendable_losses)
        self.aux_modules = self.extensions.modules
        self._callback: BaseCallback | None = None
        self._stop_requested = False
        self.reward_normalizer = (
            RewardNormalizer(self.n_envs, getattr(config, "gamma", 0.99)).to(self.device) if normalize_rewards else None
        )
        self.num_timesteps = 0
        self.total_timesteps = 0
        self._n_updates = 0
        self._iteration = 0
        self._progress_remaining = 1.0
        self._last_obs: Any = None
        self._last_infos: dict[str, Any] = {}
        self.ep_info_buffer: deque[tuple[float, int]] = deque(maxlen=100)
        self.logger = Logger(verbose=verbose)
        self._build()

    # --- construction -------------------------------------------------------------------
    def _make_policy(self, policy: str | nn.Module | type[nn.Module], normalize_observations: bool) -> nn.Module:
        if isinstance(policy, nn.Module):
            if self.residual_actions is not None:
                raise ConfigurationError(
                    "base_policy= builds the residual policy itself; pass a policy name ('MlpPolicy', ...) "
                    "or class, not a policy module")
            if not (spaces_equal(policy.observation_space, self.observation_space)
                    and spaces_equal(policy.action_space, self.action_space)):
                raise SpaceMismatchError(
                    f"the policy was built for observations {policy.observation_space} and actions "
                    f"{policy.action_space}, but the env has {self.observation_space} and {self.action_space}"
                )
            self.policy_name = getattr(policy, "policy_name", "MlpPolicy")
            self.policy_class = type(policy)
            self.policy_config = getattr(policy, "config", PolicyConfig())
            return policy
        policy_class: type[nn.Module] = self.default_policy_class
        name = policy
        if isinstance(policy, type):
            policy_class, name = policy, "auto"
        if name == "auto":
            name = auto_policy_name(self.observation_space)
        if name not in POLICY_NAMES:
            raise ConfigurationError(f"unknown policy {policy!r}; use one of {list(POLICY_NAMES)}, 'auto', or a module")
        self.policy_name, self.policy_class = name, policy_class
        self.policy_config = PolicyConfig.from_policy_kwargs(name, self.policy_kwargs, algorithm=self.algorithm_name)
        check_policy_fits_space(name, self.observation_space, self.policy_config)
        return self._policy_from_config(normalize_observations)

    def _policy_from_config(self, normalize_observations: bool) -> nn.Module:
        use_sde = getattr(self.config, "use_sde", False)
        if self.residual_actions is not None:
            return self.policy_class(
                self.observation_space, self.action_space, policy_name=self.policy_name, config=self.policy_config,
                use_sde=use_sde, normalize_observations=normalize_observations, residual=self.residual_actions,
            )
        return self.policy_class(
            self.observation_space, self.action_space, policy_name=self.policy_name, config=self.policy_config,
            use_sde=use_sde, normalize_observations=normalize_observations,
        )

    def _actor_frozen(self) -> bool:
        """True during a residual agent's critic warm-up: only the critic (value function) is trained."""
        options = self.residual_options
        return options is not None and self.num_timesteps < options.critic_warmup_steps

    def _build(self) -> None:
        """Create optimizers and buffers (subclasses)."""
        raise NotImplementedError

    def _trainable_parameters(self) -> list[nn.Parameter]:
        """The policy's parameters and those of the aux modules trained with the main optimizer."""
        return [*self.policy.parameters(), *self.extensions.shared_parameters()]

    def set_random_seed(self, seed: int | None) -> None:
        """Seed torch, the shuffling generator and the action space."""
        self._generator = torch.Generator()
        self._np_rng = np.random.default_rng(seed)
        if seed is None:
            self._generator.seed()
            return
        torch.manual_seed(seed)
        self._generator.manual_seed(seed)
        self.action_space.seed(seed)

    # --- env -----------------------------------------------------------------------------
    def get_env(self) -> VectorEnv | None:
        return self.env

    def set_env(self, env: EnvLike, force_reset: bool = True) -> None:
        """Train or evaluate on another env with the same spaces, or spaces of other sizes when the
        model's layers do not depend on them (see :mod:`ballast.transfer`)."""
        vec = make_vec_env(env, _copies_for(env, self.n_envs), seed=None, vectorization=self.vectorization,
                           env_kwargs=self.env_kwargs if isinstance(env, str) else None)
        resized = self._check_spaces(vec.single_observation_space, vec.single_action_space)
        self.env = vec
        if vec.num_envs != self.n_envs or resized:
            self.n_envs = vec.num_envs
            if self.reward_normalizer is not None:
                self.reward_normalizer.resize(self.n_envs)
            self._on_n_envs_changed()
        if force_reset:
            self._last_obs = None

    def _on_n_envs_changed(self) -> None:
        """Rebuild what depends on the number of env copies or on the spaces (subclasses)."""

    def _check_spaces(self, observation_space: spaces.Space, action_space: spaces.Space) -> bool:
        """Accept the env's spaces or raise; True when they differ in sizes only and the model now uses them."""
        if spaces_equal(observation_space, self.observation_space) and spaces_equal(action_space, self.action_space):
            return False
        check_action_bounds(self.action_space, action_space)
        sized = same_kind(observation_space, self.observation_space) and same_kind(action_space, self.action_space)
        if not sized or not hasattr(self, "policy_config") or not isinstance(self.policy, self.default_policy_class):
            if not spaces_equal(observation_space, self.observation_space):
                raise SpaceMismatchError(
                    f"the env's observation space {observation_space} differs from the model's "
                    f"{self.observation_space}")
            raise SpaceMismatchError(
                f"the env's action space {action_space} differs from the model's {self.action_space}")
        # A policy built for the new spaces (on a forked RNG, so no later draw changes) tells which tensors fit.
        with torch.random.fork_rng(devices=[]):
            probe = self.policy_class(
                observation_space, action_space, policy_name=self.policy_name, config=self.policy_config,
                use_sde=getattr(self.config, "use_sde", False),
                normalize_observations=getattr(self.policy, "normalizer", None) is not None,
            ).to(self.device)
        lines = size_mismatches(self.policy.state_dict(), probe)
        if lines:
            raise mismatch_error(describe_difference(self.observation_space, self.action_space, observation_space,
                                                     action_space), lines)
        own = {k: v for k, v in probe.state_dict().items() if k.startswith(ENV_BUFFER_PREFIXES)}
        self.policy.load_state_dict(own, strict=False)
        self.observation_space, self.action_space = observation_space, action_space
        self.policy.observation_space, self.policy.action_space = observation_space, action_space
        return True

    # --- acting ----------------------------------------------------------------------------
    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
        action_masks: Any = None,
    ) -> tuple[np.ndarray, Any]:
        """The env action(s) for one observation or a batch; returns ``(action, state)`` as in SB3.

        Observation normalisation runs with frozen statistics. A wrong shape raises
        :class:`ballast.errors.ObservationError` naming the expected and received shapes.
        ``action_masks`` (one mask for one observation, one per observation for a batch; see
        :mod:`ballast.masking`) restricts the actions to the valid ones, as sb3-contrib's MaskablePPO.
        """
        batch, batched = batch_observation(self.observation_space, observation)
        obs = obs_to_tensor(batch, self.device, self.observation_space)
        masks = None
        if action_masks is not None:
            masks = self._mask_tensor(action_masks, batch, batched)
        with torch.inference_mode():
            if masks is None:
                actions = self.policy.act(obs, deterministic=deterministic).cpu().numpy()
            else:
                actions = self.policy.act(obs, deterministic=deterministic, action_masks=masks).cpu().numpy()
        return (actions if batched else actions[0]), state

    def _mask_tensor(self, action_masks: Any, batch: Any, batched: bool) -> Any:
        """``action_masks`` for ``predict``, checked against the action space and the batch size."""
        if not policy_supports_masks(self.policy):
            raise ConfigurationError(
                f"{self.algorithm_name.upper()} with the policy {type(self.policy).__name__} does not take action "
                "masks; masking is supported by PPO and A2C")
        rows = len(next(iter(batch.values())) if isinstance(batch, dict) else batch)
        rule = mask_rule(self.action_space)
        masks = rule.check(self.action_space, action_masks if batched else [action_masks], rows, None)
        return rule.to_tensor(masks, self.device)

    # --- training loop ---------------------------------------------------------------------
    def learn(
        self,
        total_timesteps: int,
        callback: BaseCallback | Any = None,
        log_interval: int = 1,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> Algorithm:
        """Train for ``total_timesteps`` env steps (more, when not resetting the counters) and return self."""
        if self.env is None:
            raise ConfigurationError("this model has no env: pass env= when loading or call model.set_env(env)")
        if reset_num_timesteps:
            self.num_timesteps = 0
            self._iteration = 0
            self.total_timesteps = int(total_timesteps)
        else:
            self.total_timesteps = int(total_timesteps) + self.num_timesteps
        if reset_num_timesteps or self._last_obs is None:
            self._reset_env()
        if self.tensorboard_log is not None and self.logger.folder is None:
            run = tb_log_name or self.algorithm_name.upper()
            self.logger = Logger(Path(self.tensorboard_log) / f"{run}_{self._next_run_id(run)}", verbose=self.verbose,
                                 tensorboard=True)
        callback = as_callback(callback, progress_bar)
        callback.init_callback(self)
        self._callback, self._stop_requested = callback, False
        callback.on_training_start(locals())
        dumped_at = -1
        while self.num_timesteps < self.total_timesteps:
            if not self._learn_iteration(callback) or self._stop_requested:
                break
            if log_interval and self._iteration % log_interval == 0:
                self._log_rollout_stats()
                self.logger.dump(self.num_timesteps)
                dumped_at = self.num_timesteps
        if dumped_at != self.num_timesteps:
            self._log_rollout_stats()
            self.logger.dump(self.num_timesteps)
        callback.on_training_end()
        self._callback = None
        return self

    # --- update hooks (see BaseCallback) ------------------------------------------------------
    def _hook(self, name: str, *args: Any) -> bool:
        """Call the callback's update hook ``name``; a False answer stops training after this step."""
        if self._callback is None:
            return True
        go_on = getattr(self._callback, name)(*args)
        if not go_on:
            self._stop_requested = True
        return go_on

    def _next_run_id(self, run: str) -> int:
        folder = Path(self.tensorboard_log)
        existing = [p.name.rsplit("_", 1)[-1] for p in folder.glob(f"{run}_*")] if folder.exists() else []
        return 1 + max([int(x) for x in existing if x.isdigit()], default=0)

    def _reset_env(self) -> None:
        self._last_obs, self._last_infos = self.env.reset(seed=self.seed)
        self._needs_reset = np.zeros(self.n_envs, dtype=bool)
        self._episode_returns = np.zeros(self.n_envs)
        self._episode_lengths = np.zeros(self.n_envs, dtype=int)

    def _learn_iteration(self, callback: BaseCallback) -> bool:
        """Collect data and update once; return False to stop (subclasses)."""
        raise NotImplementedError

    def _update_progress(self) -> None:
        self._progress_remaining = max(0.0, 1.0 - self.num_timesteps / max(self.total_timesteps, 1))

    def _log_rollout_stats(self) -> None:
        if self.ep_info_buffer:
            returns, lengths = zip(*self.ep_info_buffer)
            self.logger.record("rollout/ep_rew_mean", float(np.mean(returns)))
            self.logger.record("rollout/ep_len_mean", float(np.mean(lengths)))
        self.logger.record("time/iterations", self._iteration)

    # --- export ----------------------------------------------------------------------------
    def export(self, out_dir: str | Path, format: str = "onnx", *, opset: int = 17, check: bool = True,
               function_name: str = "policy_step", include_value: bool = False, action_masks: bool = False) -> Path:
        """Export the whole observation-to-action path (see :func:`ballast.export.export_model`)."""
        from ballast.export import export_model

        return export_model(self, out_dir, format=format, opset=opset, check=check, function_name=function_name,
                            include_value=include_value, action_masks=action_masks)

    # --- save / load -------------------------------------------------------------------------
    def _config_to_json(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self.config):
            value = getattr(self.config, f.name)
            if isinstance(value, (ConstantSchedule, LinearSchedule, CallableSchedule)):
                value = schedule_to_json(value, self._progress_remaining)
            out[f.name] = value
        return out

    def _extra_tensors(self) -> dict[str, dict[str, torch.Tensor]]:
        """Optimizer states and other tensors by group name; by default the one ``self.optimizer``."""
        optimizer = getattr(self, "optimizer", None)
        return {} if optimizer is None else {"optimizer": optimizer_to_tensors(optimizer)[0]}

    def _extra_state(self) -> dict[str, Any]:
        """Non-tensor state as JSON; by default the parameter groups of ``self.optimizer``."""
        optimizer = getattr(self, "optimizer", None)
        return {} if optimizer is None else {"optimizer": optimizer_to_tensors(optimizer)[1]}

    def _load_extra(self, checkpoint: Checkpoint) -> None:
        """Restore what :meth:`_extra_tensors` and :meth:`_extra_state` saved."""
        optimizer = getattr(self, "optimizer", None)
        if optimizer is not None and "optimizer" in checkpoint.tensors and "optimizer" in checkpoint.state:
            optimizer_from_tensors(optimizer, checkpoint.tensors["optimizer"], checkpoint.state["optimizer"])

    def save(self, path: str | Path, include_replay_buffer: bool = False) -> Path:
        """Write one safe checkpoint file (see :mod:`ballast.checkpoint`); returns its path.

        ``include_replay_buffer=True`` (off-policy algorithms) stores the replay buffer's content
        too, as safetensors like everything else, so that resumed training samples the same data.
        """
        return write_checkpoint(path, self.to_checkpoint(include_replay_buffer))

    def to_checkpoint(self, include_replay_buffer: bool = False) -> Checkpoint:
        """Everything :meth:`save` writes, in memory."""
        buffer = getattr(self, "replay_buffer", None)
        if include_replay_buffer and buffer is None:
            raise ConfigurationError(f"{self.algorithm_name.upper()} has no replay buffer to include")
        policy_class = next((k for k, v in POLICY_CLASSES.items() if v is self.policy_class),
                            path_of(self.policy_class))
        config = {
            "hyperparameters": self._config_to_json(),
            "policy": {"name": self.policy_name, "class": policy_class, "config": self.policy_config.to_json(),
                       "normalize_observations": self.policy.normalizer is not None},
            "normalize_rewards": self.reward_normalizer is not None,
            "observation_space": space_to_json(self.observation_space),
            "action_space": space_to_json(self.action_space),
            "env_id": self.env_id,
            "env_kwargs": self.env_kwargs,
            "n_envs": self.n_envs,
            "seed": self.seed,
            "extensions": self.extensions.to_json(),
        }
        if self.residual_actions is not None:
            config["residual"] = {**self.residual_options.to_json(), "base": self.residual_actions.base.to_json()}
        state = {
            "num_timesteps": self.num_timesteps,
            "total_timesteps": self.total_timesteps,
            "n_updates": self._n_updates,
            "iteration": self._iteration,
            "progress_remaining": self._progress_remaining,
            "action_space_rng": self.action_space.np_random.bit_generator.state,
            "numpy_rng": self._np_rng.bit_generator.state,
            "aux_optimizers": self.extensions.optimizer_json(),
            **self._extra_state(),
        }
        tensors = {
            "policy": dict(self.policy.state_dict()),
            "rng": {"torch": torch.get_rng_state(), "generator": self._generator.get_state()},
            **self._extra_tensors(),
            **self.extensions.state_tensors(),
        }
        if self.reward_normalizer is not None:
            tensors["reward_normalizer"] = dict(self.reward_normalizer.state_dict())
        if include_replay_buffer:
            tensors["replay_buffer"] = buffer.state_tensors()
        base_tensors = self.residual_actions.base.state_tensors() if self.residual_actions is not None else {}
        if base_tensors:
            tensors["residual_base"] = base_tensors
        meta = {"algorithm": self.algorithm_name, "policy": self.policy_name}
        return Checkpoint(meta=meta, config=config, state=state, tensors=tensors)

    @classmethod
    def load(cls, path: str | Path, env: EnvLike | None = None, device: str | torch.device = "auto",
             extra_losses: Iterable[ExtraLoss] | None = None, **overrides: Any) -> Algorithm:
        """Load a checkpoint written by :meth:`save`. ``env`` must have the saved spaces.

        ``overrides`` replace saved hyperparameters (e.g. ``learning_rate``), as SB3's ``custom_objects``.
        Auxiliary modules are rebuilt from the file; extra losses are imported by the names saved,
        or taken from ``extra_losses`` when given. A residual model's base is rebuilt from the file
        (a Ballast or ONNX base) or imported by its saved path (a callable); ``base_policy=fn``
        passes a callable base explicitly instead.
        """
        if extra_losses is not None:
            overrides = {**overrides, "extra_losses": list(extra_losses)}
        return cls.from_checkpoint(read_checkpoint(path), env=env, device=device, source=str(path), **overrides)

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint, env: EnvLike | None = None, device: str | torch.device = "auto",
                        source: str = "the checkpoint", **overrides: Any) -> Algorithm:
        """Build the model a :class:`Checkpoint` (read from a file or from memory) describes; see :meth:`load`."""
        path = source
        algo_name = checkpoint.meta.get("algorithm")
        if cls is not Algorithm and algo_name != cls.algorithm_name:
            raise CheckpointError(
                f"{path} holds a {str(algo_name).upper()} model, not {cls.algorithm_name.upper()}; "
                f"use ballast.{str(algo_name).upper()}.load or ballast.load"
            )
        algo_cls = cls if cls is not Algorithm and cls.algorithm_name == algo_name else ALGORITHMS.get(algo_name)
        if algo_cls is None:
            raise CheckpointError(f"{path} holds an unknown algorithm {algo_name!r}; known: {sorted(ALGORITHMS)}")
        try:
            return algo_cls._from_checkpoint(checkpoint, env, device, overrides)
        except (KeyError, TypeError) as err:
            raise CheckpointError(
                f"{path} is missing or has malformed content ({err!r}); the file is damaged") from None

    @classmethod
    def _from_checkpoint(cls, ckpt: Checkpoint, env: EnvLike | None, device: str | torch.device,
                         overrides: dict[str, Any]) -> Algorithm:
        cfg = ckpt.config
        observation_space = space_from_json(cfg["observation_space"])
        action_space = space_from_json(cfg["action_space"])
        policy_cfg = cfg["policy"]
        policy_class = POLICY_CLASSES.get(policy_cfg["class"])
        if policy_class is None:
            policy_class = import_class(policy_cfg["class"])
        hyperparameters = {**cfg["hyperparameters"], **overrides}
        extensions = cfg.get("extensions") or {}
        if extensions.get("aux_modules"):
            hyperparameters["aux_modules"] = {name: AuxModule.from_json(spec)
                                              for name, spec in extensions["aux_modules"].items()}
        if extensions.get("extra_losses") and "extra_losses" not in hyperparameters:
            hyperparameters["extra_losses"] = resolve_extra_losses(extensions["extra_losses"])
        residual = cfg.get("residual")
        if residual is not None:
            if "base_policy" not in overrides:
                action_dim = int(np.prod(action_space.shape))
                hyperparameters["base_policy"] = base_from_checkpoint(
                    residual["base"], ckpt.tensors.get("residual_base", {}), action_dim)
            for key in ("residual_scale", "append_base_action", "critic_warmup_steps"):
                hyperparameters.setdefault(key, residual[key])
        vec = None
        if env is not None:
            vec = make_vec_env(env, _copies_for(env, cfg.get("n_envs", 1)),
                               env_kwargs=cfg.get("env_kwargs") if isinstance(env, str) else None)
            check_action_bounds(action_space, vec.single_action_space)
            for kind, saved, new in (("observation", observation_space, vec.single_observation_space),
                                     ("action", action_space, vec.single_action_space)):
                # Spaces that differ in sizes only are checked layer by layer when the weights load.
                if not spaces_equal(saved, new) and not same_kind(saved, new):
                    raise SpaceMismatchError(
                        f"the model was saved with the {kind} space {saved}, but the env has {new}; "
                        "load it with an env of the same spaces"
                    )
        model = cls.__new__(cls)
        policy = policy_cfg["name"] if policy_class is cls.default_policy_class else policy_class
        cls.__init__(
            model, policy, vec, seed=cfg.get("seed"), device=device, policy_kwargs=policy_cfg["config"],
            n_envs=cfg.get("n_envs", 1), normalize_observations=policy_cfg["normalize_observations"],
            normalize_rewards=cfg["normalize_rewards"], observation_space=observation_space,
            action_space=action_space, env_kwargs=None if vec is not None else cfg.get("env_kwargs"),
            **hyperparameters,
        )
        # The vector env above is built already (with the saved env_kwargs when env was an id); the
        # kwargs are kept for set_env(id) and the next save.
        model.env_kwargs = dict(cfg.get("env_kwargs") or {})
        model.env_id = cfg.get("env_id") or model.env_id
        model._restore(ckpt)
        return model

    def _restore(self, ckpt: Checkpoint) -> None:
        saved = ckpt.tensors["policy"]
        lines = size_mismatches(saved, self.policy)
        if lines:
            what = describe_difference(space_from_json(ckpt.config["observation_space"]),
                                       space_from_json(ckpt.config["action_space"]),
                                       self.observation_space, self.action_space)
            raise mismatch_error(what, lines)
        # The action bounds come from the env's action space (the same as the saved one unless only sizes differ).
        own = {k: v for k, v in self.policy.state_dict().items() if k.startswith(ENV_BUFFER_PREFIXES)}
        missing, unexpected = self.policy.load_state_dict({**saved, **own}, strict=False)
        if missing or unexpected:
            raise CheckpointError(
                f"the saved weights do not fit the policy: missing {missing}, unexpected {unexpected}")
        if self.reward_normalizer is not None and "reward_normalizer" in ckpt.tensors:
            saved = ckpt.tensors["reward_normalizer"]
            if saved["returns"].shape != self.reward_normalizer.returns.shape:
                saved = {**saved, "returns": torch.zeros_like(self.reward_normalizer.returns)}
            self.reward_normalizer.load_state_dict(saved)
        state = ckpt.state
        self.num_timesteps = int(state["num_timesteps"])
        self.total_timesteps = int(state.get("total_timesteps", self.num_timesteps))
        self._n_updates = int(state["n_updates"])
        self._iteration = int(state["iteration"])
        self._progress_remaining = float(state.get("progress_remaining", 1.0))
        if "numpy_rng" in state:
            self._np_rng.bit_generator.state = state["numpy_rng"]
        if "action_space_rng" in state:
            self.action_space.np_random.bit_generator.state = state["action_space_rng"]
        rng = ckpt.tensors.get("rng", {})
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if "generator" in rng:
            self._generator.set_state(rng["generator"])
        self.extensions.load(ckpt.tensors, state.get("aux_optimizers", {}))
        if "replay_buffer" in ckpt.tensors and getattr(self, "replay_buffer", None) is not None:
            self.replay_buffer.load_state_tensors(ckpt.tensors["replay_buffer"])
        self._load_extra(ckpt)

    # helpers for subclasses
    @staticmethod
    def _optimizer_group(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        return optimizer_to_tensors(optimizer)

    @staticmethod
    def _restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                           data: dict[str, Any]) -> None:
        optimizer_from_tensors(optimizer, tensors, data)


def check_action_bounds(model_space: spaces.Space, env_space: spaces.Space) -> None:
    """Refuse an env whose Box actions have the model's shape but other bounds.

    The model maps (squashes, clips) its actions onto its own bounds, so in such an env its actions
    would silently mean something else.
    """
    if (isinstance(model_space, spaces.Box) and isinstance(env_space, spaces.Box)
            and model_space.shape == env_space.shape and not spaces_equal(model_space, env_space)):
        raise SpaceMismatchError(
            f"the env's action space {env_space} has other bounds than the model's {model_space}: the model "
            "maps its actions onto its own bounds, so acting in this env would change what its actions mean; "
            "rescale the env's actions to the model's bounds (e.g. gymnasium.wrappers.RescaleAction)")


def load(path: str | Path, env: EnvLike | None = None, device: str | torch.device = "auto",
         base_policy: Any = None) -> Algorithm:
    """Load any Ballast checkpoint; the algorithm is read from the file. ``base_policy`` gives a
    residual model's callable base explicitly (see :meth:`Algorithm.load`)."""
    if base_policy is not None:
        return Algorithm.load(path, env=env, device=device, base_policy=base_policy)
    return Algorithm.load(path, env=env, device=device)
