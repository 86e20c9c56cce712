"""What every Ballast policy offers SB3's way: ``predict`` on NumPy observations, ``save``/``load``
in the safe format, ``device``, ``set_training_mode``, ``optimizer`` (the one the algorithm steps),
and the action (un)scaling of Box spaces.

A policy acts through one override point: ``forward(obs, deterministic)`` on (normalised)
observations. ``predict``, ``evaluate_policy``, export and the training rollouts all call it (the
rollouts' faster NumPy path steps aside for a subclass that overrides ``forward``), so a policy
subclass acts the same in ``learn`` and ``predict``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from ballast.errors import CheckpointError, ConfigurationError, ObservationError
from ballast.import_path import import_path
from ballast.policies.modes import set_training_mode
from ballast.policies.optimizer_handle import OptimizerHandle
from ballast.ragged import collate
from ballast.spaces import batch_observation, check_observation_values


class BasePolicy(OptimizerHandle, nn.Module):
    """The base of Ballast's policies (see the module docstring); subclasses build the networks."""

    #: Whether ``forward`` and ``act`` take ``action_masks`` (PPO's and A2C's actor-critic).
    supports_action_masks: ClassVar[bool] = False
    #: The SB3 policy name whose default encoder a policy built without one uses (SB3's
    #: ``CnnPolicy`` classes: ``"CnnPolicy"``, the NatureCNN).
    default_policy_name: ClassVar[str] = "MlpPolicy"
    #: SB3's options of the default Adam of a policy built alone (see ``optimizer``).
    default_optimizer_kwargs: ClassVar[dict[str, Any]] = {}
    observation_space: spaces.Space
    action_space: spaces.Space

    @property
    def device(self) -> torch.device:
        """The device of the policy's parameters (the CPU when it has none), as SB3's ``policy.device``."""
        for parameter in self.parameters():
            return parameter.device
        return torch.device("cpu")

    def optimized_networks(self) -> list[tuple[nn.Module, Any]]:
        """The networks SB3's policy gives an optimizer of their own, with the parameters it steps:
        the whole policy here (SAC and TD3: the actor and the critic; DQN: ``q_net``'s)."""
        return [(self, self.parameters())]

    def _standalone_optimizer(self) -> Any:
        return self.own_optimizer(self)

    def own_optimizer(self, network: nn.Module) -> Any:
        """SB3's optimizer of ``network`` (see :meth:`optimized_networks`) for a policy built alone
        with an ``lr_schedule``: ``optimizer_class`` (Adam by default) at ``lr_schedule(1)``, built
        once when first asked for; None for a network that has none or a policy without a schedule."""
        schedule = getattr(self, "lr_schedule", None)
        parameters = next((params for net, params in self.optimized_networks() if net is network), None)
        if schedule is None or parameters is None:
            return None
        built = self.__dict__.setdefault("_own_optimizers", {})
        if id(network) not in built:
            config = self.config
            cls = torch.optim.Adam if config.optimizer_class is None else import_path(config.optimizer_class)
            options = dict(config.optimizer_kwargs or self.default_optimizer_kwargs)
            built[id(network)] = cls(parameters, lr=schedule(1.0), **options)
        return built[id(network)]

    def set_training_mode(self, mode: bool) -> None:
        """Train (``True``) or eval mode, as SB3's; see :mod:`ballast.policies.modes`."""
        set_training_mode(self, mode)

    def parameters_to_vector(self) -> np.ndarray:
        """Every parameter of the policy, flattened into one 1-D array in ``parameters()`` order (SB3's)."""
        return torch.nn.utils.parameters_to_vector(self.parameters()).detach().cpu().numpy()

    def load_from_vector(self, vector: np.ndarray) -> None:
        """Set every parameter from a 1-D array of :meth:`parameters_to_vector`'s layout (SB3's).

        The values are copied into the parameters' own tensors (where torch's ``vector_to_parameters``
        gives them new ones), so the model's optimizers go on stepping them. A vector of another
        length raises :class:`ballast.errors.ConfigurationError` naming both lengths."""
        parameters = list(self.parameters())
        values = torch.as_tensor(np.asarray(vector), dtype=torch.float32).reshape(-1)
        expected = sum(p.numel() for p in parameters)
        if values.numel() != expected:
            raise ConfigurationError(f"load_from_vector: the policy has {expected} parameter values, the vector "
                                     f"{values.numel()}; pass the array parameters_to_vector() returns")
        offset = 0
        with torch.no_grad():
            for p in parameters:
                p.copy_(values[offset:offset + p.numel()].view_as(p))
                offset += p.numel()

    # --- observations -----------------------------------------------------------------------------
    def normalize(self, obs: Any) -> Any:
        """Apply the running observation normalisation (identity when it is off); a residual
        policy also appends the base's action (see :mod:`ballast.residual.actions`)."""
        return self.normalize_with_base(obs)[0]

    def normalize_with_base(self, obs: Any) -> tuple[Any, torch.Tensor | None]:
        """``(network observation, base env actions)`` for raw observations (no base: ``None``)."""
        normalizer = getattr(self, "normalizer", None)
        normalized = obs if normalizer is None else normalizer(obs)
        residual = getattr(self, "residual", None)
        if residual is None:
            return normalized, None
        return residual.prepare(obs, normalized)

    # --- acting on NumPy observations -----------------------------------------------------------
    def is_vectorized_observation(self, observation: Any) -> bool:
        """Whether ``observation`` is a batch (True) or one observation of the policy's space."""
        return batch_observation(self.observation_space, observation)[1]

    def obs_to_tensor(self, observation: Any, *, check_finite: bool = True) -> tuple[Any, bool]:
        """``(observation as a batch of tensors on the policy's device, whether it was a batch)``;
        a wrong shape, a value the space does not hold (a Discrete entry out of range) or, unless
        ``check_finite=False``, a NaN or infinite value raises :class:`ballast.errors.ObservationError`."""
        check_not_reset_result(observation, self.observation_space)
        batch, batched = batch_observation(self.observation_space, observation)
        check_observation_values(self.observation_space, batch, check_finite=check_finite)
        return collate(self.observation_space, batch, self.device), batched

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = False,
                action_masks: Any = None, *, check_finite: bool = True) -> tuple[np.ndarray, Any]:
        """The env action(s) for one observation or a batch, as SB3's ``policy.predict``: returns
        ``(action, state)`` with ``state`` unchanged (no recurrent state). Actions are in the env's
        action space with its dtype (float64 Box actions are float64). The policy acts in eval mode
        (dropout off, batch statistics untouched), with its normalisation statistics frozen.
        Observations are checked first (see :meth:`obs_to_tensor`); ``check_finite=False`` skips the
        check for NaN and infinite values, for speed."""
        obs, batched = self.obs_to_tensor(observation, check_finite=check_finite)
        masks = None
        if action_masks is not None:
            masks = self._mask_tensor(action_masks, obs, batched)
        self.set_training_mode(False)
        with torch.inference_mode():
            if masks is None:
                actions = self.act(obs, deterministic=deterministic)
            else:
                actions = self.act(obs, deterministic=deterministic, action_masks=masks)
        actions = self.actions_to_numpy(actions)
        if not batched:  # SB3's squeeze: one Discrete action is a 0-d array, not a NumPy scalar
            actions = actions.squeeze(axis=0) if isinstance(actions, np.ndarray) else actions[0]
        return actions, state

    def actions_to_numpy(self, actions: Any) -> np.ndarray:
        """Env actions (a tensor batch) as NumPy, with the action space's dtype for Box spaces."""
        array = actions.cpu().numpy()  # a tensor, or per-node actions (a SetBatch: one array per graph)
        space = self.action_space
        if isinstance(space, spaces.Box) and isinstance(array, np.ndarray) and array.dtype != space.dtype:
            array = array.astype(space.dtype)
        return array

    def _mask_tensor(self, action_masks: Any, obs: Any, batched: bool) -> Any:
        """``action_masks`` checked against the action space and the batch size, as tensors."""
        from ballast.errors import ConfigurationError
        from ballast.masking import mask_rule

        if not self.supports_action_masks:
            raise ConfigurationError(
                f"the policy {type(self).__name__} does not take action masks; masking is supported by PPO and A2C")
        rows = len(next(iter(obs.values()))) if isinstance(obs, dict) else _batch_rows(obs)
        rule = mask_rule(self.action_space)
        masks = rule.check(self.action_space, action_masks if batched else [action_masks], rows, None)
        return rule.to_tensor(masks, self.device)

    # --- Box actions: the policy's [-1, 1] and the env's bounds ----------------------------------------
    def scale_action(self, action: np.ndarray) -> np.ndarray:
        """Env actions in ``[low, high]`` to ``[-1, 1]``: ``2 (a - low) / (high - low) - 1`` (SB3's)."""
        low, high = self._box_bounds()
        return 2.0 * ((np.asarray(action) - low) / (high - low)) - 1.0

    def unscale_action(self, scaled_action: np.ndarray) -> np.ndarray:
        """``[-1, 1]`` to the env's ``[low, high]``: ``low + (a + 1) (high - low) / 2`` (SB3's)."""
        low, high = self._box_bounds()
        return low + 0.5 * (np.asarray(scaled_action) + 1.0) * (high - low)

    def _box_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(self.action_space, spaces.Box):
            raise TypeError(f"scale_action needs a Box action space, not {self.action_space}")
        return self.action_space.low, self.action_space.high

    # --- the safe format ------------------------------------------------------------------------
    def save(self, path: str | Path | BinaryIO) -> Path | None:
        """Write the policy (its class, configuration, spaces and tensors) as one safe file (JSON and
        safetensors in a zip, atomically); :meth:`load` rebuilds it. Returns the path written."""
        from ballast.policies.persistence import save_policy

        return save_policy(self, path)

    @classmethod
    def load(cls, path: str | Path | BinaryIO, device: str | torch.device = "auto") -> BasePolicy:
        """The policy saved by :meth:`save`, or the policy of a model saved by ``model.save``."""
        from ballast.policies.persistence import load_policy

        policy = load_policy(path, device)
        if not isinstance(policy, cls):
            raise CheckpointError(f"the file holds a {type(policy).__name__}, not a {cls.__name__}; load it with "
                                  f"{type(policy).__name__}.load or ballast.policies.BasePolicy.load")
        return policy


def _batch_rows(obs: Any) -> int:
    if isinstance(obs, torch.Tensor):
        return obs.shape[0]
    return int(obs.num_graphs) if hasattr(obs, "num_graphs") else len(obs.offsets) - 1


def check_not_reset_result(observation: Any, observation_space: spaces.Space) -> None:
    """Refuse an ``(observation, info)`` pair (what Gymnasium's ``reset`` returns) given as an observation."""
    if (isinstance(observation, tuple) and len(observation) == 2 and isinstance(observation[1], dict)
            and not isinstance(observation_space, (spaces.Tuple, spaces.Graph, spaces.Sequence))):
        raise ObservationError(
            "predict got a tuple (observation, info): Gymnasium's reset() returns both; pass the observation "
            "alone (obs, info = env.reset(); model.predict(obs)). SB3's VecEnv.reset() returns the observation only")

