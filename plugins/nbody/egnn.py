"""The EGNN of the n-body benchmark (Satorras et al., ICML 2021): stacked :class:`EGNNLayer`."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from symco.core.symmetry.weights import Axis, Permutation, PermutationSpec, columns, rows
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

    def weight_permutations(self) -> PermutationSpec:
        """The permutations of its parameters that leave the predictions unchanged
        (:math:`f_{g \\cdot \\theta} = f_\\theta`, ``symco check-symmetry`` checks it): in
        layer ``l``, the hidden units of each of its four MLPs (``phi_e{l}``, ``phi_x{l}``,
        ``phi_v{l}``, ``phi_h{l}``) and the ``hidden`` message features ``m_ij`` (``m{l}``: rows
        of ``phi_e``'s last layer, read by ``phi_x`` and by the second half of ``phi_h``'s
        input); and the node features ``h``, tied through every layer (``h``: the embedding's
        rows, the ``h_i`` and ``h_j`` blocks of ``phi_e``'s input, ``phi_v``'s and the first
        half of ``phi_h``'s input, the rows of ``phi_h``'s last layer, which adds back to ``h``).
        """
        f = self.embed.out_features
        perms = {}
        h_axes = rows("embed")
        for i in range(len(self.layers)):
            p = f"layers.{i}"
            for net in ("phi_e", "phi_x", "phi_v", "phi_h"):
                perms[f"{net}{i}"] = Permutation(
                    f, (*rows(f"{p}.{net}.0"), *columns(f"{p}.{net}.2"))
                )
            messages = (*rows(f"{p}.phi_e.2"), *columns(f"{p}.phi_x.0"))
            perms[f"m{i}"] = Permutation(
                f, (*messages, Axis(f"{p}.phi_h.0.weight", 1, span=(f, 2 * f)))
            )
            h_axes += [Axis(f"{p}.phi_e.0.weight", 1, outer=2, span=(0, 2 * f)),
                       *columns(f"{p}.phi_v.0"), Axis(f"{p}.phi_h.0.weight", 1, span=(0, f)),
                       *rows(f"{p}.phi_h.2")]  # fmt: skip
        perms["h"] = Permutation(f, tuple(h_axes))
        return PermutationSpec(
            perms, f"{len(self.layers)} layers' MLP units and messages, node features"
        )
