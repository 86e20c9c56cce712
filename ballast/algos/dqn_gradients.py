"""DQN's loss gradient in closed form for the default MLP Q-network.

DQN's updates are small (SB3's default batch of 32, the zoo's 64): running autograd then costs
more than the arithmetic, since each operation of the forward pass records a node that the
backward pass visits one by one. For the Q-network most DQN runs use — vector observations
(:class:`~ballast.encoders.standard.FlattenEncoder`), ReLU or tanh hidden layers — the gradient of
the Huber loss of :meth:`ballast.DQN.compute_losses` is a few matrix products.
:class:`DQNClosedFormGradients` computes the forward pass, the target, the loss and the gradient
with plain tensor operations and writes the gradient into the parameters' ``.grad`` (views of the
flat gradient, :class:`ballast.optim.FlatParameters`). It equals autograd's up to float rounding
(``tests/unit/test_dqn_gradients.py``). The derivatives used, for a batch of ``B``:

- Huber loss ``mean(huber(q - y))`` with delta 1 (``smooth_l1_loss``): ``d/dq = clamp(q - y, -1, 1) / B``,
  scattered to the column of the action taken (the others get no gradient);
- each layer ``h = act(h_prev W + b)``: ``dW = h_prev^T g``, ``db = sum g``, ``dh_prev = g W^T``
  with ``g = dh * act'``; ``relu' = [h > 0]``, ``tanh' = 1 - h^2``.

Anything else (other encoders or activations, extra loss terms or aux modules, a subclass
overriding ``compute_losses``) uses autograd: :func:`closed_form_gradients` returns None.
"""

from __future__ import annotations

from typing import Any

import torch

from ballast import losses, returns
from ballast.algos.sac_gradients import relu_backward, tanh_backward
from ballast.encoders.standard import FlattenEncoder
from ballast.policies.q_network import DQNPolicy, QNetwork, affine, affine_weight_grad


class DQNClosedFormGradients:
    """``(obs, actions, rewards, next_obs, discounts[, target]) -> loss``, with the gradient written into ``.grad``.

    Observations are the normalised batch :meth:`ballast.DQN.update` receives; ``target``, when
    given, are the batch's TD targets computed beforehand (:meth:`targets`).
    """

    def __init__(self, policy: DQNPolicy, *, double_q: bool) -> None:
        self.online, self.target = policy.q_net, policy.q_net_target
        self.weights = list(self.online.weights._parameters.values())
        self.biases = list(self.online.biases._parameters.values())
        self.layers = list(zip(self.weights, self.biases))
        self.target_layers = list(zip(self.target.weights._parameters.values(),
                                      self.target.biases._parameters.values()))
        self.tanh = self.online.activation_name == "Tanh"
        self.double_q = double_q

    def _hidden(self, obs: torch.Tensor, layers: list[tuple[torch.Tensor, torch.Tensor]] | None = None
                ) -> list[torch.Tensor]:
        """The network's input and every layer's output; the last entry is ``Q(s, .)``. The online
        network unless ``layers`` (the target network's) are given."""
        layers = self.layers if layers is None else layers
        hidden = [self.online.encoder.forward(obs)]
        for weight, bias in layers[:-1]:
            pre = affine(hidden[-1], weight, bias)
            hidden.append(torch.tanh_(pre) if self.tanh else torch.relu_(pre))
        weight, bias = layers[-1]
        hidden.append(affine(hidden[-1], weight, bias))
        return hidden

    @torch.no_grad()
    def targets(self, rewards: torch.Tensor, discounts: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        """The TD targets ``r + discount * max_a Q'(s', a)`` (double DQN: ``Q'(s', argmax_a Q(s', a))``).

        Without double DQN they depend on the target network alone, which no gradient step
        changes: :meth:`ballast.DQN.train` then computes them for a whole chunk of batches at once.
        """
        next_q_online = self._hidden(next_obs)[-1] if self.double_q else None
        next_q = self._hidden(next_obs, self.target_layers)[-1]
        return returns.q_learning_target(rewards, discounts, next_q, next_q_online)

    @torch.no_grad()
    def __call__(self, obs: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor, next_obs: torch.Tensor,
                 discounts: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        if target is None:
            target = self.targets(rewards, discounts, next_obs)
        hidden = self._hidden(obs)
        index = actions.long().unsqueeze(1)
        q = hidden[-1].gather(1, index).squeeze(1)
        loss = losses.huber_q_loss(q, target)
        error = q - target
        grad = torch.zeros_like(hidden[-1])
        grad.scatter_(1, index, (error.clamp(-1.0, 1.0) / error.shape[0]).unsqueeze(1))
        for layer in range(len(self.weights) - 1, -1, -1):
            affine_weight_grad(hidden[layer], grad, self.weights[layer].grad)
            torch.sum(grad, 0, out=self.biases[layer].grad)
            if layer:
                out = hidden[layer]
                grad = grad @ self.weights[layer].t()
                grad = tanh_backward(grad, out) if self.tanh else relu_backward(grad, out, 0.0)
        return loss


def closed_form_gradients(model: Any) -> DQNClosedFormGradients | None:
    """The closed-form gradient for ``model`` (a DQN) when its policy and settings allow, else None."""
    from ballast.algos.dqn import DQN

    policy = model.policy
    online = getattr(policy, "q_net", None)
    params = model.q_params.params
    supported = (
        type(model).compute_losses is DQN.compute_losses
        and not model.extensions.extra_losses
        and not model.extensions.modules
        and type(policy) is DQNPolicy
        and type(online) is QNetwork
        and type(online.encoder) is FlattenEncoder
        and type(policy.q_net_target.encoder) is FlattenEncoder
        and online.activation_name in ("Tanh", "ReLU")
        and all(p.dtype == torch.float32 and p.grad is not None for p in params)
        and len(params) == len(list(online.parameters()))
    )
    if not supported:
        return None
    return DQNClosedFormGradients(policy, double_q=model.config.double_q)
