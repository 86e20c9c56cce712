"""Loss terms as pure functions of tensors. Each returns a scalar to be minimised.

Next to each loss that a fast update uses, ``<loss>_grad`` gives its derivative with respect to its
inputs (:mod:`ballast.policies.fast_mlp` takes it from there through the networks' layers, without
autograd). The derivatives follow autograd's rules where a function is not differentiable: the
derivative of ``clamp`` is 1 on the closed interval, ``torch.min`` of two equal tensors passes half
to each, and the minimum over a dimension passes all to the index it returns.
``tests/unit/test_losses.py`` checks every one against autograd.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def ppo_clip_loss(ratio: torch.Tensor, advantages: torch.Tensor, clip_range: float) -> torch.Tensor:
    """PPO's clipped surrogate (Schulman et al., 2017, arXiv:1707.06347), negated.

    ``L = -mean(min(rho * A, clip(rho, 1 - eps, 1 + eps) * A))`` with the probability ratio
    ``rho = pi(a|s) / pi_old(a|s) = exp(log_prob - old_log_prob)``.
    """
    unclipped = advantages * ratio
    clipped = advantages * torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range)
    return -torch.min(unclipped, clipped).mean()


def ppo_clip_loss_grad(ratio: torch.Tensor, advantages: torch.Tensor, clip_range: float) -> torch.Tensor:
    """``dL/d rho`` of :func:`ppo_clip_loss`, per sample: ``-A [rho A <= clip(rho) A] / B``.

    Where the unclipped term is the smaller the derivative is ``-A / B``, where the clipped one is,
    ``rho`` lies outside the clip range (``clip`` is flat there) and it is 0. Where the two are equal,
    ``torch.min`` passes half to each: ``-A / B`` when ``rho`` is in the range (``clip``'s
    derivative is 1 on the closed interval), and when it is not the terms can only be equal with
    ``A = 0``, where every form gives 0 — so one comparison decides every case.
    """
    unclipped = advantages * ratio
    clipped = advantages * torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range)
    return advantages * (unclipped <= clipped) * (-1.0 / ratio.numel())


def policy_gradient_loss(log_prob: torch.Tensor, advantages: torch.Tensor) -> torch.Tensor:
    """The vanilla policy-gradient (A2C) loss ``-mean(A * log pi(a|s))`` (Mnih et al., 2016)."""
    return -(advantages * log_prob).mean()


def policy_gradient_loss_grad(log_prob: torch.Tensor, advantages: torch.Tensor) -> torch.Tensor:
    """``dL/d log pi`` of :func:`policy_gradient_loss`: ``-A / B``."""
    return advantages * (-1.0 / log_prob.numel())


def value_loss(
    values: torch.Tensor,
    returns: torch.Tensor,
    old_values: torch.Tensor | None = None,
    clip_range_vf: float | None = None,
) -> torch.Tensor:
    """Mean squared error to the value targets, optionally with the prediction clipped.

    With ``clip_range_vf = c``: ``V_clip = V_old + clip(V - V_old, -c, c)`` and the loss is
    ``mean((R - V_clip)^2)``, as in SB3 (which clips the prediction, not the max of both losses).
    """
    if clip_range_vf is not None and old_values is not None:
        values = old_values + torch.clamp(values - old_values, -clip_range_vf, clip_range_vf)
    return F.mse_loss(returns, values)


def value_loss_grad(
    values: torch.Tensor,
    returns: torch.Tensor,
    old_values: torch.Tensor | None = None,
    clip_range_vf: float | None = None,
) -> torch.Tensor:
    """``dL/dV`` of :func:`value_loss`: ``2 (V_clip - R) / B`` where the clip is inactive, else 0."""
    if clip_range_vf is None or old_values is None:
        return (values - returns) * (2.0 / values.numel())
    change = values - old_values
    error = old_values + torch.clamp(change, -clip_range_vf, clip_range_vf) - returns
    active = (change >= -clip_range_vf) & (change <= clip_range_vf)
    return error * active * (2.0 / values.numel())


def entropy_loss(entropy: torch.Tensor) -> torch.Tensor:
    """``-mean(H)``: minimising it maximises the policy's entropy."""
    return -entropy.mean()


def entropy_loss_grad(entropy: torch.Tensor) -> torch.Tensor:
    """``dL/dH`` of :func:`entropy_loss`: ``-1 / B`` for every sample."""
    return torch.full_like(entropy, -1.0 / entropy.numel())


def approx_kl(log_ratio: torch.Tensor) -> torch.Tensor:
    """KL(pi_old || pi) estimated by ``mean((rho - 1) - log rho)`` (low variance, always >= 0;
    J. Schulman, "Approximating KL divergence", 2020), with ``log_ratio = log rho``."""
    return torch.mean(torch.exp(log_ratio) - 1.0 - log_ratio)


def clip_fraction(ratio: torch.Tensor, clip_range: float) -> torch.Tensor:
    """Share of samples whose ratio ``rho`` left ``[1 - eps, 1 + eps]``."""
    return (torch.abs(ratio - 1.0) > clip_range).float().mean()


# --- off-policy losses ---------------------------------------------------------------------------


def weighted_mean(values: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """``mean_b(w_b * l_b)`` of per-sample losses ``l`` (shape ``(B,)``); ``mean_b(l_b)`` without weights.

    With prioritized replay's importance weights ``w_b`` (Schaul et al., 2016, "Prioritized
    Experience Replay", ICLR) this is the loss whose gradient is the paper's
    ``sum_b w_b delta_b grad Q(s_b, a_b)``, averaged over the batch; its derivative with respect
    to ``l_b`` is ``w_b / B``.
    """
    return values.mean() if weights is None else (weights * values).mean()


def q_regression_losses(q_values: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per sample, the squared TD errors summed over critics: ``l_b = sum_i (Q_i(s_b, a_b) - y_b)^2``,
    shape ``(B,)``; ``q_values`` has shape ``(n_critics, B)``."""
    return (q_values - targets.unsqueeze(0)).square().sum(dim=0)


def q_regression_loss(q_values: torch.Tensor, targets: torch.Tensor,
                      weights: torch.Tensor | None = None) -> torch.Tensor:
    """Sum over critics of the mean squared TD error: ``sum_i mean((Q_i(s, a) - y)^2)``.

    ``q_values`` has shape ``(n_critics, B)``, ``targets`` shape ``(B,)`` and no gradient. TD3
    minimises this sum (Fujimoto et al., 2018); SAC, as SB3, half of it. With importance
    weights ``w`` (shape ``(B,)``): ``mean_b(w_b * sum_i (Q_i - y)^2)`` (:func:`weighted_mean`
    of :func:`q_regression_losses`), which is the same sum when every ``w_b = 1``.
    """
    if weights is None:
        return (q_values - targets.unsqueeze(0)).square().mean(dim=1).sum()
    return weighted_mean(q_regression_losses(q_values, targets), weights)


def q_regression_loss_grad(q_values: torch.Tensor, targets: torch.Tensor,
                           weights: torch.Tensor | None = None) -> torch.Tensor:
    """``dL/dQ_i`` of :func:`q_regression_loss`: ``2 w_b (Q_i - y) / B`` (``w_b = 1`` without
    weights), shape ``(n_critics, B)``."""
    grad = (q_values - targets.unsqueeze(0)) * (2.0 / q_values.shape[1])
    return grad if weights is None else grad * weights.unsqueeze(0)


def critic_td_errors(q_values: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The priority of each sample for SAC, TD3 and DDPG: the critics' mean absolute TD error
    ``mean_i |Q_i(s_b, a_b) - y_b|``, shape ``(B,)`` (``q_values``: ``(n_critics, B)``)."""
    return (q_values - targets.unsqueeze(0)).abs().mean(dim=0)


def sac_actor_loss(log_prob: torch.Tensor, q_values: torch.Tensor,
                   ent_coef: torch.Tensor | float) -> torch.Tensor:
    """SAC's policy loss (Haarnoja et al., 2018, arXiv:1801.01290, eq. 7 with reparameterisation).

    ``L = mean(alpha * log pi(a~|s) - min_i Q_i(s, a~))`` with ``a~`` sampled by reparameterisation;
    ``q_values`` (shape ``(n_critics, B)``) must carry gradients to the actions only.
    """
    return (ent_coef * log_prob - q_values.min(dim=0).values).mean()


def sac_actor_loss_grad(log_prob: torch.Tensor, q_values: torch.Tensor, ent_coef: torch.Tensor | float
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The derivatives of :func:`sac_actor_loss`: ``(dL/d log pi, chosen, dL/dQ_chosen)``.

    ``dL/d log pi = alpha / B`` per sample; the minimum passes ``-1 / B`` to the critic ``chosen[b]``
    it picks for sample ``b`` (the others get nothing), returned as that index and that value.
    """
    n = log_prob.numel()
    chosen = q_values.min(dim=0).indices
    return (ent_coef * torch.ones_like(log_prob)) * (1.0 / n), chosen, torch.full_like(log_prob, -1.0 / n)


def deterministic_actor_loss(q_values: torch.Tensor) -> torch.Tensor:
    """The deterministic policy-gradient loss of DDPG/TD3 (Silver et al., 2014; Lillicrap et al., 2016).

    ``L = -mean(Q_1(s, mu(s)))``: only the first critic, as in TD3.
    """
    return -q_values.mean()


def deterministic_actor_loss_grad(q_values: torch.Tensor) -> torch.Tensor:
    """``dL/dQ`` of :func:`deterministic_actor_loss`: ``-1 / B`` for every entry."""
    return torch.full_like(q_values, -1.0 / q_values.numel())


def entropy_coef_loss(log_ent_coef: torch.Tensor, log_prob: torch.Tensor,
                      target_entropy: float) -> torch.Tensor:
    """Automatic entropy tuning (Haarnoja et al., 2018, arXiv:1812.05905, eq. 18), on ``log alpha``.

    ``L = -mean(log(alpha) * (log pi(a|s) + H_target))`` with ``log_prob`` detached: alpha grows
    when the policy's entropy ``-log pi`` falls below the target ``H_target``. Optimising
    ``log alpha`` rather than ``alpha`` (as SB3 and softlearning do) keeps alpha positive.
    """
    return -(log_ent_coef * (log_prob.detach() + target_entropy)).mean()


def entropy_coef_loss_grad(log_ent_coef: torch.Tensor, log_prob: torch.Tensor, target_entropy: float
                           ) -> torch.Tensor:
    """``dL/d log alpha`` of :func:`entropy_coef_loss`: ``-mean(log pi + H_target)``, shaped like ``log_ent_coef``."""
    return (-(log_prob + target_entropy).mean()).expand_as(log_ent_coef)


def huber_q_losses(q_values: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The Huber loss (delta = 1) of each sample's TD error ``u = Q(s, a) - y``: ``u^2 / 2`` where
    ``|u| <= 1``, ``|u| - 1/2`` elsewhere; shape ``(B,)``."""
    return F.smooth_l1_loss(q_values, targets, reduction="none")


def huber_q_loss(q_values: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """DQN's loss (Mnih et al., 2015): the mean Huber loss (smooth L1, delta = 1) of the TD error
    ``Q(s, a) - y``; with importance weights ``w`` (shape ``(B,)``) the :func:`weighted_mean` of
    :func:`huber_q_losses`."""
    if weights is None:
        return F.smooth_l1_loss(q_values, targets)
    return weighted_mean(huber_q_losses(q_values, targets), weights)


def huber_q_loss_grad(q_values: torch.Tensor, targets: torch.Tensor,
                      weights: torch.Tensor | None = None) -> torch.Tensor:
    """``dL/dQ`` of :func:`huber_q_loss`: ``w_b clamp(Q - y, -1, 1) / B`` (``w_b = 1`` without weights)."""
    grad = (q_values - targets).clamp(-1.0, 1.0) * (1.0 / q_values.numel())
    return grad if weights is None else grad * weights


def quantile_huber_losses(quantiles: torch.Tensor, target_quantiles: torch.Tensor) -> torch.Tensor:
    """The quantile Huber loss of each sample (Dabney et al., 2018, arXiv:1710.10044, eq. 10, kappa = 1).

    ``quantiles`` ``theta_i`` (shape ``(B, N)``) estimate the quantiles at the midpoints
    ``tau_i = (2i + 1) / (2N)``; ``target_quantiles`` ``T theta_j`` (shape ``(B, N')``, no gradient)
    are samples of the target distribution. With ``u_ij = T theta_j - theta_i``:

    ``rho_i(u) = |tau_i - 1{u < 0}| * H(u)``, ``H(u) = u^2 / 2`` if ``|u| <= 1`` else ``|u| - 1/2``
    ``l = (1/N') sum_j sum_i rho_i(u_ij)``  (summed over the quantiles, averaged over the targets)

    Returns ``l`` per sample, shape ``(B,)``: QR-DQN's priorities for prioritized replay, being
    what the update minimises and large while the distributions differ, even where their means
    agree (Hessel et al., 2018, "Rainbow", prioritise C51 by its loss for the same reason).
    """
    n = quantiles.shape[1]
    tau = (torch.arange(n, device=quantiles.device, dtype=quantiles.dtype) + 0.5) / n
    delta = target_quantiles.unsqueeze(1) - quantiles.unsqueeze(2)
    weight = (tau.view(1, -1, 1) - (delta.detach() < 0).to(delta.dtype)).abs()
    return (weight * F.huber_loss(delta, torch.zeros_like(delta), reduction="none", delta=1.0)).sum(dim=1).mean(dim=1)


def quantile_huber_loss(quantiles: torch.Tensor, target_quantiles: torch.Tensor,
                        weights: torch.Tensor | None = None) -> torch.Tensor:
    """QR-DQN's loss: the mean over samples of :func:`quantile_huber_losses` (sb3-contrib's
    ``quantile_huber_loss`` with ``sum_over_quantiles=True``), each sample weighted by
    ``weights`` (shape ``(B,)``, e.g. importance weights) when given: ``L = mean_b(w_b * l_b)``."""
    per_sample = quantile_huber_losses(quantiles, target_quantiles)
    return (per_sample if weights is None else weights * per_sample).mean()


def quantile_huber_loss_grad(quantiles: torch.Tensor, target_quantiles: torch.Tensor,
                             weights: torch.Tensor | None = None) -> torch.Tensor:
    """``dL/d theta_i`` of :func:`quantile_huber_loss`, shape ``(B, N)``:
    ``-w_b / (B N') sum_j |tau_i - 1{u_ij < 0}| clamp(u_ij, -1, 1)``."""
    batch, n = quantiles.shape
    tau = (torch.arange(n, device=quantiles.device, dtype=quantiles.dtype) + 0.5) / n
    delta = target_quantiles.unsqueeze(1) - quantiles.unsqueeze(2)
    weight = (tau.view(1, -1, 1) - (delta < 0).to(delta.dtype)).abs()
    grad = (weight * delta.clamp(-1.0, 1.0)).sum(dim=2) * (-1.0 / (batch * target_quantiles.shape[1]))
    return grad if weights is None else grad * weights.unsqueeze(1)


def tqc_critic_loss(quantiles: torch.Tensor, target_quantiles: torch.Tensor,
                    weights: torch.Tensor | None = None) -> torch.Tensor:
    """TQC's critic loss (Kuznetsov et al., 2020, arXiv:2005.04269, eq. 11), as sb3-contrib computes it.

    ``quantiles`` ``Z_i^k(s, a)`` (shape ``(n_critics, B, N)``, at the midpoints ``tau_k = (2k + 1) / (2N)``)
    regress on the truncated target mixture ``y_j`` (shape ``(B, M)``, no gradient;
    :func:`ballast.returns.truncated_quantile_target`), every critic on the same targets:

    ``L = (1 / (n_critics N M)) sum_i sum_k sum_j mean_b rho_{tau_k}(y_j - Z_i^k)``

    with :func:`quantile_huber_losses`' ``rho`` (kappa = 1): the mean over critics of
    :func:`quantile_huber_loss` divided by ``N`` (sb3-contrib's ``sum_over_quantiles=False``, the
    paper's mean over all pairs). With importance weights ``w`` (shape ``(B,)``) each sample's
    terms are weighted by ``w_b`` (the same ``w_b`` for every critic).
    """
    n_critics, batch, n = quantiles.shape
    targets = target_quantiles.unsqueeze(0).expand(n_critics, *target_quantiles.shape).reshape(n_critics * batch, -1)
    repeated = None if weights is None else weights.repeat(n_critics)
    return quantile_huber_loss(quantiles.reshape(n_critics * batch, n), targets, repeated) / n


def tqc_td_errors(quantiles: torch.Tensor, target_quantiles: torch.Tensor) -> torch.Tensor:
    """The priority of each sample for TQC: its quantile Huber loss (:func:`quantile_huber_losses`)
    averaged over the critics, shape ``(B,)``. As for QR-DQN (:func:`quantile_huber_losses`), the
    distributional loss rather than a difference of means: it is what the update minimises, and
    it stays large while the distributions differ even where their means agree (Hessel et al.,
    2018, "Rainbow", prioritise C51 by its loss for the same reason)."""
    n_critics, batch, n = quantiles.shape
    targets = target_quantiles.unsqueeze(0).expand(n_critics, *target_quantiles.shape).reshape(n_critics * batch, -1)
    return quantile_huber_losses(quantiles.reshape(n_critics * batch, n), targets).view(n_critics, batch).mean(dim=0)


def tqc_actor_loss(log_prob: torch.Tensor, quantiles: torch.Tensor, ent_coef: torch.Tensor | float) -> torch.Tensor:
    """TQC's policy loss (Kuznetsov et al., 2020, arXiv:2005.04269, eq. 13).

    ``L = mean_b(alpha * log pi(a~|s) - (1 / (n_critics N)) sum_i sum_k Z_i^k(s, a~))``: SAC's loss
    with the mean of all the critics' quantiles (no truncation, no minimum) in place of
    ``min_i Q_i``. ``quantiles`` has shape ``(n_critics, B, N)`` and must carry gradients to the
    actions only.
    """
    return (ent_coef * log_prob - quantiles.mean(dim=(0, 2))).mean()
