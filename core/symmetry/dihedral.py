"""The 8 symmetries of the unit square: :class:`SquareDihedral` (the dihedral group D4)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from .group import Element, Group, as_tensor, rand, randint

# The matrices A of the maps x -> (x - c) A^T + c, c = (0.5, 0.5); index 0 is the identity.
_MATRICES: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = (
    ((1, 0), (0, 1)),  # 0: identity
    ((0, -1), (1, 0)),  # 1: rotation by 90 degrees (counter-clockwise)
    ((-1, 0), (0, -1)),  # 2: rotation by 180 degrees
    ((0, 1), (-1, 0)),  # 3: rotation by 270 degrees
    ((-1, 0), (0, 1)),  # 4: reflection x -> 1 - x (in the vertical axis x = 0.5)
    ((1, 0), (0, -1)),  # 5: reflection y -> 1 - y (in the horizontal axis y = 0.5)
    ((0, 1), (1, 0)),  # 6: reflection in the diagonal y = x (swap the coordinates)
    ((0, -1), (-1, 0)),  # 7: reflection in the anti-diagonal y = 1 - x
)
_ORDER = len(_MATRICES)


def _matrix_table() -> Tensor:
    """``(8, 2, 2)`` long: the integer matrices of the 8 symmetries."""
    return torch.tensor(_MATRICES, dtype=torch.long)


def _cayley_table(mats: Tensor) -> Tensor:
    """``(8, 8)`` long: ``table[i, j]`` is the index of the product ``A_i A_j``."""
    products = torch.einsum("iab,jbc->ijac", mats, mats)  # (8, 8, 2, 2)
    hits = (products[:, :, None] == mats[None, None]).flatten(-2).all(-1)  # (8, 8, 8)
    return hits.long().argmax(dim=-1)


class SquareDihedral(Group):
    """The dihedral group :math:`D_4` of the unit square :math:`[0, 1]^2`.

    An element batch is a ``(n,)`` long tensor of indices ``0..7`` into an internal table of
    integer matrices :math:`A` (0 identity; 1-3 rotations by 90/180/270 degrees; 4-7 the
    reflections in the axes ``x = 0.5``, ``y = 0.5`` and the diagonals ``y = x``, ``y = 1 - x``).
    It acts on coordinates ``(n, N, 2)`` about the centre :math:`c = (0.5, 0.5)`:

    .. math::

        x' = (x - c) A^\\top + c ,

    which maps the unit square onto itself and keeps every Euclidean distance. The product of
    indices is the index of :math:`A_g A_h` (read from a Cayley table).
    """

    name: ClassVar[str] = "square-dihedral"
    short_name: ClassVar[str] = "d4"
    acts_on: ClassVar[str] = "(B, N, 2) coordinates in the unit square"
    finite: ClassVar[bool] = True

    def __init__(self) -> None:
        self.matrices = _matrix_table()  # (8, 2, 2)
        self.table = _cayley_table(self.matrices)  # (8, 8)
        ident = torch.arange(_ORDER)
        self.inverses = (self.table == 0).long().argmax(dim=1)  # (8,)
        assert bool((self.table[ident, self.inverses] == 0).all())

    def sample(
        self,
        n: int,
        generator: torch.Generator,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """``(n,)`` uniform indices in ``0..7`` (``dtype`` is ignored: elements are indices)."""
        return randint(0, _ORDER, (n,), generator, device=device)

    def elements(self) -> Tensor:
        """The 8 indices ``0..7`` (``0`` is the identity)."""
        return torch.arange(_ORDER)

    def identity(
        self,
        n: int,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """``(n,)`` zeros."""
        return torch.zeros(n, dtype=torch.long, device=device)

    def compose(self, g: Element, h: Element) -> Tensor:
        """The index of :math:`A_g A_h`, ``(n,)``."""
        gi, hi = as_tensor(g), as_tensor(h)
        return self.table.to(gi.device)[gi, hi]

    def inverse(self, g: Element) -> Tensor:
        """The index of :math:`A_g^{-1} = A_g^\\top`, ``(n,)``."""
        gi = as_tensor(g)
        return self.inverses.to(gi.device)[gi]

    def matrix(self, g: Element, dtype: torch.dtype = torch.float64) -> Tensor:
        """The matrices :math:`A_g`, ``(n, 2, 2)`` in ``dtype``."""
        gi = as_tensor(g)
        return self.matrices.to(gi.device)[gi].to(dtype)

    def act(self, g: Element, x: Tensor) -> Tensor:
        """``x' = (x - c) A^T + c`` for ``x`` of shape ``(n, N, 2)``."""
        mats = self.matrix(g, x.dtype).to(x.device)  # (n, 2, 2)
        return (x - 0.5) @ mats.transpose(-1, -2) + 0.5

    def example_input(
        self, n: int, generator: torch.Generator, *, dtype: torch.dtype = torch.float64
    ) -> Tensor:
        """Uniform random points of the unit square, ``(n, 6, 2)``."""
        return rand((n, 6, 2), generator, dtype=dtype)

    def __repr__(self) -> str:
        return "SquareDihedral()"


__all__ = ["SquareDihedral"]
