"""PyTorch Geometric models as Ballast graph encoders (optional: ``pip install ballast-rl[graph]``).

:class:`PygGraphEncoder` runs one of PyG's ready-made GNNs (``torch_geometric.nn.models``: ``GCN``,
``GraphSAGE``, ``GIN``, ``GAT``, ``EdgeCNN``) on a :class:`~ballast.ragged.GraphBatch` and pools the
node embeddings per graph. A :class:`~ballast.ragged.GraphBatch` is already in PyG's layout
(``x`` = ``nodes``, ``edge_index``, ``edge_attr`` = ``edges``, ``batch`` = ``node_index``), so any
other PyG model plugs in the same way through ``features_extractor_class`` (see docs/graphs.md).
Select it with ``policy_kwargs=dict(features_extractor_kwargs=dict(pyg_model="GraphSAGE"))``.
"""

from __future__ import annotations

import importlib

import torch
from gymnasium import spaces

from ballast.encoders.base import BaseFeaturesExtractor
from ballast.encoders.graph import NodeEncoding, as_features, input_dim, pool, pooling_modes
from ballast.errors import ConfigurationError
from ballast.ragged import GraphBatch

PYG_MODELS = ("GCN", "GraphSAGE", "GIN", "GAT", "EdgeCNN")


def require_pyg() -> object:
    """The ``torch_geometric`` module, or a :class:`ConfigurationError` saying how to install it."""
    try:
        return importlib.import_module("torch_geometric")
    except ImportError:
        raise ConfigurationError(
            "this encoder needs PyTorch Geometric, which is not installed; install it with "
            "pip install 'ballast-rl[graph]' (or pip install torch_geometric)"
        ) from None


class PygGraphEncoder(BaseFeaturesExtractor):
    """A PyG ``BasicGNN`` (``model``) over the nodes, then per-graph pooling.

    Edge features are passed as ``edge_attr`` to models that take them (``GAT`` with ``edge_dim``);
    other models ignore them.
    """

    takes_raw_observations = True

    def __init__(self, space: spaces.Graph, model: str = "GraphSAGE", hidden_dim: int = 64, n_layers: int = 3,
                 pooling: str | list[str] | tuple[str, ...] = ("mean", "max")) -> None:
        super().__init__(space, hidden_dim * len(pooling_modes(pooling)))
        if model not in PYG_MODELS:
            raise ConfigurationError(f"pyg_model must be one of {PYG_MODELS}, got {model!r}")
        models = importlib.import_module(require_pyg().__name__ + ".nn.models")
        self.node_space, self.edge_space = space.node_space, space.edge_space
        extra = {}
        self.uses_edges = model == "GAT" and space.edge_space is not None
        if self.uses_edges:
            extra["edge_dim"] = input_dim(space.edge_space)
        self.gnn = getattr(models, model)(in_channels=input_dim(space.node_space), hidden_channels=hidden_dim,
                                          num_layers=n_layers, **extra)
        self.model_name = model
        self.pooling = pooling_modes(pooling)
        self.node_dim = hidden_dim

    def encode_nodes(self, graphs: GraphBatch) -> NodeEncoding:
        x = as_features(graphs.nodes, self.node_space)
        if self.uses_edges:
            h = self.gnn(x, graphs.edge_index, edge_attr=as_features(graphs.edges, self.edge_space))
        else:
            h = self.gnn(x, graphs.edge_index)
        features = pool(h, graphs.node_index, graphs.num_graphs, self.pooling)
        return NodeEncoding(features, h, graphs.node_index, graphs.node_offsets)

    def forward(self, graphs: GraphBatch) -> torch.Tensor:
        return self.encode_nodes(graphs).features
