"""What a callback sees of one env step: SB3's ``self.locals`` from Gymnasium's vector-env results.

SB3's callbacks read ``new_obs``, ``rewards``, ``dones`` and ``infos`` from ``self.locals``, where
``infos`` is a list with one dict per env copy. Gymnasium's vector envs return one dict of arrays
(``infos[key][i]``, present where ``infos["_" + key][i]``); :class:`StepInfos` is SB3's list view of
it, built only when a callback first reads it, so that the step loop pays nothing for it otherwise.

Each copy's dict holds, as SB3's ``VecEnv`` with a ``Monitor`` gives them:

* the env's own info keys for that step;
* ``"TimeLimit.truncated"``: the episode was truncated and not terminated;
* ``"terminal_observation"`` at the step an episode ended: its last observation;
* ``"episode": {"r", "l", "t"}`` at the step an episode ended (return, length, seconds since
  ``learn`` started), unless the env reports its own (a ``Monitor`` or ``RecordEpisodeStatistics``
  wrapper).

With Gymnasium's default (NEXT_STEP) autoreset, the observation returned at an episode's end *is*
its last observation (the copy resets at the next step, a step that is no transition and ends no
episode); ``new_obs`` therefore holds it, where SB3's holds the first observation of the next
episode. With SAME_STEP autoreset the step's own info is Gymnasium's ``final_info`` and the last
observation its ``final_obs``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np


def copy_info(infos: dict[str, Any], i: int) -> dict[str, Any]:
    """Env copy ``i``'s info from Gymnasium's dict of arrays (nested dicts included)."""
    out: dict[str, Any] = {}
    for key, value in infos.items():
        if key.startswith("_") and key[1:] in infos:
            continue  # the mask of ``key[1:]``
        present = infos.get("_" + key)
        if present is not None and not present[i]:
            continue
        out[key] = copy_info(value, i) if isinstance(value, dict) else value[i]
    return out


def copy_observation(observations: Any, i: int) -> Any:
    """Env copy ``i``'s observation from a batch (an array, a dict of arrays, or a tuple of items)."""
    if isinstance(observations, dict):
        return {key: copy_observation(value, i) for key, value in observations.items()}
    return observations[i]


class StepInfos(Sequence):
    """SB3's ``infos`` (a list of one dict per env copy) for one step of a Gymnasium vector env.

    The dicts are built on first access (see the module docstring for their content); ``len`` needs
    no building. ``episodes`` is the model's ``ep_info_buffer``, whose last ``dones.sum()`` entries
    (appended in copy order before this step's callbacks run) are the episodes that ended here;
    ``started`` is the ``time.perf_counter()`` at which training started.
    """

    __slots__ = ("_infos", "_dones", "_terminated", "_truncated", "_new_obs", "_same_step", "_episodes",
                 "_last_episode", "_started", "_list")

    def __init__(self, infos: dict[str, Any], dones: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
                 new_obs: Any, same_step: bool, episodes: Any = None, started: float | None = None) -> None:
        self._infos, self._dones = infos, dones
        self._terminated, self._truncated = terminated, truncated
        self._new_obs, self._same_step = new_obs, same_step
        self._episodes, self._started = episodes, started
        # The newest entry now; entries that later steps append do not belong to this step.
        self._last_episode = episodes[-1] if episodes else None
        self._list: list[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return len(self._dones)

    def __getitem__(self, index: Any) -> Any:
        return self.as_list()[index]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.as_list())

    def __repr__(self) -> str:
        return repr(self.as_list())

    def __eq__(self, other: object) -> bool:
        return self.as_list() == (list(other) if isinstance(other, Sequence) else other)

    __hash__ = None  # a mutable list's view

    def as_list(self) -> list[dict[str, Any]]:
        """The per-copy dicts (built once, then the same list)."""
        if self._list is None:
            self._list = self._build()
        return self._list

    def _build(self) -> list[dict[str, Any]]:
        infos, dones = self._infos, np.asarray(self._dones, dtype=bool)
        ended = np.flatnonzero(dones)
        stats = dict(zip(ended.tolist(), self._ended_episodes(len(ended))))
        out = []
        for i in range(len(dones)):
            done = bool(dones[i])
            if done and self._same_step and "final_info" in infos:
                info = copy_info(infos["final_info"], i)
            else:
                info = copy_info(infos, i)
                info.pop("final_info", None)
                info.pop("final_obs", None)
            info["TimeLimit.truncated"] = bool(self._truncated[i]) and not bool(self._terminated[i])
            if done:
                info["terminal_observation"] = self._last_observation(i)
                if "episode" not in info and stats.get(i) is not None:
                    info["episode"] = stats[i]
            out.append(info)
        return out

    def _last_observation(self, i: int) -> Any:
        if self._same_step and "final_obs" in self._infos:
            return self._infos["final_obs"][i]
        return copy_observation(self._new_obs, i)

    def _ended_episodes(self, count: int) -> list[dict[str, Any] | None]:
        """``{"r", "l", "t"}`` of the ``count`` episodes that ended at this step (None where unknown)."""
        buffer, last = self._episodes, self._last_episode
        if not count or buffer is None or last is None:
            return [None] * count
        end = next((k for k in range(len(buffer) - 1, -1, -1) if buffer[k] is last), None)
        if end is None:  # pushed out of the buffer by later episodes
            return [None] * count
        elapsed = round(time.perf_counter() - self._started, 6) if self._started is not None else None
        found = [_episode_dict(buffer[k], elapsed) for k in range(max(0, end - count + 1), end + 1)]
        return [None] * (count - len(found)) + found


def _episode_dict(entry: dict[str, Any], elapsed: float | None) -> dict[str, Any]:
    """SB3's ``info["episode"]`` from an ``ep_info_buffer`` entry."""
    return {"r": entry["r"], "l": entry["l"], "t": entry.get("t", elapsed)}


def step_infos(model: Any, callback: Any, infos: Any, dones: np.ndarray, terminated: np.ndarray,
               truncated: np.ndarray, new_obs: Any, next_step_reset: bool) -> Any:
    """The ``infos`` entry a collection loop gives ``callback.update_locals``: SB3's list of dicts
    (a lazy :class:`StepInfos`) for Gymnasium's dict of arrays; a list (an SB3-style ``VecEnv``'s) as it is.

    ``model.ep_info_buffer`` gives the ``"episode"`` entries; ``callback``, the time training started.
    """
    if not isinstance(infos, dict):
        return infos
    return StepInfos(infos, dones, terminated, truncated, new_obs, not next_step_reset, model.ep_info_buffer,
                     getattr(callback, "_training_started", None))
