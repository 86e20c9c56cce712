"""Returns and advantages as pure functions of arrays.

All functions take time-major arrays of shape ``(T, N)`` (T steps of N env copies).

Termination and truncation are distinct (design principle 5): ``terminated[t]`` means the state
after step t is terminal and is worth 0; ``episode_end[t]`` (terminated or truncated) means the
episode stops at step t, so nothing after it is chained into step t's return, but a truncated
step still bootstraps from the value of its final observation, ``next_values[t]``.
"""

from __future__ import annotations

import numpy as np
import torch

from ballast.errors import ConfigurationError


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


# --- off-policy targets -------------------------------------------------------------------------
# These take batch-major tensors: one row per sampled transition. ``discounts`` is the factor in
# front of the bootstrap value, ``gamma^k * (1 - terminated)`` for a k-step transition (see
# :func:`n_step_returns`): zero at termination, ``gamma^k`` at truncation, where the final
# observation is the bootstrap state (design principle 5).


def n_step_returns(
    rewards: torch.Tensor,
    terminated: torch.Tensor,
    episode_end: torch.Tensor,
    available: torch.Tensor,
    gamma: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """n-step returns of windows of ``n`` consecutive steps (Sutton & Barto, 2018, section 7.1).

    All inputs have shape ``(B, n)``: column ``j`` is step ``t + j`` of the window that starts at
    the sampled step ``t``. ``available[:, j]`` says that step ``t + j`` was stored as a real
    transition of the same episode copy and its successor observation is stored too
    (``available[:, 0]`` must be True). The window keeps step ``j >= 1`` while every step before
    it is available and did not end the episode:

    ``k = 1 + #{j >= 1 : available[i] for all 1 <= i <= j and not episode_end[i] for all i < j}``
    ``R = sum_{j < k} gamma^j * r_{t+j}``
    ``discount = gamma^k * (1 - terminated_{t+k-1})``

    and the target is ``R + discount * V(s_{t+k})``. Returns ``(R, discount, k)``; ``k`` tells
    which stored observation is ``s_{t+k}`` (the final observation when the episode ended).
    """
    rewards = rewards.to(torch.float32)
    n = rewards.shape[1]
    keep = torch.ones_like(rewards, dtype=torch.bool)
    if n > 1:
        not_ended = ~episode_end[:, :-1].to(torch.bool)
        # step j is kept iff steps 1..j are available and steps 0..j-1 did not end the episode
        continues = (available[:, 1:].to(torch.bool) & not_ended).to(torch.uint8)
        keep[:, 1:] = torch.cumprod(continues, dim=1).bool()
    lengths = keep.sum(dim=1)
    powers = gamma ** torch.arange(n, dtype=torch.float32, device=rewards.device)
    returns = (rewards * powers * keep).sum(dim=1)
    last_terminated = terminated.to(torch.bool).gather(1, (lengths - 1).unsqueeze(1)).squeeze(1)
    discounts = (gamma ** lengths.to(torch.float32)) * (~last_terminated).to(torch.float32)
    return returns, discounts, lengths


def soft_q_target(
    rewards: torch.Tensor,
    discounts: torch.Tensor,
    next_q: torch.Tensor,
    next_log_prob: torch.Tensor,
    ent_coef: torch.Tensor | float,
) -> torch.Tensor:
    """SAC's soft Bellman target (Haarnoja et al., 2018, arXiv:1801.01290 and arXiv:1812.05905).

    ``y = r + discount * (min_i Q'_i(s', a') - alpha * log pi(a'|s'))`` with ``a' ~ pi(.|s')``,
    the target critics ``Q'_i`` (``next_q`` has shape ``(n_critics, B)``) and the entropy
    coefficient ``alpha``; the minimum over critics is the clipped double-Q trick of TD3.
    """
    return rewards + discounts * (next_q.min(dim=0).values - ent_coef * next_log_prob)


def clipped_double_q_target(rewards: torch.Tensor, discounts: torch.Tensor,
                            next_q: torch.Tensor) -> torch.Tensor:
    """TD3's target (Fujimoto et al., 2018, arXiv:1802.09477), DDPG's with one critic.

    ``y = r + discount * min_i Q'_i(s', clip(mu'(s') + clip(eps, -c, c), -1, 1))``; ``next_q`` has
    shape ``(n_critics, B)`` and already holds the target critics at the smoothed target action.
    """
    return rewards + discounts * next_q.min(dim=0).values


def q_learning_target(
    rewards: torch.Tensor,
    discounts: torch.Tensor,
    next_q_target: torch.Tensor,
    next_q_online: torch.Tensor | None = None,
) -> torch.Tensor:
    """DQN's target (Mnih et al., 2015), or Double DQN's (van Hasselt et al., 2016, arXiv:1509.06461).

    ``y = r + discount * max_a Q'(s', a)`` with the target network ``Q'`` (``next_q_target``,
    shape ``(B, n_actions)``). With the online network's values ``next_q_online`` the action is
    chosen by the online network and evaluated by the target one:
    ``y = r + discount * Q'(s', argmax_a Q(s', a))``.
    """
    if next_q_online is None:
        next_values = next_q_target.max(dim=1).values
    else:
        next_values = next_q_target.gather(1, next_q_online.argmax(dim=1, keepdim=True)).squeeze(1)
    return rewards + discounts * next_values


def quantile_q_learning_target(
    rewards: torch.Tensor,
    discounts: torch.Tensor,
    next_quantiles_target: torch.Tensor,
    next_quantiles_online: torch.Tensor | None = None,
) -> torch.Tensor:
    """QR-DQN's target quantiles (Dabney et al., 2018, arXiv:1710.10044, algorithm 1).

    ``T theta_j = r + discount * theta'_j(s', a*)`` with ``a* = argmax_a mean_j theta'_j(s', a)``:
    the target network's quantiles ``next_quantiles_target`` (shape ``(B, N, n_actions)``) at the
    action whose mean over the quantiles (the Q-value) is largest. With the online network's
    quantiles ``next_quantiles_online`` the online network picks ``a*`` (Double DQN's rule).
    Returns shape ``(B, N)``.
    """
    chooser = next_quantiles_target if next_quantiles_online is None else next_quantiles_online
    greedy = chooser.mean(dim=1).argmax(dim=1)
    index = greedy.view(-1, 1, 1).expand(-1, next_quantiles_target.shape[1], 1)
    next_quantiles = next_quantiles_target.gather(2, index).squeeze(2)
    return rewards.unsqueeze(1) + discounts.unsqueeze(1) * next_quantiles


def truncated_quantile_target(
    rewards: torch.Tensor,
    discounts: torch.Tensor,
    next_quantiles: torch.Tensor,
    next_log_prob: torch.Tensor,
    ent_coef: torch.Tensor | float,
    top_quantiles_to_drop_per_net: int,
) -> torch.Tensor:
    """TQC's truncated target mixture (Kuznetsov et al., 2020, arXiv:2005.04269, eqs. 9-10).

    The target critics' quantiles at ``(s', a')``, ``a' ~ pi(.|s')`` (``next_quantiles``, shape
    ``(n_critics, B, N)``), pooled and sorted per sample: ``z_(1) <= ... <= z_(n_critics N)``. The
    largest ``d * n_critics`` (``d = top_quantiles_to_drop_per_net``) are dropped, which controls the
    overestimation bias as the minimum over critics does in SAC and TD3; the ``M = n_critics (N - d)``
    smallest are the target atoms:

    ``y_j = r + discount * (z_(j) - alpha * log pi(a'|s'))``, ``j = 1..M``

    Returns shape ``(B, M)``, sorted along ``j``.
    """
    n_critics, batch, n = next_quantiles.shape
    kept = n_critics * (n - top_quantiles_to_drop_per_net)
    if kept < 1:
        raise ConfigurationError(
            f"top_quantiles_to_drop_per_net={top_quantiles_to_drop_per_net} drops every one of the {n} quantiles of "
            "each critic, leaving no target; drop fewer than n_quantiles (sb3-contrib's default: 2 of 25)")
    pooled = next_quantiles.permute(1, 0, 2).reshape(batch, n_critics * n)
    atoms = pooled.sort(dim=1).values[:, :kept]
    return rewards.unsqueeze(1) + discounts.unsqueeze(1) * (atoms - (ent_coef * next_log_prob).unsqueeze(1))


def explained_variance(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    """How much of the returns' variance the value predictions explain: ``1 - Var[y - y_hat] / Var[y]``.

    1 is a perfect prediction, 0 no better than a constant, negative worse than one; NaN when the
    returns do not vary. (SB3's ``explained_variance``.)
    """
    y_pred, y_true = np.asarray(y_pred), np.asarray(y_true)
    var_y = np.var(y_true)
    return float("nan") if var_y == 0 else float(1 - np.var(y_true - y_pred) / var_y)
