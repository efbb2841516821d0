"""An equivariant backbone plus an unconstrained correction: the model a soft-equivariance
regularizer acts on when the data keep only part of the symmetry."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ResidualPathway(nn.Module):
    """Sum of an exactly equivariant pathway and a free one (the residual-pathway idea of
    Finzi, Benton & Wilson, *Residual Pathway Priors for Soft Equivariance Constraints*,
    NeurIPS 2021, the setting of Kim et al.'s mixed-symmetry regularizer):

    .. math::

        f(x, v, q) = e(x, v, q) + \\alpha\\, u(x, v, q),

    with :math:`e` equivariant to every candidate group (an :class:`~.egnn.EGNN`:
    :math:`E(3)`), :math:`u` any backbone (a :class:`~.gnn.GNN` without its residual: a
    displacement) and :math:`\\alpha` a learned scalar starting at ``alpha_init`` (0: training
    starts from the equivariant model and lets the data open the free pathway).

    Because :math:`e` is exactly equivariant, :math:`f(g x) - g f(x) = \\alpha\\,(u(g x) -
    g\\,u(x))` for every :math:`g` of a subgroup of :math:`O(3)`: :meth:`unconstrained` returns
    :math:`\\alpha u`, and :class:`~.lightning.NBodyModule` evaluates the regularizer's
    penalties on it alone (the same numbers as on :math:`f`, without the equivariant pathway's
    forward passes). A regularizer weight that is tuned towards one subgroup (rotations about a
    field's axis) lets :math:`u` model exactly the symmetry breaking the data show.

    Shapes: ``loc``/``vel`` ``(B, N, 3)``, ``charges`` ``(B, N)`` -> positions ``(B, N, 3)``.
    """

    def __init__(self, equivariant: nn.Module, free: nn.Module, alpha_init: float = 0.0) -> None:
        super().__init__()
        self.equivariant = equivariant
        self.free = free
        self.alpha = nn.Parameter(torch.tensor(float(alpha_init)))

    def unconstrained(self, loc: Tensor, vel: Tensor, charges: Tensor) -> Tensor:
        """The free pathway's contribution :math:`\\alpha u` ``(B, N, 3)``: where all of the
        model's equivariance error comes from."""
        return self.alpha.to(loc.dtype) * self.free(loc, vel, charges)  # type: ignore[no-any-return]

    def forward(self, loc: Tensor, vel: Tensor, charges: Tensor) -> Tensor:
        base = self.equivariant(loc, vel, charges)  # (B, N, 3)
        return base + self.unconstrained(loc, vel, charges)  # type: ignore[no-any-return]

    def extra_repr(self) -> str:
        return f"alpha={float(self.alpha.detach()):.3g}"
