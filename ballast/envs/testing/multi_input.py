"""A grid world observed through a vector and an image: SB3's ``SimpleMultiObsEnv`` (``multi_input_envs``).

The grid has ``num_row`` rows and ``num_col`` columns; cell ``s`` is in row ``s // num_col`` and
column ``s % num_col``. The cells on the border are open, the inner ones walls. With the default
4 x 4 grid::

     0  1  2  3
     4 [5  6] 7
     8 [9 10]11
    12 13 14 15

Actions: 0 left, 1 down, 2 right, 3 up (``Discrete(4)``, or with ``discrete_actions=False`` a
``Box(0, 1, (4,))`` whose largest component is the move). A move from an open cell to an
adjacent open cell happens; any other move leaves the agent where it is. Each step costs 0.1; reaching
the last cell (bottom right, 15) earns 1.0 instead and terminates the episode; an episode is
truncated at its 101st step (``count > max_count``, as in SB3). The agent starts in cell 0, or with
``random_start=True`` in a cell drawn uniformly among all but the goal, walls included (a start
inside the walls cannot move, as in SB3). From cell 0 the shortest paths take 6 steps and return
``5 * -0.1 + 1.0 = 0.5``.

Observation: ``{"vec": Box(0, 1, (5,), float64), "img": Box(0, 255, (64, 64, 1), uint8)}``
(``(1, 64, 64)`` with ``channel_last=False``): each column has a random vector and each row a random
image, drawn when the env is created from NumPy's global generator (as in SB3, so
``set_random_seed`` makes them reproducible); a cell shows its column's vector and its row's image.
SB3's transitions are written out for the 4 x 4 grid; here other sizes follow the same rule
(border open, inside walls).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ballast.errors import ConfigurationError

VECTOR_SIZE = 5
IMAGE_SIDE = 64
STEP_REWARD = -0.1
GOAL_REWARD = 1.0
#: Row and column change of each action: left, down, right, up.
MOVES = ((0, -1), (1, 0), (0, 1), (-1, 0))


class SimpleMultiObsEnv(gym.Env):
    """A grid world with ``Dict`` observations of a vector and an image (see the module docstring).

    :param num_col: the number of columns of the grid
    :param num_row: the number of rows of the grid
    :param random_start: start each episode in a random cell (not the goal) rather than in cell 0
    :param discrete_actions: ``Discrete(4)`` actions; with ``False``, ``Box(0, 1, (4,))`` (the largest
        component is the move)
    :param channel_last: images ``(64, 64, 1)`` rather than ``(1, 64, 64)``
    """

    def __init__(
        self,
        num_col: int = 4,
        num_row: int = 4,
        random_start: bool = True,
        discrete_actions: bool = True,
        channel_last: bool = True,
    ) -> None:
        if num_col < 1 or num_row < 1 or num_col * num_row < 2:
            raise ConfigurationError(f"SimpleMultiObsEnv needs a grid of at least two cells, got num_col={num_col}, "
                                     f"num_row={num_row}")
        self.num_col, self.num_row = num_col, num_row
        self.random_start = random_start
        self.discrete_actions = discrete_actions
        self.vector_size = VECTOR_SIZE
        self.img_size = [IMAGE_SIDE, IMAGE_SIDE, 1] if channel_last else [1, IMAGE_SIDE, IMAGE_SIDE]
        self.action_space = spaces.Discrete(4) if discrete_actions else spaces.Box(0, 1, (4,), dtype=np.float32)
        self.observation_space = spaces.Dict({
            "vec": spaces.Box(0, 1, (VECTOR_SIZE,), dtype=np.float64),
            "img": spaces.Box(0, 255, self.img_size, dtype=np.uint8),
        })
        self.count = 0
        self.max_count = 100
        self.log = ""
        self.state = 0
        self.max_state = num_col * num_row - 1
        self.action2str = ["left", "down", "right", "up"]
        self.left_possible, self.down_possible, self.right_possible, self.up_possible = (
            [s for s in range(self.max_state + 1) if self._target(s, move) is not None] for move in MOVES)
        column_vectors = np.random.random((num_col, VECTOR_SIZE))
        row_images = np.random.randint(0, 256, (num_row, IMAGE_SIDE, IMAGE_SIDE), dtype=np.uint8)
        self.state_mapping = [
            {"vec": column_vectors[s % num_col], "img": row_images[s // num_col].reshape(self.img_size)}
            for s in range(self.max_state + 1)
        ]

    def _is_open(self, row: int, col: int) -> bool:
        inside = 0 <= row < self.num_row and 0 <= col < self.num_col
        return inside and (row in (0, self.num_row - 1) or col in (0, self.num_col - 1))

    def _target(self, state: int, move: tuple[int, int]) -> int | None:
        """The cell a move leads to from ``state``, or None when it is blocked."""
        row, col = divmod(state, self.num_col)
        to_row, to_col = row + move[0], col + move[1]
        if self._is_open(row, col) and self._is_open(to_row, to_col):
            return to_row * self.num_col + to_col
        return None

    def get_state_mapping(self) -> dict[str, np.ndarray]:
        """The observation of the current cell (fresh arrays)."""
        return {key: value.copy() for key, value in self.state_mapping[self.state].items()}

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict]:
        super().reset(seed=seed)
        self.count = 0
        self.state = int(self.np_random.integers(0, self.max_state)) if self.random_start else 0
        return self.get_state_mapping(), {}

    def step(self, action: int | np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        move = int(np.argmax(action)) if not self.discrete_actions else int(np.asarray(action).item())
        self.count += 1
        previous = self.state
        target = self._target(self.state, MOVES[move])
        if target is not None:
            self.state = target
        got_to_end = self.state == self.max_state
        reward = GOAL_REWARD if got_to_end else STEP_REWARD
        self.log = f"Went {self.action2str[move]} in state {previous}, got to state {self.state}"
        return self.get_state_mapping(), reward, got_to_end, self.count > self.max_count, {"got_to_end": got_to_end}

    def render(self, mode: str = "human") -> None:
        """Print what the last step did."""
        print(self.log)
