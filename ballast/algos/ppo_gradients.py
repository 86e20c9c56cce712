"""PPO's loss gradients in closed form for the default MLP actor-critic.

For small networks, running autograd costs more than the arithmetic: every operation of the
forward pass records a node, and the backward pass walks them one by one. For the policy most
PPO runs use — vector observations, the stacked actor-critic MLP (:class:`StackedMLP`, tanh or
ReLU), a categorical or diagonal-Gaussian action head and a linear value head — the gradient of

    loss = policy + vf_coef * value [+ ent_coef * entropy]

(the terms of :meth:`ballast.PPO.compute_losses`, same definitions) is short enough to write out.
:class:`PPOClosedFormGradients` computes the forward pass, the terms and the gradients with plain
tensor operations and writes the gradients into the parameters' ``.grad`` (views of the flat
gradient, see :class:`ballast.optim.FlatParameters`). They equal autograd's up to float rounding
(``tests/unit/test_ppo_gradients.py``). The derivatives used, per sample ``b`` of a minibatch of ``B``:

- clipped surrogate ``-mean(min(rho A, clip(rho, 1-eps, 1+eps) A))`` with ``rho = exp(log_prob - old)``:
  ``d/d log_prob = -(1/B) A rho w``, where ``w`` is 1 where the unclipped term is the smaller or the
  ratio lies within the clip range, and follows ``torch.min``'s tie rule (half to each side) otherwise;
- categorical ``log_prob = log_softmax(z)_a``: ``d/dz = onehot(a) - softmax(z)``; entropy
  ``H = -sum p log p``: ``dH/dz = -p (log p + H)``;
- Gaussian ``log_prob = sum_j -u_j^2/2 - log sigma_j - log sqrt(2 pi)`` with ``u = (a - mu) / sigma``:
  ``d/dmu = u / sigma``, ``d/d log sigma = u^2 - 1``; entropy ``dH/d log sigma_j = 1``;
- value ``mean((R - V')^2)`` with ``V'`` optionally clipped around the old value: ``d/dV = 2 (V' - R) / B``
  where the clip is inactive;
- each layer ``h = act(h_prev W + b)``: ``dW = h_prev^T g``, ``db = sum g``, ``dh_prev = g W^T`` with
  ``g = dh * act'``; ``tanh' = 1 - h^2``, ``relu' = [h > 0]``.

Anything else (other encoders, heads or activations, gSDE, action masks, extra loss terms, a
subclass overriding ``compute_losses``) uses autograd: :func:`closed_form_gradients` returns None.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ballast.buffers import RolloutBatch
from ballast.encoders.standard import FlattenEncoder
from ballast.policies.actor_critic import ActorCriticPolicy
from ballast.policies.heads import CategoricalHead, GaussianHead

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


class PPOClosedFormGradients:
    """``grads(batch, clip_range, clip_range_vf) -> (terms, stats)`` with the gradients written.

    ``terms`` and ``stats`` are those of :meth:`ballast.PPO.compute_losses`, detached.
    """

    def __init__(self, policy: ActorCriticPolicy, *, vf_coef: float, ent_coef: float,
                 normalize_advantage: bool) -> None:
        trunk = policy.trunk
        self.weights = list(trunk.weights._parameters.values())
        self.biases = list(trunk.biases._parameters.values())
        self.tanh = trunk.activation_name == "Tanh"
        self.encoder = policy.encoder
        self.head = policy.action_head.net
        self.log_std = policy.action_head.log_std if isinstance(policy.action_head, GaussianHead) else None
        self.value_head = policy.value_head
        self.vf_coef, self.ent_coef = vf_coef, ent_coef
        self.normalize_advantage = normalize_advantage

    @torch.no_grad()
    def __call__(self, batch: RolloutBatch, clip_range: float, clip_range_vf: float | None
                 ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        x = self.encoder.forward(batch.observations)
        n = x.shape[0]
        hidden = [x.unsqueeze(0).expand(2, *x.shape)]
        for weight, bias in zip(self.weights, self.biases):
            pre = torch.baddbmm(bias, hidden[-1], weight)
            hidden.append(torch.tanh(pre) if self.tanh else torch.relu(pre))
        latent_pi, latent_vf = hidden[-1][0], hidden[-1][1]
        head_out = torch.addmm(self.head.bias, latent_pi, self.head.weight.t())
        values = torch.addmm(self.value_head.bias, latent_vf, self.value_head.weight.t()).squeeze(-1)

        if self.log_std is None:
            log_probs_all = torch.log_softmax(head_out, dim=-1)
            index = batch.actions.long().unsqueeze(-1)
            log_prob = log_probs_all.gather(-1, index).squeeze(-1)
        else:
            std = self.log_std.exp()
            u = (batch.actions - head_out) / std
            log_prob = (-0.5 * u.square() - std.log() - _LOG_SQRT_2PI).sum(-1)

        advantages = batch.advantages
        if self.normalize_advantage and n > 1:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        log_ratio = log_prob - batch.old_log_prob
        ratio = torch.exp(log_ratio)
        unclipped = advantages * ratio
        clipped = advantages * torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range)
        policy_loss = -torch.min(unclipped, clipped).mean()
        in_range = (ratio >= 1.0 - clip_range) & (ratio <= 1.0 + clip_range)
        tie_weight = torch.where(in_range, 1.0, 0.5)
        weight = torch.where(unclipped < clipped, 1.0, torch.where(unclipped == clipped, tie_weight, 0.0))
        d_log_prob = advantages * weight * ratio * (-1.0 / n)

        predicted = values
        if clip_range_vf is not None:
            change = values - batch.old_values
            predicted = batch.old_values + torch.clamp(change, -clip_range_vf, clip_range_vf)
        error = predicted - batch.returns
        value_loss = error.square().mean()
        d_values = error * (2.0 * self.vf_coef / n)
        if clip_range_vf is not None:
            d_values = d_values * ((change >= -clip_range_vf) & (change <= clip_range_vf))

        terms = {"policy": policy_loss, "value": self.vf_coef * value_loss}
        stats = {"train/policy_gradient_loss": policy_loss, "train/value_loss": value_loss, "log_ratio": log_ratio}
        if self.log_std is None:
            probs = log_probs_all.exp()
            d_head = probs * -d_log_prob.unsqueeze(-1)
            d_head.scatter_add_(-1, index, d_log_prob.unsqueeze(-1))
            if self.ent_coef != 0.0:
                entropy = -(probs * log_probs_all).sum(-1)
                d_head += probs * (log_probs_all + entropy.unsqueeze(-1)) * (self.ent_coef / n)
        else:
            d_head = d_log_prob.unsqueeze(-1) * u / std
            torch.sum(d_log_prob.unsqueeze(-1) * (u.square() - 1.0), 0, out=self.log_std.grad)
            if self.ent_coef != 0.0:
                entropy = (0.5 + _LOG_SQRT_2PI + std.log()).sum().expand(n)
                self.log_std.grad.sub_(self.ent_coef)
        if self.ent_coef != 0.0:
            entropy_loss = -entropy.mean()
            terms["entropy"] = self.ent_coef * entropy_loss
            stats["train/entropy_loss"] = entropy_loss

        torch.mm(d_head.t(), latent_pi, out=self.head.weight.grad)
        torch.sum(d_head, 0, out=self.head.bias.grad)
        torch.mm(d_values.unsqueeze(0), latent_vf, out=self.value_head.weight.grad)
        self.value_head.bias.grad.copy_(d_values.sum(0, keepdim=True))
        d_hidden = torch.stack((d_head @ self.head.weight, d_values.unsqueeze(-1) * self.value_head.weight))
        for layer in range(len(self.weights) - 1, -1, -1):
            out = hidden[layer + 1]
            d_pre = d_hidden * (1.0 - out * out) if self.tanh else d_hidden * (out > 0)
            torch.bmm(hidden[layer].transpose(1, 2), d_pre, out=self.weights[layer].grad)
            torch.sum(d_pre, 1, keepdim=True, out=self.biases[layer].grad)
            if layer:
                d_hidden = torch.bmm(d_pre, self.weights[layer].transpose(1, 2))
        return terms, stats


def closed_form_gradients(model: Any) -> PPOClosedFormGradients | None:
    """The closed-form gradients for ``model`` (a PPO) when its policy and settings allow, else None."""
    from ballast.algos.ppo import PPO

    policy = model.policy
    cfg = model.config
    trunk = getattr(policy, "trunk", None)
    head = getattr(policy, "action_head", None)
    params = model.flat_params.params
    supported = (
        type(model).compute_losses is PPO.compute_losses
        and not model.extensions.extra_losses
        and not model.extensions.modules
        and type(policy) is ActorCriticPolicy
        # A residual policy's loss changes during critic warm-up (the policy term is left out),
        # which the closed form does not follow.
        and getattr(policy, "residual", None) is None
        and type(policy.encoder) is FlattenEncoder
        and trunk is not None
        and trunk.copies == 2
        and len(trunk.weights) > 0
        and trunk.activation_name in ("Tanh", "ReLU")
        and type(head) in (CategoricalHead, GaussianHead)
        and not cfg.use_sde
        and all(p.dtype == torch.float32 and p.grad is not None for p in params)
        and len(params) == len(list(policy.parameters()))
    )
    if not supported:
        return None
    return PPOClosedFormGradients(policy, vf_coef=cfg.vf_coef, ent_coef=cfg.ent_coef,
                                  normalize_advantage=cfg.normalize_advantage)
