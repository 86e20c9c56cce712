"""Action heads that decide about the nodes of a graph (or the elements of a set) observation.

They read the encoder's :class:`~ballast.encoders.graph.NodeEncoding` (one embedding per node)
and the actor latent of each node's graph, so a node's score depends on the node and on its
whole graph: ``score_v = w^T tanh(W [h_v ; z_{g(v)}] + b) + c``. No weight depends on the number
of nodes, so the head runs on graphs of any size.
"""

from __future__ import annotations

import torch
from gymnasium import spaces
from torch import nn

from ballast.distributions import NodeCategorical
from ballast.encoders.graph import NodeEncoding
from ballast.errors import UnsupportedSpaceError
from ballast.node_spaces import NODE_ACTION_SPACES, NodeChoice


class NodeChoiceHead(nn.Module):
    """A :class:`~ballast.distributions.NodeCategorical` over each graph's nodes (for :class:`NodeChoice`)."""

    def __init__(self, node_dim: int, latent_dim: int, hidden_dim: int = 64) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(node_dim + latent_dim, hidden_dim), nn.Tanh())
        self.net = nn.Linear(hidden_dim, 1)

    def forward(self, latent: torch.Tensor, encoding: NodeEncoding, mask: torch.Tensor | None = None
                ) -> NodeCategorical:
        scores = self.net(self.mlp(torch.cat([encoding.nodes, latent[encoding.index]], dim=1))).squeeze(-1)
        return NodeCategorical(scores, encoding.index, encoding.offsets, mask)


def is_node_action_space(space: spaces.Space) -> bool:
    return isinstance(space, NODE_ACTION_SPACES)


def make_node_head(action_space: spaces.Space, encoder: nn.Module, latent_dim: int) -> nn.Module:
    """The node-level head for ``action_space``; the encoder must give node embeddings."""
    if not hasattr(encoder, "node_dim"):
        raise UnsupportedSpaceError(
            f"the action space {action_space} chooses among the nodes of a graph, but the observation encoder "
            f"({type(encoder).__name__}) gives no node embeddings; use a Graph, Sequence or set_axis observation "
            "(or a Dict with exactly one of them)"
        )
    if isinstance(action_space, NodeChoice):
        return NodeChoiceHead(int(encoder.node_dim), latent_dim)
    raise UnsupportedSpaceError(
        f"the node-level action space {action_space} is not supported by this policy yet; supported: NodeChoice")
