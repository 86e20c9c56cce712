"""Seeds and options kept for a vector env's next reset, as SB3's ``VecEnv.seed`` and ``set_options`` do.

In SB3, ``vec_env.seed(0)`` does not reset anything: the seeds ``0, 1, ..., n - 1`` are used by the
next ``reset()``, then forgotten; ``set_options`` works the same way. :class:`NextResetArguments`
keeps them on the Gymnasium side of an SB3-API env, so the next reset uses them whoever makes it:
the SB3 API's ``reset()``, or a Ballast model's first ``learn`` (which resets with the model's own
seed when it has one, as SB3's models re-seed their env with theirs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium.vector import VectorEnv, VectorWrapper

from ballast.envs.vector_infos import add_copy_info, info_of_copy, reset_mask_of, supports_partial_reset
from ballast.errors import ConfigurationError

Options = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None


class NextResetArguments(VectorWrapper):
    """Holds seeds and options for the next reset of every copy (see the module docstring)."""

    def __init__(self, env: VectorEnv) -> None:
        super().__init__(env)
        self.seeds: list[int | None] = [None] * self.num_envs
        self.options: Options = None

    def set_seeds(self, seeds: Sequence[int | None]) -> None:
        """Seeds for the next reset, one per copy."""
        if len(seeds) != self.num_envs:
            raise ConfigurationError(f"expected {self.num_envs} seeds, one per env copy, got {len(seeds)}")
        self.seeds = list(seeds)

    def set_options(self, options: Options) -> None:
        """Options for the next reset: one dict for every copy, or a list with one dict per copy."""
        if options is not None and not isinstance(options, Mapping) and len(options) != self.num_envs:
            raise ConfigurationError(
                f"expected one options dict, or a list of {self.num_envs} (one per env copy), got {len(options)}")
        self.options = options

    def reset(self, *, seed: int | list[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        if reset_mask_of(options, self.num_envs) is not None:
            return self.env.reset(seed=seed, options=options)
        if seed is None and any(s is not None for s in self.seeds):
            seed = list(self.seeds)
        pending = self.options if options is None else options
        self.seeds, self.options = [None] * self.num_envs, None
        if pending is None or isinstance(pending, Mapping):
            return self.env.reset(seed=seed, options=None if pending is None else dict(pending))
        return self._reset_with_options_per_copy(seed, [dict(o or {}) for o in pending])

    def _reset_with_options_per_copy(self, seed: Any, per_copy: list[dict[str, Any]]) -> tuple[Any, dict[str, Any]]:
        """One partial reset per distinct options dict (Gymnasium's reset takes one dict for all copies)."""
        if all(o == per_copy[0] for o in per_copy):
            return self.env.reset(seed=seed, options=per_copy[0])
        if not supports_partial_reset(self.env):
            raise ConfigurationError(
                f"different reset options per copy need an env that resets copies one by one; "
                f"{type(self.env.unwrapped).__name__} resets them all: give every copy the same options")
        groups: list[dict[str, Any]] = []
        for options in per_copy:
            if options not in groups:
                groups.append(options)
        # Every copy is reset once with the first options (a copy never reset cannot be left out of a
        # batch), then the copies with other options again with theirs.
        observations, first_infos = self.env.reset(seed=seed, options=groups[0])
        infos: dict[str, Any] = {}
        first = np.array([o == groups[0] for o in per_copy])
        for i in np.flatnonzero(first):
            add_copy_info(infos, info_of_copy(first_infos, int(i), self.num_envs), int(i), self.num_envs)
        for options in groups[1:]:
            mask = np.array([o == options for o in per_copy])
            observations, group_infos = self.env.reset(seed=seed, options={**options, "reset_mask": mask})
            for i in np.flatnonzero(mask):
                add_copy_info(infos, info_of_copy(group_infos, int(i), self.num_envs), int(i), self.num_envs)
        return observations, infos
