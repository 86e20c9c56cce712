"""Drawing an env's random observations from a space without sharing the space's own generator."""

from __future__ import annotations

import copy

import numpy as np
from gymnasium import spaces

#: Seeds drawn for a copy's generator lie below this bound (what ``Space.seed`` takes).
SEED_BOUND = 2**32


def independent_copy(space: spaces.Space, rng: np.random.Generator) -> spaces.Space:
    """A copy of ``space`` whose ``sample()`` draws from a generator seeded from ``rng``.

    An env that draws its states with ``space.sample()`` would share that generator with whoever
    samples the same space: an identity env's action space is its observation space, so a random
    agent seeded like the space would copy every state by chance. Drawing from a copy seeded from the
    env's ``np_random`` keeps the two apart and makes ``reset(seed=s)`` decide the states.
    """
    draws = copy.deepcopy(space)
    draws.seed(int(rng.integers(SEED_BOUND)))
    return draws
