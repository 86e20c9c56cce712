"""Light action distributions for the policies.

Plain tensors in, plain tensors out: no argument validation or broadcasting machinery on the hot
path. Each distribution offers ``sample``, ``mode`` (the deterministic action), ``log_prob`` and
``entropy``; log-probabilities and entropies are summed over action dimensions, one value per
batch row. Distributions that support action masking also offer ``masked(mask)``, which returns
the distribution restricted to the valid actions (see :mod:`ballast.masking`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


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
