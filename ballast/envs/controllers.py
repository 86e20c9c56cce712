"""Hand-written controllers for Gymnasium's classic-control, MuJoCo and Gymnasium-Robotics envs, to use
as residual base policies.

Each is a plain function ``obs_batch -> action_batch`` on NumPy arrays, importable by its path
(``"ballast.envs.controllers:pendulum_swing_up"``), so a residual model saved with one loads
without being told where it is.
"""

from __future__ import annotations

import numpy as np

#: Pendulum-v1's constants: gravity g, mass m, length l, and the torque bound.
_G, _M, _L, _MAX_TORQUE = 10.0, 1.0, 1.0, 2.0


def pendulum_swing_up(obs: np.ndarray, energy_gain: float = 2.0, kp: float = 4.0, kd: float = 0.8,
                      switch_cos: float = 0.9) -> np.ndarray:
    """Energy-based swing-up with a PD balance near the top, for ``Pendulum-v1``; deliberately mistuned.

    ``obs`` rows are ``(cos theta, sin theta, theta_dot)`` with ``theta = 0`` upright. Far from the
    top the torque pumps energy towards that of the upright rest state (Astrom & Furuta, 2000):
    ``u = energy_gain * (E* - E) * sign(theta_dot)`` with ``E = I theta_dot^2 / 2 + m g l cos(theta) / 2``,
    ``I = m l^2 / 3`` and ``E* = m g l / 2``, since ``dE/dt = u * theta_dot``. Once ``cos theta >
    switch_cos`` a PD law ``u = -kp * theta - kd * theta_dot`` balances. Torques are clipped to ±2.

    The swing-up is sound; the balance gains are too weak on purpose: holding the pendulum up needs
    ``3 kp > 3 g / 2``, i.e. ``kp > 5``; with ``kp = 4`` it reaches the top and falls again, and
    scores about -490 per episode (``kp=10, kd=2`` scores about -165, near the best this law can
    do). It is the imperfect base of the residual examples.
    """
    obs = np.asarray(obs, dtype=np.float64)
    cos, sin, velocity = obs[:, 0], obs[:, 1], obs[:, 2]
    theta = np.arctan2(sin, cos)
    inertia = _M * _L**2 / 3.0
    energy = 0.5 * inertia * velocity**2 + 0.5 * _M * _G * _L * cos
    pump = energy_gain * (0.5 * _M * _G * _L - energy) * np.where(velocity >= 0.0, 1.0, -1.0)
    balance = -kp * theta - kd * velocity
    torque = np.where(cos > switch_cos, balance, pump)
    return np.clip(torque, -_MAX_TORQUE, _MAX_TORQUE)[:, None].astype(np.float32)


#: Reacher-v5's link lengths (upper arm, forearm to fingertip).
_REACHER_LINKS = (0.1, 0.11)


def reacher_jacobian_pd(obs: np.ndarray, kp: float = 10.0, kd: float = 0.1) -> np.ndarray:
    """A Jacobian-transpose PD law for Gymnasium's MuJoCo ``Reacher-v5``: ``tau = J(q)^T kp e - kd q_dot``.

    ``obs`` rows are ``(cos q1, cos q2, sin q1, sin q2, target_x, target_y, q1_dot, q2_dot,
    fingertip_x - target_x, fingertip_y - target_y)``; ``e`` is the fingertip-to-target vector and
    ``J`` the two-link arm's Jacobian. Torques are clipped to ±1. It scores about -6.5 to -8.5 per
    episode, by the targets drawn (doing nothing scores about -12.6): it ignores the control cost
    and overshoots, which a residual can learn to fix.
    """
    obs = np.asarray(obs, dtype=np.float64)
    l1, l2 = _REACHER_LINKS
    c1, c2, s1, s2 = obs[:, 0], obs[:, 1], obs[:, 2], obs[:, 3]
    c12, s12 = c1 * c2 - s1 * s2, s1 * c2 + c1 * s2
    fx, fy = -kp * obs[:, 8], -kp * obs[:, 9]
    tau1 = (-l1 * s1 - l2 * s12) * fx + (l1 * c1 + l2 * c12) * fy
    tau2 = -l2 * s12 * fx + l2 * c12 * fy
    torque = np.stack([tau1, tau2], axis=1) - kd * obs[:, 6:8]
    return np.clip(torque, -1.0, 1.0).astype(np.float32)


def bit_flipping_half(obs: dict[str, np.ndarray]) -> np.ndarray:
    """A partial controller for the continuous bit-flipping env (``ballast/BitFlipping-v0`` with
    ``continuous=True``): it flips the wrong bits of the first half of the state (+1), keeps its
    right ones (-1), and leaves the second half undecided (0: no flip), so that a residual policy
    has the second half to learn from the sparse reward. Works on a batch of Dict observations
    with bit-vector goals."""
    achieved = np.asarray(obs["achieved_goal"], dtype=np.float32)
    desired = np.asarray(obs["desired_goal"], dtype=np.float32)
    half = achieved.shape[1] // 2
    actions = np.zeros_like(achieved)
    actions[:, :half] = np.where(achieved[:, :half] != desired[:, :half], 1.0, -1.0)
    return actions


def fetch_reach(obs: dict[str, np.ndarray], gain: float = 10.0) -> np.ndarray:
    """A proportional reach for Gymnasium-Robotics' ``FetchReach``: move the gripper straight at the goal.

    ``obs["observation"]`` rows start with the gripper position; an action moves it by up to 5 cm per
    axis and step (Fetch's position control), so ``a = clip(gain * (goal - gripper), -1, 1)`` closes
    the gap in a few steps and holds it. Solves FetchReach (success 1.0), so as a residual base it shows
    the correction leaving a good controller alone.
    """
    gripper = np.asarray(obs["observation"], dtype=np.float64)[:, :3]
    goal = np.asarray(obs["desired_goal"], dtype=np.float64)
    actions = np.zeros((len(gripper), 4))
    actions[:, :3] = np.clip(gain * (goal - gripper), -1.0, 1.0)
    return actions.astype(np.float32)


def fetch_push(obs: dict[str, np.ndarray], behind: float = 0.07, hover: float = 0.05, gain: float = 10.0,
               align: float = 0.015) -> np.ndarray:
    """A scripted pusher for Gymnasium-Robotics' ``FetchPush``, reading only the observation (no memory).

    ``obs["observation"]`` rows start with the gripper position (0:3) and the block position (3:6). With
    ``u`` the unit vector from the block to the goal on the table, the gripper (closed) goes to the point
    ``behind`` metres before the block along ``u``, coming in from ``hover`` metres above it, goes down
    to the block's height, then moves towards the goal and so pushes the block along ``u``. Moves are
    proportional (``gain``, clipped to Fetch's ±1 = 5 cm per step). It succeeds on about half of the
    episodes (0.525 over seeds 0-39 of ``FetchPush-v4``): it pushes through the block's centre only
    roughly, so the block turns and drifts, and it cannot pull a block it has pushed past the goal. A
    residual policy learns the rest from the sparse reward.
    """
    o = np.asarray(obs["observation"], dtype=np.float64)
    goal = np.asarray(obs["desired_goal"], dtype=np.float64)
    gripper, block = o[:, 0:3], o[:, 3:6]
    to_goal = goal[:, :2] - block[:, :2]
    u = to_goal / np.maximum(np.linalg.norm(to_goal, axis=1, keepdims=True), 1e-6)
    relative = gripper[:, :2] - block[:, :2]
    along = np.sum(relative * u, axis=1)
    across = np.abs(relative[:, 0] * u[:, 1] - relative[:, 1] * u[:, 0])
    start = block[:, :2] - behind * u
    in_line = (along < -0.6 * behind) & (across < align)
    at_start = np.linalg.norm(gripper[:, :2] - start, axis=1) < 0.02
    pushing = in_line & (np.abs(gripper[:, 2] - block[:, 2]) < 0.015)
    target = np.empty_like(gripper)
    target[:, :2] = np.where(pushing[:, None], goal[:, :2] - (behind - 0.02) * u, start)
    target[:, 2] = np.where(pushing | at_start | in_line, block[:, 2], block[:, 2] + hover)
    actions = np.zeros((len(o), 4))
    actions[:, :3] = np.clip(gain * (target - gripper), -1.0, 1.0)
    actions[:, 3] = -1.0
    return actions.astype(np.float32)
