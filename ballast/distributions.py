"""Light action distributions for the policies.

Plain tensors in, plain tensors out: no argument validation or broadcasting machinery on the hot
path. Each distribution offers ``sample``, ``mode`` (the deterministic action), ``log_prob`` and
``entropy``; log-probabilities and entropies are summed over action dimensions, one value per
batch row. Those a fast update uses also offer ``output_grads``: the derivative of a loss with
respect to the distribution's parameters (what the action head outputs), given the loss's
derivatives with respect to each row's log-probability and entropy (checked against autograd in
``tests/unit/test_distributions.py``). Distributions that support action masking also offer
``masked(mask)``, which returns the distribution restricted to the valid actions (see
:mod:`ballast.masking`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from ballast.errors import ActionMaskError
from ballast.ragged import SetBatch
from ballast.segment import segment_argmax, segment_log_softmax, segment_sum
from ballast.torch_compat import tanh_backward

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
#: SB3's epsilon in the log-probability of a tanh-squashed sample.
SQUASH_EPS = 1e-6


class Categorical:
    """Categorical over the last axis of ``logits`` (shape ``(batch, n)``)."""

    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = logits
        self.log_probs_all = torch.log_softmax(logits, dim=-1)

    def sample(self) -> torch.Tensor:
        # Inverse-CDF sampling: the first index whose cumulative probability exceeds u ~ U(0, 1).
        cdf = self.log_probs_all.exp().cumsum(-1)
        u = torch.rand(cdf.shape[:-1] + (1,), dtype=cdf.dtype, device=cdf.device)
        return (cdf <= u).sum(-1).clamp_(max=cdf.shape[-1] - 1)

    def mode(self) -> torch.Tensor:
        return self.log_probs_all.argmax(dim=-1)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        return self.log_probs_all.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)

    def entropy(self) -> torch.Tensor:
        return -(self.log_probs_all.exp() * self.log_probs_all).sum(-1)

    def output_grads(self, actions: torch.Tensor, d_log_prob: torch.Tensor,
                     d_entropy: torch.Tensor | None = None) -> torch.Tensor:
        """``dL/d logits`` from ``dL/d log p(a)`` and ``dL/dH`` per row:
        ``d log p(a) / dz = onehot(a) - p`` and ``dH/dz = -p (log p + H)``."""
        probs = self.log_probs_all.exp()
        grad = probs * -d_log_prob.unsqueeze(-1)
        grad.scatter_add_(-1, actions.long().unsqueeze(-1), d_log_prob.unsqueeze(-1))
        if d_entropy is not None:
            entropy = -(probs * self.log_probs_all).sum(-1, keepdim=True)
            grad -= probs * (self.log_probs_all + entropy) * d_entropy.unsqueeze(-1)
        return grad

    def masked(self, mask: torch.Tensor) -> MaskedCategorical:
        """This distribution restricted to the actions where ``mask`` (shape ``(batch, n)``) is true."""
        return MaskedCategorical(self.logits, mask)


def masked_logits(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``logits`` with the entries where ``mask`` is false replaced by the most negative finite value.

    A finite value rather than ``-inf`` keeps ``log_softmax`` and ``0 * log p`` free of NaN; the
    probability of a masked entry, ``exp(finfo.min - logsumexp)``, is exactly 0, and its gradient too.
    """
    return logits.masked_fill(~mask.to(torch.bool), torch.finfo(logits.dtype).min)


class MaskedCategorical(Categorical):
    """Categorical over the valid actions only: ``p_i = exp(l_i) / sum_{j valid} exp(l_j)`` where
    ``mask_i`` is true, 0 elsewhere (as sb3-contrib's MaskablePPO, Huang & Ontanon, 2020,
    arXiv:2006.14171).

    Masked actions are never sampled and never the mode; the entropy sums over valid actions only.
    Each row must have at least one valid action (:mod:`ballast.masking` checks this on input).
    """

    def __init__(self, logits: torch.Tensor, mask: torch.Tensor) -> None:
        self.mask = mask.to(torch.bool)
        super().__init__(masked_logits(logits, self.mask))
        self.logits = logits

    def sample(self) -> torch.Tensor:
        # Inverse-CDF sampling with u ~ U(0, total): a masked entry adds exactly 0 to the CDF, so the
        # first index whose CDF exceeds u is a valid one; rounding that puts u at the total is
        # caught by clamping to the last valid index.
        cdf = self.log_probs_all.exp().cumsum(-1)
        u = torch.rand(cdf.shape[:-1] + (1,), dtype=cdf.dtype, device=cdf.device) * cdf[..., -1:]
        n = cdf.shape[-1]
        last_valid = (n - 1) - self.mask.flip(-1).to(torch.int8).argmax(-1)
        return torch.minimum((cdf <= u).sum(-1), last_valid)

    def entropy(self) -> torch.Tensor:
        terms = self.log_probs_all.exp() * self.log_probs_all
        return -torch.where(self.mask, terms, torch.zeros_like(terms)).sum(-1)

    def masked(self, mask: torch.Tensor) -> MaskedCategorical:
        return MaskedCategorical(self.logits, self.mask & mask.to(torch.bool))


class MultiCategorical:
    """Independent categoricals, one per dimension; ``logits`` concatenates them (``nvec`` sizes)."""

    def __init__(self, logits: torch.Tensor, nvec: list[int]) -> None:
        self.logits, self.nvec = logits, nvec
        self.parts: list[Categorical] = [Categorical(chunk) for chunk in torch.split(logits, nvec, dim=-1)]

    def masked(self, mask: torch.Tensor) -> MultiCategorical:
        """Each dimension restricted to its valid values; ``mask`` concatenates the per-dimension
        masks like the logits (shape ``(batch, sum(nvec))``)."""
        out = MultiCategorical.__new__(MultiCategorical)
        out.logits, out.nvec = self.logits, self.nvec
        out.parts = [part.masked(chunk) for part, chunk in zip(self.parts, torch.split(mask, self.nvec, dim=-1))]
        return out

    def sample(self) -> torch.Tensor:
        return torch.stack([p.sample() for p in self.parts], dim=-1)

    def mode(self) -> torch.Tensor:
        return torch.stack([p.mode() for p in self.parts], dim=-1)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        return sum(p.log_prob(a) for p, a in zip(self.parts, torch.unbind(actions, dim=-1)))

    def entropy(self) -> torch.Tensor:
        return sum(p.entropy() for p in self.parts)

    def output_grads(self, actions: torch.Tensor, d_log_prob: torch.Tensor,
                     d_entropy: torch.Tensor | None = None) -> torch.Tensor:
        """``dL/d logits``: each part's :meth:`Categorical.output_grads`, concatenated."""
        return torch.cat([p.output_grads(a, d_log_prob, d_entropy)
                          for p, a in zip(self.parts, torch.unbind(actions, dim=-1))], dim=-1)


class Bernoulli:
    """Independent Bernoulli variables with the given ``logits`` (shape ``(batch, n)``)."""

    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = logits

    def sample(self) -> torch.Tensor:
        return (torch.rand_like(self.logits) < torch.sigmoid(self.logits)).to(torch.float32)

    def mode(self) -> torch.Tensor:
        return (self.logits > 0).to(torch.float32)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        return -F.binary_cross_entropy_with_logits(self.logits, actions.to(self.logits.dtype), reduction="none").sum(-1)

    def entropy(self) -> torch.Tensor:
        p = torch.sigmoid(self.logits)
        return F.binary_cross_entropy_with_logits(self.logits, p, reduction="none").sum(-1)

    def output_grads(self, actions: torch.Tensor, d_log_prob: torch.Tensor,
                     d_entropy: torch.Tensor | None = None) -> torch.Tensor:
        """``dL/d logits``: ``d log p(a) / dz = a - sigmoid(z)`` and ``dH/dz = -z p (1 - p)``."""
        p = torch.sigmoid(self.logits)
        grad = (actions.to(p.dtype) - p) * d_log_prob.unsqueeze(-1)
        if d_entropy is not None:
            grad -= self.logits * p * (1.0 - p) * d_entropy.unsqueeze(-1)
        return grad


class DiagGaussian:
    """Normal with diagonal covariance: ``mean`` (batch, d) and ``std`` broadcastable to it.

    ``log_prob(a) = sum_i [-(a_i - mu_i)^2 / (2 sigma_i^2) - log sigma_i - log sqrt(2 pi)]``.
    """

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean = mean
        self.std = std.expand_as(mean)

    def sample(self) -> torch.Tensor:
        return self.mean + self.std * torch.randn_like(self.mean)

    def mode(self) -> torch.Tensor:
        return self.mean

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        z = (actions - self.mean) / self.std
        return (-0.5 * z.square() - self.std.log() - _LOG_SQRT_2PI).sum(-1)

    def entropy(self) -> torch.Tensor:
        return (0.5 + _LOG_SQRT_2PI + self.std.log()).sum(-1)

    def output_grads(self, actions: torch.Tensor, d_log_prob: torch.Tensor,
                     d_entropy: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(dL/d mean, dL/d log sigma)`` per row, with ``z = (a - mu) / sigma``:
        ``d log p / d mu = z / sigma``, ``d log p / d log sigma = z^2 - 1``, ``dH / d log sigma = 1``."""
        z = (actions - self.mean) / self.std
        d = d_log_prob.unsqueeze(-1)
        d_log_std = d * (z.square() - 1.0)
        if d_entropy is not None:
            d_log_std = d_log_std + d_entropy.unsqueeze(-1)
        return d * z / self.std, d_log_std


class SquashedGaussian:
    """``a = tanh(u)``, ``u = mean + exp(log_std) * eps`` for given noise ``eps`` (SAC's reparameterised
    sample, Haarnoja et al., 2018, appendix C), with its log-probability

    ``log pi(a) = sum_j (-eps_j^2 / 2 - log_std_j - log sqrt(2 pi)) - sum_j log(1 - a_j^2 + 1e-6)``

    (the change of variables through tanh, with SB3's epsilon).
    """

    def __init__(self, mean: torch.Tensor, log_std: torch.Tensor, eps: torch.Tensor) -> None:
        self.mean, self.log_std, self.eps = mean, log_std, eps
        self.std = log_std.exp()
        self.actions = torch.tanh(mean + self.std * eps)
        gaussian = (-0.5 * eps.square() - log_std - _LOG_SQRT_2PI).sum(-1)
        self.log_prob = gaussian - torch.log(1.0 - self.actions.square() + SQUASH_EPS).sum(-1)

    def output_grads(self, d_actions: torch.Tensor, d_log_prob: torch.Tensor | float
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(dL/d mean, dL/d log_std)`` from ``dL/da`` and ``dL/d log pi`` (per row, or one number):
        ``d log pi / d a_j = 2 a_j / (1 - a_j^2 + 1e-6)`` and ``d log pi / d log_std_j = -1`` directly,
        ``da/du = 1 - a^2``, ``du/d mean = 1``, ``du/d log_std = exp(log_std) eps``."""
        a = self.actions
        d = d_log_prob.unsqueeze(-1) if isinstance(d_log_prob, torch.Tensor) else d_log_prob
        d_u = tanh_backward(d_actions + d * (2.0 * a / (1.0 - a * a + SQUASH_EPS)), a)
        return d_u, d_u * self.eps * self.std - d


class StateDependentGaussian(DiagGaussian):
    """Generalized State-Dependent Exploration (gSDE; Raffin et al., 2021, arXiv:2005.05719).

    The exploration noise is ``latent @ W`` with ``W ~ N(0, sigma^2)`` drawn every
    ``sde_sample_freq`` steps, so it is a deterministic function of the state between draws. The
    distribution of the action given the state is Gaussian with variance
    ``(latent^2) @ sigma^2`` (plus ``epsilon``), which gives the log-probability.
    """

    def __init__(
        self,
        mean: torch.Tensor,
        latent_sde: torch.Tensor,
        sigma: torch.Tensor,
        exploration: torch.Tensor,
        epsilon: float = 1e-6,
    ) -> None:
        variance = latent_sde.square() @ sigma.square()
        super().__init__(mean, torch.sqrt(variance + epsilon))
        self.latent_sde = latent_sde
        self.exploration = exploration

    def sample(self) -> torch.Tensor:
        if self.exploration.dim() == 3 and self.exploration.shape[0] == self.latent_sde.shape[0]:
            noise = torch.bmm(self.latent_sde.unsqueeze(1), self.exploration).squeeze(1)
        else:
            matrix = self.exploration[0] if self.exploration.dim() == 3 else self.exploration
            noise = self.latent_sde @ matrix
        return self.mean + noise


def gsde_std(log_std: torch.Tensor, use_expln: bool, epsilon: float = 1e-6) -> torch.Tensor:
    """gSDE's ``sigma`` from its log-parameter: ``exp(log_std)``, or with ``use_expln`` the gSDE
    paper's ``expln``: ``exp(x)`` for ``x <= 0`` and ``log1p(x) + 1`` above, which keeps the variance
    positive without letting it grow exponentially (Raffin et al., 2021, arXiv:2005.05719)."""
    if not use_expln:
        return torch.exp(log_std)
    below = torch.exp(log_std) * (log_std <= 0)
    safe = log_std * (log_std > 0) + epsilon  # log1p of a positive number only: no NaN in the unused branch
    return below + (torch.log1p(safe) + 1.0) * (log_std > 0)


class TanhSquashed:
    """``a = tanh(u)`` with ``u`` drawn from a Gaussian ``base`` (SB3's ``TanhBijector``, used by gSDE
    with ``squash_output=True``): actions stay in [-1, 1].

    ``log pi(a) = log p_base(u) - sum_i log(1 - tanh(u_i)^2 + 1e-6)`` with
    ``u = atanh(clip(a, -1 + eps, 1 - eps))`` (``eps`` the dtype's machine epsilon). There is no
    closed-form entropy: :meth:`entropy` is SB3's estimate ``-log pi(a)`` for the actions whose
    log-probability was computed last (the minibatch's, in PPO and A2C), or for a fresh sample.
    """

    def __init__(self, base: DiagGaussian, epsilon: float = 1e-6) -> None:
        self.base = base
        self.epsilon = epsilon
        self.mean = base.mean
        self._last_log_prob: torch.Tensor | None = None

    def sample(self) -> torch.Tensor:
        return torch.tanh(self.base.sample())

    def mode(self) -> torch.Tensor:
        return torch.tanh(self.base.mode())

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        eps = torch.finfo(actions.dtype).eps
        clipped = actions.clamp(-1.0 + eps, 1.0 - eps)
        gaussian = 0.5 * (clipped.log1p() - (-clipped).log1p())
        correction = torch.log(1.0 - torch.tanh(gaussian).square() + self.epsilon).sum(-1)
        self._last_log_prob = self.base.log_prob(gaussian) - correction
        return self._last_log_prob

    def entropy(self) -> torch.Tensor:
        log_prob = self._last_log_prob if self._last_log_prob is not None else self.log_prob(self.sample())
        return -log_prob


class NodeCategorical:
    """One categorical per graph over that graph's nodes, for a ragged batch of node logits.

    ``logits`` ``(N,)`` holds one logit per node of all graphs, ``index`` ``(N,)`` the graph of each
    node, ``offsets`` ``(B + 1,)`` each graph's first node. ``log p(v) = z_v - log sum_{u in g(v)} exp(z_u)``
    (a segment log-softmax, :func:`ballast.segment.segment_log_softmax`). Actions are node
    positions within their graph (``0 .. n_g - 1``), as the env takes them. With ``mask`` (one bool
    per node, True = allowed) masked nodes are never sampled and the probabilities are normalised
    over the allowed nodes only.
    """

    def __init__(self, logits: torch.Tensor, index: torch.Tensor, offsets: torch.Tensor,
                 mask: torch.Tensor | None = None) -> None:
        self.logits, self.index, self.offsets, self.mask = logits, index, offsets, mask
        self.n = offsets.shape[0] - 1
        self.log_probs_all = segment_log_softmax(logits, index, self.n, mask)

    def masked(self, mask: Any) -> NodeCategorical:
        """Restricted to the valid nodes. ``mask`` is a :class:`ballast.masking.RaggedMask` (one row per
        graph, one entry per node, as the env's ``action_masks()``) or a flat bool tensor over all nodes."""
        values = getattr(mask, "values", mask).to(torch.bool)
        lengths = getattr(mask, "lengths", None)
        counts = self.offsets[1:] - self.offsets[:-1]
        if values.shape[0] != self.logits.shape[0] or (lengths is not None and not torch.equal(lengths, counts)):
            got = lengths.tolist() if lengths is not None else f"{values.shape[0]} entries in all"
            raise ActionMaskError(
                f"a node mask needs one entry per node of its graph: the graphs have {counts.tolist()} nodes, "
                f"the masks {got}")
        if self.mask is not None:
            values = values & self.mask.to(torch.bool)
        return NodeCategorical(self.logits, self.index, self.offsets, values)

    def _to_local(self, positions: torch.Tensor) -> torch.Tensor:
        # An empty graph has no node to choose; it gets action 0 (its log-probability is then 0).
        local = positions - self.offsets[:-1]
        return torch.where(positions < self.log_probs_all.shape[0], local, torch.zeros_like(local))

    def sample(self) -> torch.Tensor:
        """Gumbel-max sampling: the argmax per graph of ``log p + g``, ``g = -log(-log u)``, ``u ~ U(0, 1)``."""
        u = torch.rand_like(self.log_probs_all).clamp_(1e-20, 1.0 - 1e-7)
        return self._to_local(segment_argmax(self.log_probs_all - torch.log(-torch.log(u)), self.index, self.n))

    def mode(self) -> torch.Tensor:
        return self._to_local(segment_argmax(self.log_probs_all, self.index, self.n))

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        positions = self.offsets[:-1] + actions.long()
        empty = self.offsets[1:] == self.offsets[:-1]
        safe = torch.where(empty, torch.zeros_like(positions), positions)
        if self.log_probs_all.shape[0] == 0:
            return torch.zeros(self.n, dtype=self.log_probs_all.dtype, device=self.log_probs_all.device)
        return torch.where(empty, torch.zeros_like(self.log_probs_all[safe]), self.log_probs_all[safe])

    def entropy(self) -> torch.Tensor:
        p = self.log_probs_all.exp()
        return -segment_sum(torch.where(p > 0, p * self.log_probs_all, torch.zeros_like(p)), self.index, self.n)


def _node_values(actions: SetBatch | torch.Tensor) -> torch.Tensor:
    """The per-node values of ragged actions (a :class:`~ballast.ragged.SetBatch`) or of a flat tensor."""
    return actions.values if isinstance(actions, SetBatch) else actions


class NodeBernoulli:
    """One Bernoulli per node of every graph (for ``NodeMultiBinary`` actions).

    ``logits`` ``(N,)``; samples are ragged, a :class:`~ballast.ragged.SetBatch` of 0/1 floats with
    the graphs' node offsets. ``log_prob`` and ``entropy`` sum over each graph's nodes:
    ``log p(a | g) = sum_{v in g} [a_v log s(z_v) + (1 - a_v) log(1 - s(z_v))]``.
    """

    def __init__(self, logits: torch.Tensor, index: torch.Tensor, offsets: torch.Tensor) -> None:
        self.logits, self.index, self.offsets = logits, index, offsets
        self.n = offsets.shape[0] - 1

    def _ragged(self, values: torch.Tensor) -> SetBatch:
        return SetBatch(values, self.offsets, self.index)

    def sample(self) -> SetBatch:
        return self._ragged((torch.rand_like(self.logits) < torch.sigmoid(self.logits)).to(torch.float32))

    def mode(self) -> SetBatch:
        return self._ragged((self.logits > 0).to(torch.float32))

    def log_prob(self, actions: SetBatch | torch.Tensor) -> torch.Tensor:
        values = _node_values(actions).to(self.logits.dtype)
        per_node = -F.binary_cross_entropy_with_logits(self.logits, values, reduction="none")
        return segment_sum(per_node, self.index, self.n)

    def entropy(self) -> torch.Tensor:
        p = torch.sigmoid(self.logits)
        return segment_sum(F.binary_cross_entropy_with_logits(self.logits, p, reduction="none"), self.index, self.n)


class NodeGaussian:
    """A diagonal Gaussian vector per node of every graph (for ``NodeBox`` actions).

    ``mean`` ``(N, d)``, ``std`` ``(d,)``; samples are a ragged :class:`~ballast.ragged.SetBatch`.
    ``log_prob`` sums :class:`DiagGaussian`'s per-node log-density over each graph's nodes.
    """

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, index: torch.Tensor, offsets: torch.Tensor) -> None:
        self.mean, self.std = mean, std.expand_as(mean)
        self.index, self.offsets = index, offsets
        self.n = offsets.shape[0] - 1

    def _ragged(self, values: torch.Tensor) -> SetBatch:
        return SetBatch(values, self.offsets, self.index)

    def sample(self) -> SetBatch:
        return self._ragged(self.mean + self.std * torch.randn_like(self.mean))

    def mode(self) -> SetBatch:
        return self._ragged(self.mean)

    def log_prob(self, actions: SetBatch | torch.Tensor) -> torch.Tensor:
        z = (_node_values(actions).reshape(self.mean.shape) - self.mean) / self.std
        per_node = (-0.5 * z.square() - self.std.log() - _LOG_SQRT_2PI).sum(-1)
        return segment_sum(per_node, self.index, self.n)

    def entropy(self) -> torch.Tensor:
        per_node = (0.5 + _LOG_SQRT_2PI + self.std.log()).sum(-1)
        return segment_sum(per_node, self.index, self.n)
