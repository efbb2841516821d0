"""A cubic B-spline radial basis with a smooth cutoff (Facet, Miklaucic et al. 2025,
arXiv:2509.08418: splines instead of radial MLPs)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from symco.core.errors import InvalidInstanceError


class SplineBasis(nn.Module):
    """``num_splines`` uniform cubic B-splines covering :math:`[0, r_c]`, times a polynomial
    cutoff envelope (Klicpera et al., DimeNet, ICLR 2020):

    .. math::

        B_k(r) &= N_3\\Big(\\frac{r}{h} - k + 1\\Big), \\qquad
            h = \\frac{r_c}{K - 3}, \\quad k = 0, \\dots, K - 1 \\\\
        N_3(s) &= \\begin{cases} \\tfrac23 - s^2 + \\tfrac12 |s|^3 & |s| < 1 \\\\
            \\tfrac16 (2 - |s|)^3 & 1 \\le |s| < 2 \\\\ 0 & \\text{otherwise} \\end{cases} \\\\
        u(d) &= 1 - \\tfrac{(p + 1)(p + 2)}{2} d^p + p (p + 2) d^{p + 1}
            - \\tfrac{p (p + 1)}{2} d^{p + 2}, \\quad d = r / r_c < 1, \\qquad u = 0
            \\text{ beyond} \\\\
        \\phi_k(r) &= u(r / r_c)\\, B_k(r)

    The knots are :math:`t = (k - 3) h`, ``K + 4`` of them, so the splines sum to one on
    :math:`[0, r_c]` and each is :math:`C^2`; the envelope has zero value, slope and curvature
    at :math:`r_c`, so :math:`\\phi_k` are :math:`C^2` everywhere and vanish from the cutoff
    on (smooth forces in MD). A linear map of :math:`\\phi` (``K`` learnable coefficients per
    output) is a smooth spline that goes to zero at the cutoff.

    :param cutoff: :math:`r_c` in Å.
    :param num_splines: :math:`K \\ge 4` basis functions.
    :param envelope_exponent: :math:`p` of the envelope.
    """

    def __init__(self, cutoff: float = 5.0, num_splines: int = 8, envelope_exponent: int = 6):
        super().__init__()
        if num_splines < 4:
            raise InvalidInstanceError(f"num_splines must be at least 4 (cubic), got {num_splines}")
        if cutoff <= 0 or envelope_exponent < 1:
            raise InvalidInstanceError(
                f"need cutoff > 0 and envelope_exponent >= 1, got {cutoff}, {envelope_exponent}"
            )
        self.cutoff = float(cutoff)
        self.num_splines = int(num_splines)
        self.envelope_exponent = int(envelope_exponent)
        self.spacing = self.cutoff / (self.num_splines - 3)
        centers = (torch.arange(self.num_splines, dtype=torch.float64) - 1) * self.spacing
        self.register_buffer("centers", centers.to(torch.get_default_dtype()), persistent=False)

    def bsplines(self, r: Tensor) -> Tensor:
        """The bare B-splines :math:`B_k(r)`: ``(E,)`` -> ``(E, K)``."""
        s = (r[:, None] - self.centers) / self.spacing  # (E, K)
        a = s.abs()
        inner = 2.0 / 3.0 - s * s + 0.5 * (s * s) * a  # |s| < 1
        outer = (2.0 - a).clamp_min(0.0) ** 3 / 6.0  # 1 <= |s| < 2, zero beyond
        return torch.where(a < 1.0, inner, outer)

    def envelope(self, r: Tensor) -> Tensor:
        """The cutoff envelope :math:`u(r / r_c)`: ``(E,)`` -> ``(E,)``."""
        p = self.envelope_exponent
        d = (r / self.cutoff).clamp(0.0, 1.0)  # (E,)
        dp = d**p
        u = 1.0 - (p + 1) * (p + 2) / 2 * dp + p * (p + 2) * dp * d - p * (p + 1) / 2 * dp * d * d
        return torch.where(r < self.cutoff, u, torch.zeros_like(u))

    def forward(self, r: Tensor) -> Tensor:
        """Distances ``(E,)`` -> basis values :math:`\\phi_k(r)` ``(E, K)``."""
        return self.bsplines(r) * self.envelope(r)[:, None]

    def extra_repr(self) -> str:
        return (
            f"cutoff={self.cutoff}, num_splines={self.num_splines}, "
            f"envelope_exponent={self.envelope_exponent}"
        )
