"""Space helpers: which spaces are supported, image detection, observation checking, JSON form.

Spaces are described in JSON (never pickled) so that a checkpoint can record them and a loaded
model can compare them with a new environment's spaces.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from ballast.errors import ObservationError, UnsupportedSpaceError

OBSERVATION_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary, spaces.Dict)
ACTION_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)


def check_observation_space(space: spaces.Space) -> None:
    """Raise :class:`UnsupportedSpaceError` naming ``space`` if no storage or encoder handles it."""
    if isinstance(space, spaces.Dict):
        for key, sub in space.spaces.items():
            if isinstance(sub, spaces.Dict):
                raise UnsupportedSpaceError(
                    f"nested Dict observation spaces are not supported (key {key!r} holds {sub}); "
                    "flatten the nesting into one Dict, e.g. with keys 'outer/inner'"
                )
            check_observation_space(sub)
        return
    if not isinstance(space, OBSERVATION_SPACES):
        raise UnsupportedSpaceError(
            f"observation space {space} ({type(space).__name__}) is not supported; supported: "
            + ", ".join(s.__name__ for s in OBSERVATION_SPACES)
        )


def check_action_space(space: spaces.Space, supported: tuple[type, ...] = ACTION_SPACES, algo: str = "") -> None:
    """Raise :class:`UnsupportedSpaceError` if ``space`` is not one of ``supported``."""
    if not isinstance(space, supported):
        who = f"{algo} " if algo else ""
        raise UnsupportedSpaceError(
            f"{who}does not support the action space {space} ({type(space).__name__}); supported: "
            + ", ".join(s.__name__ for s in supported)
        )
    if isinstance(space, spaces.Box) and not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
        raise UnsupportedSpaceError(
            f"the action space {space} has infinite bounds; give the Box finite low/high so that "
            "actions can be clipped or scaled into it"
        )


def is_image_space(space: spaces.Space) -> bool:
    """True for a uint8 Box of rank 3 with values in [0, 255] (channels first or last)."""
    if not isinstance(space, spaces.Box) or space.dtype != np.uint8 or len(space.shape) != 3:
        return False
    return bool(np.all(space.low == 0) and np.all(space.high == 255))


def is_channels_first(space: spaces.Box) -> bool:
    """Guess the channel axis as SB3 does: the smallest of the first and last axes."""
    return space.shape[0] < space.shape[-1]


def _leaf_shape(space: spaces.Space) -> tuple[int, ...]:
    if isinstance(space, spaces.Discrete):
        return ()
    return tuple(space.shape)


def batch_observation(space: spaces.Space, obs: Any) -> tuple[Any, bool]:
    """Return ``(obs_as_batch, was_batched)`` or raise :class:`ObservationError`.

    A single observation gains a leading batch axis; a batch is returned as it is. The error
    names the expected shape for one observation and for a batch, and the shape that came.
    """
    if isinstance(space, spaces.Dict):
        if not isinstance(obs, dict):
            raise ObservationError(
                f"expected a dict observation with keys {list(space.spaces)}, got {type(obs).__name__}"
            )
        missing = [k for k in space.spaces if k not in obs]
        if missing:
            raise ObservationError(
                f"the observation lacks the keys {missing}; expected keys {list(space.spaces)}, "
                f"got {list(obs)}"
            )
        out, batched_flags = {}, set()
        for key, sub in space.spaces.items():
            try:
                out[key], flag = batch_observation(sub, obs[key])
            except ObservationError as err:
                raise ObservationError(f"observation key {key!r}: {err}") from None
            batched_flags.add(flag)
        if len(batched_flags) > 1:
            raise ObservationError("some keys of the dict observation are batched and others are not")
        sizes = {len(v) for v in out.values()}
        if len(sizes) > 1:
            raise ObservationError(f"the keys of the dict observation have different batch sizes {sorted(sizes)}")
        return out, batched_flags.pop()
    shape = _leaf_shape(space)
    array = np.asarray(obs)
    if array.dtype == object:
        raise ObservationError(f"expected a numeric observation of shape {shape}, got {type(obs).__name__}")
    if array.shape == shape:
        return array[None], False
    if array.ndim == len(shape) + 1 and array.shape[1:] == shape:
        return array, True
    raise ObservationError(
        f"observation shape {array.shape} does not fit the observation space {space}: expected "
        f"{shape} for one observation or (batch, {', '.join(map(str, shape))}) for a batch"
        + ("" if shape else " (a batch of integers has shape (batch,))")
        + ". Check that the env passed to predict is the one the model was trained on"
    )


def space_to_json(space: spaces.Space) -> dict[str, Any]:
    """A JSON description of a supported space (used in checkpoints and error messages)."""
    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "shape": list(space.shape),
            "dtype": str(space.dtype),
            "low": _finite_or_text(space.low),
            "high": _finite_or_text(space.high),
        }
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start), "dtype": str(space.dtype)}
    if isinstance(space, spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": space.nvec.tolist(), "start": space.start.tolist(),
                "dtype": str(space.dtype)}
    if isinstance(space, spaces.MultiBinary):
        n = space.n
        return {"type": "MultiBinary", "n": list(n) if isinstance(n, (tuple, list, np.ndarray)) else int(n)}
    if isinstance(space, spaces.Dict):
        return {"type": "Dict", "spaces": {k: space_to_json(v) for k, v in space.spaces.items()}}
    raise UnsupportedSpaceError(f"cannot describe the space {space} ({type(space).__name__}) in JSON")


def _finite_or_text(values: np.ndarray) -> Any:
    """Bounds as nested lists, infinities as the strings "inf"/"-inf" so the JSON stays strict."""
    def convert(x: Any) -> Any:
        if isinstance(x, list):
            return [convert(v) for v in x]
        return x if np.isfinite(x) else ("inf" if x > 0 else "-inf")

    return convert(values.astype(np.float64).tolist())


def _float_list(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=object).astype(np.float64) if values is not None else None


def space_from_json(data: dict[str, Any]) -> spaces.Space:
    """Rebuild a space written by :func:`space_to_json`."""
    kind = data.get("type")
    if kind == "Box":
        dtype = np.dtype(data["dtype"])
        low = _float_list(data["low"]).astype(dtype)
        high = _float_list(data["high"]).astype(dtype)
        return spaces.Box(low=low, high=high, shape=tuple(data["shape"]), dtype=dtype)
    if kind == "Discrete":
        return spaces.Discrete(int(data["n"]), start=int(data.get("start", 0)),
                               dtype=np.dtype(data.get("dtype", "int64")))
    if kind == "MultiDiscrete":
        return spaces.MultiDiscrete(np.asarray(data["nvec"]), start=np.asarray(data.get("start", 0)),
                                    dtype=np.dtype(data.get("dtype", "int64")))
    if kind == "MultiBinary":
        return spaces.MultiBinary(data["n"])
    if kind == "Dict":
        return spaces.Dict({k: space_from_json(v) for k, v in data["spaces"].items()})
    raise UnsupportedSpaceError(f"unknown space description {kind!r}")


def spaces_equal(a: spaces.Space, b: spaces.Space) -> bool:
    """Structural equality that tolerates float rounding of Box bounds."""
    return space_to_json(a) == space_to_json(b)
