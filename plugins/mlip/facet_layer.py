"""One Facet interaction block (Miklaucic et al. 2025, arXiv:2509.08418)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from symco.plugins.mlip.e3nn_compat import Linear, TensorProduct, import_o3
from symco.plugins.mlip.equivariant_layer_norm import EquivariantLayerNorm
from symco.plugins.mlip.s2_mixer import S2Mixer

o3 = import_o3()


def channelwise_product(mul: int, ir_in: o3.Irrep, irreps_sh: o3.Irreps) -> TensorProduct:
    """The ``uvu`` product of ``mul x ir_in`` with the spherical harmonics ``irreps_sh``, kept to
    outputs among ``irreps_sh`` (parity :math:`(-1)^l`), with one external weight per channel
    and path."""
    allowed = {ir for _, ir in irreps_sh}
    paths = [(j, ir) for j, (_, sh) in enumerate(irreps_sh) for ir in ir_in * sh if ir in allowed]
    instructions = [(0, j, k, "uvu", True) for k, (j, _) in enumerate(paths)]
    outs = [(mul, ir) for _, ir in paths]
    return TensorProduct(
        o3.Irreps([(mul, ir_in)]), irreps_sh, outs, instructions,
        shared_weights=False, internal_weights=False,
    )  # fmt: skip


class FacetLayer(nn.Module):
    """Spline-weighted equivariant convolution, spherical-grid mixing, residual and norm:

    .. math::

        m_i &= \\frac{1}{\\bar n} \\sum_{j \\in \\mathcal N(i)}
            \\big(W h_j\\big) \\otimes_{w(r_{ij})} Y(\\hat r_{ij}),
            \\qquad w(r) = C\\, \\phi(r) \\\\
        h_i &\\leftarrow \\mathrm{LN}\\big(S h_i + \\mathrm{S2Mixer}(m_i)\\big)
            \\quad\\text{or, with ``mix_self``,}\\quad
            \\mathrm{LN}\\big(S h_i + \\mathrm{S2Mixer}(m_i \\oplus h_i)\\big)

    :math:`\\otimes_w` is a channel-wise (``uvu``) tensor product of each feature channel with
    the spherical harmonics :math:`Y` of the edge direction :math:`\\hat r_{ij} = (x_i - x_j) /
    r_{ij}`, one weight per channel and path, kept to the outputs with parity :math:`(-1)^l`;
    its weights are splines of the distance: the spline basis :math:`\\phi` (with its cutoff
    envelope, ``K`` functions) times learnable coefficients :math:`C` (``K x weight_numel``,
    no bias, so they vanish at the cutoff). :math:`W`, :math:`S` are equivariant linears
    (:math:`S` the identity when the irreps agree), :math:`\\bar n` a fixed average neighbour
    count, LN an :class:`EquivariantLayerNorm`. ``mix_self`` hands the mixer the atom's own
    features beside its messages, so that its MLP can make the many-body terms depend on the
    centre atom (its element, in the first layer) and not only add it (as the element-dependent
    weights of MACE's product basis do).

    Shapes: ``h`` ``(A, irreps_in.dim)``, ``sh`` ``(E, irreps_sh.dim)``, ``basis`` ``(E, K)``,
    ``edge_index`` ``(2, E)`` (source ``j``, target ``i``) -> ``(A, irreps_out.dim)``.
    """

    def __init__(
        self,
        irreps_in: str | o3.Irreps,
        irreps_out: str | o3.Irreps,
        irreps_sh: str | o3.Irreps,
        num_splines: int = 8,
        avg_neighbors: float = 12.0,
        mixer_channels: int = 16,
        grid: Sequence[int] = (20, 19),
        mix_self: bool = False,
    ) -> None:
        super().__init__()
        self.irreps_in, self.irreps_out = o3.Irreps(irreps_in), o3.Irreps(irreps_out)
        self.irreps_sh = o3.Irreps(irreps_sh)
        self.avg_neighbors = float(avg_neighbors)
        # one tensor product per input irrep: each reads its own gathered block (cheaper
        # backward passes than one product slicing a wide (E, D) input per path)
        self.block_dims = [mul * ir.dim for mul, ir in self.irreps_in]
        self.tps = nn.ModuleList(
            channelwise_product(mul, ir, self.irreps_sh) for mul, ir in self.irreps_in
        )
        self.linear_up = Linear(self.irreps_in, self.irreps_in)
        self.skip = (
            nn.Identity()
            if self.irreps_in == self.irreps_out
            else Linear(self.irreps_in, self.irreps_out)
        )
        self.weight_dims = [tp.weight_numel for tp in self.tps]
        irreps_msg = sum((tp.irreps_out for tp in self.tps), o3.Irreps())
        self.mix_self = bool(mix_self)
        if self.mix_self:
            irreps_msg = irreps_msg + self.irreps_in
        # the spline coefficients: one smooth radial function per tensor-product weight
        self.radial = nn.Linear(num_splines, sum(self.weight_dims), bias=False)
        nn.init.normal_(self.radial.weight)
        lmax = max(ir.l for _, ir in self.irreps_sh)
        self.mixer = S2Mixer(irreps_msg, self.irreps_out, mixer_channels, lmax, grid)
        self.norm = EquivariantLayerNorm(self.irreps_out)

    def forward(self, h: Tensor, sh: Tensor, basis: Tensor, edge_index: Tensor) -> Tensor:
        """The updated node features ``(A, irreps_out.dim)``."""
        src, dst = edge_index
        blocks = self.linear_up(h).split(self.block_dims, dim=-1)  # (A, mul * (2l+1)) each
        weights = self.radial(basis).split(self.weight_dims, dim=-1)  # (E, weight_numel) each
        messages = []
        for tp, x, w in zip(self.tps, blocks, weights):
            msg = tp(x[src], sh, w)  # (E, D_k)
            messages.append(msg.new_zeros(h.shape[0], msg.shape[1]).index_add(0, dst, msg))
        m = torch.cat(messages, dim=-1) / self.avg_neighbors  # (A, D_msg)
        if self.mix_self:
            m = torch.cat([m, h], dim=-1)  # (A, D_msg + D_in)
        return self.norm(self.skip(h) + self.mixer(m))

    def extra_repr(self) -> str:
        return (
            f"{self.irreps_in} -> {self.irreps_out}, "
            f"paths={sum(len(tp.instructions) for tp in self.tps)}, avg_neighbors={self.avg_neighbors}"
            + (", mix_self=True" if self.mix_self else "")
        )
