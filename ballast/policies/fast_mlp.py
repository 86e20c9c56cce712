"""The policies' MLPs, forward and backward without autograd: the one fast path every algorithm uses.

For the small networks of RL, autograd costs more than the arithmetic: every operation of a
forward pass records a node, and the backward pass visits them one by one. For the layers the
default policies are made of, the backward pass is a few matrix products, written here once:

- :class:`Affine`: one affine map ``y = x W + b`` in the layout its module stores ``W`` in — an
  ``nn.Linear`` (``(out, in)``), a :class:`~ballast.policies.q_network.QNetwork` layer (``(in, out)``,
  narrow ones multiplied in the faster transposed layout, see :func:`affine`), a stacked layer of
  a :class:`~ballast.policies.mlp.StackedMLP` (``(G, in, out)``, ``G`` networks at once) or a
  critic ensemble's output column (``(G, in, 1)``). Its backward: ``dW = x^T g``, ``db = sum_b g``,
  ``dx = g W^T``.
- :class:`Layers`: hidden layers ``h_{k+1} = act(h_k W_k + b_k)`` with ReLU or tanh, whose
  derivatives are ``relu' = [h > 0]`` and ``tanh' = 1 - h^2`` (computed by the kernels autograd
  runs, :mod:`ballast.torch_compat`); :meth:`Layers.backward` chains the layers.
- :class:`CriticEnsemble`: the ``n_critics`` Q-networks of SAC, TD3 and DDPG as one stack, with the
  gradient of ``min_i Q_i`` with respect to the action input (the actor's loss).

An algorithm plugs in by giving ``d(loss)/d(outputs)`` of its networks (its loss values and those
derivatives come from :mod:`ballast.losses` and :mod:`ballast.distributions`); the layers here turn
them into parameter gradients written into ``.grad`` (views of the flat gradients,
:class:`ballast.optim.FlatParameters`). Everything else of an update — clipping, optimizer steps,
target networks, hooks — is the algorithm's, the same with or without this path. Results equal
autograd's up to float rounding (``tests/unit/test_fast_path.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ballast.torch_compat import parameter_list_tensors, relu_backward, tanh_backward

#: The activations whose derivative :class:`Layers` knows.
ACTIVATIONS = ("ReLU", "Tanh")
#: Layers with fewer outputs than this run their product on a transposed copy of the ``(in, out)``
#: weight: for such narrow weights (a Q-network's last layer), CPU BLAS kernels are 1.5-4x faster
#: on the ``(out, in)`` layout, and the copy is a few hundred numbers.
NARROW_LAYER = 16


def affine(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``h @ weight + bias`` for an ``(in, out)`` weight, in the faster layout for its width."""
    if weight.shape[1] < NARROW_LAYER:
        return torch.addmm(bias, h, weight.t().contiguous().t())
    return torch.addmm(bias, h, weight)


def affine_weight_grad(h: torch.Tensor, grad: torch.Tensor, out: torch.Tensor) -> None:
    """Write ``h^T grad`` (the gradient of :func:`affine`'s ``(in, out)`` weight) into ``out``, in
    the faster layout for its width, as :func:`affine` chooses."""
    if out.shape[1] < NARROW_LAYER:
        out.copy_(torch.mm(grad.t(), h).t())
    else:
        torch.mm(h.t(), grad, out=out)


def column_forward(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``q[g, b] = h[g, b] @ weight[g, :, 0] + bias[g, 0, 0]``, shape ``(G, B)``: a stacked output column.

    Computed as row-vector products: batched matrix products with one output column are several
    times slower on CPU.
    """
    return torch.baddbmm(bias, weight.transpose(1, 2), h.transpose(1, 2)).squeeze(1)


def column_weight_grad(h: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """The gradient of :func:`column_forward`'s weight, ``(G, in, 1)``, for ``grad`` of shape ``(G, B)``."""
    return torch.bmm(grad.unsqueeze(1), h).transpose(1, 2)


def column_input_grad(grad: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The gradient of :func:`column_forward`'s input ``h``, ``(G, B, in)``, for ``grad`` ``(G, B)``."""
    return grad.unsqueeze(-1) * weight.transpose(1, 2)


def activation_backward(tanh: bool, grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``grad * act'`` from the activation's output: ``1 - out^2`` for tanh, ``[out > 0]`` for ReLU."""
    return tanh_backward(grad, out) if tanh else relu_backward(grad, out)


class Affine:
    """One affine map of a policy network as plain tensors (views of its parameters and gradients).

    ``kind`` is ``"linear"`` (an ``nn.Linear``: 2-D input, ``(out, in)`` weight), ``"matrix"``
    (2-D input, ``(in, out)`` weight, narrow ones in the transposed layout), ``"stacked"`` (input
    ``(G, B, in)``, weight ``(G, in, out)``, bias ``(G, 1, out)``) or ``"column"`` (input
    ``(G, B, in)``, weight ``(G, in, 1)``, output ``(G, B)``).
    """

    def __init__(self, kind: str, weight: torch.Tensor, bias: torch.Tensor) -> None:
        self.kind, self.weight, self.bias = kind, weight, bias

    @classmethod
    def of_linear(cls, layer: nn.Linear) -> Affine:
        return cls("linear", layer.weight, layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kind, weight, bias = self.kind, self.weight, self.bias
        if kind == "linear":
            return torch.addmm(bias, x, weight.t())
        if kind == "matrix":
            return affine(x, weight, bias)
        if kind == "stacked":
            return torch.baddbmm(bias, x, weight)
        return column_forward(x, weight, bias)

    def weight_grad(self, x: torch.Tensor, grad: torch.Tensor) -> None:
        """Write the weight's and the bias's gradients for input ``x`` and output gradient ``grad``."""
        kind, weight, bias = self.kind, self.weight, self.bias
        if kind == "linear":
            torch.mm(grad.t(), x, out=weight.grad)
            torch.sum(grad, 0, out=bias.grad)
        elif kind == "matrix":
            affine_weight_grad(x, grad, weight.grad)
            torch.sum(grad, 0, out=bias.grad)
        elif kind == "stacked":
            torch.bmm(x.transpose(1, 2), grad, out=weight.grad)
            torch.sum(grad, 1, keepdim=True, out=bias.grad)
        else:
            weight.grad.copy_(column_weight_grad(x, grad))
            bias.grad.copy_(grad.sum(1).view_as(bias))

    def input_grad(self, grad: torch.Tensor) -> torch.Tensor:
        """The gradient of the input for output gradient ``grad``."""
        kind, weight = self.kind, self.weight
        if kind == "linear":
            return grad @ weight
        if kind == "matrix":
            return grad @ weight.t()
        if kind == "stacked":
            return torch.bmm(grad, weight.transpose(1, 2))
        return column_input_grad(grad, weight)


class Layers:
    """Hidden layers ``h_{k+1} = act(h_k W_k + b_k)`` (ReLU or tanh) and their backward pass.

    Stacked layers take ``(G, B, in)`` inputs (:meth:`forward` expands a ``(B, in)`` batch over the
    ``G`` copies); matrix layers ``(B, in)`` ones.
    """

    def __init__(self, affines: list[Affine], activation: str, copies: int = 0) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"no closed-form derivative for the activation {activation}")
        self.affines, self.tanh, self.copies = affines, activation == "Tanh", copies

    @classmethod
    def of_stacked_mlp(cls, mlp: nn.Module, first: bool = False) -> Layers:
        """The layers of a :class:`~ballast.policies.mlp.StackedMLP` (``first``: its first copy only, as views)."""
        weights, biases = parameter_list_tensors(mlp.weights), parameter_list_tensors(mlp.biases)
        if first:
            weights, biases = [w[:1] for w in weights], [b[:1] for b in biases]
        return cls([Affine("stacked", w, b) for w, b in zip(weights, biases)], mlp.activation_name,
                   copies=1 if first else mlp.copies)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The input and every layer's output (stacked layers: the input expanded over the copies)."""
        hidden = [x.unsqueeze(0).expand(self.copies, *x.shape) if self.copies else x]
        for layer in self.affines:
            pre = layer.forward(hidden[-1])
            hidden.append(pre.tanh_() if self.tanh else pre.relu_())
        return hidden

    def backward(self, hidden: list[torch.Tensor], d_out: torch.Tensor, *, weight_grads: bool = True,
                 input_columns: slice | None = None) -> torch.Tensor | None:
        """Backpropagate ``d_out`` (the gradient of the last output) through the layers.

        Writes the weights' gradients when ``weight_grads``; returns the gradient of the input
        columns ``input_columns`` (summed over stacked copies), or None when they are not asked for.
        """
        d_hidden = d_out
        for index in range(len(self.affines) - 1, -1, -1):
            layer = self.affines[index]
            d_pre = activation_backward(self.tanh, d_hidden, hidden[index + 1])
            if weight_grads:
                layer.weight_grad(hidden[index], d_pre)
            if index:
                d_hidden = layer.input_grad(d_pre)
            elif input_columns is not None:
                return _input_grad(layer, d_pre, input_columns)
        if not self.affines and input_columns is not None:
            grad = d_hidden[..., input_columns]
            return grad.sum(0) if grad.dim() == 3 else grad
        return None


def _input_grad(layer: Affine, d_pre: torch.Tensor, columns: slice) -> torch.Tensor:
    """The gradient of the input columns ``columns`` of ``layer``, summed over stacked copies."""
    if layer.kind == "stacked":
        return torch.bmm(d_pre, layer.weight[:, columns, :].transpose(1, 2)).sum(0)
    if layer.kind == "matrix":
        return d_pre @ layer.weight[columns].t()
    return d_pre @ layer.weight[:, columns]


@dataclass
class CriticPass:
    """One forward pass of a :class:`CriticEnsemble`: ``q`` ``(n_critics, B)`` and the hidden layers."""

    q: torch.Tensor
    hidden: list[torch.Tensor]


class CriticEnsemble:
    """A :class:`~ballast.policies.continuous.ContinuousCritic` (``n_critics`` Q-networks over the
    concatenated input ``x = [features, action]``) as plain tensors. ``first`` keeps the first
    critic only (views of its weights), for TD3's actor loss."""

    def __init__(self, critic: nn.Module, first: bool = False) -> None:
        self.layers = Layers.of_stacked_mlp(critic.mlp, first)
        weight, bias = critic.out_weight, critic.out_bias
        self.n_critics = 1 if first else critic.n_critics
        if first:
            weight, bias = weight[:1], bias[:1]
        self.output = Affine("column", weight, bias)

    def forward(self, x: torch.Tensor) -> CriticPass:
        hidden = self.layers.forward(x)
        h = hidden[-1].expand(self.n_critics, *hidden[-1].shape[1:])
        return CriticPass(self.output.forward(h), hidden)

    def backward(self, trace: CriticPass, d_q: torch.Tensor) -> None:
        """Write the critics' gradients for ``d_q = d(loss)/dQ`` of shape ``(n_critics, B)``."""
        h = trace.hidden[-1].expand(self.n_critics, *trace.hidden[-1].shape[1:])
        self.output.weight_grad(h, d_q)
        self.layers.backward(trace.hidden, self.output.input_grad(d_q))

    def min_input_grad(self, trace: CriticPass, chosen: torch.Tensor, d_q: torch.Tensor, columns: slice
                       ) -> torch.Tensor:
        """The gradient of ``sum_b d_q[b] * Q_{chosen[b]}(x_b)`` with respect to the input columns
        ``columns`` (the critics' weights get none): the derivative of a loss of ``min_i Q_i`` when
        ``chosen`` holds the minimum's indices and ``d_q`` the loss's derivative with respect to it.

        Each sample's gradient flows through its chosen critic only. On CPU each critic
        backpropagates just the rows it was chosen for (half the arithmetic of twin critics);
        elsewhere, where splitting the batch by a data-dependent count would wait for the device,
        the others backpropagate zeros.
        """
        hidden = trace.hidden
        if self.n_critics == 1 or chosen.device.type != "cpu":
            full = torch.zeros((self.n_critics, chosen.shape[0]), dtype=hidden[-1].dtype, device=chosen.device)
            full.scatter_(0, chosen.unsqueeze(0), d_q.unsqueeze(0))
            h_grad = self.output.input_grad(full)
            return self.layers.backward(hidden, h_grad, weight_grads=False, input_columns=columns)
        affines, tanh = self.layers.affines, self.layers.tanh
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
            d_hidden = d_q.index_select(0, rows).unsqueeze(1) * self.output.weight[critic].t()
            for index in range(len(affines) - 1, -1, -1):
                out = hidden[index + 1][critic].index_select(0, rows)
                d_pre = activation_backward(tanh, d_hidden, out)
                weight = affines[index].weight[critic]
                d_hidden = torch.mm(d_pre, (weight if index else weight[columns]).t())
            result.index_copy_(0, rows, d_hidden if affines else d_hidden[:, columns])
        return result


@dataclass
class ActorCriticPass:
    """One forward pass of :class:`ActorCriticLayers`: the action head's and the value head's outputs,
    and the hidden layers (of the stacked trunk, or of the separate actor and critic MLPs)."""

    head_out: torch.Tensor
    values: torch.Tensor
    latent_pi: torch.Tensor
    latent_vf: torch.Tensor
    hidden: list[list[torch.Tensor]]


class ActorCriticLayers:
    """An :class:`~ballast.policies.actor_critic.ActorCriticPolicy` from its (flattened) features to the
    action head's output and the value: the stacked trunk (actor and critic in one
    :class:`~ballast.policies.mlp.StackedMLP`) or separate actor and critic MLPs, then the heads."""

    def __init__(self, policy: nn.Module) -> None:
        self.encoder = policy.encoder
        self.action_head = policy.action_head
        if policy.trunk is not None:
            self.mlps = [Layers.of_stacked_mlp(policy.trunk)]
        else:
            self.mlps = [Layers.of_stacked_mlp(policy.actor_mlp), Layers.of_stacked_mlp(policy.critic_mlp)]
        self.head = Affine.of_linear(policy.action_head.net)
        self.value = Affine.of_linear(policy.value_head)

    def forward(self, obs: torch.Tensor) -> ActorCriticPass:
        x = self.encoder.forward(obs)
        hidden = [mlp.forward(x) for mlp in self.mlps]
        if len(hidden) == 1:
            latent_pi, latent_vf = hidden[0][-1][0], hidden[0][-1][1]
        else:
            latent_pi, latent_vf = hidden[0][-1][0], hidden[1][-1][0]
        values = self.value.forward(latent_vf).squeeze(-1)
        return ActorCriticPass(self.head.forward(latent_pi), values, latent_pi, latent_vf, hidden)

    def backward(self, trace: ActorCriticPass, d_head: torch.Tensor, d_values: torch.Tensor) -> None:
        """Write every gradient for ``d(loss)/d(head output)`` and ``d(loss)/d(values)``."""
        d_values = d_values.unsqueeze(-1)
        self.head.weight_grad(trace.latent_pi, d_head)
        self.value.weight_grad(trace.latent_vf, d_values)
        d_pi, d_vf = self.head.input_grad(d_head), self.value.input_grad(d_values)
        if len(self.mlps) == 1:
            self.mlps[0].backward(trace.hidden[0], torch.stack((d_pi, d_vf)))
        else:
            self.mlps[0].backward(trace.hidden[0], d_pi.unsqueeze(0))
            self.mlps[1].backward(trace.hidden[1], d_vf.unsqueeze(0))

    def head_output_grad(self, distribution: object, actions: torch.Tensor, d_log_prob: torch.Tensor,
                         d_entropy: torch.Tensor | None) -> torch.Tensor:
        """``d(loss)/d(head output)`` from the loss's derivatives with respect to each row's log-probability
        and entropy (:meth:`output_grads` of the distribution); a Gaussian head's state-independent
        log-std gets its gradient written here."""
        grads = distribution.output_grads(actions, d_log_prob, d_entropy)
        if isinstance(grads, tuple):
            d_mean, d_log_std = grads
            torch.sum(d_log_std, 0, out=self.action_head.log_std.grad)
            return d_mean
        return grads
