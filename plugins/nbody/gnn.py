"""The non-equivariant GNN baseline of the n-body benchmark: message passing on raw coordinates."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from symco.plugins.nbody.gnn_layer import GNNLayer
from symco.plugins.nbody.pairs import charge_products, mlp


class GNN(nn.Module):
    """A message-passing network on raw coordinates (the EGNN paper's "GNN" baseline).

    Node inputs :math:`(x_i, v_i)` (6 numbers, embedded linearly), edge attributes
    :math:`a_{ij} = q_i q_j`; ``num_layers`` :class:`GNNLayer` of ``hidden`` features with SiLU;
    an MLP decoder maps :math:`h_i` to 3 numbers. With ``residual`` (the default) they are the
    displacement, :math:`\\hat x_i = x_i + \\mathrm{dec}(h_i)`; without, the position itself
    (the paper's baseline). Permutation equivariant, but *not* equivariant to rotations or
    translations: it has to learn them from data (or from a regularizer / frame averaging).
    """

    def __init__(self, hidden: int = 64, num_layers: int = 4, residual: bool = True) -> None:
        super().__init__()
        self.embed = nn.Linear(6, hidden)
        self.layers = nn.ModuleList(GNNLayer(hidden, edge_dim=1) for _ in range(num_layers))
        self.decode = mlp([hidden, hidden, 3])
        self.residual = residual

    def forward(self, loc: Tensor, vel: Tensor, charges: Tensor) -> Tensor:
        """``loc``/``vel`` ``(B, N, 3)``, ``charges`` ``(B, N)`` -> positions ``(B, N, 3)``."""
        h = self.embed(torch.cat([loc, vel], dim=-1))  # (B, N, F)
        edge_attr = charge_products(charges)  # (B, N, N, 1)
        for layer in self.layers:
            h = layer(h, edge_attr)
        out = self.decode(h)  # (B, N, 3)
        return loc + out if self.residual else out
