"""An algorithm's life cycle: construction, its env, acting, the ``learn`` loop.

An algorithm subclass supplies its configuration dataclass, builds its optimizers (registered in
``self.optimizers``) and buffers in ``_build``, and implements one training iteration in
``_learn_iteration`` (with the shared loops of :mod:`ballast.algos.on_policy` and
:mod:`ballast.algos.off_policy`). Nothing else is inherited: rollouts, returns and losses are
separate components and pure functions; checkpoint I/O is :mod:`ballast.algos.checkpointing`;
the fast gradient path is :mod:`ballast.algos.fast_path`.
"""

from __future__ import annotations

import functools
import sys
import time
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, TypeVar

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import VectorEnv
from torch import nn

from ballast.algos import checkpointing, fast_path, validation
from ballast.algos.hyperparameters import add_config_properties
from ballast.algos.optimizers import Optimizers
from ballast.algos.protocols import CollectionState
from ballast.callbacks import BaseCallback, as_callback
from ballast.checkpoint import Checkpoint
from ballast.device import resolve_device
from ballast.envs.adopt import adopt_env, sb3_env_of
from ballast.envs.make import EnvLike, copies_for, env_id_of
from ballast.envs.vec_normalize import VecNormalize, unwrap_vec_normalize
from ballast.errors import ConfigurationError, SpaceMismatchError
from ballast.extensions import AuxModule, Extensions, ExtraLoss
from ballast.logger import Logger, latest_run_id
from ballast.policies import ActorCriticPolicy, PolicyConfig
from ballast.policies.config import POLICY_NAMES, check_policy_fits_space
from ballast.policies.normalize import RewardNormalizer
from ballast.policies.sb3_arguments import is_ballast_policy_class, split_policy_kwargs
from ballast.ragged import collate
from ballast.registry import ALGORITHMS
from ballast.residual.actions import (
    ResidualActions,
    ResidualOptions,
    check_residual_action_space,
    check_residual_observation_space,
)
from ballast.residual.bases import as_base_policy
from ballast.schedules import Schedule
from ballast.seeding import TorchStream, draw_seed
from ballast.spaces import (
    check_action_space,
    check_observation_space,
    is_image_space,
    same_kind,
    spaces_equal,
)
from ballast.transfer import (
    check_action_bounds,
    describe_difference,
    mismatch_error,
    size_mismatches,
)

__all__ = ["ALGORITHMS", "Algorithm", "auto_policy_name", "check_action_bounds", "in_own_stream", "load",
           "obs_to_tensor", "resolve_device"]


def obs_to_tensor(obs: Any, device: torch.device, space: spaces.Space | None = None) -> Any:
    """NumPy observations (or a dict of them) as tensors on ``device``, without copies on CPU; graphs
    and sets (tuples of items) as a :class:`~ballast.ragged.GraphBatch` or :class:`~ballast.ragged.SetBatch`."""
    if space is not None or isinstance(obs, (tuple, list)):
        return collate(space, obs, device)
    if isinstance(obs, dict):
        return {k: torch.as_tensor(np.asarray(v), device=device) for k, v in obs.items()}
    return torch.as_tensor(np.asarray(obs), device=device)


Method = TypeVar("Method", bound=Any)


def in_own_stream(method: Method) -> Method:
    """Run a model method with the model's torch stream as torch's default generator (one swap per
    call; see :class:`ballast.seeding.TorchStream`), so that its draws neither take from nor change
    the process's global stream."""
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self.torch_stream:
            return method(self, *args, **kwargs)
    return wrapper  # type: ignore[return-value]


def auto_policy_name(observation_space: spaces.Space) -> str:
    """The SB3 policy name that fits the observation space."""
    if isinstance(observation_space, spaces.Dict):
        return "MultiInputPolicy"
    if is_image_space(observation_space):
        return "CnnPolicy"
    return "MlpPolicy"


class Algorithm:
    """Base of all algorithms; see the module docstring."""

    algorithm_name: ClassVar[str] = ""
    config_class: ClassVar[type] = object
    supported_action_spaces: ClassVar[tuple[type, ...]] = ()
    default_policy_class: ClassVar[type[nn.Module]] = ActorCriticPolicy
    #: The losses an extra loss may join (``ballast.extensions.adds_to``), the default first.
    extendable_losses: ClassVar[tuple[str, ...]] = ("loss",)
    #: The methods that define the losses: a subclass that overrides one of them trains with autograd
    #: (the fast path computes the losses as these methods define them; see ``ballast.algos.fast_path``).
    loss_methods: ClassVar[tuple[str, ...]] = ()
    #: Configuration fields that are instance attributes of another meaning (SAC's ``action_noise`` is
    #: the noise object, its ``target_entropy`` the number): no SB3 attribute is made for them.
    config_attributes: ClassVar[tuple[str, ...]] = ()
    #: Hyperparameters that cannot change once the model is built, and why (see ``ballast.algos.hyperparameters``).
    fixed_hyperparameters: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Only a class that names itself registers: a user subclass of PPO must not replace "ppo".
        if "algorithm_name" in cls.__dict__ and cls.algorithm_name:
            ALGORITHMS[cls.algorithm_name] = cls
        if "config_class" in cls.__dict__:
            add_config_properties(cls)

    @property
    def lr_schedule(self) -> Schedule:
        """SB3's ``lr_schedule``: the learning rate as a function of the remaining progress (1 -> 0).
        Setting it sets ``learning_rate`` (a number or a schedule), which the next updates follow."""
        return self.config.learning_rate

    @lr_schedule.setter
    def lr_schedule(self, value: Any) -> None:
        self.learning_rate = value

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
        frame_stack: int | None = None,
        observation_space: spaces.Space | None = None,
        action_space: spaces.Space | None = None,
        aux_modules: Mapping[str, AuxModule] | None = None,
        extra_losses: Iterable[ExtraLoss] | None = None,
        residual: ResidualOptions | None = None,
        stats_window_size: int = 100,
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
        validation.check_n_envs(n_envs)
        self.n_envs = n_envs
        adopted = adopt_env(env, n_envs, seed=seed, vectorization=vectorization, env_kwargs=env_kwargs,
                            frame_stack=frame_stack)
        if adopted.vector_env is not None:
            self.env = adopted.vector_env
            self.n_envs = self.env.num_envs
            observation_space = self.env.single_observation_space
            action_space = self.env.single_action_space
        if observation_space is None or action_space is None:
            raise ConfigurationError("give an env, or both observation_space and action_space")
        check_observation_space(observation_space)
        check_action_space(action_space, self.supported_action_spaces, self.algorithm_name.upper())
        validation.check_env_settings(config, self.algorithm_name, self.n_envs, action_space)
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
        # Everything built from here on (initial weights, gSDE noise) draws from the model's own stream.
        with self.torch_stream:
            self.policy_kwargs = dict(policy_kwargs or {})
            normalize_observations, normalize_rewards = adopted.normalization_flags(normalize_observations,
                                                                                    normalize_rewards)
            self.policy = self._make_policy(policy, normalize_observations).to(self.device)
            # Aux modules draw their initial weights from a stream of their own, so adding one leaves
            # every other random draw of a seeded run unchanged.
            with torch.random.fork_rng(devices=[], enabled=seed is not None):
                if seed is not None:
                    torch.manual_seed(seed + 1)
                self.extensions = Extensions(aux_modules, extra_losses, self.device, losses=self.extendable_losses)
            self.aux_modules = self.extensions.modules
            self.optimizers = Optimizers()
            #: Whether updates may take the fast path; ``model.fast_path`` says whether they do, and why not.
            self.use_fast_path = True
            self._fast_path_reported = False
            self._callback: BaseCallback | None = None
            self.stop_requested = False
            self.reward_normalizer = (RewardNormalizer(self.n_envs, getattr(config, "gamma", 0.99)).to(self.device)
                                      if normalize_rewards else None)
            adopted.bind(self)
            self.num_timesteps = 0
            self.total_timesteps = 0
            self.n_updates = 0
            self.iteration = 0
            self.progress_remaining = 1.0
            self.collection = CollectionState()
            if stats_window_size < 1:
                raise ConfigurationError(f"stats_window_size must be at least 1, got {stats_window_size}")
            self.stats_window_size = int(stats_window_size)
            self.ep_info_buffer: deque[dict[str, float]] = deque(maxlen=self.stats_window_size)
            self.ep_success_buffer: deque[float] = deque(maxlen=self.stats_window_size)
            self.start_time = time.time_ns()
            self.episode_count = 0
            self._num_timesteps_at_start = 0
            self.logger = Logger(verbose=verbose)
            self._custom_logger = False
            self._build()
            self.extensions.build_own_optimizers(self.optimizers)

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
            self.policy_config_kwargs, self.policy_constructor_kwargs = {}, dict(
                getattr(policy, "constructor_kwargs", {}))
            self.policy_config = getattr(policy, "config", PolicyConfig())
            return policy
        policy_class: type[nn.Module] = self.default_policy_class
        name = policy
        if isinstance(policy, type):
            # SB3's CnnPolicy and MultiInputPolicy classes name their default encoder; others follow the space.
            policy_class, name = policy, getattr(policy, "default_policy_name", "MlpPolicy")
            name = "auto" if name == "MlpPolicy" else name
        if name == "auto":
            name = auto_policy_name(self.observation_space)
        if name not in POLICY_NAMES:
            raise ConfigurationError(f"unknown policy {policy!r}; use one of {list(POLICY_NAMES)}, 'auto', or a module")
        self.policy_name, self.policy_class = name, policy_class
        self.policy_config_kwargs, self.policy_constructor_kwargs = split_policy_kwargs(
            self.policy_kwargs, self.algorithm_name, policy_class, is_ballast_policy_class(policy_class))
        self.policy_config = PolicyConfig.from_policy_kwargs(name, self.policy_config_kwargs,
                                                             algorithm=self.algorithm_name)
        check_policy_fits_space(name, self.observation_space, self.policy_config)
        return self._policy_from_config(normalize_observations)

    def _policy_from_config(self, normalize_observations: bool) -> nn.Module:
        return self._build_policy(self.observation_space, self.action_space, normalize_observations)

    def _build_policy(self, observation_space: spaces.Space, action_space: spaces.Space,
                      normalize_observations: bool) -> nn.Module:
        """A policy of this model's class and configuration for the given spaces."""
        residual = {} if self.residual_actions is None else {"residual": self.residual_actions}
        try:
            policy = self.policy_class(
                observation_space, action_space, self.lr_schedule, policy_name=self.policy_name,
                config=self.policy_config, use_sde=getattr(self.config, "use_sde", False),
                normalize_observations=normalize_observations, **residual, **self.policy_constructor_kwargs,
            )
        except TypeError as err:
            if not self.policy_constructor_kwargs or "unexpected keyword argument" not in str(err):
                raise
            raise ConfigurationError(
                f"{self.policy_class.__name__} was given policy_kwargs {sorted(self.policy_constructor_kwargs)} "
                f"that it passes on to a class that does not take them ({err})") from err
        policy.constructor_kwargs = dict(self.policy_constructor_kwargs)
        return policy

    def _actor_frozen(self) -> bool:
        """True during a residual agent's critic warm-up: only the critic (value function) is trained."""
        options = self.residual_options
        return options is not None and self.num_timesteps < options.critic_warmup_steps

    def _build(self) -> None:
        """Create optimizers (registered in ``self.optimizers``) and buffers (subclasses)."""
        raise NotImplementedError

    def _trainable_parameters(self) -> list[nn.Parameter]:
        """The policy's parameters and those of the aux modules trained with the main optimizer."""
        return [*self.policy.parameters(), *self.extensions.shared_parameters()]

    def set_random_seed(self, seed: int | None) -> None:
        """Seed the model's own generators: its torch stream (initial weights, action sampling, gSDE
        and target-policy noise; see :class:`ballast.seeding.TorchStream`), the shuffling and replay
        generator, the NumPy generator (warm-up actions, epsilon-greedy, NumPy sampling), and the
        action space, as SB3 does. The process's global generators are left alone; with ``seed=None``
        the torch stream's seed is drawn from torch's global generator, so ``torch.manual_seed``
        before building a model still fixes it."""
        stream_seed = draw_seed() if seed is None else seed
        if hasattr(self, "torch_stream"):
            self.torch_stream.manual_seed(stream_seed)
        else:
            self.torch_stream = TorchStream(stream_seed, self.device)
        self.generator = torch.Generator()
        self.np_rng = np.random.default_rng(seed)
        if seed is None:
            self.generator.seed()
            return
        self.generator.manual_seed(seed)
        self.action_space.seed(seed)

    # --- the fast path ---------------------------------------------------------------------
    @property
    def fast_path(self) -> fast_path.FastPathStatus:
        """Whether updates take the fast gradient path (:mod:`ballast.algos.fast_path`), and why not."""
        return fast_path.status(self)

    def _fast_update(self) -> Any:
        """The algorithm's fast update when the fast path applies, else None (built once per policy)."""
        return fast_path.fast_update(self)

    def _build_fast_update(self) -> Any:
        """The algorithm's fast update object for its current policy (subclasses that have one)."""
        return None

    def _fast_path_structure(self) -> str | None:
        """Why this model's networks are not those the fast update handles, or None (subclasses)."""
        return f"{self.algorithm_name.upper()} has no fast update"

    # --- env -----------------------------------------------------------------------------
    def get_env(self) -> Any:
        """SB3's VecEnv API over ``self.env`` (the Gymnasium vector env the model steps); see ``ballast.envs.adopt``."""
        return sb3_env_of(self)

    def get_vec_normalize_env(self) -> VecNormalize | None:
        """The ``VecNormalize`` wrapper of the SB3-API env the model was given (or set), else None, as SB3's.

        Its statistics are the model's own (the model normalises inside the policy), so its ``save``
        writes what the model uses; a model made with ``normalize_observations=True`` and no wrapper
        has None here, and saves its statistics with itself.
        """
        return unwrap_vec_normalize(self.get_env())

    def set_env(self, env: EnvLike, force_reset: bool = True) -> None:
        """Train or evaluate on another env with the same spaces, or spaces of other sizes when the
        model's layers do not depend on them (see :mod:`ballast.transfer`)."""
        adopted = adopt_env(env, copies_for(env, self.n_envs), seed=None, vectorization=self.vectorization,
                            env_kwargs=self.env_kwargs if isinstance(env, str) else None, saved=self.env_settings)
        vec = adopted.vector_env
        resized = self._check_spaces(vec.single_observation_space, vec.single_action_space)
        self.env = vec
        adopted.bind(self)
        if vec.num_envs != self.n_envs or resized:
            self.n_envs = vec.num_envs
            if self.reward_normalizer is not None:
                self.reward_normalizer.resize(self.n_envs)
            self._on_n_envs_changed()
        if force_reset:
            self.collection.observations = None

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
            probe = self._build_policy(observation_space, action_space,
                                       getattr(self.policy, "normalizer", None) is not None).to(self.device)
        lines = size_mismatches(self.policy.state_dict(), probe)
        if lines:
            raise mismatch_error(describe_difference(self.observation_space, self.action_space, observation_space,
                                                     action_space), lines)
        self.policy.action_adapter = probe.action_adapter  # the new action bounds
        self.observation_space, self.action_space = observation_space, action_space
        self.policy.observation_space, self.policy.action_space = observation_space, action_space
        return True

    # --- acting ----------------------------------------------------------------------------
    @in_own_stream
    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
        action_masks: Any = None,
        *,
        check_finite: bool = True,
    ) -> tuple[np.ndarray, Any]:
        """The env action(s) for one observation or a batch; returns ``(action, state)`` as in SB3.

        The policy's :meth:`~ballast.policies.base.BasePolicy.predict`: observation normalisation runs
        with frozen statistics, the policy in eval mode; a wrong shape, or Gymnasium's ``(obs, info)``
        pair, raises :class:`ballast.errors.ObservationError` saying what was expected. Actions have
        the action space's dtype. ``action_masks`` (one mask for one observation, one per
        observation for a batch; see :mod:`ballast.masking`) restricts the actions to the valid
        ones, as sb3-contrib's MaskablePPO. A NaN or infinite observation, or a Discrete entry out
        of range, raises ``ObservationError`` too; ``check_finite=False`` skips the first check.
        """
        return self.policy.predict(observation, state, episode_start, deterministic, action_masks,
                                   check_finite=check_finite)

    @in_own_stream
    def residual_correction(self, observation: Any, deterministic: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """A residual model's ``(base actions, learned correction)`` for one observation or a batch, in
        env units: the action ``predict`` gives is ``clip(base + correction)`` to the action space's
        bounds. Raises :class:`ConfigurationError` for a model without ``base_policy``."""
        policy, residual = self.policy, getattr(self.policy, "residual", None)
        if residual is None:
            raise ConfigurationError(f"this {type(self).__name__} has no base_policy, so its actions have no "
                                     "residual part; use predict")
        obs, batched = policy.obs_to_tensor(observation)
        policy.set_training_mode(False)
        with torch.inference_mode():
            base = residual.base_actions(obs)
            correction = residual.correction(policy.residual_output(obs, base, deterministic))
        shape = (-1, *self.action_space.shape)
        base_np, correction_np = (t.cpu().numpy().reshape(shape) for t in (base, correction))
        return (base_np, correction_np) if batched else (base_np[0], correction_np[0])

    # --- training loop ---------------------------------------------------------------------
    @in_own_stream
    def learn(
        self,
        total_timesteps: int,
        callback: BaseCallback | Any = None,
        log_interval: int | None = 1,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> Algorithm:
        """Train for ``total_timesteps`` env steps (more, when not resetting the counters) and return self.

        As SB3's: the logger is dumped every ``log_interval`` iterations (an on-policy rollout and its
        update; for off-policy algorithms, collection until an episode ended), never with
        ``log_interval=None``; and once more at the end for the records of an unfinished interval,
        so that the last updates' numbers are not lost. With ``tensorboard_log`` set and no logger of the user's
        (:meth:`set_logger`), each call with ``reset_num_timesteps=True`` writes a new run folder
        ``<tb_log_name>_<n>`` there, and a call that continues (``False``) goes on in the latest one.
        """
        if self.env is None:
            raise ConfigurationError("this model has no env: pass env= when loading or call model.set_env(env)")
        self._rehome_parameters()
        self.start_time = time.time_ns()
        if reset_num_timesteps:
            self.num_timesteps = 0
            self.iteration = 0
            self.episode_count = 0
            self.total_timesteps = int(total_timesteps)
        else:
            self.total_timesteps = int(total_timesteps) + self.num_timesteps
        self._num_timesteps_at_start = self.num_timesteps
        if reset_num_timesteps or self.collection.observations is None:
            self._reset_env()
        if self.tensorboard_log is not None and not self._custom_logger:
            self._open_run_folder(tb_log_name or self.algorithm_name.upper(), new_run=reset_num_timesteps)
        self._report_fast_path()
        callback = as_callback(callback, progress_bar)
        callback.init_callback(self)
        self._callback, self.stop_requested = callback, False
        callback.on_training_start(locals())
        logging = log_interval is not None and log_interval > 0
        dumped_at = -1
        while self.num_timesteps < self.total_timesteps:
            if not self._learn_iteration(callback) or self.stop_requested:
                break
            if logging and self.iteration % log_interval == 0:
                self.dump_logs()
                dumped_at = self.num_timesteps
        if logging and dumped_at != self.num_timesteps:  # the last, unfinished interval's records
            self.dump_logs()
        callback.on_training_end()
        self._callback = None
        return self

    def _rehome_parameters(self) -> None:
        """Parameters given new tensors since the last call (torch's ``vector_to_parameters`` assigns
        ``param.data``) become views of the flat tensors the optimizers step again, keeping their new
        values (:func:`ballast.optim.rehome_views`); off-policy models re-home their targets too."""
        self.optimizers.rehome_parameters()

    def _report_fast_path(self) -> None:
        """Say once, at the first ``learn`` with ``verbose >= 1``, whether the fast path runs and why not."""
        if self._fast_path_reported or self.verbose < 1:
            return
        self._fast_path_reported = True
        self.logger.info(f"{self.algorithm_name.upper()}: {self.fast_path}")

    def set_logger(self, logger: Logger) -> None:
        """Write this model's logs with ``logger`` (e.g. from :func:`ballast.logger.configure`), as SB3's:
        ``learn`` then keeps it and opens no TensorBoard run folder of its own."""
        self.logger = logger
        self._custom_logger = True

    def _open_run_folder(self, run: str, new_run: bool) -> None:
        """Log to ``tensorboard_log/<run>_<n>``: a new ``n`` for a new run, else the latest one."""
        latest = latest_run_id(self.tensorboard_log, run)
        folder = Path(self.tensorboard_log) / f"{run}_{latest + 1 if new_run or latest == 0 else latest}"
        if self.logger.folder == folder:
            return
        self.logger.close()
        self.logger = Logger(folder, verbose=self.verbose, tensorboard=True)

    # --- update hooks (see BaseCallback) ------------------------------------------------------
    def _hook(self, name: str, *args: Any) -> bool:
        """Call the callback's update hook ``name``; a False answer stops training after this step."""
        if self._callback is None:
            return True
        go_on = getattr(self._callback, name)(*args)
        if not go_on:
            self.stop_requested = True
        return go_on

    def _reset_env(self) -> None:
        observations, infos = self.env.reset(seed=self.seed)
        self.collection.reset(observations, infos, self.n_envs)

    def _learn_iteration(self, callback: BaseCallback) -> bool:
        """Collect data and update once; return False to stop (subclasses)."""
        raise NotImplementedError

    def update_progress(self) -> None:
        """The remaining progress (1 -> 0) that schedules read, from the step count."""
        self.progress_remaining = max(0.0, 1.0 - self.num_timesteps / max(self.total_timesteps, 1))

    def dump_logs(self, iteration: int = 0) -> None:
        """SB3's ``dump_logs``: record the rollout and time statistics and write every log now (``learn``
        calls it every ``log_interval`` iterations). ``iteration``, SB3's on-policy argument, is logged as
        ``time/iterations`` when given (else the model's own count)."""
        self._log_rollout_stats()
        if iteration:
            self.logger.record("time/iterations", iteration, exclude="tensorboard")
        self.logger.dump(self.num_timesteps)

    def _log_rollout_stats(self) -> None:
        if self.ep_info_buffer:
            self.logger.record("rollout/ep_rew_mean", float(np.mean([info["r"] for info in self.ep_info_buffer])))
            self.logger.record("rollout/ep_len_mean", float(np.mean([info["l"] for info in self.ep_info_buffer])))
        if self.ep_success_buffer:
            self.logger.record("rollout/success_rate", float(np.mean(self.ep_success_buffer)))
        self.logger.record("time/iterations", self.iteration, exclude="tensorboard")
        seconds = max((time.time_ns() - self.start_time) / 1e9, sys.float_info.epsilon)
        self.logger.record("time/fps", int((self.num_timesteps - self._num_timesteps_at_start) / seconds))
        self.logger.record("time/time_elapsed", int(seconds), exclude="tensorboard")
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")

    # --- SB3's names for the counters ----------------------------------------------------------
    @property
    def _n_updates(self) -> int:
        return self.n_updates

    @_n_updates.setter
    def _n_updates(self, value: int) -> None:
        self.n_updates = value

    @property
    def _current_progress_remaining(self) -> float:
        return self.progress_remaining

    @property
    def _total_timesteps(self) -> int:
        return self.total_timesteps

    @property
    def _last_obs(self) -> Any:
        return self.collection.observations

    @property
    def _episode_num(self) -> int:
        return self.episode_count

    # --- export ----------------------------------------------------------------------------
    def export(self, out_dir: str | Path, format: str = "onnx", *, opset: int = 17, check: bool = True,
               function_name: str = "policy_step", include_value: bool = False, action_masks: bool = False) -> Path:
        """Export the whole observation-to-action path (see :func:`ballast.export.export_model`)."""
        from ballast.export import export_model

        return export_model(self, out_dir, format=format, opset=opset, check=check, function_name=function_name,
                            include_value=include_value, action_masks=action_masks)

    # --- save / load (ballast.algos.checkpointing) ----------------------------------------------
    def _config_to_json(self) -> dict[str, Any]:
        """The hyperparameters as the checkpoint records them (a subclass that fixes some leaves them out)."""
        return checkpointing.config_to_json(self)

    def _extra_state(self) -> dict[str, Any]:
        """JSON state of the algorithm besides counters, RNGs and optimizers (subclasses)."""
        return {}

    def _extra_tensors(self) -> dict[str, dict[str, torch.Tensor]]:
        """Tensor groups of the algorithm besides the policy and the optimizers (subclasses)."""
        return {}

    def _load_extra(self, checkpoint: Checkpoint) -> None:
        """Restore what :meth:`_extra_state` and :meth:`_extra_tensors` saved (subclasses)."""

    def save(self, path: str | Path | BinaryIO, exclude: Iterable[str] | None = None,
             include: Iterable[str] | None = None, *, include_replay_buffer: bool = False) -> Path | None:
        """Write one safe checkpoint file (see :mod:`ballast.checkpoint`), to a path or into a binary
        file object; returns the path written (None for a file object).

        The file holds what decides the model's actions and continues its training (see
        :mod:`ballast.algos.checkpointing`). SB3's ``exclude`` and ``include`` name attributes:
        ``include=["replay_buffer"]`` (or ``include_replay_buffer=True``) stores the replay buffer
        too, so that resumed training samples the same data; ``exclude`` may name the optimizers'
        states (``"optimizers"``), which are then left out (a loaded model starts them afresh), and
        attributes a Ballast file never holds (the env, the logger); anything else raises, since
        loading needs it.
        """
        return checkpointing.save(self, path, exclude=exclude, include=include,
                                  include_replay_buffer=include_replay_buffer)

    def to_checkpoint(self, include_replay_buffer: bool = False) -> Checkpoint:
        """Everything :meth:`save` writes, in memory."""
        return checkpointing.to_checkpoint(self, include_replay_buffer)

    @classmethod
    def load(cls, path: str | Path | BinaryIO, env: EnvLike | None = None, device: str | torch.device = "auto",
             custom_objects: dict[str, Any] | None = None, print_system_info: bool = False, force_reset: bool = True,
             **kwargs: Any) -> Algorithm:
        """Load a checkpoint written by :meth:`save` (a path or a binary file object), as SB3's ``load``.

        ``env`` must have the saved spaces (or spaces that differ in sizes only, see
        :mod:`ballast.transfer`). ``kwargs`` and ``custom_objects`` replace saved hyperparameters
        (``learning_rate=1e-4``; SB3's ``lr_schedule`` and ``clip_range`` callables too); an unknown
        keyword is a ``TypeError`` naming it. ``print_system_info`` prints the versions that saved the
        file and those loading it. ``force_reset`` is accepted for SB3's scripts: a Ballast model always
        resets an env before it steps it after loading. Auxiliary modules are rebuilt from the file;
        extra losses are imported by the names saved, or taken from ``extra_losses=[...]``. A residual
        model's base is rebuilt from the file (a Ballast or ONNX base) or imported by its saved path
        (a callable); ``base_policy=fn`` passes a callable base explicitly instead.
        """
        return checkpointing.load(cls, path, env=env, device=device, custom_objects=custom_objects,
                                  print_system_info=print_system_info, overrides=kwargs)

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint, env: EnvLike | None = None, device: str | torch.device = "auto",
                        source: str = "the checkpoint", **overrides: Any) -> Algorithm:
        """Build the model a :class:`Checkpoint` (read from a file or from memory) describes; see :meth:`load`."""
        return checkpointing.from_checkpoint(cls, checkpoint, env=env, device=device, source=source,
                                             overrides=overrides)

    def get_parameters(self) -> dict[str, dict[str, Any]]:
        """SB3's ``get_parameters``: the state dicts of the policy (``"policy"``) and of each optimizer
        under SB3's name for it (``"policy.optimizer"``, ``"actor.optimizer"``, ``"critic.optimizer"``,
        ``"ent_coef_optimizer"``)."""
        return checkpointing.get_parameters(self)

    def set_parameters(self, load_path_or_dict: str | Path | BinaryIO | dict[str, dict[str, Any]],
                       exact_match: bool = True, device: str | torch.device = "auto") -> None:
        """SB3's ``set_parameters``: load the policy's weights (and the optimizers' states) from a dict
        like :meth:`get_parameters`' or from a saved Ballast model (an SB3 file is refused with a
        pointer to ``ballast.import_sb3``). With ``exact_match`` every entry of :meth:`get_parameters`
        must be given."""
        checkpointing.set_parameters(self, load_path_or_dict, exact_match=exact_match, device=device)

def load(path: str | Path | BinaryIO, env: EnvLike | None = None, device: str | torch.device = "auto",
         base_policy: Any = None) -> Algorithm:
    """Load any Ballast checkpoint; the algorithm is read from the file. ``base_policy`` gives a
    residual model's callable base explicitly (see :meth:`Algorithm.load`)."""
    if base_policy is not None:
        return Algorithm.load(path, env=env, device=device, base_policy=base_policy)
    return Algorithm.load(path, env=env, device=device)
