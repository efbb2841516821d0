"""Facet: a cheap E(3)-equivariant interatomic potential (Miklaucic et al. 2025,
arXiv:2509.08418)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from torch import Tensor, nn

from symco.core.errors import InvalidInstanceError
from symco.plugins.mlip.atoms import ELEMENTS, ElementIndex, radius_graph, scatter_structures
from symco.plugins.mlip.e3nn_compat import import_o3
from symco.plugins.mlip.facet_layer import FacetLayer
from symco.plugins.mlip.s2_mixer import sphere_irreps
from symco.plugins.mlip.splines import SplineBasis

o3 = import_o3()


class FacetPotential(nn.Module):
    """An equivariant message-passing potential made cheap the Facet way: spline radial
    functions instead of radial MLPs, and a spherical-grid MLP (:class:`S2Mixer`) instead of
    gates or tensor-product nonlinearities.

    .. math::

        h_i^0 &= \\mathrm{Embed}(Z_i) \\in \\mathbb{R}^{C} \\ (C \\times 0e) \\\\
        h^{t+1} &= \\mathrm{FacetLayer}_t\\big(h^t, Y(\\hat r_{ij}), \\phi(r_{ij})\\big),
            \\quad h^t \\in C \\times (0e + 1o + \\dots + l_{max}) \\\\
        E &= \\sum_i w^\\top \\mathrm{LayerNorm}\\big(h_{i, 0e}^{T}\\big) + b

    over the pairs closer than ``cutoff`` (:func:`radius_graph`). :math:`Y` are the
    spherical harmonics up to ``lmax`` (``component`` normalization, parity :math:`(-1)^l`),
    :math:`\\phi` the :class:`SplineBasis` (``num_splines`` cubic B-splines times a cutoff
    envelope, so :math:`E` is :math:`C^2` in the positions and smooth where pairs cross the
    cutoff). The last layer keeps only scalars (nothing reads its higher orders). The energy is
    invariant to rotations, reflections and translations (up to the :class:`S2Mixer`'s small
    grid aliasing), to permutations of the atoms and to padding.

    Shapes: ``z`` ``(B, N)`` (0 = padding), ``pos`` ``(B, N, 3)`` in Å -> energies ``(B,)``.

    :param elements: the atomic numbers it knows (others raise ``InvalidInstanceError``).
    :param channels: :math:`C`, channels per irrep.
    :param lmax: largest degree of the features and spherical harmonics.
    :param layers: interaction blocks.
    :param cutoff: neighbour cutoff in Å.
    :param num_splines: B-spline basis functions per radial function.
    :param avg_neighbors: the fixed divisor of the summed messages.
    :param mixer_channels: functions on the sphere in each :class:`S2Mixer`.
    :param grid: the mixers' ``(res_beta, res_alpha)`` sphere grid.
    :param mix_self: each mixer also reads the atom's own features (:class:`FacetLayer`).
        The defaults of ``num_splines`` (8) and ``mix_self`` (off) are the first form, so its
        checkpoints load as trained; ``configs/mlip/facet.yaml`` uses 16 and on (chosen on
        validation, see the plugin's docs).
    """

    def __init__(
        self,
        elements: Sequence[int] = ELEMENTS,
        channels: int = 32,
        lmax: int = 2,
        layers: int = 2,
        cutoff: float = 5.0,
        num_splines: int = 8,
        avg_neighbors: float = 12.0,
        mixer_channels: int = 16,
        grid: tuple[int, int] = (20, 19),
        mix_self: bool = False,
    ) -> None:
        super().__init__()
        if layers < 1:
            raise InvalidInstanceError(f"layers must be at least 1, got {layers}")
        self.index = ElementIndex(elements)
        self.channels, self.lmax, self.cutoff = int(channels), int(lmax), float(cutoff)
        self.embed = nn.Embedding(len(self.index), self.channels)
        self.irreps_sh = o3.Irreps.spherical_harmonics(self.lmax)
        self.radial = SplineBasis(self.cutoff, num_splines)
        scalars, hidden = o3.Irreps(f"{self.channels}x0e"), sphere_irreps(self.channels, self.lmax)
        irreps = [scalars] + [hidden] * (layers - 1) + [scalars]
        block = {"irreps_sh": self.irreps_sh, "num_splines": num_splines,
                 "avg_neighbors": avg_neighbors, "mixer_channels": mixer_channels, "grid": grid,
                 "mix_self": mix_self}  # fmt: skip
        self.layers = nn.ModuleList(FacetLayer(a, b, **block) for a, b in pairwise(irreps))
        self.readout = nn.Sequential(nn.LayerNorm(self.channels), nn.Linear(self.channels, 1))

    def forward(self, z: Tensor, pos: Tensor) -> Tensor:
        """Atomic numbers ``(B, N)`` and positions ``(B, N, 3)`` -> energies ``(B,)``."""
        idx = self.index(z).reshape(-1)  # (B*N,), -1 on padding
        graph = radius_graph(z, pos, self.cutoff)
        h = self.embed(idx[graph.node])  # (A, C)
        sh = o3.spherical_harmonics(
            self.irreps_sh, graph.vec, normalize=True, normalization="component"
        )  # (E, (lmax+1)^2)
        basis = self.radial(graph.length)  # (E, K)
        for layer in self.layers:
            h = layer(h, sh, basis, graph.edge_index)  # (A, D)
        energy = self.readout(h).squeeze(-1)  # (A,)
        return scatter_structures(energy, graph, z.shape[0])

    def extra_repr(self) -> str:
        return f"channels={self.channels}, lmax={self.lmax}, cutoff={self.cutoff}"
