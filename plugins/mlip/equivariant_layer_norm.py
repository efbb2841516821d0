"""A layer norm for irreps features (as in Equiformer, Liao & Smidt, ICLR 2023)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from symco.plugins.mlip.e3nn_compat import import_o3

o3 = import_o3()


class EquivariantLayerNorm(nn.Module):
    """Normalizes each irrep type :math:`(l, p)` of a node's features over its channels:

    .. math::

        \\tilde x_{c} = x_{c} - \\tfrac1C \\textstyle\\sum_{c'} x_{c'} \\ \\ (l = 0 \\text{ only}),
        \\qquad
        y_{c} = \\gamma_{c}\\, \\frac{\\tilde x_{c}}{\\sqrt{\\tfrac{1}{C (2l + 1)}
            \\sum_{c', k} \\tilde x_{c' k}^2 + \\epsilon}} + \\beta_{c} \\ \\ (\\beta: l = 0 \\text{ only})

    Scaling a whole :math:`l` block by one number (a norm over channels and components) and
    centering only scalars keeps it :math:`O(3)`-equivariant; :math:`\\epsilon` keeps it smooth
    where a block vanishes.

    Shapes: ``x`` ``(A, irreps.dim)`` -> ``(A, irreps.dim)``.
    """

    def __init__(self, irreps: str | o3.Irreps, eps: float = 1e-5) -> None:
        super().__init__()
        self.irreps = o3.Irreps(irreps)
        self.eps = float(eps)
        self.weight = nn.Parameter(torch.ones(self.irreps.num_irreps))
        num_scalars = sum(mul for mul, ir in self.irreps if ir.l == 0)
        self.bias = nn.Parameter(torch.zeros(num_scalars))

    def forward(self, x: Tensor) -> Tensor:
        """``(A, irreps.dim)`` -> ``(A, irreps.dim)``."""
        out, w, b = [], 0, 0
        blocks = x.split([mul * ir.dim for mul, ir in self.irreps], dim=-1)
        for block, (mul, ir) in zip(blocks, self.irreps):
            f = block.reshape(-1, mul, ir.dim)  # (A, C, 2l+1)
            if ir.l == 0:
                f = f - f.mean(dim=1, keepdim=True)
            f = f * torch.rsqrt(f.pow(2).mean(dim=(1, 2), keepdim=True) + self.eps)
            f = f * self.weight[w : w + mul, None]
            if ir.l == 0:
                f = f + self.bias[b : b + mul, None]
                b += mul
            w += mul
            out.append(f.reshape(-1, mul * ir.dim))
        return torch.cat(out, dim=-1)

    def extra_repr(self) -> str:
        return f"{self.irreps}, eps={self.eps}"
