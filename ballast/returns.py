"""Returns and advantages as pure functions of arrays.

All functions take time-major arrays of shape ``(T, N)`` (T steps of N env copies).

Termination and truncation are distinct (design principle 5): ``terminated[t]`` means the state
after step t is terminal and is worth 0; ``episode_end[t]`` (terminated or truncated) means the
episode stops at step t, so nothing after it is chained into step t's return, but a truncated
step still bootstraps from the value of its final observation, ``next_values[t]``.
"""

from __future__ import annotations

import numpy as np


def compute_gae(
    rewards: np.ndarray,
    values: np.ndarray,
    next_values: np.ndarray,
    terminated: np.ndarray,
    episode_end: np.ndarray,
    gamma: float,
    gae_lambda: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Generalized Advantage Estimation (Schulman et al., 2016, arXiv:1506.02438).

    ``delta_t = r_t + gamma * (1 - terminated_t) * V(s_{t+1}) - V(s_t)``
    ``A_t = delta_t + gamma * lambda * (1 - episode_end_t) * A_{t+1}``
    and the value targets are ``A_t + V(s_t)`` (the lambda-returns).

    ``next_values[t]`` is V of the observation that followed step t: the final observation when
    the episode ended there. Returns ``(advantages, returns)`` in the dtype of ``values``.
    """
    values = np.asarray(values)
    not_terminal = 1.0 - np.asarray(terminated, dtype=values.dtype)
    discount = (gamma * gae_lambda) * (1.0 - np.asarray(episode_end, dtype=values.dtype))
    deltas = np.asarray(rewards, dtype=values.dtype) + gamma * not_terminal * next_values - values
    advantages = np.zeros_like(values)
    running = np.zeros_like(values[0])
    for t in range(values.shape[0] - 1, -1, -1):
        running = deltas[t] + discount[t] * running
        advantages[t] = running
    return advantages, advantages + values
