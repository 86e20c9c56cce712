"""What a model makes of the ``env`` it is given: the Gymnasium vector env it steps, and the settings that come with it.

:func:`adopt_env` is the one place that turns whatever a user passes (an env id, a ``gymnasium.Env``,
a factory, a Gymnasium vector env, an SB3-API ``VecEnv`` or SB3-API wrappers around one) into

* the Gymnasium vector env the model steps (``model.env``): for SB3-API envs, the Gymnasium env
  their translation runs on, so the model sees exactly what the wrappers return;
* :class:`EnvSettings`, what the wrappers decide about observations and that the model keeps as its
  own, saved in its checkpoint: a ``VecNormalize``'s normalisation parameters, and the observation
  wrappers (``VecFrameStack``, ``VecTransposeImage``, ``VecExtractDictObs``) that the model re-applies
  when it builds an env itself (``load(path, env="id")``, ``set_env``, ``evaluate_policy(model, "id")``).

A new model takes the wrappers' settings (and a loaded ``VecNormalize``'s statistics); a model that
exists already (``set_env``, ``load``) keeps its own and shares them with the wrappers.
:func:`as_vector_env` gives evaluation code the Gymnasium env for any of these inputs, and
:func:`sb3_env_of` is ``model.get_env()``: the SB3-API env the user passed, or a view of ``model.env``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import reduce
from types import SimpleNamespace
from typing import Any, Protocol

from gymnasium import spaces
from gymnasium.vector import VectorEnv

from ballast.buffers.frame_dedup import StackedFrames
from ballast.envs.frame_stack import FrameStack, VecFrameStack
from ballast.envs.make import EnvLike, env_id_of, make_vector_env
from ballast.envs.observation_transforms import ExtractDictObs, TransposeImage, VecExtractDictObs, VecTransposeImage
from ballast.envs.sb3_bridge import is_sb3_vec_env, vector_env_of
from ballast.envs.sb3_vec_env import GymnasiumVecEnv, GymnasiumVecEnvWrapper, VecEnv, VecEnvWrapper
from ballast.envs.vec_normalize import NormalizationSettings, VecNormalize, normalizable_keys
from ballast.errors import ConfigurationError
from ballast.spaces import is_image_space, space_from_json, spaces_equal


class ObservationWrapper(Protocol):
    """A recorded observation wrapper: knows its output space and how to wrap either kind of env."""

    name: str

    def output_space(self, space: spaces.Space) -> spaces.Space: ...
    def wrap_vector_env(self, vector_env: VectorEnv) -> VectorEnv: ...
    def wrap_vec_env(self, venv: VecEnv) -> VecEnv: ...
    def to_json(self) -> dict[str, Any]: ...
    def describe(self) -> str: ...


#: Observation wrappers a model can record, by the name saved in its checkpoint.
OBSERVATION_WRAPPERS: dict[str, Any] = {cls.name: cls for cls in (FrameStack, TransposeImage, ExtractDictObs)}
_RECORDING_CLASSES = (VecFrameStack, VecTransposeImage, VecExtractDictObs)


@dataclass(frozen=True)
class EnvSettings:
    """What the model keeps from the env wrappers it was given (``model.env_settings``).

    ``normalization``: a ``VecNormalize``'s parameters (None when none was given; the model then
    uses its defaults). ``observation_wrappers``: the observation wrappers, innermost first, that
    turn an env's raw observations into the model's. ``observation_space`` is the model's, used to
    decide whether a given env still needs them; it is not saved (the checkpoint has it already).
    """

    normalization: NormalizationSettings | None = None
    observation_wrappers: tuple[Any, ...] = ()
    observation_space: spaces.Space | None = field(default=None, compare=False)

    @property
    def frame_stack(self) -> FrameStack | None:
        """The frame-stacking setting (``n_stack``, ``channels_order``), or None."""
        return next((w for w in self.observation_wrappers if isinstance(w, FrameStack)), None)

    def to_json(self) -> dict[str, Any]:
        return {"normalization": None if self.normalization is None else self.normalization.to_json(),
                "observation_wrappers": [{w.name: w.to_json()} for w in self.observation_wrappers]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None, observation_space: spaces.Space | None = None) -> EnvSettings:
        data = data or {}
        normalization = data.get("normalization")
        wrappers = []
        for entry in data.get("observation_wrappers", []):
            ((name, spec),) = entry.items()
            if name not in OBSERVATION_WRAPPERS:
                raise ConfigurationError(f"unknown observation wrapper {name!r}; known: {sorted(OBSERVATION_WRAPPERS)}")
            wrappers.append(OBSERVATION_WRAPPERS[name].from_json(spec))
        return cls(None if normalization is None else NormalizationSettings.from_json(normalization),
                   tuple(wrappers), observation_space)

    @classmethod
    def from_checkpoint_config(cls, config: Mapping[str, Any]) -> EnvSettings:
        """The settings a checkpoint's ``config.json`` recorded (none for files saved before they existed)."""
        return cls.from_json(config.get("env_settings"), space_from_json(config["observation_space"]))

    def output_space(self, space: spaces.Space) -> spaces.Space:
        """``space`` after the observation wrappers."""
        return reduce(lambda current, wrapper: wrapper.output_space(current), self.observation_wrappers, space)

    def needs_wrappers(self, space: spaces.Space) -> bool:
        """True when an env with observations ``space`` gives the model its observations only once wrapped."""
        if not self.observation_wrappers or self.observation_space is None:
            return False
        if spaces_equal(space, self.observation_space):
            return False
        try:
            return spaces_equal(self.output_space(space), self.observation_space)
        except (ConfigurationError, ValueError):
            return False

    def stacked_frames(self, observation_space: spaces.Space) -> StackedFrames | None:
        """Where the frame stack puts the frames of the model's observations ``observation_space``, for a
        replay buffer that stores each frame once: for images (one Box) of at least two stacked
        frames, with at most image transpositions after the stacking; None otherwise."""
        stack = self.frame_stack
        if (stack is None or stack.n_stack < 2 or isinstance(stack.channels_order, tuple)
                or not is_image_space(observation_space)):
            return None
        axis = 0 if stack.order_of(None) == "first" else 2
        wrappers = self.observation_wrappers
        for wrapper in wrappers[wrappers.index(stack) + 1:]:
            if not isinstance(wrapper, TransposeImage) or wrapper.keys is not None:
                return None
            axis = (2, 0, 1).index(axis)  # HWC -> CHW: the old axis's new place
        return StackedFrames(stack.n_stack, axis)


@dataclass
class AdoptedEnv:
    """The result of :func:`adopt_env`: the vector env, the settings, and where they came from."""

    vector_env: VectorEnv | None
    settings: EnvSettings
    sb3_env: Any = None
    vec_normalize: VecNormalize | None = None
    env_id: str | None = None
    takes_settings: bool = True
    reapplied: tuple[Any, ...] = ()

    @property
    def spec(self) -> Any:
        """An object whose ``id`` is the env id, so that ``env_id_of`` finds it."""
        return SimpleNamespace(id=self.env_id) if self.env_id else None

    def normalization_flags(self, normalize_observations: bool, normalize_rewards: bool) -> tuple[bool, bool]:
        """The model's ``normalize_observations`` / ``normalize_rewards``, a ``VecNormalize`` taken into account."""
        wrapper = self.vec_normalize
        if wrapper is None:
            return normalize_observations, normalize_rewards
        if self.takes_settings:
            return normalize_observations or wrapper.norm_obs, normalize_rewards or wrapper.norm_reward
        if wrapper.norm_obs and not normalize_observations and normalizable_keys(wrapper.observation_space):
            raise ConfigurationError(
                "the model was trained without observation normalisation, but the env is a VecNormalize that asks for "
                "it; pass the env without VecNormalize (or with norm_obs=False)")
        return normalize_observations, normalize_rewards

    def bind(self, model: Any) -> None:
        """Make the settings the model's own (``model.env_settings``) and share its env with the SB3-API env."""
        settings = replace(self.settings, observation_space=model.observation_space)
        normalizer = getattr(model.policy, "normalizer", None)
        if self.vec_normalize is not None and not self.takes_settings and self.vec_normalize.norm_obs \
                and normalizer is None and normalizable_keys(model.observation_space):
            raise ConfigurationError(
                "the model was built without observation normalisation, so a VecNormalize cannot add it; build "
                "the model with the VecNormalize env (or normalize_observations=True)")
        if settings.normalization is not None:
            settings.normalization.apply(normalizer, model.reward_normalizer)
        if self.vec_normalize is not None:
            self.vec_normalize.bind(model, take_statistics=self.takes_settings)
        model.env_settings = settings
        model.normalize_rewards = model.reward_normalizer is not None
        model._sb3_env = None
        if self.sb3_env is not None and self.vector_env is not None:
            model._sb3_env = (self.vector_env, self.sb3_env)
            # The model steps the Gymnasium env of the translated wrappers directly; below a wrapper of
            # another kind it steps through that wrapper, so the VecEnvs there follow its steps anyway.
            for venv in _chain(self.sb3_env):
                if not isinstance(venv, (GymnasiumVecEnv, GymnasiumVecEnvWrapper)):
                    break
                venv._translation.sharing.add_model(model, self.vector_env)
        if getattr(model, "verbose", 0) >= 1:
            for line in self._log_lines(model):
                print(line)

    def _log_lines(self, model: Any) -> list[str]:
        lines = []
        if self.takes_settings and self.vec_normalize is not None:
            normalization = self.settings.normalization
            lines.append(
                f"VecNormalize: normalize_observations={getattr(model.policy, 'normalizer', None) is not None}, "
                f"normalize_rewards={model.reward_normalizer is not None}, clip_obs={normalization.clip_obs}, "
                f"clip_reward={normalization.clip_reward}, gamma={normalization.gamma}, "
                f"epsilon={normalization.epsilon} are now the model's; its statistics live in the model and are "
                "saved with it (model.save)")
        if self.takes_settings:
            for wrapper in self.settings.observation_wrappers:
                lines.append(f"{wrapper.describe()} is now a setting of the model: saved with it and re-applied when "
                             "it builds an env itself (load, set_env, evaluate_policy); predict takes the "
                             "observations it makes")
        for wrapper in self.reapplied:
            lines.append(f"re-applied {wrapper.describe()}, a setting saved with the model, to the env")
        return lines


def _chain(venv: Any) -> list[Any]:
    """``venv`` and the VecEnvs inside it, outermost first."""
    chain = [venv]
    while isinstance(chain[-1], VecEnvWrapper):
        chain.append(chain[-1].venv)
    return chain


def _recorded_wrappers(venv: Any) -> tuple[Any, ...]:
    recorded = [w.observation_wrapper for w in _chain(venv) if isinstance(w, _RECORDING_CLASSES)]
    return tuple(w for w in reversed(recorded) if w is not None)


def _vec_normalize_of(venv: Any) -> VecNormalize | None:
    found = [w for w in _chain(venv) if isinstance(w, VecNormalize)]
    if len(found) > 1:
        raise ConfigurationError("the env has more than one VecNormalize; a model has one normalisation")
    return found[0] if found else None


def _wrap(env: Any, wrappers: Sequence[Any], sb3: bool) -> Any:
    for wrapper in wrappers:
        env = wrapper.wrap_vec_env(env) if sb3 else wrapper.wrap_vector_env(env)
    return env


def _stacked(env: EnvLike | VecEnv | None, frame_stack: int, n_envs: int, **make: Any) -> VecEnv:
    """``env`` as an SB3-API ``VecFrameStack`` of ``frame_stack`` frames (the model then records it)."""
    if isinstance(frame_stack, bool) or not isinstance(frame_stack, int) or frame_stack < 1:
        raise ConfigurationError(f"frame_stack must be a whole number >= 1 (frames stacked), got {frame_stack!r}")
    if env is None:
        raise ConfigurationError("frame_stack needs an env to stack the frames of; without one, give the stacked "
                                 "observation_space and stack the frames where the observations come from")
    if is_sb3_vec_env(env):
        if any(isinstance(w, FrameStack) for w in _recorded_wrappers(env)):
            raise ConfigurationError(f"the env is a VecFrameStack already and frame_stack={frame_stack} was given too; "
                                     "stack the frames once: drop one of them")
        return VecFrameStack(env, frame_stack)
    vector_env = make_vector_env(env, n_envs, **make)
    return VecFrameStack(GymnasiumVecEnv(vector_env), frame_stack)


def adopt_env(env: EnvLike | VecEnv | AdoptedEnv | None, n_envs: int = 1, *, seed: int | None = None,
              vectorization: str = "auto", env_kwargs: dict[str, Any] | None = None,
              saved: EnvSettings | None = None, frame_stack: int | None = None) -> AdoptedEnv:
    """The vector env a model steps and the settings it keeps (see the module docstring).

    ``saved`` are the settings of a model that exists already (``set_env``, ``load``): they stay the
    model's, and its observation wrappers are applied to an env that gives raw observations.
    Without ``saved`` (a new model) the settings come from the SB3-API wrappers around ``env``.
    ``n_envs``, ``seed``, ``vectorization`` and ``env_kwargs`` are those of ``make_vector_env`` for
    ids and factories. ``frame_stack`` (a new model's constructor argument) stacks that many frames,
    as ``VecFrameStack(env, frame_stack)`` around the env would.
    """
    if isinstance(env, AdoptedEnv):
        return env
    if frame_stack is not None:
        env = _stacked(env, frame_stack, n_envs, seed=seed, vectorization=vectorization, env_kwargs=env_kwargs)
        env_kwargs = None
    if env is None:
        return AdoptedEnv(None, saved or EnvSettings(), takes_settings=saved is None)
    env_id = env_id_of(env)
    reapplied: tuple[Any, ...] = ()
    if is_sb3_vec_env(env):
        if env_kwargs:
            raise ConfigurationError("env_kwargs cannot be applied to a VecEnv that is built already")
        if saved is not None and saved.needs_wrappers(env.observation_space):
            env, reapplied = _wrap(env, saved.observation_wrappers, sb3=True), saved.observation_wrappers
        sb3_env, vector_env = env, vector_env_of(env)
        vec_normalize, wrappers = _vec_normalize_of(env), _recorded_wrappers(env)
    else:
        vector_env = make_vector_env(env, n_envs, seed=seed, vectorization=vectorization, env_kwargs=env_kwargs)
        if saved is not None and saved.needs_wrappers(vector_env.single_observation_space):
            vector_env, reapplied = _wrap(vector_env, saved.observation_wrappers, sb3=False), saved.observation_wrappers
        sb3_env, vec_normalize, wrappers = None, None, ()
    if saved is not None:
        settings = saved
    else:
        settings = EnvSettings(None if vec_normalize is None else vec_normalize.settings, wrappers)
    return AdoptedEnv(vector_env, settings, sb3_env=sb3_env, vec_normalize=vec_normalize, env_id=env_id,
                      takes_settings=saved is None, reapplied=reapplied)


def model_settings(model: Any) -> EnvSettings | None:
    """A model's :class:`EnvSettings` with its current observation space, or None for other objects."""
    settings = getattr(model, "env_settings", None)
    if settings is None:
        return None
    return replace(settings, observation_space=getattr(model, "observation_space", None))


def as_vector_env(env: EnvLike | VecEnv, model: Any = None, n_envs: int = 1) -> VectorEnv:
    """The Gymnasium vector env to step for ``env`` (any input :func:`adopt_env` takes).

    With ``model``, the observation wrappers the model keeps (e.g. its frame stacking) are applied
    when ``env`` gives raw observations, and the id the model was trained on is made with the
    ``env_kwargs`` it was trained with, so that evaluating cannot forget them. For evaluation and
    callbacks: ``evaluate_policy`` and ``EvalCallback`` call it.
    """
    env_kwargs = None
    if isinstance(env, str) and model is not None and env == getattr(model, "env_id", None):
        env_kwargs = getattr(model, "env_kwargs", None) or None
    return adopt_env(env, n_envs, env_kwargs=env_kwargs,
                     saved=model_settings(model) if model is not None else None).vector_env


def sb3_env_of(model: Any) -> VecEnv | None:
    """``model.get_env()``: the SB3-API env the model was given, or an SB3-API view of ``model.env``.

    The view is built once per vector env. Stepping it does not desynchronise training: it resets the
    env before first use after the model stepped it, and ``learn`` then resets the env again (see
    :mod:`ballast.envs.shared_stepping`).
    """
    vector_env = getattr(model, "env", None)
    if vector_env is None:
        return None
    record = getattr(model, "_sb3_env", None)
    if record is not None and record[0] is vector_env:
        return record[1]
    view = GymnasiumVecEnv(vector_env)
    view._translation.sharing.add_model(model, vector_env)
    model._sb3_env = (vector_env, view)
    return view
