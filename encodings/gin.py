"""A GIN acting on the node axis of a node tensor with extra (set) axes."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class AxisGIN(nn.Module):
    r"""GIN layers over the node axis of a padded ``(B, n, S, c)`` tensor; the axis ``S`` is carried
    along untouched, so each of its slices is an independent GIN input over the same graph.

    .. math::
        H^{(t+1)}_{i,s} = \mathrm{MLP}_t\Big(H^{(t)}_{i,s}
        + \sum_{k \in \mathcal N(i)} H^{(t)}_{k,s}\Big)

    Shapes: ``x`` ``(B, n, S, in_dim)`` and the dense adjacency ``adj`` ``(B, n, n)`` of B graphs
    padded to n nodes (``to_dense_batch``/``to_dense_adj``); output ``(B, n, S, hidden)``. The
    neighbour sum is one batched matrix product over all graphs (no loop over graphs; on CPU it
    is several times faster than a scatter over the edges for molecule-sized graphs). Padded
    nodes have no edges, so they never reach real ones; padded entries of the output are
    arbitrary and must be masked by the caller. Permuting the nodes (and ``adj``) permutes the
    node axis of the output: the layers are permutation equivariant.

    Paper: Xu et al., "How Powerful are Graph Neural Networks?", ICLR 2019,
    https://arxiv.org/abs/1810.00826.
    """

    def __init__(self, in_dim: int, hidden: int, num_layers: int) -> None:
        super().__init__()
        self.in_dim, self.hidden = in_dim, hidden
        dims = [in_dim] + [hidden] * num_layers
        self.mlps = nn.ModuleList(
            # in-place ReLU: these (B, n, S, hidden) tensors are the bulk of SPE's memory traffic
            nn.Sequential(nn.Linear(a, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, hidden))
            for a in dims[:-1]
        )

    def forward(self, x: Tensor, adj: Tensor) -> Tensor:
        b, n, s, _ = x.shape
        for t, mlp in enumerate(self.mlps):
            agg = x + torch.bmm(adj, x.reshape(b, n, -1)).view(b, n, s, -1)  # self + neighbours
            x = mlp(agg)  # (B, n, S, hidden)
            if t < len(self.mlps) - 1:
                x = x.relu_()
        return x

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.in_dim}, {self.hidden}, num_layers={len(self.mlps)})"
