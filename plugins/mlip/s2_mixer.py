"""Equivariant mixing on a spherical grid (Facet, Miklaucic et al. 2025, arXiv:2509.08418)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from symco.core.errors import InvalidInstanceError
from symco.plugins.mlip.e3nn_compat import Linear, import_o3

o3 = import_o3()


def sphere_irreps(channels: int, lmax: int) -> o3.Irreps:
    """``channels`` copies of each :math:`l \\le l_{max}` with parity :math:`(-1)^l`
    (``0e + 1o + 2e + ...``): the irreps of functions on the sphere."""
    return o3.Irreps([(channels, (deg, (-1) ** deg)) for deg in range(lmax + 1)])


class S2Mixer(nn.Module):
    """Facet's nonlinearity: features as functions on :math:`S^2`, mixed by a pointwise MLP.

    .. math::

        c &= W_{in}\\, x \\in \\mathbb{R}^{M \\times (l_{max} + 1)^2} \\\\
        f_m(\\hat n) &= \\sum_{l \\le l_{max}} \\sum_{|k| \\le l} c_{m, lk}\\, Y_{lk}(\\hat n)
            \\quad \\text{on a grid of directions } \\hat n_g \\\\
        g(\\hat n_g) &= \\mathrm{MLP}\\big(f(\\hat n_g)\\big) \\in \\mathbb{R}^M
            \\quad \\text{(shared by every grid point)} \\\\
        y &= W_{out} \\Big[\\textstyle\\int g\\, Y_{lk} \\,\\Big\\|\\, x_{0e}\\Big]

    :math:`W_{in}`, :math:`W_{out}` are equivariant linears (``e3nn.o3.Linear``); the
    projections are ``e3nn.o3.ToS2Grid`` / ``FromS2Grid`` on a ``grid`` = (``res_beta``,
    ``res_alpha``) SOFT grid. A rotation or reflection :math:`R` of :math:`c` (irreps
    :math:`(-1)^l`) rotates :math:`f` to :math:`f \\circ R^{-1}`, the MLP commutes with that,
    and so does the projection back up to the quadrature's aliasing of the frequencies above
    :math:`l_{max}` the MLP creates: equivariant to :math:`O(3)` up to a small error that a finer
    grid shrinks (a replacement for gates and tensor-product nonlinearities that costs one MLP per
    grid point).

    Shapes: ``x`` ``(A, irreps_in.dim)`` -> ``(A, irreps_out.dim)``.

    :param irreps_in: input irreps; its ``0e`` part also goes straight to :math:`W_{out}`.
    :param irreps_out: output irreps.
    :param channels: :math:`M`, functions on the sphere.
    :param lmax: their largest degree.
    :param grid: ``(res_beta, res_alpha)``; ``res_beta`` even, at least ``2 (lmax + 1)``.
    :param hidden: the MLP's hidden width (``None``: ``channels``).
    """

    def __init__(
        self,
        irreps_in: str | o3.Irreps,
        irreps_out: str | o3.Irreps,
        channels: int = 16,
        lmax: int = 2,
        grid: Sequence[int] = (20, 19),
        hidden: int | None = None,
    ) -> None:
        super().__init__()
        self.irreps_in, self.irreps_out = o3.Irreps(irreps_in), o3.Irreps(irreps_out)
        self.channels, self.lmax, self.grid = int(channels), int(lmax), tuple(int(g) for g in grid)
        self.hidden = int(hidden) if hidden is not None else self.channels
        res_beta, res_alpha = self.grid
        if res_beta % 2 or res_beta < 2 * (self.lmax + 1) or res_alpha < 2 * self.lmax + 1:
            raise InvalidInstanceError(
                f"grid (res_beta, res_alpha) = {self.grid} cannot hold lmax={self.lmax}: need an "
                f"even res_beta >= {2 * (self.lmax + 1)} and res_alpha >= {2 * self.lmax + 1}"
            )
        self.irreps_sphere = sphere_irreps(self.channels, self.lmax)
        self.block_dims = [mul * ir.dim for mul, ir in self.irreps_in]
        self.scalar_blocks = [k for k, (_, ir) in enumerate(self.irreps_in) if ir == o3.Irrep("0e")]
        num_scalars = sum(self.block_dims[k] for k in self.scalar_blocks)
        self.linear_in = Linear(self.irreps_in, self.irreps_sphere)
        self.linear_out = Linear(
            self.irreps_sphere + o3.Irreps(f"{num_scalars}x0e"), self.irreps_out
        )
        # e3nn's ToS2Grid / FromS2Grid as two dense matrices (one matmul each way), in float64
        to_grid = o3.ToS2Grid(self.lmax, self.grid, normalization="component", dtype=torch.float64)
        from_grid = o3.FromS2Grid(
            self.grid, self.lmax, normalization="component", dtype=torch.float64
        )
        n, g = (self.lmax + 1) ** 2, self.grid[0] * self.grid[1]
        eye = torch.eye(n, dtype=torch.float64)
        to_mat = to_grid(eye).reshape(n, g).T  # (G, (lmax+1)^2)
        from_mat = from_grid(torch.eye(g, dtype=torch.float64).reshape(g, *self.grid)).T
        # e3nn 0.4.4 computes the quadrature weights in float32: make the projection an exact
        # left inverse of the synthesis (band-limited signals go round trip to rounding)
        from_mat = torch.linalg.solve(from_mat @ to_mat, from_mat)  # ((lmax+1)^2, G)
        dtype = torch.get_default_dtype()
        self.register_buffer("to_grid", to_mat.to(dtype).contiguous(), persistent=False)
        self.register_buffer("from_grid", from_mat.to(dtype).contiguous(), persistent=False)
        self.mlp = nn.Sequential(
            nn.Linear(self.channels, self.hidden), nn.SiLU(), nn.Linear(self.hidden, self.channels)
        )

    def forward(self, x: Tensor) -> Tensor:
        """``(A, irreps_in.dim)`` -> ``(A, irreps_out.dim)``."""
        c = self.to_coefficients(self.linear_in(x))  # (A, (lmax+1)^2, M)
        f = self.to_grid @ c  # (A, G, M): the M functions at the G grid points
        y = self.from_coefficients(self.from_grid @ self.mlp(f))  # (A, M * (lmax+1)^2)
        blocks = x.split(self.block_dims, dim=-1)
        return self.linear_out(torch.cat([y, *(blocks[k] for k in self.scalar_blocks)], dim=-1))

    def to_coefficients(self, x: Tensor) -> Tensor:
        """e3nn layout ``M x 0e + M x 1o + ...`` ``(A, M (l+1)^2)`` -> ``(A, (l+1)^2, M)``."""
        blocks = x.split([mul * ir.dim for mul, ir in self.irreps_sphere], dim=-1)
        shaped = [b.reshape(-1, mul, ir.dim) for b, (mul, ir) in zip(blocks, self.irreps_sphere)]
        return torch.cat(shaped, dim=-1).transpose(1, 2)

    def from_coefficients(self, c: Tensor) -> Tensor:
        """The inverse of :meth:`to_coefficients`."""
        blocks = c.split([ir.dim for _, ir in self.irreps_sphere], dim=1)  # (A, 2l+1, M) each
        return torch.cat([b.transpose(1, 2).reshape(b.shape[0], -1) for b in blocks], dim=-1)

    def extra_repr(self) -> str:
        return (
            f"{self.irreps_in} -> {self.irreps_out}, channels={self.channels}, lmax={self.lmax}, "
            f"grid={self.grid}, hidden={self.hidden}"
        )
