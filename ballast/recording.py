"""Videos of a model acting (``ballast record``).

:func:`record_video` runs :func:`ballast.evaluate_policy` on one copy of the env made with
``render_mode="rgb_array"`` and keeps the frame Gymnasium renders after every reset and step
(:class:`FrameRecorder`, the outermost wrapper, so the frame is the game's own picture, not the
preprocessed observation). Evaluation does what it always does: the model's normalisation, frame
stacking and action scaling apply, and the episodes and returns are those ``ballast eval`` reports.
Frames go to an MP4 (imageio with its ffmpeg plugin) or a GIF (Pillow), written atomically.
:class:`VideoRecorderCallback` does it every so many steps during training. :class:`VecVideoRecorder`
is SB3's wrapper of the same name: it records the env a model trains or is evaluated on.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from ballast.callbacks import BaseCallback
from ballast.checkpoint import replacement_file_mode
from ballast.envs.sb3_env_util import make_vec_env
from ballast.envs.sb3_vec_env import VecEnv, VecEnvObs, VecEnvStepReturn, VecEnvWrapper
from ballast.errors import ConfigurationError
from ballast.evaluation import evaluate_policy
from ballast.log_formats import TensorBoardOutputFormat, Video

FORMATS = (".mp4", ".gif")
#: The widest frame a recording sends to TensorBoard (a GIF held in the event file).
TENSORBOARD_VIDEO_WIDTH = 320
VIDEO_EXTRA = 'pip install "ballast-rl[video]" (imageio, imageio-ffmpeg)'


class FrameRecorder(gym.Wrapper):
    """Appends ``env.render()`` (an RGB array) to ``frames`` after every reset and step."""

    def __init__(self, env: gym.Env, frames: list[np.ndarray]) -> None:
        super().__init__(env)
        if env.render_mode != "rgb_array":
            raise ConfigurationError(f"recording needs an env made with render_mode='rgb_array', got "
                                     f"render_mode={env.render_mode!r}")
        self.frames = frames

    def reset(self, **kwargs: Any) -> tuple[Any, dict]:
        result = self.env.reset(**kwargs)
        self.frames.append(np.asarray(self.env.render()))
        return result

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict]:
        result = self.env.step(action)
        self.frames.append(np.asarray(self.env.render()))
        return result


def record_video(model: Any, env_id: str, out: Path, *, episodes: int = 1, deterministic: bool = True,
                 seed: int | None = None, fps: float | None = None, env_kwargs: dict[str, Any] | None = None,
                 wrapper: Callable[[gym.Env], gym.Env] | None = None) -> tuple[Path, list[float]]:
    """Record ``episodes`` episodes of ``model`` on ``env_id`` into ``out`` (.mp4 or .gif).

    ``wrapper`` (e.g. the Atari preprocessing a run was trained with) wraps the env inside the
    recorder. Returns the file and the episode returns. ``fps``: the env's ``render_fps``
    (metadata) by default, else 30.
    """
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise ConfigurationError(f"--out must end in {' or '.join(FORMATS)}, got {out.name}")
    frames, returns, rate = render_episodes(model, env_id, episodes=episodes, deterministic=deterministic, seed=seed,
                                            fps=fps, env_kwargs=env_kwargs, wrapper=wrapper)
    write_frames(frames, out, rate)
    return out, returns


def render_episodes(model: Any, env_id: str, *, episodes: int = 1, deterministic: bool = True,
                    seed: int | None = None, fps: float | None = None, env_kwargs: dict[str, Any] | None = None,
                    wrapper: Callable[[gym.Env], gym.Env] | None = None
                    ) -> tuple[list[np.ndarray], list[float], float]:
    """``(frames, episode returns, frames per second)`` of :func:`record_video`, without writing a file."""
    if episodes < 1:
        raise ConfigurationError(f"episodes must be at least 1, got {episodes}")
    frames: list[np.ndarray] = []
    # Rendering to arrays needs no window or sound; pygame-based envs otherwise complain on headless machines.
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

    def recorded(env: gym.Env) -> gym.Env:
        return FrameRecorder(wrapper(env) if wrapper is not None else env, frames)

    venv = make_vec_env(env_id, n_envs=1, seed=seed, env_kwargs={**(env_kwargs or {}), "render_mode": "rgb_array"},
                        wrapper_class=recorded)
    try:
        rate = fps or venv.envs[0].metadata.get("render_fps") or 30
        returns, _ = evaluate_policy(model, venv, n_eval_episodes=episodes, deterministic=deterministic,
                                     return_episode_rewards=True, seed=seed, warn=False)
    finally:
        venv.close()
    return frames, [float(r) for r in returns], float(rate)


def write_frames(frames: list[np.ndarray], out: Path, fps: float) -> Path:
    """Write RGB frames to ``out`` (.mp4 or .gif) through a temporary file renamed into place."""
    if not frames:
        raise ConfigurationError("no frames were rendered; does the env support render_mode='rgb_array'?")
    try:
        import imageio.v2 as imageio
    except ImportError:
        raise ConfigurationError(f"writing videos needs imageio, which is not installed: {VIDEO_EXTRA}") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=out.parent, prefix=f".{out.stem}.", suffix=out.suffix)
    os.close(handle)
    os.chmod(temporary, replacement_file_mode(out))
    try:
        if out.suffix.lower() == ".gif":
            imageio.mimsave(temporary, [np.asarray(f, dtype=np.uint8) for f in frames], duration=1000.0 / fps, loop=0)
        else:
            _write_mp4(imageio, temporary, frames, fps)
        os.replace(temporary, out)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return out


def _write_mp4(imageio: Any, path: str, frames: list[np.ndarray], fps: float) -> None:
    try:
        writer = imageio.get_writer(path, format="FFMPEG", fps=fps, macro_block_size=1)
    except (ImportError, ValueError, RuntimeError) as err:
        raise ConfigurationError(f"writing MP4 needs imageio's ffmpeg plugin ({err}): {VIDEO_EXTRA}; "
                                 "or record a .gif") from None
    with writer:
        for frame in frames:
            writer.append_data(np.asarray(frame, dtype=np.uint8))


class VideoRecorderCallback(BaseCallback):
    """Records ``episodes`` episodes of the model in training every ``every_steps`` env steps (and at
    the end) into ``folder/video_<steps>.<format>``, on a fresh env made from ``env_id``.

    The recording is an evaluation (:func:`record_video`): deterministic actions by default, so it
    draws nothing from the model's random stream and the training run is the same with or without it.
    ``ballast train --video-every K`` adds one, writing into the run folder's ``videos/``. Where the
    model's logger writes TensorBoard, each recording also goes there as ``video/episodes`` (an
    animated GIF in the Images tab, frames shrunk by a whole factor to at most
    :data:`TENSORBOARD_VIDEO_WIDTH` pixels wide).
    """

    def __init__(self, env_id: str, every_steps: int, folder: str | Path, *, episodes: int = 1,
                 deterministic: bool = True, video_format: str = "mp4", seed: int | None = 0,
                 env_kwargs: dict[str, Any] | None = None, wrapper: Callable[[gym.Env], gym.Env] | None = None,
                 verbose: int = 0) -> None:
        super().__init__(verbose)
        if every_steps < 1:
            raise ConfigurationError(f"every_steps must be at least 1, got {every_steps}")
        if f".{video_format}" not in FORMATS:
            raise ConfigurationError(f"video_format must be one of {[f[1:] for f in FORMATS]}, got {video_format!r}")
        self.env_id, self.every_steps, self.folder = env_id, int(every_steps), Path(folder)
        self.episodes, self.deterministic, self.video_format, self.seed = episodes, deterministic, video_format, seed
        self.env_kwargs, self.wrapper = env_kwargs, wrapper
        self.videos: list[Path] = []
        self._last = 0

    def _on_training_start(self) -> None:
        self._last = self.model.num_timesteps

    def _on_step(self) -> bool:
        if self.model.num_timesteps - self._last >= self.every_steps:
            self._record()
        return True

    def _on_training_end(self) -> None:
        if not self.videos or self.videos[-1].stem != f"video_{self.model.num_timesteps}":
            self._record()

    def _record(self) -> None:
        self._last = self.model.num_timesteps
        out = self.folder / f"video_{self.model.num_timesteps}.{self.video_format}"
        frames, returns, fps = render_episodes(self.model, self.env_id, episodes=self.episodes,
                                               deterministic=self.deterministic, seed=self.seed,
                                               env_kwargs=self.env_kwargs, wrapper=self.wrapper)
        path = write_frames(frames, out, fps)
        self.videos.append(path)
        self.logger.record("video/mean_return", float(np.mean(returns)))
        if any(isinstance(f, TensorBoardOutputFormat) for f in self.logger.output_formats):
            self.logger.record("video/episodes", Video(tensorboard_frames(frames), fps),
                               exclude=("stdout", "log", "json", "csv"))
        if self.verbose:
            print(f"Recorded {len(returns)} episodes at {self.model.num_timesteps} steps into {path}")


def tensorboard_frames(frames: list[np.ndarray]) -> np.ndarray:
    """RGB frames (H, W, C) as one video (1, T, C, H', W') for TensorBoard, every ``k``-th pixel kept
    in both directions with the smallest whole ``k`` that brings the width to at most
    :data:`TENSORBOARD_VIDEO_WIDTH`."""
    stride = max(1, -(-frames[0].shape[1] // TENSORBOARD_VIDEO_WIDTH))
    video = np.stack([np.asarray(f, dtype=np.uint8)[::stride, ::stride] for f in frames])
    return video.transpose(0, 3, 1, 2)[None]


class VecVideoRecorder(VecEnvWrapper):
    """SB3's ``VecVideoRecorder``: MP4 videos of what ``venv.render()`` shows (the copies' RGB images,
    tiled into one picture) while a model trains or is evaluated on ``venv``.

    ``step_id`` counts the vector steps taken through the wrapper. A recording starts at ``reset()``,
    or after a step, when ``record_video_trigger(step_id)`` is true; it keeps the picture at its start
    and after each step, and once it holds more than ``video_length`` pictures it is written to
    ``video_folder/<name_prefix>-step-<start>-to-step-<start + video_length>.mp4`` (so a video has
    ``video_length + 1`` pictures, as SB3's). ``close()`` writes a recording still open. The frame rate
    is the env's ``metadata["render_fps"]`` (30 when it has none).

    As SB3's, except for how the file is written: imageio's ffmpeg plugin (``pip install
    "ballast-rl[video]"``) rather than MoviePy, through a temporary file renamed into place, and the
    envs must have been made with ``render_mode="rgb_array"`` (``make_vec_env`` makes them so).
    """

    def __init__(self, venv: VecEnv, video_folder: str, record_video_trigger: Callable[[int], bool],
                 video_length: int = 200, name_prefix: str = "rl-video") -> None:
        super().__init__(venv)
        if self.render_mode != "rgb_array":
            raise ConfigurationError(f"VecVideoRecorder records what render() returns and needs envs made with "
                                     f"render_mode='rgb_array', got render_mode={self.render_mode!r}: pass "
                                     "env_kwargs=dict(render_mode='rgb_array') where the envs are made")
        try:
            import imageio  # noqa: F401
        except ImportError:
            raise ConfigurationError(f"VecVideoRecorder writes MP4 files with imageio, which is not installed: "
                                     f"{VIDEO_EXTRA}") from None
        self.metadata = {**self.metadata, **_first_env_metadata(venv)}
        self.frames_per_sec = float(self.metadata.get("render_fps") or 30)
        self.record_video_trigger = record_video_trigger
        self.video_folder = os.path.abspath(video_folder)
        os.makedirs(self.video_folder, exist_ok=True)
        self.name_prefix, self.video_length = name_prefix, int(video_length)
        self.step_id = 0
        self.recording = False
        self.recorded_frames: list[np.ndarray] = []
        self.video_name = self.video_path = ""

    def reset(self) -> VecEnvObs:
        obs = self.venv.reset()
        if self.record_video_trigger(self.step_id):
            self._start_recording()
        return obs

    def step_wait(self) -> VecEnvStepReturn:
        result = self.venv.step_wait()
        self.step_id += 1
        if self.recording:
            self._capture_frame()
            if len(self.recorded_frames) > self.video_length:
                self._stop_recording()
        elif self.record_video_trigger(self.step_id):
            self._start_recording()
        return result

    def close(self) -> None:
        super().close()
        if self.recording:
            self._stop_recording()

    def _start_recording(self) -> None:
        if self.recording:
            self._stop_recording()
        self.video_name = f"{self.name_prefix}-step-{self.step_id}-to-step-{self.step_id + self.video_length}.mp4"
        self.video_path = os.path.join(self.video_folder, self.video_name)
        self.recording = True
        self._capture_frame()

    def _capture_frame(self) -> None:
        frame = self.venv.render()
        if isinstance(frame, np.ndarray):
            self.recorded_frames.append(frame)
        else:
            warnings.warn(f"recording stopped: render() returned {type(frame).__name__}, not an RGB array",
                          stacklevel=3)
            self._stop_recording()

    def _stop_recording(self) -> None:
        frames, self.recorded_frames, self.recording = self.recorded_frames, [], False
        if frames:
            write_frames(frames, Path(self.video_path), self.frames_per_sec)
        else:
            warnings.warn(f"no video written to {self.video_path}: no frame was recorded", stacklevel=3)

    def __del__(self) -> None:
        if getattr(self, "recorded_frames", None):
            warnings.warn(f"the recording for {self.video_path} was not written: call close() first", stacklevel=2)


def _first_env_metadata(venv: VecEnv) -> dict[str, Any]:
    """The metadata of the first env copy under ``venv`` (its ``render_fps``), or {} when it has none."""
    try:
        metadata = venv.get_attr("metadata", indices=[0])[0]
    except (AttributeError, IndexError):
        return {}
    return dict(metadata) if isinstance(metadata, dict) else {}
