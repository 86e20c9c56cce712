import math

import pytest
import torch
from torch import distributions as td

from ballast.distributions import Bernoulli, Categorical, DiagGaussian, MultiCategorical, SquashedGaussian
from ballast.distributions import StateDependentGaussian as SDEGaussian


@pytest.fixture
def seeded():
    torch.manual_seed(0)


def test_categorical_matches_torch(seeded):
    logits = torch.randn(6, 4)
    actions = torch.tensor([0, 1, 2, 3, 3, 0])
    ours, ref = Categorical(logits), td.Categorical(logits=logits)
    torch.testing.assert_close(ours.log_prob(actions), ref.log_prob(actions))
    torch.testing.assert_close(ours.entropy(), ref.entropy())
    torch.testing.assert_close(ours.mode(), logits.argmax(-1))


def test_categorical_hand_values():
    dist = Categorical(torch.log(torch.tensor([[0.25, 0.25, 0.5]])))
    assert dist.log_prob(torch.tensor([2])).item() == pytest.approx(math.log(0.5))
    # H = -(2 * 0.25 ln 0.25 + 0.5 ln 0.5) = 1.5 ln 2
    assert dist.entropy().item() == pytest.approx(1.5 * math.log(2.0))


def test_multicategorical_matches_independent_torch_categoricals(seeded):
    nvec = [3, 2, 4]
    logits = torch.randn(5, sum(nvec))
    actions = torch.stack([torch.randint(0, n, (5,)) for n in nvec], dim=-1)
    refs = [td.Categorical(logits=chunk) for chunk in torch.split(logits, nvec, dim=-1)]
    dist = MultiCategorical(logits, nvec)
    expected = sum(r.log_prob(actions[:, i]) for i, r in enumerate(refs))
    torch.testing.assert_close(dist.log_prob(actions), expected)
    torch.testing.assert_close(dist.entropy(), sum(r.entropy() for r in refs))
    assert dist.sample().shape == (5, 3)
    torch.testing.assert_close(dist.mode(), torch.stack([r.probs.argmax(-1) for r in refs], dim=-1))


def test_bernoulli_matches_torch(seeded):
    logits = torch.randn(5, 3) * 3
    actions = (torch.rand(5, 3) < 0.5).float()
    ref = td.Bernoulli(logits=logits)
    dist = Bernoulli(logits)
    torch.testing.assert_close(dist.log_prob(actions), ref.log_prob(actions).sum(-1))
    torch.testing.assert_close(dist.entropy(), ref.entropy().sum(-1))
    torch.testing.assert_close(dist.mode(), (logits > 0).float())


def test_diag_gaussian_matches_torch(seeded):
    mean = torch.randn(5, 2)
    std = torch.tensor([0.5, 2.0])
    actions = torch.randn(5, 2)
    ref = td.Normal(mean, std.expand_as(mean))
    dist = DiagGaussian(mean, std)
    torch.testing.assert_close(dist.log_prob(actions), ref.log_prob(actions).sum(-1))
    torch.testing.assert_close(dist.entropy(), ref.entropy().sum(-1))
    torch.testing.assert_close(dist.mode(), mean)


def test_diag_gaussian_hand_value():
    # one dimension, mu = 0, sigma = 1, a = 1: -1/2 - ln sqrt(2 pi)
    dist = DiagGaussian(torch.zeros(1, 1), torch.ones(1))
    assert dist.log_prob(torch.ones(1, 1)).item() == pytest.approx(-0.5 - 0.5 * math.log(2 * math.pi))


def sde_variance(latent, sigma):
    batch, latent_dim = latent.shape
    action_dim = sigma.shape[1]
    var = torch.zeros(batch, action_dim, dtype=latent.dtype)
    for b in range(batch):
        for j in range(action_dim):
            for i in range(latent_dim):
                var[b, j] += latent[b, i] ** 2 * sigma[i, j] ** 2
    return var


def test_state_dependent_gaussian_log_prob_uses_the_gsde_variance(seeded):
    latent = torch.randn(4, 3, dtype=torch.float64)
    sigma = torch.rand(3, 2, dtype=torch.float64) + 0.1
    mean = torch.randn(4, 2, dtype=torch.float64)
    actions = torch.randn(4, 2, dtype=torch.float64)
    eps = 1e-6
    ref = td.Normal(mean, torch.sqrt(sde_variance(latent, sigma) + eps))
    dist = SDEGaussian(mean, latent, sigma, torch.zeros(1, 3, 2, dtype=torch.float64), epsilon=eps)
    torch.testing.assert_close(dist.log_prob(actions), ref.log_prob(actions).sum(-1))
    torch.testing.assert_close(dist.entropy(), ref.entropy().sum(-1))


def test_state_dependent_gaussian_sample_is_mean_plus_latent_times_noise_matrix():
    latent = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
    mean = torch.tensor([[0.5], [1.0]])
    shared = torch.tensor([[[2.0], [3.0]]])
    # row 0: 0.5 + (1*2 + 2*3) = 8.5; row 1: 1 + (0*2 - 1*3) = -2
    dist = SDEGaussian(mean, latent, torch.ones(2, 1), shared)
    torch.testing.assert_close(dist.sample(), torch.tensor([[8.5], [-2.0]]))
    per_row = torch.tensor([[[2.0], [3.0]], [[1.0], [10.0]]])
    # row 1 with its own matrix: 1 + (0*1 - 1*10) = -9
    dist = SDEGaussian(mean, latent, torch.ones(2, 1), per_row)
    torch.testing.assert_close(dist.sample(), torch.tensor([[8.5], [-9.0]]))


def frequencies(samples, n):
    return torch.bincount(samples.reshape(-1), minlength=n).double() / samples.numel()


def test_categorical_sampling_frequencies(seeded):
    probs = torch.tensor([0.1, 0.2, 0.7])
    samples = Categorical(torch.log(probs).expand(20000, 3)).sample()
    torch.testing.assert_close(frequencies(samples, 3), probs.double(), atol=0.02, rtol=0)


def test_categorical_never_samples_zero_probability_actions(seeded):
    logits = torch.tensor([[0.0, -float("inf"), 0.0, -float("inf")]]).expand(5000, 4)
    counts = torch.bincount(Categorical(logits).sample(), minlength=4)
    assert counts[1] == 0 and counts[3] == 0
    assert counts[0] > 2000 and counts[2] > 2000


def test_multicategorical_sampling_frequencies(seeded):
    p0, p1 = torch.tensor([0.6, 0.4]), torch.tensor([0.2, 0.3, 0.5])
    logits = torch.cat([p0.log(), p1.log()]).expand(20000, 5)
    samples = MultiCategorical(logits, [2, 3]).sample()
    torch.testing.assert_close(frequencies(samples[:, 0], 2), p0.double(), atol=0.02, rtol=0)
    torch.testing.assert_close(frequencies(samples[:, 1], 3), p1.double(), atol=0.02, rtol=0)


def test_bernoulli_sampling_frequencies(seeded):
    p = torch.tensor([0.1, 0.5, 0.9])
    samples = Bernoulli(torch.logit(p).expand(20000, 3)).sample()
    assert set(samples.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(samples.double().mean(0), p.double(), atol=0.02, rtol=0)


def test_diag_gaussian_sampling_moments(seeded):
    mean, std = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 3.0])
    samples = DiagGaussian(mean.expand(20000, 2), std).sample()
    torch.testing.assert_close(samples.mean(0), mean, atol=0.1, rtol=0)
    torch.testing.assert_close(samples.std(0), std, atol=0.1, rtol=0)


# --- output_grads: the derivative with respect to the head's outputs, against autograd ---------------------
def _leaf(shape: tuple[int, ...], seed: int, scale: float = 1.0) -> torch.Tensor:
    return (torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale
            ).requires_grad_(True)


def _weights(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, generator=g, dtype=torch.float64), torch.randn(n, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("entropy", [True, False])
def test_categorical_family_output_grads_match_autograd(entropy: bool) -> None:
    d_log_prob, d_entropy = _weights(12, seed=5)
    d_entropy = d_entropy if entropy else None
    g = torch.Generator().manual_seed(6)
    cases = [
        (lambda z: Categorical(z), _leaf((12, 4), 1, 3.0), torch.randint(0, 4, (12,), generator=g)),
        (lambda z: MultiCategorical(z, [3, 2]), _leaf((12, 5), 2, 3.0),
         torch.stack([torch.randint(0, 3, (12,), generator=g), torch.randint(0, 2, (12,), generator=g)], -1)),
        (lambda z: Bernoulli(z), _leaf((12, 3), 3, 3.0), torch.randint(0, 2, (12, 3), generator=g).double()),
    ]
    for make, logits, actions in cases:
        dist = make(logits)
        objective = (dist.log_prob(actions) * d_log_prob).sum()
        if d_entropy is not None:
            objective = objective + (dist.entropy() * d_entropy).sum()
        (expected,) = torch.autograd.grad(objective, logits)
        got = make(logits.detach()).output_grads(actions, d_log_prob, d_entropy)
        torch.testing.assert_close(got, expected)


def test_diag_gaussian_output_grads_match_autograd() -> None:
    mean, log_std = _leaf((12, 3), 1), _leaf((3,), 2, 0.5)
    actions = torch.randn(12, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    d_log_prob, d_entropy = _weights(12, seed=4)
    dist = DiagGaussian(mean, log_std.exp())
    objective = (dist.log_prob(actions) * d_log_prob).sum() + (dist.entropy() * d_entropy).sum()
    d_mean, d_log_std = torch.autograd.grad(objective, (mean, log_std))
    got_mean, got_log_std = DiagGaussian(mean.detach(), log_std.detach().exp()).output_grads(
        actions, d_log_prob, d_entropy)
    torch.testing.assert_close(got_mean, d_mean)
    torch.testing.assert_close(got_log_std.sum(0), d_log_std)


def test_squashed_gaussian_output_grads_match_autograd() -> None:
    mean, log_std = _leaf((12, 3), 1, 2.0), _leaf((12, 3), 2, 0.5)
    eps = torch.randn(12, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    d_actions = torch.randn(12, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    d_log_prob, _ = _weights(12, seed=5)
    dist = SquashedGaussian(mean, log_std, eps)
    objective = (dist.actions * d_actions).sum() + (dist.log_prob * d_log_prob).sum()
    expected = torch.autograd.grad(objective, (mean, log_std))
    got = SquashedGaussian(mean.detach(), log_std.detach(), eps).output_grads(d_actions, d_log_prob)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)
