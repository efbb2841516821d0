"""One E(n)-equivariant graph convolution with velocities (Satorras et al., ICML 2021, eq. 7)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from symco.plugins.nbody.pairs import mlp, off_diagonal, pair_differences, pair_features


class EGNNLayer(nn.Module):
    """The EGNN layer of Satorras, Hoogeboom & Welling (*E(n) Equivariant Graph Neural
    Networks*, ICML 2021) on a fully connected graph, with the velocity term:

    .. math::

        m_{ij} &= \\phi_e\\big(h_i, h_j, \\lVert x_i - x_j \\rVert^2, a_{ij}\\big) \\\\
        x_i &\\leftarrow x_i + \\frac{1}{N - 1} \\sum_{j \\ne i} (x_i - x_j)\\, \\phi_x(m_{ij})
              + \\phi_v(h_i)\\, v_i \\\\
        h_i &\\leftarrow h_i + \\phi_h\\big(h_i, \\textstyle\\sum_{j \\ne i} m_{ij}\\big)

    :math:`h` and :math:`a` are invariant, :math:`x` and :math:`v` rotate, so the update is
    equivariant to rotations, reflections and translations of :math:`x` (with :math:`v` rotated
    only) and to permutations of the nodes. :math:`\\phi_e`, :math:`\\phi_h` are two-layer MLPs,
    :math:`\\phi_x`, :math:`\\phi_v` MLPs with a scalar output (the last layer of
    :math:`\\phi_x` starts near zero, as in the paper's code, for stable early training).

    Shapes: ``h`` ``(B, N, F)``, ``x``/``v`` ``(B, N, 3)``, ``edge_attr`` ``(B, N, N, E)``.
    Without velocities (``v=None``) the :math:`\\phi_v` term is left out. ``pair_mask``
    ``(B, N, N, 1)`` restricts the graph (padded batches, cutoffs): messages of masked pairs are
    dropped and the coordinate update averages over each node's own neighbours.
    """

    def __init__(self, hidden: int = 64, edge_dim: int = 2, act: type[nn.Module] = nn.SiLU) -> None:
        super().__init__()
        self.phi_e = mlp([2 * hidden + 1 + edge_dim, hidden, hidden], act, last_act=True)
        self.phi_x = mlp([hidden, hidden, 1], act)
        self.phi_v = mlp([hidden, hidden, 1], act)
        self.phi_h = mlp([2 * hidden, hidden, hidden], act)
        last = self.phi_x[-1]
        assert isinstance(last, nn.Linear)
        nn.init.xavier_uniform_(last.weight, gain=0.001)
        nn.init.zeros_(last.bias)

    def forward(
        self,
        h: Tensor,
        x: Tensor,
        v: Tensor | None,
        edge_attr: Tensor,
        pair_mask: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """The updated ``(h, x)``: ``(B, N, F)`` and ``(B, N, 3)``."""
        n = x.shape[1]
        diff = pair_differences(x)  # (B, N, N, 3): x_i - x_j
        dist2 = (diff**2).sum(-1, keepdim=True)  # (B, N, N, 1)
        h_i, h_j = pair_features(h)  # (B, N, N, F) each
        mask = off_diagonal(n, dtype=x.dtype, device=x.device)  # (1, N, N, 1)
        if pair_mask is None:
            degree = torch.full_like(x[..., :1], max(n - 1, 1))  # (B, N, 1)
        else:
            mask = mask * pair_mask  # (B, N, N, 1)
            degree = mask.sum(2).clamp_min(1.0)  # (B, N, 1)
        m = self.phi_e(torch.cat([h_i, h_j, dist2, edge_attr], dim=-1)) * mask  # (B, N, N, F)
        x = x + (diff * self.phi_x(m) * mask).sum(2) / degree  # (B, N, 3)
        if v is not None:
            x = x + self.phi_v(h) * v
        h = h + self.phi_h(torch.cat([h, m.sum(2)], dim=-1))  # (B, N, F)
        return h, x
