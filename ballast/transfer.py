"""Moving a model to an env whose observations (or actions) have other sizes.

A model whose layers do not depend on the sizes (graph and set encoders, node-level heads) loads
and acts on an env of larger graphs or sets as it is: those spaces record no size, so nothing
differs. When two spaces differ in sizes only (:func:`ballast.spaces.same_kind`), e.g. a Box of
shape (4,) and one of shape (6,), the model is built for the new spaces and the saved weights are
checked against it: if every tensor fits, they load; otherwise :class:`SpaceMismatchError` names
each layer whose weights depend on the size, with the saved and the needed shapes.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from gymnasium import spaces
from torch import nn

from ballast.errors import SpaceMismatchError
from ballast.policies.persistence import ENV_BUFFER_PREFIXES
from ballast.spaces import spaces_equal

#: gSDE's noise matrices, one per env copy (PPO's and A2C's ``exploration``, the SAC-family actors'
#: ``sde_noise``): their first size follows the number of copies, which a loaded model may change.
PER_ENV_COPY_BUFFERS = ("exploration", "sde_noise")


def _layer(module: nn.Module, key: str) -> tuple[str, str]:
    """``("path (Class)", tensor name)`` for a state-dict key, the path being the innermost layer that is
    not a mere container (a ``ParameterList`` holds the tensors of its owner)."""
    parts = key.split(".")
    for cut in range(len(parts) - 1, -1, -1):
        path = ".".join(parts[:cut])
        try:
            owner = module.get_submodule(path) if path else module
        except AttributeError:
            continue
        if not isinstance(owner, (nn.ParameterList, nn.ParameterDict, nn.ModuleList, nn.ModuleDict)):
            return f"{path or '(root)'} ({type(owner).__name__})", ".".join(parts[cut:])
    return key, key


def size_mismatches(saved: Mapping[str, torch.Tensor], module: nn.Module) -> list[str]:
    """One line per layer of ``module`` with a tensor whose shape differs in ``saved``: the layer, and each
    such tensor with its saved and needed shapes."""
    current = module.state_dict()
    by_layer: dict[str, list[str]] = {}
    for key, value in saved.items():
        if key not in current or key.startswith(ENV_BUFFER_PREFIXES) or key.endswith(PER_ENV_COPY_BUFFERS):
            continue
        if tuple(current[key].shape) != tuple(value.shape):
            layer, tensor = _layer(module, key)
            by_layer.setdefault(layer, []).append(
                f"{tensor} {tuple(value.shape)} in the model, {tuple(current[key].shape)} needed")
    return [f"layer {layer}: " + "; ".join(parts) for layer, parts in by_layer.items()]


def mismatch_error(what: str, lines: list[str]) -> SpaceMismatchError:
    """The error for a model whose layers depend on sizes that differ: ``what`` says which spaces differ."""
    return SpaceMismatchError(
        f"{what}. These layers depend on the sizes that differ, so the weights cannot be reused:\n  "
        + "\n  ".join(lines)
        + "\nA model transfers between sizes when its encoders are size-agnostic: use Graph, Sequence or "
        "ballast.spaces.set_axis observations (GNN and set encoders) and NodeChoice actions instead of a "
        "fixed-size Box, Discrete or MultiBinary."
    )


def describe_difference(saved_obs: spaces.Space, saved_act: spaces.Space, new_obs: spaces.Space,
                        new_act: spaces.Space) -> str:
    return (f"the model has the observation space {saved_obs} and action space {saved_act}, "
            f"but the env has {new_obs} and {new_act}")


def check_action_bounds(model_space: spaces.Space, env_space: spaces.Space) -> None:
    """Refuse an env whose Box actions have the model's shape but other bounds.

    The model maps (squashes, clips) its actions onto its own bounds, so in such an env its actions
    would silently mean something else.
    """
    if (isinstance(model_space, spaces.Box) and isinstance(env_space, spaces.Box)
            and model_space.shape == env_space.shape and not spaces_equal(model_space, env_space)):
        raise SpaceMismatchError(
            f"the env's action space {env_space} has other bounds than the model's {model_space}: the model "
            "maps its actions onto its own bounds, so acting in this env would change what its actions mean; "
            "rescale the env's actions to the model's bounds (e.g. gymnasium.wrappers.RescaleAction)")
