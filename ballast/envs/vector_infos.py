"""Per-copy views of a Gymnasium vector env's batched results, and partial resets.

Gymnasium's vector envs return one ``infos`` dict of arrays, each key ``k`` paired with a mask
``_k`` saying which copies have it; SB3's VecEnv API returns one dict per copy. The functions here
translate between the two and tell whether a vector env can reset some of its copies only
(``reset(options={"reset_mask": mask})``), which is how a next-step-autoreset env is given SB3's
same-step autoreset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AsyncVectorEnv, SyncVectorEnv, VectorEnv
from gymnasium.vector.utils import iterate

#: Keys of a same-step-autoreset ``infos`` that describe the episode that ended, not the current step.
FINAL_KEYS = ("final_obs", "_final_obs", "final_info", "_final_info")


def _is_mask_key(key: str, infos: Mapping[str, Any]) -> bool:
    return key.startswith("_") and key[1:] in infos


def _row(value: Any, index: int, n_envs: int) -> Any:
    if isinstance(value, np.ndarray) and value.ndim > 0 and value.shape[0] == n_envs:
        row = value[index]
        # A batched scalar comes back as the Python number the env put in its info, as in SB3.
        return row.item() if isinstance(row, np.generic) else row
    if isinstance(value, (list, tuple)) and len(value) == n_envs:
        return value[index]
    return value


def info_of_copy(infos: Mapping[str, Any], index: int, n_envs: int, skip: Sequence[str] = ()) -> dict[str, Any]:
    """The info dict of copy ``index`` from a batched ``infos`` (keys whose mask excludes it are left out)."""
    out: dict[str, Any] = {}
    for key, value in infos.items():
        if key in skip or _is_mask_key(key, infos):
            continue
        mask = infos.get(f"_{key}")
        if mask is not None and not bool(_row(mask, index, n_envs)):
            continue
        out[key] = info_of_copy(value, index, n_envs) if isinstance(value, Mapping) else _row(value, index, n_envs)
    return out


def infos_of_copies(infos: Mapping[str, Any], n_envs: int, skip: Sequence[str] = ()) -> list[dict[str, Any]]:
    """:func:`info_of_copy` for every copy."""
    return [info_of_copy(infos, i, n_envs, skip) for i in range(n_envs)]


def add_copy_info(infos: dict[str, Any], info: Mapping[str, Any], index: int, n_envs: int) -> dict[str, Any]:
    """Merge copy ``index``'s ``info`` into the batched ``infos`` the way Gymnasium's vector envs do."""
    for key, value in info.items():
        if key == "final_obs":
            array = infos.get(key)
            if array is None:
                array = np.full(n_envs, None, dtype=object)
            array[index] = value
        elif isinstance(value, Mapping):
            array = add_copy_info(infos.get(key, {}), value, index, n_envs)
        else:
            array = infos.get(key)
            if array is None:
                if type(value) in (int, float, bool) or isinstance(value, np.number):
                    array = np.zeros(n_envs, dtype=type(value))
                elif isinstance(value, np.ndarray):
                    array = np.zeros((n_envs, *value.shape), dtype=value.dtype)
                else:
                    array = np.full(n_envs, None, dtype=object)
            array[index] = value
        mask = infos.get(f"_{key}")
        if mask is None:
            mask = np.zeros(n_envs, dtype=bool)
        mask[index] = True
        infos[key], infos[f"_{key}"] = array, mask
    return infos


def batch_infos(per_copy: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One batched ``infos`` dict from one info dict per copy (the inverse of :func:`infos_of_copies`)."""
    infos: dict[str, Any] = {}
    for index, info in enumerate(per_copy):
        add_copy_info(infos, info, index, len(per_copy))
    return infos


def observation_rows(vector_env: VectorEnv, observations: Any) -> list[Any]:
    """The observation of each copy, from a batch of ``vector_env``'s observations."""
    return list(iterate(vector_env.observation_space, observations))


def supports_partial_reset(vector_env: VectorEnv) -> bool:
    """True when ``reset(options={"reset_mask": mask})`` resets only the masked copies.

    Gymnasium's ``SyncVectorEnv`` and ``AsyncVectorEnv`` do (wrappers pass the option down to them);
    NumPy-batched envs from a ``vector_entry_point`` (e.g. CartPole's) reset every copy.
    """
    return isinstance(vector_env.unwrapped, (SyncVectorEnv, AsyncVectorEnv))


def reset_mask_of(options: Mapping[str, Any] | None, n_envs: int) -> np.ndarray | None:
    """The ``reset_mask`` of a vector ``reset``'s options, or None for a reset of every copy."""
    if not options or "reset_mask" not in options:
        return None
    return np.asarray(options["reset_mask"], dtype=bool).reshape(n_envs)


def with_final_observations(next_obs: Any, infos: dict[str, Any], ended: np.ndarray) -> Any:
    """``next_obs`` with the final observations (SAME_STEP autoreset) in the copies that ended."""
    mask = np.asarray(infos.get("_final_obs", ended)) & ended
    if isinstance(next_obs, dict):
        # Graph and set parts are tuples, one item per env copy: copied as lists.
        out = {k: list(v) if isinstance(v, tuple) else np.array(v, copy=True) for k, v in next_obs.items()}
        for i in np.flatnonzero(mask):
            for k in out:
                out[k][i] = infos["final_obs"][i][k]
        return out
    out = list(next_obs) if isinstance(next_obs, tuple) else np.array(next_obs, copy=True)
    for i in np.flatnonzero(mask):
        out[i] = infos["final_obs"][i]
    return out
