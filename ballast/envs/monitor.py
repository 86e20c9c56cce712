"""SB3's ``Monitor``, ``VecMonitor``, ``load_results`` and ``get_monitor_files``: episode returns, lengths, times.

Files have SB3's monitor format, so SB3's tools read them and Ballast reads SB3's:

.. code-block:: text

    #{"t_start": 1712345678.9, "env_id": "CartPole-v1"}
    r,l,t
    23.0,23,0.012345

(``r`` the episode's return, ``l`` its length, ``t`` seconds since ``t_start``; extra columns for
``reset_keywords`` and ``info_keywords``). The header is written to a temporary file that is
then renamed, and each row is flushed as its episode ends, so a crash loses at most the row being
written; :func:`load_results` skips such a cut last row.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
import warnings
from collections.abc import Sequence
from glob import glob
from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper

from ballast.checkpoint import atomic_write_bytes
from ballast.envs.make import autoreset_mode, env_id_of
from ballast.envs.sb3_bridge import vector_env_of
from ballast.envs.sb3_vec_env import GymnasiumVecEnvWrapper, VecEnv
from ballast.errors import ConfigurationError, EnvError, LoadMonitorResultsError, MissingDependencyError

EXT = "monitor.csv"


class ResultsWriter:
    """Writes monitor rows to ``filename`` (``.monitor.csv`` is appended unless it ends so; a folder gets
    ``monitor.csv``). ``override_existing=False`` appends to an existing file instead of replacing it."""

    def __init__(self, filename: str = "", header: dict[str, Any] | None = None, extra_keys: Sequence[str] = (),
                 override_existing: bool = True) -> None:
        filename = os.fspath(filename)
        if not filename.endswith(EXT):
            filename = os.path.join(filename, EXT) if os.path.isdir(filename) else f"{filename}.{EXT}"
        self.path = Path(filename).resolve()
        self.fieldnames = ("r", "l", "t", *extra_keys)
        if override_existing or not self.path.exists():
            head = io.StringIO(newline="")
            head.write(f"#{json.dumps(header or {})}\n")
            csv.DictWriter(head, fieldnames=self.fieldnames, lineterminator="\n").writeheader()
            atomic_write_bytes(self.path, head.getvalue().encode("utf-8"))
        self.file_handler = open(self.path, "a", newline="", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self.logger = csv.DictWriter(self.file_handler, fieldnames=self.fieldnames, lineterminator="\n")

    def write_row(self, epinfo: dict[str, Any]) -> None:
        """Append one episode's row and flush it to the file."""
        self.logger.writerow({key: epinfo.get(key) for key in self.fieldnames})
        self.file_handler.flush()

    def close(self) -> None:
        self.file_handler.close()


class Monitor(gym.Wrapper):
    """SB3's ``Monitor``: records each episode's return, length and time, in ``info["episode"]`` and a file.

    ``filename`` (None: no file) receives the rows (see the module docstring). ``allow_early_resets``
    allows ``reset`` before the episode ended; ``reset_keywords`` are keyword arguments that
    ``reset`` must be given and that are logged with the episode; ``info_keywords`` are keys of the
    last step's info logged with it; ``override_existing=False`` appends to an existing file.
    """

    EXT = EXT

    def __init__(self, env: gym.Env, filename: str | None = None, allow_early_resets: bool = True,
                 reset_keywords: tuple[str, ...] = (), info_keywords: tuple[str, ...] = (),
                 override_existing: bool = True) -> None:
        super().__init__(env)
        self.t_start = time.time()
        self.results_writer = None
        if filename is not None:
            self.results_writer = ResultsWriter(
                filename, header={"t_start": self.t_start, "env_id": str(env_id_of(env))},
                extra_keys=tuple(reset_keywords) + tuple(info_keywords), override_existing=override_existing)
        self.reset_keywords, self.info_keywords = tuple(reset_keywords), tuple(info_keywords)
        self.allow_early_resets = allow_early_resets
        self.rewards: list[float] = []
        self.needs_reset = True
        self.episode_returns: list[float] = []
        self.episode_lengths: list[int] = []
        self.episode_times: list[float] = []
        self.total_steps = 0
        self.current_reset_info: dict[str, Any] = {}

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        if not self.allow_early_resets and not self.needs_reset:
            raise EnvError("Tried to reset an environment before done: the episode had not ended; wrap it "
                           "with Monitor(env, filename, allow_early_resets=True) to allow early resets")
        self.rewards, self.needs_reset = [], False
        for key in self.reset_keywords:
            value = kwargs.get(key)
            if value is None:
                raise ConfigurationError(f"Monitor(reset_keywords=...) expects reset to be given {key}=...")
            self.current_reset_info[key] = value
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        if self.needs_reset:
            raise EnvError("the env was stepped after its episode ended; reset it first")
        observation, reward, terminated, truncated, info = self.env.step(action)
        self.rewards.append(float(reward))
        if terminated or truncated:
            self.needs_reset = True
            episode_return, length = sum(self.rewards), len(self.rewards)
            elapsed = time.time() - self.t_start
            episode = {"r": round(episode_return, 6), "l": length, "t": round(elapsed, 6)}
            for key in self.info_keywords:
                episode[key] = info[key]
            self.episode_returns.append(episode_return)
            self.episode_lengths.append(length)
            self.episode_times.append(elapsed)
            episode.update(self.current_reset_info)
            if self.results_writer is not None:
                self.results_writer.write_row(episode)
            info["episode"] = episode
        self.total_steps += 1
        return observation, reward, terminated, truncated, info

    def close(self) -> None:
        super().close()
        if self.results_writer is not None:
            self.results_writer.close()

    def get_total_steps(self) -> int:
        return self.total_steps

    def get_episode_rewards(self) -> list[float]:
        return self.episode_returns

    def get_episode_lengths(self) -> list[int]:
        return self.episode_lengths

    def get_episode_times(self) -> list[float]:
        return self.episode_times


class MonitorVectorEnv(VectorWrapper):
    """Episode statistics of every copy of a Gymnasium vector env, in ``info["episode"]`` and a monitor file.

    Follows the autoreset mode: the reset step of next-step autoreset is not part of an episode, and
    with same-step autoreset the statistics go into the ended episode's ``final_info``.
    """

    def __init__(self, env: VectorEnv, filename: str | None = None, info_keywords: tuple[str, ...] = (),
                 env_id: str | None = None) -> None:
        super().__init__(env)
        self.mode = autoreset_mode(env)
        self.t_start = time.time()
        self.info_keywords = tuple(info_keywords)
        self.results_writer = None
        if filename:
            self.results_writer = ResultsWriter(filename, header={"t_start": self.t_start, "env_id": env_id},
                                                extra_keys=self.info_keywords)
        self.episode_returns = np.zeros(self.num_envs, dtype=np.float32)
        self.episode_lengths = np.zeros(self.num_envs, dtype=np.int32)
        self.episode_count = 0
        self._resetting = np.zeros(self.num_envs, dtype=bool)

    def reset(self, *, seed: int | list[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        copies = options.get("reset_mask") if options else None
        copies = np.ones(self.num_envs, dtype=bool) if copies is None else np.asarray(copies, dtype=bool)
        observations, infos = self.env.reset(seed=seed, options=options)
        self.episode_returns[copies], self.episode_lengths[copies] = 0.0, 0
        self._resetting[copies] = False
        return observations, infos

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        observations, rewards, terminated, truncated, infos = self.env.step(actions)
        real = ~self._resetting
        self.episode_returns += np.where(real, rewards, 0.0).astype(np.float32)
        self.episode_lengths += real
        ended = np.logical_or(terminated, truncated) & real
        if self.mode == AutoresetMode.NEXT_STEP:
            self._resetting = np.logical_or(terminated, truncated)
        if ended.any():
            infos = self._record(infos, ended)
        return observations, rewards, terminated, truncated, infos

    def _record(self, infos: dict[str, Any], ended: np.ndarray) -> dict[str, Any]:
        same_step = self.mode == AutoresetMode.SAME_STEP and "final_info" in infos
        target = dict(infos["final_info"]) if same_step else dict(infos)
        step_infos = infos["final_info"] if same_step else infos
        episodes = np.full(self.num_envs, None, dtype=object)
        for i in np.flatnonzero(ended):
            episode = {"r": float(self.episode_returns[i]), "l": int(self.episode_lengths[i]),
                       "t": round(time.time() - self.t_start, 6)}
            for key in self.info_keywords:
                episode[key] = step_infos[key][i]
            episodes[i] = episode
            self.episode_count += 1
            self.episode_returns[i], self.episode_lengths[i] = 0.0, 0
            if self.results_writer is not None:
                self.results_writer.write_row(episode)
        target["episode"], target["_episode"] = episodes, ended
        return {**infos, "final_info": target} if same_step else target

    def close_extras(self, **kwargs: Any) -> None:
        if self.results_writer is not None:
            self.results_writer.close()


class VecMonitor(GymnasiumVecEnvWrapper):
    """SB3's ``VecMonitor(venv, filename=None, info_keywords=())``: ``Monitor`` for all copies at once."""

    def __init__(self, venv: VecEnv, filename: str | None = None, info_keywords: tuple[str, ...] = ()) -> None:
        try:
            monitored = any(venv.env_is_wrapped(Monitor))
        except Exception:  # a VecEnv without separate copies cannot say; nothing to warn about then
            monitored = False
        if monitored:
            warnings.warn("the env is already wrapped in a Monitor; VecMonitor's statistics replace its "
                          "info['episode']", UserWarning, stacklevel=2)
        self.monitor = MonitorVectorEnv(vector_env_of(venv), filename, info_keywords, env_id=env_id_of(venv))
        super().__init__(venv, self.monitor)
        self.info_keywords = tuple(info_keywords)

    @property
    def episode_count(self) -> int:
        return self.monitor.episode_count

    @property
    def t_start(self) -> float:
        return self.monitor.t_start


def get_monitor_files(path: str | os.PathLike[str]) -> list[str]:
    """The monitor files (``*monitor.csv``) in the folder ``path``."""
    return glob(os.path.join(os.fspath(path), "*" + EXT))


def _read_monitor_file(name: str) -> tuple[dict[str, Any], str]:
    """The JSON header of a monitor file and its CSV part, without a last row cut by a crash."""
    with open(name, encoding="utf-8", newline="") as handle:
        first = handle.readline()
        if not first.startswith("#"):
            raise LoadMonitorResultsError(f"{name} does not start with the '#{{...}}' line of a monitor file")
        header = json.loads(first[1:])
        text = handle.read()
    if "\n" in text and not text.endswith("\n"):
        # A last row without its newline is kept when it has all its fields (a file written by hand),
        # and dropped when a crash cut it short.
        columns, last = text[: text.index("\n")], text[text.rfind("\n") + 1:]
        if len(next(csv.reader([last]), [])) != len(next(csv.reader([columns]), [])):
            text = text[: text.rfind("\n") + 1]
    return header, text


def load_results(path: str | os.PathLike[str]) -> Any:
    """All monitor files in the folder ``path`` as one pandas DataFrame, sorted by time, as SB3's.

    ``t`` counts seconds from the earliest ``t_start`` of the files. Needs pandas
    (``pip install "ballast-rl[monitor]"``).
    """
    try:
        import pandas
    except ImportError:
        raise MissingDependencyError(
            "load_results returns a pandas DataFrame, and pandas is not installed: "
            "pip install \"ballast-rl[monitor]\" (or pip install pandas)") from None
    files = get_monitor_files(path)
    if not files:
        raise LoadMonitorResultsError(f"no monitor files (*{EXT}) in {path}")
    frames, starts = [], []
    for name in files:
        header, text = _read_monitor_file(name)
        if not text.strip():
            raise LoadMonitorResultsError(f"{name} has no 'r,l,t' column line after its '#{{...}}' line")
        frame = pandas.read_csv(io.StringIO(text), index_col=None)
        frame["t"] += header["t_start"]
        frames.append(frame)
        starts.append(header["t_start"])
    # Concatenating empty frames with others makes pandas warn (and guess dtypes): keep one only if all are.
    frames = [frame for frame in frames if not frame.empty] or frames[:1]
    results = pandas.concat(frames).sort_values("t").reset_index()
    results["t"] -= min(starts)
    return results
