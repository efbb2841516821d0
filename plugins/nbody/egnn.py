"""The EGNN of the n-body benchmark (Satorras et al., ICML 2021): stacked :class:`EGNNLayer`."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from symco.plugins.nbody.egnn_layer import EGNNLayer
from symco.plugins.nbody.pairs import charge_products, pair_differences


class EGNN(nn.Module):
    """E(3)-equivariant n-body predictor: positions ``(B, N, 3)`` at the output time.

    Inputs as in the paper's n-body experiment: node features :math:`h_i^0 = W \\lVert v_i
    \\rVert` (the speed, embedded linearly), edge attributes
    :math:`a_{ij} = (q_i q_j, \\lVert x_i^0 - x_j^0 \\rVert^2)` (charge product and input
    distance), coordinates :math:`x^0` and velocities :math:`v` (fixed across layers); the output
    is the last layer's coordinates :math:`x^L`. ``num_layers`` (4) layers of ``hidden`` (64)
    features with SiLU.
    """

    def __init__(self, hidden: int = 64, num_layers: int = 4) -> None:
        super().__init__()
        self.embed = nn.Linear(1, hidden)
        self.layers = nn.ModuleList(EGNNLayer(hidden, edge_dim=2) for _ in range(num_layers))

    def forward(self, loc: Tensor, vel: Tensor, charges: Tensor) -> Tensor:
        """``loc``/``vel`` ``(B, N, 3)``, ``charges`` ``(B, N)`` -> positions ``(B, N, 3)``."""
        h = self.embed(vel.norm(dim=-1, keepdim=True))  # (B, N, F)
        dist2 = (pair_differences(loc) ** 2).sum(-1, keepdim=True)  # (B, N, N, 1)
        edge_attr = torch.cat([charge_products(charges), dist2], dim=-1)  # (B, N, N, 2)
        x = loc
        for layer in self.layers:
            h, x = layer(h, x, vel, edge_attr)
        return x
