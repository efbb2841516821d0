"""Ambiguities of eigenvectors: :class:`EigenSigns` (sign flips) and :class:`EigenBasis`
(orthogonal changes of basis inside repeated eigenspaces)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import Tensor

from .group import Element, Group, as_tensor, batched_eye, randint, randn
from .orthogonal import haar_orthogonal

_MAX_ENUMERATED_SIGNS = 10


def _orthonormal_columns(
    n: int, num_nodes: int, k: int, generator: torch.Generator, dtype: torch.dtype
) -> Tensor:
    """``(n, N, k)`` random matrices with orthonormal columns (reduced QR of a Gaussian)."""
    gauss = randn((n, num_nodes, k), generator, dtype=dtype)  # (n, N, k)
    q: Tensor = torch.linalg.qr(gauss).Q
    return q


class EigenSigns(Group):
    """Sign flips :math:`\\{\\pm 1\\}^k` of ``k`` eigenvectors.

    An element batch is a ``(n, k)`` float tensor of :math:`\\pm 1`; it acts on eigenvectors
    ``V`` ``(n, N, k)`` (one per column) by :math:`V \\mapsto V \\operatorname{diag}(s)`, i.e.
    ``V * s[:, None, :]``. The product is the elementwise product and every element is its own
    inverse. The group has :math:`2^k` elements; :meth:`elements` lists them when ``k <= 10``.
    """

    name: ClassVar[str] = "eigen-signs"
    acts_on: ClassVar[str] = "(B, N, k) eigenvectors: one per column"
    finite: ClassVar[bool] = True

    def __init__(self, k: int = 4) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.k = k

    def sample(
        self,
        n: int,
        generator: torch.Generator,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """``(n, k)`` independent uniform signs."""
        bits = randint(0, 2, (n, self.k), generator, device=device)  # (n, k)
        return (1 - 2 * bits).to(dtype)

    def elements(self) -> Tensor | None:
        """All :math:`2^k` sign vectors ``(2^k, k)`` (bit ``j`` of the row index set means
        column ``j`` is negated; row 0 is the identity), when ``k <= 10``."""
        if self.k > _MAX_ENUMERATED_SIGNS:
            return None
        rows = torch.arange(2**self.k)[:, None]  # (2^k, 1)
        bits = (rows >> torch.arange(self.k)[None, :]) & 1  # (2^k, k)
        return (1 - 2 * bits).to(torch.float64)

    def identity(
        self,
        n: int,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """``(n, k)`` ones."""
        return torch.ones(n, self.k, dtype=dtype, device=device)

    def compose(self, g: Element, h: Element) -> Tensor:
        """The elementwise product of the signs."""
        return as_tensor(g) * as_tensor(h)

    def inverse(self, g: Element) -> Tensor:
        """Every sign vector is its own inverse."""
        return as_tensor(g).clone()

    def act(self, g: Element, x: Tensor) -> Tensor:
        """``V * s[:, None, :]`` for eigenvectors ``V`` of shape ``(n, N, k)``."""
        return x * as_tensor(g).to(x.dtype)[:, None, :]

    def example_input(
        self, n: int, generator: torch.Generator, *, dtype: torch.dtype = torch.float64
    ) -> Tensor:
        """Random orthonormal columns, ``(n, 2k, k)``."""
        return _orthonormal_columns(n, 2 * self.k, self.k, generator, dtype)

    def __repr__(self) -> str:
        return f"EigenSigns(k={self.k})"


class EigenBasis(Group):
    """Orthogonal changes of basis inside repeated eigenspaces.

    ``blocks`` splits the ``k = sum(blocks)`` eigenvectors (columns) into consecutive groups of
    equal eigenvalues. An element batch is a ``(n, k, k)`` block-diagonal orthogonal matrix
    :math:`Q = \\operatorname{diag}(Q_1, \\dots, Q_m)`, :math:`Q_j \\in O(b_j)`; it acts on
    eigenvectors ``V`` ``(n, N, k)`` from the right, :math:`V \\mapsto V Q`, which keeps every
    eigenspace (:math:`V Q Q^\\top V^\\top = V V^\\top`). Acting from the right makes the
    product that keeps :meth:`act` a left action

    .. math::

        g h := Q_h Q_g ,\\qquad \\operatorname{act}(g h, V) = V Q_h Q_g
        = \\operatorname{act}(g, \\operatorname{act}(h, V)) .

    :class:`EigenSigns` is the subgroup of diagonal :math:`\\pm 1` matrices (and the whole
    group when every block is ``1``).
    """

    name: ClassVar[str] = "eigen-basis"
    acts_on: ClassVar[str] = "(B, N, k) eigenvectors: columns grouped into eigenspaces"

    def __init__(self, blocks: Sequence[int] = (1, 2, 1)) -> None:
        self.blocks = tuple(int(b) for b in blocks)
        if not self.blocks or min(self.blocks) < 1:
            raise ValueError(f"blocks must be positive sizes, got {tuple(blocks)}")
        self.k = sum(self.blocks)

    @classmethod
    def from_eigenvalues(cls, eigenvalues: Tensor, tol: float = 1e-6) -> EigenBasis:
        """The group of a sorted eigenvalue vector ``(k,)``: a new block starts wherever two
        consecutive eigenvalues differ by more than ``tol`` (absolute)."""
        if eigenvalues.dim() != 1 or eigenvalues.numel() == 0:
            raise ValueError(
                f"eigenvalues must be a non-empty (k,) vector, got {eigenvalues.shape}"
            )
        breaks = (eigenvalues.diff().abs() > tol).tolist()  # (k - 1,)
        blocks: list[int] = [1]
        for is_break in breaks:
            if is_break:
                blocks.append(1)
            else:
                blocks[-1] += 1
        return cls(blocks)

    def sample(
        self,
        n: int,
        generator: torch.Generator,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """``(n, k, k)`` block-diagonal matrices, each block Haar-uniform on :math:`O(b_j)`."""
        out = torch.zeros(n, self.k, self.k, dtype=dtype, device=device)
        start = 0
        for size in self.blocks:
            block = haar_orthogonal(n, size, generator, dtype=dtype, device=device)
            out[:, start : start + size, start : start + size] = block
            start += size
        return out

    def identity(
        self,
        n: int,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """``(n, k, k)`` identities."""
        return batched_eye(n, self.k, dtype=dtype, device=device)

    def compose(self, g: Element, h: Element) -> Tensor:
        """:math:`Q_h Q_g` (right action), ``(n, k, k)``."""
        return as_tensor(h) @ as_tensor(g)

    def inverse(self, g: Element) -> Tensor:
        """:math:`Q^\\top`, ``(n, k, k)``."""
        return as_tensor(g).transpose(-1, -2)

    def act(self, g: Element, x: Tensor) -> Tensor:
        """``V Q`` for eigenvectors ``V`` of shape ``(n, N, k)``."""
        return x @ as_tensor(g).to(x.dtype)

    def example_input(
        self, n: int, generator: torch.Generator, *, dtype: torch.dtype = torch.float64
    ) -> Tensor:
        """Random orthonormal columns, ``(n, 2k, k)``."""
        return _orthonormal_columns(n, 2 * self.k, self.k, generator, dtype)

    def __repr__(self) -> str:
        return f"EigenBasis(blocks={self.blocks})"


__all__ = ["EigenBasis", "EigenSigns"]
