"""Stable-Baselines3's MLP builders, ``create_mlp`` and ``MlpExtractor``, for code that calls them.

Ballast's own policies run their hidden layers as :class:`~ballast.policies.mlp.StackedMLP`
(actor and critic in one batched product); these are the plain ``nn.Sequential`` forms SB3 users
build custom extractors and heads from.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ballast.device import resolve_device


def create_mlp(
    input_dim: int,
    output_dim: int,
    net_arch: Sequence[int],
    activation_fn: type[nn.Module] = nn.ReLU,
    squash_output: bool = False,
    with_bias: bool = True,
    pre_linear_modules: Sequence[type[nn.Module]] | None = None,
    post_linear_modules: Sequence[type[nn.Module]] | None = None,
) -> list[nn.Module]:
    """The layers of an MLP, as SB3's ``create_mlp`` returns them (wrap them in ``nn.Sequential``).

    For each size ``h`` of ``net_arch``: the ``pre_linear_modules`` (each built with the layer's input
    width, e.g. ``nn.BatchNorm1d``), ``nn.Linear(., h, bias=with_bias)``, the ``post_linear_modules``
    (built with ``h``, e.g. ``nn.LayerNorm``), ``activation_fn()``. Then, when ``output_dim > 0``, the
    ``pre_linear_modules`` and a last ``nn.Linear(., output_dim)`` without activation; ``nn.Tanh()``
    at the end with ``squash_output``.
    """
    pre, post = list(pre_linear_modules or []), list(post_linear_modules or [])
    modules: list[nn.Module] = []
    last = input_dim
    for size in net_arch:
        modules += [module(last) for module in pre]
        modules.append(nn.Linear(last, size, bias=with_bias))
        modules += [module(size) for module in post]
        modules.append(activation_fn())
        last = size
    if output_dim > 0:
        modules += [module(last) for module in pre]
        modules.append(nn.Linear(last, output_dim, bias=with_bias))
    if squash_output:
        modules.append(nn.Tanh())
    return modules


class MlpExtractor(nn.Module):
    """SB3's ``MlpExtractor``: separate policy and value MLPs on the features.

    ``net_arch`` is a list of layer sizes (the same for both) or ``dict(pi=[...], vf=[...])`` (a
    missing key means no layer). ``forward(features)`` returns ``(latent_pi, latent_vf)``, of widths
    ``latent_dim_pi`` and ``latent_dim_vf``.
    """

    def __init__(self, feature_dim: int, net_arch: list[int] | dict[str, list[int]],
                 activation_fn: type[nn.Module], device: torch.device | str = "auto") -> None:
        super().__init__()
        if isinstance(net_arch, dict):
            pi_sizes, vf_sizes = list(net_arch.get("pi", [])), list(net_arch.get("vf", []))
        else:
            pi_sizes = vf_sizes = list(net_arch)
        self.policy_net = nn.Sequential(*create_mlp(feature_dim, 0, pi_sizes, activation_fn))
        self.value_net = nn.Sequential(*create_mlp(feature_dim, 0, vf_sizes, activation_fn))
        self.latent_dim_pi = pi_sizes[-1] if pi_sizes else feature_dim
        self.latent_dim_vf = vf_sizes[-1] if vf_sizes else feature_dim
        self.to(resolve_device(device))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
        return self.policy_net(features)

    def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
        return self.value_net(features)
