"""symco's EGNN (:class:`~symco.plugins.nbody.egnn_layer.EGNNLayer`) as an energy model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import Tensor, nn

from symco.plugins.mlip.atoms import ELEMENTS, ElementIndex
from symco.plugins.nbody.egnn_layer import EGNNLayer


def gaussian_basis(dist: Tensor, count: int, cutoff: float) -> Tensor:
    """``count`` Gaussians of the distance on ``[0, cutoff]`` (width the spacing): ``(..., K)``."""
    centres = torch.linspace(0.0, cutoff, count, dtype=dist.dtype, device=dist.device)
    width = cutoff / max(count - 1, 1)
    return torch.exp(-(((dist[..., None] - centres) / width) ** 2))


class EGNNPotential(nn.Module):
    """An E(3)-invariant energy from EGNN layers (Satorras, Hoogeboom & Welling, ICML 2021) on
    the molecule's complete graph:

    .. math::

        h^{(0)}_i = e_{Z_i}, \\qquad (h^{(\\ell+1)}, x^{(\\ell+1)}) =
        \\mathrm{EGNN}_\\ell\\big(h^{(\\ell)}, x^{(\\ell)}, a_{ij}\\big), \\qquad
        E = \\textstyle\\sum_i \\psi(h^{(L)}_i)

    with edge features :math:`a_{ij}` a Gaussian basis of the input distances
    :math:`\\lVert x_i - x_j \\rVert`. The layers update coordinates equivariantly, so the
    features and the energy are invariant to rotations, reflections, translations and atom
    permutations; forces :math:`-\\nabla_x E` are equivariant.

    Shapes: ``z`` ``(B, N)`` (0: padding), ``pos`` ``(B, N, 3)`` → ``(B,)``.
    """

    rotation_symmetry: ClassVar[str] = "exact"

    def __init__(
        self,
        elements: Sequence[int] = ELEMENTS,
        hidden: int = 64,
        layers: int = 4,
        basis: int = 16,
        cutoff: float = 8.0,
    ) -> None:
        super().__init__()
        self.index = ElementIndex(elements)
        self.basis, self.cutoff = basis, cutoff
        self.embed = nn.Embedding(len(self.index), hidden)
        self.layers = nn.ModuleList(EGNNLayer(hidden, edge_dim=basis) for _ in range(layers))
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def forward(self, z: Tensor, pos: Tensor) -> Tensor:
        real = (z > 0).to(pos.dtype)  # (B, N)
        pair = (real[:, :, None] * real[:, None, :])[..., None]  # (B, N, N, 1)
        dist = _dist(pos)  # (B, N, N)
        edge = gaussian_basis(dist, self.basis, self.cutoff) * pair  # (B, N, N, K)
        h = self.embed(self.index(z).clamp_min(0)) * real[..., None]  # (B, N, F)
        x = pos
        for layer in self.layers:
            h, x = layer(h, x, None, edge, pair)
            h = h * real[..., None]
        e = self.head(h).squeeze(-1) * real  # (B, N)
        return e.sum(1)

    def extra_repr(self) -> str:
        return f"basis={self.basis}, cutoff={self.cutoff}"


def _dist(pos: Tensor) -> Tensor:
    """Pairwise distances with a gradient that is finite on the diagonal (``cdist``'s is not
    when two points coincide)."""
    diff = pos[:, :, None, :] - pos[:, None, :, :]  # (B, N, N, 3)
    return (diff.pow(2).sum(-1) + 1e-12).sqrt()


__all__ = ["EGNNPotential", "gaussian_basis"]
