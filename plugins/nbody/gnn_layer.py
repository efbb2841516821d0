"""One plain message-passing layer (no coordinates): the GNN baseline's convolution."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from symco.plugins.nbody.pairs import mlp, off_diagonal, pair_features


class GNNLayer(nn.Module):
    """Message passing on a fully connected graph (Gilmer et al., 2017), the convolution of the
    EGNN paper's GNN baseline:

    .. math::

        m_{ij} = \\phi_e(h_i, h_j, a_{ij}), \\qquad
        h_i \\leftarrow h_i + \\phi_h\\big(h_i, \\textstyle\\sum_{j \\ne i} m_{ij}\\big) .

    Equivariant to node permutations only. Shapes: ``h`` ``(B, N, F)``, ``edge_attr``
    ``(B, N, N, E)``.
    """

    def __init__(self, hidden: int = 64, edge_dim: int = 1, act: type[nn.Module] = nn.SiLU) -> None:
        super().__init__()
        self.phi_e = mlp([2 * hidden + edge_dim, hidden, hidden], act, last_act=True)
        self.phi_h = mlp([2 * hidden, hidden, hidden], act)

    def forward(self, h: Tensor, edge_attr: Tensor) -> Tensor:
        """The updated node features ``(B, N, F)``."""
        h_i, h_j = pair_features(h)  # (B, N, N, F) each
        mask = off_diagonal(h.shape[1], dtype=h.dtype, device=h.device)  # (1, N, N, 1)
        m = self.phi_e(torch.cat([h_i, h_j, edge_attr], dim=-1)) * mask  # (B, N, N, F)
        return h + self.phi_h(torch.cat([h, m.sum(2)], dim=-1))  # (B, N, F)
