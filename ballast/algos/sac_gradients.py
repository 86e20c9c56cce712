"""SAC's gradient step in closed form for the default MLP policy.

For SAC's small networks, running autograd costs about as much as the arithmetic: every operation
of the forward passes records a node, and the backward passes walk them one by one. For the policy
most SAC runs use — vector observations (:class:`FlattenEncoder`), a squashed Gaussian actor and an
ensemble of critics, each a :class:`StackedMLP` with ReLU or tanh — the gradients of the losses of
:meth:`ballast.SAC.update` (same definitions: :meth:`SAC.compute_critic_losses`,
:meth:`SAC.compute_actor_losses`, :meth:`SAC.compute_warmup_losses`) are short enough to write out.
:class:`SACClosedFormGradients` does one whole gradient step — forward passes, losses, gradients
written into the parameters' ``.grad`` (views of the flat gradients, see
:class:`ballast.optim.FlatParameters`), the steps of the model's own optimizers and the Polyak
update — with plain tensor operations and no autograd graph, so optimizer states and checkpoints
are those of the autograd path. Parameters, targets and optimizer states equal autograd's up to
float rounding (``tests/unit/test_sac_gradients.py``).

The derivatives used, per sample ``b`` of a batch of ``B``, with ``alpha`` the entropy coefficient
before this step's update (a constant in both losses, as in :meth:`SAC.update`):

- critic loss ``0.5 * sum_i mean_b (Q_i - y)^2`` (``y`` without gradient):
  ``d/dQ_i = (Q_i - y) / B``;
- actor loss ``mean_b(alpha * log pi - min_i Q_i(s, a~))`` with the updated critics:
  ``d/d log pi = alpha / B``; ``d/dQ_i = -1 / B`` for the critic ``torch.min`` picks, 0 for the others;
  ``d/da~`` is that of the critics' input, through their weights (which get no gradient);
- log-probability of ``a = tanh(u)``, ``u = mean + exp(log_std) * eps`` (``eps`` fixed):
  ``log pi = sum_j (-eps_j^2 / 2 - log_std_j - log sqrt(2 pi)) - sum_j log(1 - a_j^2 + 1e-6)``:
  ``d log pi / d a_j = 2 a_j / (1 - a_j^2 + 1e-6)`` and ``d log pi / d log_std_j = -1`` directly;
  ``da/du = 1 - a^2``, ``du/d mean = 1``, ``du/d log_std = exp(log_std) * eps``;
- ``log_std = clamp(z, -20, 2)``: ``d/dz = [-20 <= z <= 2]`` (torch's ``clamp`` rule);
- alpha loss ``-mean_b(log alpha * (log pi + H_target))`` (``log pi`` detached):
  ``d/d log alpha = -mean_b(log pi + H_target)``;
- each layer ``h = act(h_prev W + b)``: ``dW = h_prev^T g``, ``db = sum_b g``, ``dh_prev = g W^T``
  with ``g = dh * act'``; ``tanh' = 1 - h^2``, ``relu' = [h > 0]``; the critics' output layer
  ``Q_i = h_i w_i + c_i`` likewise.

Anything else (other encoders or activations, gSDE, a residual base, extensions, update hooks, a
subclass overriding ``update`` or a ``compute_*_losses``) uses autograd: :func:`closed_form_gradients`
returns None.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ballast.callbacks import has_gradient_hooks
from ballast.encoders.standard import FlattenEncoder
from ballast.extensions import term_stats
from ballast.policies.continuous import LOG_STD_MAX, LOG_STD_MIN, ContinuousCritic, SACPolicy

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_SQUASH_EPS = 1e-6
_ACTIVATIONS = ("ReLU", "Tanh")
# The kernels autograd runs for tanh and ReLU: ``g * (1 - y^2)`` (fused, which matters near
# saturation, where ``1 - y^2`` is a difference of nearly equal numbers) and ``g * [y > 0]``.
tanh_backward = torch.ops.aten.tanh_backward
relu_backward = torch.ops.aten.threshold_backward


class StackedLayers:
    """The hidden layers of a :class:`StackedMLP` as plain tensors, with their forward and backward passes.

    ``first`` keeps only the first of the stacked copies (views of its weights and gradients).
    """

    def __init__(self, mlp: torch.nn.Module, first: bool = False) -> None:
        self.weights = list(mlp.weights._parameters.values())
        self.biases = list(mlp.biases._parameters.values())
        if first:
            self.weights, self.biases = [w[:1] for w in self.weights], [b[:1] for b in self.biases]
        self.tanh = mlp.activation_name == "Tanh"

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The input (expanded over the copies) and every layer's output, ``(copies, batch, size)`` each."""
        hidden = [x.unsqueeze(0).expand(self.weights[0].shape[0] if self.weights else 1, *x.shape)]
        for weight, bias in zip(self.weights, self.biases):
            pre = torch.baddbmm(bias, hidden[-1], weight)
            hidden.append(pre.tanh_() if self.tanh else pre.relu_())
        return hidden

    def backward(self, hidden: list[torch.Tensor], d_out: torch.Tensor, *, weight_grads: bool
                 ) -> torch.Tensor:
        """Backpropagate ``d_out`` (gradient of the last output); write the weights' gradients when
        ``weight_grads``; return the gradient of the first layer's pre-activation (of the input when
        there is no layer)."""
        d_hidden = d_out
        for layer in range(len(self.weights) - 1, -1, -1):
            out = hidden[layer + 1]
            d_pre = tanh_backward(d_hidden, out) if self.tanh else relu_backward(d_hidden, out, 0)
            if weight_grads:
                torch.bmm(hidden[layer].transpose(1, 2), d_pre, out=self.weights[layer].grad)
                torch.sum(d_pre, 1, keepdim=True, out=self.biases[layer].grad)
            if layer == 0:
                return d_pre
            d_hidden = torch.bmm(d_pre, self.weights[layer].transpose(1, 2))
        return d_hidden


class CriticEnsemble:
    """A :class:`ContinuousCritic` ensemble: ``Q_i(x)`` for the concatenated input ``x = [s, a]``.

    ``first`` keeps only the first critic (views of its weights), for TD3's actor loss.
    """

    def __init__(self, critic: ContinuousCritic, first: bool = False) -> None:
        self.stack = StackedLayers(critic.mlp, first)
        self.out_weight, self.out_bias = critic.out_weight, critic.out_bias
        self.n_critics = critic.n_critics
        if first:
            self.out_weight, self.out_bias, self.n_critics = self.out_weight[:1], self.out_bias[:1], 1

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(Q of shape (n_critics, batch), the hidden layers)``, computed as ``StackedOutput`` does."""
        hidden = self.stack.forward(x)
        h = hidden[-1].expand(self.n_critics, *hidden[-1].shape[1:])
        q = torch.baddbmm(self.out_bias, self.out_weight.transpose(1, 2), h.transpose(1, 2)).squeeze(1)
        return q, hidden

    def backward(self, hidden: list[torch.Tensor], d_q: torch.Tensor, *, weight_grads: bool) -> torch.Tensor:
        """Backpropagate ``d_q`` ``(n_critics, batch)``; return the gradient of the first layer's
        pre-activation ``(n_critics, batch, size)`` (of the input when there is no hidden layer)."""
        h = hidden[-1].expand(self.n_critics, *hidden[-1].shape[1:])
        if weight_grads:
            torch.bmm(d_q.unsqueeze(1), h, out=self.out_weight.grad.view(self.n_critics, 1, -1))
            self.out_bias.grad.copy_(d_q.sum(1).view_as(self.out_bias))
        d_hidden = d_q.unsqueeze(-1) * self.out_weight.transpose(1, 2)
        return self.stack.backward(hidden, d_hidden, weight_grads=weight_grads)

    def min_input_grad(self, hidden: list[torch.Tensor], chosen: torch.Tensor, scale: float, columns: slice
                       ) -> torch.Tensor:
        """The gradient of ``scale * Q_{chosen[b]}(x_b)`` with respect to the input columns ``columns``
        (the weights get none): the derivative of ``scale * min_i Q_i`` when ``chosen`` holds the
        minimum's indices.

        Each sample's gradient flows through its chosen critic only. On CPU each critic backpropagates
        just the rows it was chosen for (half the arithmetic of twin critics); elsewhere, where
        splitting the batch by a data-dependent count would wait for the device, the others
        backpropagate zeros.
        """
        if self.n_critics == 1 or chosen.device.type != "cpu":
            q_shape = (self.n_critics, chosen.shape[0])
            d_q = torch.zeros(q_shape, dtype=hidden[-1].dtype, device=chosen.device)
            d_q.scatter_(0, chosen.unsqueeze(0), scale)
            return self.input_grad(self.backward(hidden, d_q, weight_grads=False), columns)
        stack = self.stack
        order = torch.argsort(chosen)
        counts = torch.bincount(chosen, minlength=self.n_critics).tolist()
        width = hidden[0].shape[2] if columns.stop is None else columns.stop
        result = torch.empty(chosen.shape[0], width - columns.start, dtype=hidden[-1].dtype)
        start = 0
        for critic, count in enumerate(counts):
            if count == 0:
                continue
            rows = order[start:start + count]
            start += count
            d_hidden = (self.out_weight[critic].t() * scale).expand(count, -1)
            for layer in range(len(stack.weights) - 1, -1, -1):
                out = hidden[layer + 1][critic].index_select(0, rows)
                d_pre = tanh_backward(d_hidden, out) if stack.tanh else relu_backward(d_hidden, out, 0)
                weight = stack.weights[layer][critic]
                d_hidden = torch.mm(d_pre, (weight if layer else weight[columns]).t())
            result.index_copy_(0, rows, d_hidden if stack.weights else d_hidden[:, columns])
        return result

    def input_grad(self, d_first: torch.Tensor, columns: slice) -> torch.Tensor:
        """The gradient of the input columns ``columns``, summed over the critics, from
        :meth:`backward`'s result."""
        if not self.stack.weights:
            return d_first[:, :, columns].sum(0)
        weight = self.stack.weights[0][:, columns, :]
        return torch.bmm(d_first, weight.transpose(1, 2)).sum(0)


class SACClosedFormGradients:
    """``step(obs, actions, rewards, next_obs, discounts, update_target) -> stats``: one SAC update.

    Does what :meth:`ballast.SAC.update` does without extensions and hooks, and returns the same
    detached statistics (``loss/*``, ``train/loss``, ``train/critic_loss``, ``train/ent_coef``,
    ``train/actor_loss`` and, with a learned alpha, ``train/ent_coef_loss``).
    """

    def __init__(self, model: Any) -> None:
        policy = model.policy
        actor = policy.actor
        self.encoder = actor.encoder
        self.actor = StackedLayers(actor.mlp)
        self.mu, self.log_std = actor.mu, actor.log_std
        self.critic = CriticEnsemble(policy.critic)
        self.target = CriticEnsemble(policy.critic_target)
        self.critic_optimizer, self.actor_optimizer = model.critic_optimizer, model.actor_optimizer
        self.ent_coef_optimizer = model.ent_coef_optimizer
        self.log_ent_coef, self.ent_coef_tensor = model.log_ent_coef, model.ent_coef_tensor
        self.target_entropy = model.target_entropy
        self.targets, self.tau = model.targets, model.config.tau

    @torch.no_grad()
    def step(self, obs: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor, next_obs: torch.Tensor,
             discounts: torch.Tensor, update_target: bool) -> dict[str, torch.Tensor]:
        """One gradient step on a batch of (normalised) transitions; returns detached statistics."""
        x, next_x = self.encoder.forward(obs), self.encoder.forward(next_obs)
        n = x.shape[0]
        features = x.shape[1]
        ent_coef = self.log_ent_coef.exp() if self.log_ent_coef is not None else self.ent_coef_tensor

        # Actor on s and s' at once (its weights do not change before the actor's step); the noise is
        # drawn as SquashedGaussianActor.outputs draws it: first for s, then for s'.
        actor_hidden = self.actor.forward(torch.cat((x, next_x)))
        latent = actor_hidden[-1][0]
        mean = torch.addmm(self.mu.bias, latent, self.mu.weight.t())
        raw_log_std = torch.addmm(self.log_std.bias, latent, self.log_std.weight.t())
        log_std = raw_log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
        eps = torch.cat((torch.randn(mean[:n].shape, dtype=mean.dtype, device=mean.device),
                         torch.randn(mean[n:].shape, dtype=mean.dtype, device=mean.device)))
        std = log_std.exp()
        pi_actions = torch.tanh(mean + std * eps)
        log_prob = (-0.5 * eps.square() - log_std - _LOG_SQRT_2PI).sum(-1)
        log_prob = log_prob - torch.log(1.0 - pi_actions.square() + _SQUASH_EPS).sum(-1)
        log_prob, next_log_prob = log_prob[:n], log_prob[n:]
        a_pi = pi_actions[:n]

        # Critic: soft target with the target critics, then the regression's gradient.
        next_q, _ = self.target.forward(torch.cat((next_x, pi_actions[n:]), dim=1))
        target = rewards + discounts * (next_q.min(dim=0).values - ent_coef * next_log_prob)
        q, critic_hidden = self.critic.forward(torch.cat((x, actions), dim=1))
        error = q - target.unsqueeze(0)
        critic_loss = 0.5 * error.square().mean(dim=1).sum()
        self.critic.backward(critic_hidden, error * (1.0 / n), weight_grads=True)
        self.critic_optimizer.step()

        # Actor: gradient of the actions through the updated critics, then through the squashed Gaussian.
        q_pi, pi_hidden = self.critic.forward(torch.cat((x, a_pi), dim=1))
        min_q, chosen = q_pi.min(dim=0)
        actor_loss = (ent_coef * log_prob - min_q).mean()
        d_actions = self.critic.min_input_grad(pi_hidden, chosen, -1.0 / n, slice(features, None))
        d_log_prob = ent_coef * (1.0 / n)
        a, s, e = a_pi, std[:n], eps[:n]
        d_actions = d_actions + d_log_prob * (2.0 * a / (1.0 - a * a + _SQUASH_EPS))
        d_u = tanh_backward(d_actions, a)
        raw = raw_log_std[:n]
        d_log_std = torch.where((raw >= LOG_STD_MIN) & (raw <= LOG_STD_MAX), d_u * e * s - d_log_prob, 0.0)
        latent_pi = latent[:n]
        torch.mm(d_u.t(), latent_pi, out=self.mu.weight.grad)
        torch.sum(d_u, 0, out=self.mu.bias.grad)
        torch.mm(d_log_std.t(), latent_pi, out=self.log_std.weight.grad)
        torch.sum(d_log_std, 0, out=self.log_std.bias.grad)
        if self.actor.weights:
            d_latent = torch.addmm(d_u @ self.mu.weight, d_log_std, self.log_std.weight)
            self.actor.backward([h[:, :n] for h in actor_hidden], d_latent.unsqueeze(0), weight_grads=True)

        terms = {"critic": critic_loss, "actor": actor_loss}
        if self.log_ent_coef is not None:
            shifted = log_prob + self.target_entropy
            terms["alpha"] = -(self.log_ent_coef * shifted).mean()
            self.log_ent_coef.grad.copy_(-shifted.mean())
            self.ent_coef_optimizer.step()
        self.actor_optimizer.step()
        if update_target:
            self.targets.update(self.tau)

        stats = term_stats(terms)
        stats.update({"train/critic_loss": stats["loss/critic"], "train/ent_coef": ent_coef.reshape(()),
                      "train/actor_loss": stats["loss/actor"]})
        if "alpha" in terms:
            stats["train/ent_coef_loss"] = stats["loss/alpha"]
        return stats


def flat_mlp_networks(encoders: list[torch.nn.Module | None], mlps: list[torch.nn.Module]) -> bool:
    """Whether the networks are those the closed forms handle: flatten encoders of one scale (None: a
    shared encoder) and stacked MLPs with ReLU or Tanh."""
    present = [e for e in encoders if e is not None]
    return (all(type(e) is FlattenEncoder and e.scale == present[0].scale for e in present)
            and all(m.activation_name in _ACTIVATIONS for m in mlps))


def closed_form_gradients(model: Any) -> SACClosedFormGradients | None:
    """The closed-form gradient step for ``model`` (a SAC) when its policy and settings allow, else None."""
    from ballast.algos.sac import SAC

    policy = model.policy
    cls = type(model)
    if not (
        isinstance(model, SAC)
        and all(getattr(cls, name) is getattr(SAC, name)
                for name in ("update", "compute_critic_losses", "compute_actor_losses", "compute_warmup_losses"))
        and not model.extensions.extra_losses
        and not model.extensions.modules
        and not has_gradient_hooks(model._callback)
        and type(policy) is SACPolicy
        and model.residual_actions is None
        and policy.residual is None
        and not model.config.use_sde
        and not policy.actor.use_sde
    ):
        return None
    actor, critic, target = policy.actor, policy.critic, policy.critic_target
    params = [*model.actor_params.params, *model.critic_params.params]
    if model.log_ent_coef is not None:
        params.append(model.log_ent_coef)
    supported = (
        flat_mlp_networks([actor.encoder, critic.encoder, target.encoder], [actor.mlp, critic.mlp, target.mlp])
        and actor.mlp.copies == 1
        and isinstance(actor.log_std, torch.nn.Linear)
        and target.n_critics == critic.n_critics
        and len(model.actor_params.params) == len(list(actor.parameters()))
        and len(model.critic_params.params) == len(list(critic.parameters()))
        and all(p.dtype == torch.float32 and p.grad is not None for p in params)
        and all(p.dtype == torch.float32 for p in target.parameters())
    )
    return SACClosedFormGradients(model) if supported else None
