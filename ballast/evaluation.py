"""``evaluate_policy``: run a model for a number of episodes and report the returns, as SB3's.

The env may be an env id, a ``gymnasium.Env``, a factory, a Gymnasium vector env or an SB3-style
``VecEnv`` (``reset()`` returning observations, ``step`` returning ``(obs, rewards, dones, infos)``
with a list of infos, ``env_method``). Two small adapters give the loop one view of both kinds of
vector env.

Episode statistics: SB3 counts an episode from its ``Monitor`` wrapper's ``info["episode"]`` when
the env has one, and warns otherwise, because wrappers that change rewards or end episodes early
(reward scaling, Atari's loss of a life) then change what is counted. Ballast uses any wrapper that
records them (``Monitor``, Gymnasium's ``RecordEpisodeStatistics``) the same way; without one it
counts the rewards the env returns. Those are the env's own when it has no wrapper that could
change them, so Ballast warns only when it has one: a wrapper other than observation and action
wrappers, ``gymnasium.make``'s own (``TimeLimit``, ``OrderEnforcing``, ``PassiveEnvChecker``) and
Ballast's :class:`~ballast.envs.ActionMasker`, :class:`~ballast.envs.ResidualActionWrapper` and
``ResetWithoutOptions`` (for envs whose ``reset`` takes no ``options``), or
copies it cannot inspect (an ``AsyncVectorEnv``'s).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import (
    AsyncVectorEnv,
    AutoresetMode,
    VectorActionWrapper,
    VectorEnv,
    VectorObservationWrapper,
    VectorWrapper,
)
from gymnasium.wrappers import OrderEnforcing, PassiveEnvChecker, RecordEpisodeStatistics, TimeLimit
from gymnasium.wrappers.vector import RecordEpisodeStatistics as VectorRecordEpisodeStatistics

from ballast.callback_locals import StepInfos
from ballast.envs.adopt import as_vector_env
from ballast.envs.check_nan import CheckNanVectorEnv
from ballast.envs.frame_stack import FrameStackVectorEnv
from ballast.envs.make import EnvLike, autoreset_mode, make_vector_env
from ballast.envs.masker import ActionMasker
from ballast.envs.monitor import MonitorVectorEnv
from ballast.envs.observation_transforms import ObservationTransformVectorEnv
from ballast.envs.reset_arguments import NextResetArguments
from ballast.envs.reset_signature import ResetWithoutOptions
from ballast.envs.residual import ResidualActionWrapper
from ballast.envs.sb3_vec_env import VecEnv as BallastVecEnv
from ballast.envs.sb3_vec_env import WrapperChain
from ballast.errors import ConfigurationError, EnvError, SpaceMismatchError
from ballast.masking import MASK_METHOD, MaskReader, mask_rule, policy_supports_masks
from ballast.node_spaces import NodeBox, NodeChoice, NodeMultiBinary
from ballast.spaces import same_kind, spaces_equal

#: The attribute by which a wrapper that records episode statistics is recognised: SB3's ``Monitor``
#: and Gymnasium's ``RecordEpisodeStatistics`` both have it.
EPISODE_STATISTICS_ATTRIBUTE = "episode_returns"

#: Wrappers that give the rewards and episode ends of the env they wrap.
REWARD_PRESERVING_WRAPPERS = (gym.ObservationWrapper, gym.ActionWrapper, TimeLimit, OrderEnforcing,
                              PassiveEnvChecker, RecordEpisodeStatistics, ActionMasker, ResidualActionWrapper,
                              WrapperChain, ResetWithoutOptions)
REWARD_PRESERVING_VECTOR_WRAPPERS = (VectorObservationWrapper, VectorActionWrapper, VectorRecordEpisodeStatistics,
                                     MonitorVectorEnv, NextResetArguments, CheckNanVectorEnv, FrameStackVectorEnv,
                                     ObservationTransformVectorEnv)

NO_MONITOR_WARNING = (
    "The evaluation env has wrappers that may change rewards or end episodes early, and records no episode "
    "statistics (no Monitor or gymnasium.wrappers.RecordEpisodeStatistics wrapper): episode returns and lengths "
    "are counted from the rewards it gives, wrappers included. Wrap the env first (innermost) with one of those, "
    "or pass warn=False."
)


def _may_change_rewards(env: Any) -> bool:
    """Whether a (single) env has a wrapper not in :data:`REWARD_PRESERVING_WRAPPERS`."""
    while isinstance(env, gym.Wrapper):
        if not isinstance(env, REWARD_PRESERVING_WRAPPERS):
            return True
        env = env.env
    return False


def is_sb3_vec_env(env: Any) -> bool:
    """Whether ``env`` follows SB3's ``VecEnv`` interface rather than Gymnasium's vector env."""
    return not isinstance(env, VectorEnv) and hasattr(env, "env_method") and hasattr(env, "num_envs")


def as_eval_env(env: EnvLike, render: bool = False, model: Any = None) -> Any:
    """The vector env to evaluate on: a Gymnasium vector env (:func:`ballast.envs.as_vector_env`, which
    re-applies the observation wrappers ``model`` keeps, e.g. its frame stacking), or an SB3-style
    ``VecEnv`` from outside Ballast, stepped through its own API. An id is built with
    ``render_mode="human"`` when ``render`` is True."""
    if is_sb3_vec_env(env) and not isinstance(env, BallastVecEnv):
        return env
    if isinstance(env, str) and render:
        env = make_vector_env(env, 1, env_kwargs={"render_mode": "human"})
    return as_vector_env(env, model)


def check_action_space(model: Any, env: Any) -> None:
    """Raise :class:`SpaceMismatchError` when ``env`` takes other actions than ``model`` gives (other
    bounds, another number of choices): its actions would be clipped or wrong without an error. Node
    action spaces may differ in their number of nodes (a graph policy acts on graphs of any size)."""
    expected = getattr(model, "action_space", None)
    given = getattr(env, "single_action_space", None) or getattr(env, "action_space", None)
    if expected is None or given is None or spaces_equal(expected, given):
        return
    if isinstance(expected, (NodeChoice, NodeBox, NodeMultiBinary)) and same_kind(expected, given):
        return
    raise SpaceMismatchError(
        f"the evaluation env's action space is {given}, but the model acts in {expected}; evaluate on the env "
        "the model was trained on (same env id and env_kwargs)")


class _GymnasiumSteps:
    """A Gymnasium vector env, stepped as SB3's VecEnv: NEXT_STEP autoreset's reset steps are marked not real."""

    def __init__(self, env: VectorEnv) -> None:
        self.env, self.num_envs = env, env.num_envs
        self.next_step_reset = autoreset_mode(env) == AutoresetMode.NEXT_STEP
        self.needs_reset = np.zeros(self.num_envs, dtype=bool)
        self.raw_infos: dict[str, Any] = {}

    def records_episodes(self) -> bool:
        env = self.env
        while isinstance(env, VectorWrapper):
            if isinstance(env, (VectorRecordEpisodeStatistics, MonitorVectorEnv)):
                return True
            env = env.env
        call = getattr(env, "call", None)
        if call is None:
            return False
        try:
            return bool(all(call("has_wrapper_attr", EPISODE_STATISTICS_ATTRIBUTE)))
        except (AttributeError, NotImplementedError):
            return False

    def may_change_rewards(self) -> bool:
        env = self.env
        while isinstance(env, VectorWrapper):
            if not isinstance(env, REWARD_PRESERVING_VECTOR_WRAPPERS):
                return True
            env = env.env
        copies = getattr(env, "envs", None)
        if copies is None:  # a batched implementation has no wrappers; an async one's copies are out of reach
            return isinstance(env, AsyncVectorEnv)
        return any(_may_change_rewards(copy) for copy in copies)

    def reset(self, seed: int | None) -> Any:
        observations, self.raw_infos = self.env.reset(seed=seed)
        self.needs_reset[:] = False
        return observations

    def step(self, actions: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray, StepInfos, np.ndarray]:
        observations, rewards, terminated, truncated, self.raw_infos = self.env.step(actions)
        real = ~self.needs_reset if self.next_step_reset else np.ones(self.num_envs, dtype=bool)
        dones = np.logical_or(terminated, truncated) & real
        if self.next_step_reset:
            self.needs_reset = dones
        infos = StepInfos(self.raw_infos, dones, terminated, truncated, observations, not self.next_step_reset)
        return observations, rewards, dones, infos, real

    def episode_statistics(self, infos: StepInfos, i: int) -> tuple[float, int] | None:
        """The env's own statistics of the episode copy ``i`` ended (a ``Monitor``'s, from the step's info,
        or its ``final_info`` with SAME_STEP autoreset), None without them."""
        episode = infos[i].get("episode")
        return None if episode is None else (float(episode["r"]), int(episode["l"]))

    def mask_reader(self, action_space: gym.Space) -> Callable[[], Any] | None:
        reader = MaskReader(self.env, action_space)
        if not reader.provides_masks(self.raw_infos):
            return None
        return lambda: reader.read(self.raw_infos, self.needs_reset if self.next_step_reset else None)

    def render(self) -> None:
        self.env.render()


class _SB3Steps:
    """An SB3-style VecEnv (it resets finished copies within the step, so every step is real)."""

    def __init__(self, env: Any) -> None:
        self.env, self.num_envs = env, env.num_envs
        self.all_real = np.ones(self.num_envs, dtype=bool)

    def records_episodes(self) -> bool:
        if getattr(self.env, EPISODE_STATISTICS_ATTRIBUTE, None) is not None:  # a VecMonitor
            return True
        try:
            return bool(all(self.env.env_method("has_wrapper_attr", EPISODE_STATISTICS_ATTRIBUTE)))
        except (AttributeError, NotImplementedError):
            return False

    def may_change_rewards(self) -> bool:
        copies = getattr(self.env, "envs", None)  # a VecEnvWrapper (VecNormalize, ...) has a venv instead
        return copies is None or any(_may_change_rewards(copy) for copy in copies)

    def reset(self, seed: int | None) -> Any:
        if seed is not None:
            self.env.seed(seed)
        return self.env.reset()

    def step(self, actions: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray, list[dict[str, Any]], np.ndarray]:
        observations, rewards, dones, infos = self.env.step(actions)
        return observations, rewards, np.asarray(dones, dtype=bool), infos, self.all_real

    def episode_statistics(self, infos: list[dict[str, Any]], i: int) -> tuple[float, int] | None:
        episode = infos[i].get("episode")
        return None if episode is None else (float(episode["r"]), int(episode["l"]))

    def mask_reader(self, action_space: gym.Space) -> Callable[[], Any] | None:
        try:
            has_masks = all(self.env.env_method("has_wrapper_attr", MASK_METHOD))
        except (AttributeError, NotImplementedError):
            has_masks = False
        if not has_masks:
            return None
        rule = mask_rule(action_space)
        return lambda: rule.check(action_space, list(self.env.env_method(MASK_METHOD)), self.num_envs, None)

    def render(self) -> None:
        self.env.render()


def evaluate_policy(
    model: Any,
    env: EnvLike,
    n_eval_episodes: int = 10,
    deterministic: bool = True,
    render: bool = False,
    callback: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
    reward_threshold: float | None = None,
    return_episode_rewards: bool = False,
    warn: bool = True,
    *,
    seed: int | None = None,
    use_masking: bool | None = None,
) -> tuple[float, float] | tuple[list[float], list[int]]:
    """Run ``model`` on ``env`` until ``n_eval_episodes`` episodes have ended, as SB3's ``evaluate_policy``.

    Episodes are spread over the env copies as in SB3 (copy ``i`` runs ``(n + i) // n_envs`` of
    them), so that short episodes do not bias the mean. ``model`` is anything with SB3's
    ``predict(obs, state=None, episode_start=None, deterministic=False)``.

    - ``render``: render the env after each step (an env id is built with ``render_mode="human"``);
    - ``callback(locals, globals)``: called after each step for each env copy still counting
      episodes, with SB3's locals: ``i``, ``reward``, ``done``, ``info`` (copy ``i``'s),
      ``observations`` (before the step), ``new_observations``, ``actions``, ``rewards``, ``dones``,
      ``infos`` (a list of dicts, see :mod:`ballast.callback_locals`), ``episode_counts``,
      ``episode_count_targets``, ``current_rewards``, ``current_lengths`` (this step included),
      ``episode_rewards``, ``episode_lengths``, ``episode_starts``, ``model``, ``env``, ...;
    - ``reward_threshold``: raise ``AssertionError`` unless the mean return exceeds it;
    - ``warn``: warn when the env records no episode statistics (no ``Monitor`` or
      ``RecordEpisodeStatistics`` wrapper) and has a wrapper that may change rewards or episode ends
      (see the module docstring: an env without such wrappers, or built from an id, gives its own
      rewards, which are what is counted). With a ``Monitor``, its ``info["episode"]`` gives each
      episode's return and length, and an episode end without it (a lost life) is not counted, as in SB3.

    Ballast's extras, keyword-only: ``seed`` resets the env with it, so two calls with the same
    seed and model give the same returns; ``use_masking`` passes action masks (``action_masks()``
    or ``info["action_mask"]``, see :mod:`ballast.masking`) to ``model.predict``: with ``None`` (the
    default) whenever the env gives them and the policy takes them, with ``True`` the env must give
    them (as sb3-contrib's ``evaluate_policy``), with ``False`` never.

    Rewards are the env's: normalisation lives in the model. Returns ``(mean, std)`` of the
    episode returns, or the lists ``(returns, lengths)`` when ``return_episode_rewards`` is True.
    """
    env = as_eval_env(env, render, model)
    check_action_space(model, env)
    steps = _SB3Steps(env) if is_sb3_vec_env(env) else _GymnasiumSteps(env)
    monitored = steps.records_episodes()
    if warn and not monitored and steps.may_change_rewards():
        warnings.warn(NO_MONITOR_WARNING, UserWarning, stacklevel=2)
    n_envs = steps.num_envs
    episode_rewards: list[float] = []
    episode_lengths: list[int] = []
    episode_counts = np.zeros(n_envs, dtype=int)
    episode_count_targets = np.array([(n_eval_episodes + i) // n_envs for i in range(n_envs)], dtype=int)
    current_rewards = np.zeros(n_envs)
    current_lengths = np.zeros(n_envs, dtype=int)
    observations = steps.reset(seed)
    read_masks = _mask_reader(model, steps, use_masking)
    states = None
    episode_starts = np.ones(n_envs, dtype=bool)
    while (episode_counts < episode_count_targets).any():
        # The recurrent state goes back only to a predictor that returned one, so that a plain
        # predict(obs, deterministic) (e.g. a hand-written controller) works too.
        options: dict[str, Any] = {} if states is None else {"state": states, "episode_start": episode_starts}
        masks = read_masks() if read_masks is not None else None
        if masks is not None:
            options["action_masks"] = masks
        actions, states = model.predict(observations, deterministic=deterministic, **options)
        new_observations, rewards, dones, infos, real = steps.step(actions)
        rewards = np.asarray(rewards, dtype=np.float64)
        if not np.all(np.isfinite(rewards)):
            raise EnvError(f"the env returned a non-finite reward {rewards} during evaluation")
        current_rewards += np.where(real, rewards, 0.0)
        current_lengths += real
        active = (episode_counts < episode_count_targets) & real
        episode_starts[active] = dones[active]
        # With a callback every active copy is visited (SB3 calls it for each); without, only those that ended.
        for i in np.flatnonzero(active if callback is not None else active & dones):
            reward, done = rewards[i], bool(dones[i])
            if callback is not None:
                info = infos[i]
                callback(locals(), globals())
            if done:
                if monitored:
                    statistics = steps.episode_statistics(infos, i)
                else:
                    statistics = float(current_rewards[i]), int(current_lengths[i])
                if statistics is not None:
                    episode_rewards.append(statistics[0])
                    episode_lengths.append(statistics[1])
                    episode_counts[i] += 1
                current_rewards[i] = 0.0
                current_lengths[i] = 0
        observations = new_observations
        if render:
            steps.render()
    mean_reward, std_reward = float(np.mean(episode_rewards)), float(np.std(episode_rewards))
    if reward_threshold is not None and not mean_reward > reward_threshold:
        raise AssertionError(f"Mean reward below threshold: {mean_reward:.2f} < {reward_threshold:.2f}")
    if return_episode_rewards:
        return episode_rewards, episode_lengths
    return mean_reward, std_reward


def _mask_reader(model: Any, steps: _GymnasiumSteps | _SB3Steps, use_masking: bool | None) -> Callable[[], Any] | None:
    """A function returning the current action masks, or None when masks are not used."""
    takes_masks = use_masking or (use_masking is None and policy_supports_masks(getattr(model, "policy", None)))
    if not takes_masks:
        return None
    read = steps.mask_reader(model.action_space)
    if use_masking and read is None:
        raise ConfigurationError(
            "use_masking=True but the env gives no action masks: give it an action_masks() method "
            "(e.g. with ballast.envs.ActionMasker) or put them in info['action_mask'], or pass use_masking=False")
    return read
