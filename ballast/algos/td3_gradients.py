"""TD3's (and DDPG's) gradient step in closed form for the default MLP policy.

The counterpart of :mod:`ballast.algos.sac_gradients` for :meth:`ballast.TD3.update` (same
definitions as :meth:`TD3.compute_critic_losses` and :meth:`TD3.compute_actor_losses`): forward
passes, losses and gradients with plain tensor operations, written into the flat gradients, then
the model's own optimizers and Polyak update. The derivatives used, per sample ``b`` of ``B``:

- critic loss ``sum_i mean_b (Q_i - y)^2`` with ``y = r + discount * min_i Q'_i(s', a')``,
  ``a' = clip(mu'(s') + clip(eps, -c, c), -1, 1)`` (no gradient): ``d/dQ_i = 2 (Q_i - y) / B``;
- actor loss ``-mean_b Q_1(s, mu(s))`` with the updated first critic (whose weights get no
  gradient): ``d/dQ_1 = -1 / B``, to the action through the critic's layers;
- ``mu(s) = tanh(z)``: ``dz = da (1 - mu^2)``; the layers as in :mod:`ballast.algos.sac_gradients`.

It is used under the same conditions as SAC's (default MLP policy with flatten encoders, ReLU or
Tanh, no residual base, extensions, update hooks or overriding subclass, float32);
:func:`closed_form_gradients` returns None otherwise.
"""

from __future__ import annotations

from typing import Any

import torch

from ballast.algos.sac_gradients import (
    CriticEnsemble,
    StackedLayers,
    flat_mlp_networks,
    tanh_backward,
)
from ballast.callbacks import has_gradient_hooks
from ballast.extensions import term_stats
from ballast.policies.continuous import TD3Policy


class _Actor:
    """A :class:`DeterministicActor` ``tanh(mu(MLP(s)))`` as plain tensors."""

    def __init__(self, actor: torch.nn.Module) -> None:
        self.layers = StackedLayers(actor.mlp)
        self.mu = actor.mu

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        hidden = self.layers.forward(x)
        return torch.tanh(torch.addmm(self.mu.bias, hidden[-1][0], self.mu.weight.t())), hidden


class TD3ClosedFormGradients:
    """``step(obs, actions, rewards, next_obs, discounts, update_actor) -> stats``: one TD3 update.

    Does what :meth:`ballast.TD3.update` does without extensions and hooks, and returns the same
    detached statistics (``loss/*``, ``train/loss``, ``train/critic_loss`` and, at actor updates,
    ``train/actor_loss``).
    """

    def __init__(self, model: Any) -> None:
        policy, cfg = model.policy, model.config
        self.encoder = policy.actor.encoder
        self.actor, self.actor_target = _Actor(policy.actor), _Actor(policy.actor_target)
        self.critic = CriticEnsemble(policy.critic)
        self.first_critic = CriticEnsemble(policy.critic, first=True)
        self.target = CriticEnsemble(policy.critic_target)
        self.critic_optimizer, self.actor_optimizer = model.critic_optimizer, model.actor_optimizer
        self.targets, self.tau = model.targets, cfg.tau
        self.noise, self.noise_clip = cfg.target_policy_noise, cfg.target_noise_clip

    @torch.no_grad()
    def step(self, obs: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor, next_obs: torch.Tensor,
             discounts: torch.Tensor, update_actor: bool) -> dict[str, torch.Tensor]:
        """One gradient step on a batch of (normalised) transitions; returns detached statistics."""
        x, next_x = self.encoder.forward(obs), self.encoder.forward(next_obs)
        n, features = x.shape

        next_actions, _ = self.actor_target.forward(next_x)
        if self.noise > 0:
            noise = (torch.randn_like(next_actions) * self.noise).clamp(-self.noise_clip, self.noise_clip)
            next_actions = (next_actions + noise).clamp(-1.0, 1.0)
        next_q, _ = self.target.forward(torch.cat((next_x, next_actions), dim=1))
        target = rewards + discounts * next_q.min(dim=0).values
        q, critic_hidden = self.critic.forward(torch.cat((x, actions), dim=1))
        error = q - target.unsqueeze(0)
        terms = {"critic": error.square().mean(dim=1).sum()}
        self.critic.backward(critic_hidden, error * (2.0 / n), weight_grads=True)
        self.critic_optimizer.step()

        if update_actor:
            mu, actor_hidden = self.actor.forward(x)
            q_pi, pi_hidden = self.first_critic.forward(torch.cat((x, mu), dim=1))
            terms["actor"] = -q_pi.mean()
            chosen = torch.zeros(n, dtype=torch.long, device=x.device)
            d_mu = self.first_critic.min_input_grad(pi_hidden, chosen, -1.0 / n, slice(features, None))
            d_z = tanh_backward(d_mu, mu)
            latent = actor_hidden[-1][0]
            torch.mm(d_z.t(), latent, out=self.actor.mu.weight.grad)
            torch.sum(d_z, 0, out=self.actor.mu.bias.grad)
            if self.actor.layers.weights:
                self.actor.layers.backward(actor_hidden, (d_z @ self.actor.mu.weight).unsqueeze(0),
                                           weight_grads=True)
            self.actor_optimizer.step()
            self.targets.update(self.tau)

        stats = term_stats(terms)
        stats["train/critic_loss"] = stats["loss/critic"]
        if "actor" in terms:
            stats["train/actor_loss"] = stats["loss/actor"]
        return stats


def closed_form_gradients(model: Any) -> TD3ClosedFormGradients | None:
    """The closed-form gradient step for ``model`` (a TD3 or DDPG) when its policy and settings allow, else None."""
    from ballast.algos.td3 import TD3

    policy = model.policy
    cls = type(model)
    if not (
        isinstance(model, TD3)
        and all(getattr(cls, name) is getattr(TD3, name)
                for name in ("update", "compute_critic_losses", "compute_actor_losses"))
        and not model.extensions.extra_losses
        and not model.extensions.modules
        and not has_gradient_hooks(model._callback)
        and type(policy) is TD3Policy
        and model.residual_actions is None
        and policy.residual is None
    ):
        return None
    actor, critic = policy.actor, policy.critic
    networks = [actor, policy.actor_target, critic, policy.critic_target]
    params = [*model.actor_params.params, *model.critic_params.params]
    supported = (
        flat_mlp_networks([m.encoder for m in networks], [m.mlp for m in networks])
        and actor.mlp.copies == 1
        and policy.critic_target.n_critics == critic.n_critics
        and len(model.actor_params.params) == len(list(actor.parameters()))
        and len(model.critic_params.params) == len(list(critic.parameters()))
        and all(p.dtype == torch.float32 and p.grad is not None for p in params)
        and all(p.dtype == torch.float32 for m in (policy.actor_target, policy.critic_target) for p in m.parameters())
    )
    return TD3ClosedFormGradients(model) if supported else None
