"""Space helpers: which spaces are supported, image detection, observation checking, JSON form.

Spaces are described in JSON (never pickled) so that a checkpoint can record them and a loaded
model can compare them with a new environment's spaces.

Observations of variable size: ``gymnasium.spaces.Graph`` (node features, optional edge features,
edge links), ``gymnasium.spaces.Sequence`` of Box, and a Box with a declared set axis
(:func:`set_axis`, giving a :class:`SetSpace`). None of them records a size, so a model trained
on small observations has the same spaces as an env of large ones.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from gymnasium import spaces

from ballast.errors import ObservationError, UnsupportedSpaceError
from ballast.node_spaces import MAX_NODES, NodeBox, NodeChoice, NodeMultiBinary

OBSERVATION_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary, spaces.Dict,
                      spaces.Graph, spaces.Sequence)
ACTION_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)


class SetSpace(spaces.Sequence):
    """A Box whose axis ``axis`` has a variable length: a set of points, each in ``feature_space``.

    Made by :func:`set_axis`. An observation is an array with the set axis at ``axis`` and the
    feature axes around it, e.g. ``(n_points, 3)`` for ``axis=0``. It is a stacked
    ``gymnasium.spaces.Sequence``, so Gymnasium's vector envs batch it (as a tuple of arrays), and
    Ballast's encoders treat it as an unordered set.
    """

    def __init__(self, feature_space: spaces.Box, axis: int = 0, seed: int | np.random.Generator | None = None
                 ) -> None:
        super().__init__(feature_space, seed=seed, stack=True)
        self.axis = int(axis)

    def contains(self, x: Any) -> bool:
        array = np.asarray(x)
        if array.ndim != 1 + len(self.feature_space.shape) or not -array.ndim <= self.axis < array.ndim:
            return False
        return super().contains(np.moveaxis(array, self.axis, 0))

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        return np.moveaxis(np.asarray(super().sample(mask=mask, probability=probability)), 0, self.axis)

    def __repr__(self) -> str:
        return f"SetSpace({self.feature_space}, axis={self.axis})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SetSpace) and self.feature_space == other.feature_space and self.axis == other.axis


def set_axis(space: spaces.Box, axis: int = 0) -> SetSpace:
    """Declare axis ``axis`` of the Box ``space`` a set axis of variable length.

    ``set_axis(Box(-1, 1, (100, 3)), axis=0)`` is a set of any number of 3-vectors in [-1, 1];
    the length 100 is dropped (it sizes nothing). The bounds of one element are those of the
    first slice along ``axis``; they must not vary along it.
    """
    if not isinstance(space, spaces.Box):
        raise UnsupportedSpaceError(f"set_axis needs a Box space, got {space} ({type(space).__name__})")
    if not -len(space.shape) <= axis < len(space.shape) or len(space.shape) < 1:
        raise UnsupportedSpaceError(f"axis {axis} is not an axis of the Box {space} of shape {space.shape}")
    axis = axis % len(space.shape)
    low, high = np.moveaxis(space.low, axis, 0), np.moveaxis(space.high, axis, 0)
    if not (np.all(low == low[:1]) and np.all(high == high[:1])):
        raise UnsupportedSpaceError(
            f"the bounds of the Box {space} vary along axis {axis}; every element of a set needs the same bounds")
    return SetSpace(spaces.Box(low=low[0], high=high[0], dtype=space.dtype), axis=axis)


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
    if isinstance(space, spaces.Graph):
        for part, sub in (("node_space", space.node_space), ("edge_space", space.edge_space)):
            if sub is not None and not isinstance(sub, (spaces.Box, spaces.Discrete)):
                raise UnsupportedSpaceError(f"the Graph {part} must be a Box or a Discrete, got {sub}")
    if isinstance(space, spaces.Sequence) and not isinstance(space.feature_space, spaces.Box):
        raise UnsupportedSpaceError(
            f"a Sequence observation space must hold Box elements, got {space.feature_space}; "
            "encode other elements as vectors (e.g. one-hot) in a Box"
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
        _warn_extra_keys(space, obs)
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
    if isinstance(space, spaces.Graph):
        return _batch_graphs(obs)
    if isinstance(space, spaces.Sequence):
        return _batch_sets(space, obs)
    shape = _leaf_shape(space)
    try:
        array = np.asarray(obs)
    except (ValueError, TypeError) as err:  # ragged nested lists; a tensor on a GPU
        raise ObservationError(f"expected a numeric observation of shape {shape}, got a {type(obs).__name__} that "
                               f"NumPy cannot read as one array ({err}); pass a NumPy array") from None
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise ObservationError(f"expected a numeric observation of shape {shape}, got {type(obs).__name__}")
    if array.shape == shape:
        return array[None], False
    if array.ndim == len(shape) + 1 and array.shape[1:] == shape:
        if len(array) == 0:
            raise ObservationError(f"the batch holds no observation (shape {array.shape}); pass at least one")
        return array, True
    raise ObservationError(
        f"observation shape {array.shape} does not fit the observation space {space}: expected "
        f"{shape} for one observation or (batch, {', '.join(map(str, shape))}) for a batch"
        + ("" if shape else " (a batch of integers has shape (batch,))")
        + ". Check that the env passed to predict is the one the model was trained on"
    )


_WARNED_EXTRA_KEYS: set[tuple[str, ...]] = set()


def _warn_extra_keys(space: spaces.Dict, obs: dict) -> None:
    """Warn once per set of keys that a dict observation holds keys the space does not have (ignored)."""
    extra = tuple(sorted(str(k) for k in obs if k not in space.spaces))
    if extra and extra not in _WARNED_EXTRA_KEYS:
        _WARNED_EXTRA_KEYS.add(extra)
        warnings.warn(f"the dict observation has keys the observation space does not have, ignored: {list(extra)}; "
                      f"the space's keys are {list(space.spaces)}", UserWarning, stacklevel=4)


def check_observation_values(space: spaces.Space, batch: Any, *, check_finite: bool = True) -> None:
    """Raise :class:`ObservationError` for a batch holding values no observation of ``space`` has:
    ``Discrete``/``MultiDiscrete`` entries out of range, and (unless ``check_finite=False``) NaN or
    infinite floats. Graph and set observations are left to their encoders."""
    if isinstance(space, spaces.Dict):
        for key, sub in space.spaces.items():
            try:
                check_observation_values(sub, batch[key], check_finite=check_finite)
            except ObservationError as err:
                raise ObservationError(f"observation key {key!r}: {err}") from None
        return
    if not isinstance(batch, np.ndarray) or batch.dtype == object:
        return
    if isinstance(space, (spaces.Discrete, spaces.MultiDiscrete)):
        low = np.asarray(space.start)
        high = low + (space.n if isinstance(space, spaces.Discrete) else space.nvec) - 1
        outside = (batch < low) | (batch > high)
        if batch.dtype.kind == "f":
            outside |= batch != np.floor(batch)
        if outside.any():
            raise ObservationError(
                f"the observation holds {batch[outside].flat[0]!r}, which {space} does not: its entries are "
                f"integers from {low.tolist()} to {high.tolist()}. Check the env passed to predict, or the keys "
                "of a dict observation")
    elif check_finite and batch.dtype.kind == "f" and not np.isfinite(batch).all():
        raise ObservationError(
            "the observation holds NaN or infinite values, so the policy's action would be meaningless; fix the "
            "sensor or the env (or clip the values), or pass check_finite=False to predict to skip this check")


def _batch_graphs(obs: Any) -> tuple[Any, bool]:
    if isinstance(obs, spaces.GraphInstance):
        return [obs], False
    if isinstance(obs, (tuple, list)) and all(isinstance(g, spaces.GraphInstance) for g in obs):
        return list(obs), True
    raise ObservationError(
        f"expected a gymnasium GraphInstance (one graph) or a tuple/list of them (a batch), got {type(obs).__name__}"
    )


def _batch_sets(space: spaces.Sequence, obs: Any) -> tuple[Any, bool]:
    rank = 1 + len(space.feature_space.shape)
    if isinstance(obs, (tuple, list)) and not space.stack and (
            len(obs) == 0 or np.asarray(obs[0]).ndim == rank - 1):
        return [obs], False  # one unstacked sequence: a tuple of elements
    if isinstance(obs, (tuple, list)):
        return list(obs), True
    array = np.asarray(obs)
    if array.dtype != object and array.ndim == rank:
        return [array], False
    if array.dtype != object and array.ndim == rank + 1:
        return list(array), True
    raise ObservationError(
        f"expected one set of shape (n, {', '.join(map(str, space.feature_space.shape))}) for the space {space}, "
        f"or a tuple/list of them for a batch; got {type(obs).__name__}"
        + (f" of shape {array.shape}" if array.dtype != object else "")
    )


def space_to_json(space: spaces.Space) -> dict[str, Any]:
    """A JSON description of a supported space (used in checkpoints and error messages)."""
    if isinstance(space, NodeChoice):
        return {"type": "NodeChoice", "max_nodes": int(space.n)}
    if isinstance(space, NodeMultiBinary):
        return {"type": "NodeMultiBinary"}
    if isinstance(space, NodeBox):
        return {"type": "NodeBox", "node_space": space_to_json(space.node_space)}
    if isinstance(space, spaces.Graph):
        return {"type": "Graph", "node_space": space_to_json(space.node_space),
                "edge_space": None if space.edge_space is None else space_to_json(space.edge_space)}
    if isinstance(space, SetSpace):
        return {"type": "Set", "feature_space": space_to_json(space.feature_space), "axis": space.axis}
    if isinstance(space, spaces.Sequence):
        return {"type": "Sequence", "feature_space": space_to_json(space.feature_space), "stack": bool(space.stack)}
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
    if kind == "NodeChoice":
        return NodeChoice(int(data.get("max_nodes", MAX_NODES)))
    if kind == "NodeMultiBinary":
        return NodeMultiBinary()
    if kind == "NodeBox":
        box = space_from_json(data["node_space"])
        return NodeBox(box.low, box.high, box.shape, dtype=box.dtype)
    if kind == "Graph":
        edge = data.get("edge_space")
        return spaces.Graph(space_from_json(data["node_space"]), None if edge is None else space_from_json(edge))
    if kind == "Set":
        return SetSpace(space_from_json(data["feature_space"]), axis=int(data.get("axis", 0)))
    if kind == "Sequence":
        return spaces.Sequence(space_from_json(data["feature_space"]), stack=bool(data.get("stack", False)))
    raise UnsupportedSpaceError(f"unknown space description {kind!r}")


def spaces_equal(a: spaces.Space, b: spaces.Space) -> bool:
    """Structural equality that tolerates float rounding of Box bounds."""
    return space_to_json(a) == space_to_json(b)


def same_kind(a: spaces.Space, b: spaces.Space) -> bool:
    """True when ``a`` and ``b`` differ at most in sizes and bounds: the same space types, Dict keys, dtypes
    and ranks. A model built for ``a`` may then fit ``b`` when its layers do not depend on the sizes."""
    ja, jb = space_to_json(a), space_to_json(b)

    def strip(data: Any) -> Any:
        if isinstance(data, dict):
            out = {k: strip(v) for k, v in data.items()
                   if k not in ("low", "high", "n", "nvec", "start", "max_nodes")}
            if "shape" in out:
                out["shape"] = len(data["shape"])
            return out
        return data

    return strip(ja) == strip(jb)
