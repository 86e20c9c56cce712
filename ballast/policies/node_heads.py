"""Action heads that decide about the nodes of a graph (or the elements of a set) observation.

They read the encoder's :class:`~ballast.encoders.graph.NodeEncoding` (one embedding per node)
and the actor latent of each node's graph, so a node's output depends on the node and on its
whole graph: ``out_v = W_o tanh(W [h_v ; z_{g(v)}] + b) + c``. No weight depends on the number
of nodes, so the heads run on graphs of any size.

- :class:`NodeChoiceHead` (``NodeChoice``): one score per node, a categorical over each graph's nodes.
- :class:`NodeBernoulliHead` (``NodeMultiBinary``): one logit per node, a Bernoulli per node.
- :class:`NodeGaussianHead` (``NodeBox``): a mean vector per node and a state-independent log-std.

Per-node actions are ragged (one value per node): a :class:`~ballast.ragged.SetBatch` aligned with
the observation's nodes; :class:`NodeActionAdapter` maps them onto the env's space.
"""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from ballast.distributions import NodeBernoulli, NodeCategorical, NodeGaussian
from ballast.encoders.graph import NodeEncoding
from ballast.errors import UnsupportedSpaceError
from ballast.node_spaces import NODE_ACTION_SPACES, NodeBox, NodeChoice, NodeMultiBinary
from ballast.ragged import SetBatch


class _NodeOutputs(nn.Module):
    """``out_v = net(tanh(mlp [h_v ; z_{g(v)}]))`` with ``out_dim`` outputs per node (``mlp h_v`` when
    ``latent_dim`` is 0: the encoder gives the heads no graph readout)."""

    def __init__(self, node_dim: int, latent_dim: int, out_dim: int, hidden_dim: int = 64) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(node_dim + latent_dim, hidden_dim), nn.Tanh())
        self.net = nn.Linear(hidden_dim, out_dim)
        self.readout = latent_dim > 0

    def node_outputs(self, latent: torch.Tensor, encoding: NodeEncoding) -> torch.Tensor:
        inputs = torch.cat([encoding.nodes, latent[encoding.index]], dim=1) if self.readout else encoding.nodes
        return self.net(self.mlp(inputs))


class NodeChoiceHead(_NodeOutputs):
    """A :class:`~ballast.distributions.NodeCategorical` over each graph's nodes (for :class:`NodeChoice`)."""

    def __init__(self, node_dim: int, latent_dim: int, hidden_dim: int = 64) -> None:
        super().__init__(node_dim, latent_dim, 1, hidden_dim)

    def forward(self, latent: torch.Tensor, encoding: NodeEncoding, mask: torch.Tensor | None = None
                ) -> NodeCategorical:
        scores = self.node_outputs(latent, encoding).squeeze(-1)
        return NodeCategorical(scores, encoding.index, encoding.offsets, mask)


class NodeBernoulliHead(_NodeOutputs):
    """A :class:`~ballast.distributions.NodeBernoulli` (for :class:`NodeMultiBinary`)."""

    def __init__(self, node_dim: int, latent_dim: int, hidden_dim: int = 64) -> None:
        super().__init__(node_dim, latent_dim, 1, hidden_dim)

    def forward(self, latent: torch.Tensor, encoding: NodeEncoding) -> NodeBernoulli:
        return NodeBernoulli(self.node_outputs(latent, encoding).squeeze(-1), encoding.index, encoding.offsets)


class NodeGaussianHead(_NodeOutputs):
    """A :class:`~ballast.distributions.NodeGaussian` (for :class:`NodeBox`), log-std shared by all nodes."""

    def __init__(self, node_dim: int, latent_dim: int, action_dim: int, log_std_init: float,
                 hidden_dim: int = 64) -> None:
        super().__init__(node_dim, latent_dim, action_dim, hidden_dim)
        self.log_std = nn.Parameter(torch.full((action_dim,), float(log_std_init)))

    def forward(self, latent: torch.Tensor, encoding: NodeEncoding) -> NodeGaussian:
        return NodeGaussian(self.node_outputs(latent, encoding), self.log_std.exp(), encoding.index,
                            encoding.offsets)


class NodeActionAdapter(nn.Module):
    """Maps per-node policy actions (a :class:`SetBatch`) onto the env's per-node space: 0/1 int8 values for
    :class:`NodeMultiBinary`; for :class:`NodeBox`, vectors of ``feature_shape`` clipped to the bounds."""

    def __init__(self, action_space: NodeMultiBinary | NodeBox) -> None:
        super().__init__()
        self.kind = type(action_space).__name__
        self.squashed = False
        self.shape = tuple(action_space.feature_shape) if isinstance(action_space, NodeBox) else ()
        if isinstance(action_space, NodeBox):
            self.register_buffer("low", torch.as_tensor(action_space.low, dtype=torch.float32).reshape(-1),
                                 persistent=False)
            self.register_buffer("high", torch.as_tensor(action_space.high, dtype=torch.float32).reshape(-1),
                                 persistent=False)

    def forward(self, actions: SetBatch) -> SetBatch:
        if self.kind == "NodeBox":
            values = torch.maximum(torch.minimum(actions.values, self.high), self.low)
            values = values.reshape(values.shape[0], *self.shape)
        else:
            values = actions.values.to(torch.int8)
        return SetBatch(values, actions.offsets, actions.index)


def is_node_action_space(space: spaces.Space) -> bool:
    return isinstance(space, NODE_ACTION_SPACES)


def make_node_head(action_space: spaces.Space, encoder: nn.Module, latent_dim: int,
                   log_std_init: float = 0.0) -> nn.Module:
    """The node-level head for ``action_space``; the encoder must give node embeddings. The head reads
    the actor latent of each node's graph unless the encoder says ``node_readout = False``."""
    if not hasattr(encoder, "node_dim"):
        raise UnsupportedSpaceError(
            f"the action space {action_space} chooses among the nodes of a graph, but the observation encoder "
            f"({type(encoder).__name__}) gives no node embeddings; use a Graph, Sequence or set_axis observation "
            "(or a Dict with exactly one of them)"
        )
    if not getattr(encoder, "node_readout", True):
        latent_dim = 0
    if isinstance(action_space, NodeChoice):
        return NodeChoiceHead(int(encoder.node_dim), latent_dim)
    if isinstance(action_space, NodeMultiBinary):
        return NodeBernoulliHead(int(encoder.node_dim), latent_dim)
    if isinstance(action_space, NodeBox):
        return NodeGaussianHead(int(encoder.node_dim), latent_dim, int(np.prod(action_space.feature_shape)),
                                log_std_init)
    raise UnsupportedSpaceError(f"no node-level head for the action space {action_space}")
