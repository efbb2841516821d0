"""Rotations and reflections: :class:`Orthogonal` (O(d)/SO(d)), :class:`Euclidean` (E(d)/SE(d))
and :class:`AxisRotation` (the O(2) about one axis of 3-space)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from .group import Element, Group, as_pair, as_tensor, batched_eye, randn


def haar_orthogonal(
    n: int,
    dim: int,
    generator: torch.Generator,
    *,
    proper: bool = False,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Tensor:
    """``n`` Haar-uniform orthogonal matrices ``(n, dim, dim)``.

    The QR factorisation :math:`G = QR` of a Gaussian matrix, with the sign fix
    :math:`Q \\leftarrow Q \\operatorname{diag}(\\operatorname{sign} R_{ii})`, is Haar on
    :math:`O(d)`. With ``proper`` the first column of every :math:`Q` with
    :math:`\\det Q = -1` is negated, which is Haar on :math:`SO(d)`.
    """
    gauss = randn((n, dim, dim), generator, dtype=dtype, device=device)  # (n, d, d)
    factors = torch.linalg.qr(gauss)
    diag = torch.diagonal(factors.R, dim1=-2, dim2=-1)  # (n, d)
    signs = torch.where(diag < 0, -1.0, 1.0).to(dtype)  # (n, d)
    q: Tensor = factors.Q * signs[:, None, :]  # scale the columns
    if proper:
        q = flip_to_proper(q)
    return q


def flip_to_proper(q: Tensor) -> Tensor:
    """Negate the first column of every matrix of ``q`` ``(n, d, d)`` whose determinant is < 0."""
    det_sign = torch.where(torch.linalg.det(q) < 0, -1.0, 1.0).to(q.dtype)  # (n,)
    col_signs = torch.ones(q.shape[0], q.shape[-1], dtype=q.dtype, device=q.device)  # (n, d)
    col_signs[:, 0] = det_sign
    return q * col_signs[:, None, :]


def rotate_points(rot: Tensor, x: Tensor) -> Tensor:
    """``x R^T`` for rotations ``rot`` ``(n, d, d)`` and points ``x`` ``(n, N, d)``."""
    return x @ rot.to(x.dtype).transpose(-1, -2)


class _MatrixGroup(Group):
    """A group of ``(n, d, d)`` orthogonal matrices acting on points by :math:`x R^\\top`."""

    dim: int

    def identity(
        self,
        n: int,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """``(n, d, d)`` identity matrices."""
        return batched_eye(n, self.dim, dtype=dtype, device=device)

    def compose(self, g: Element, h: Element) -> Tensor:
        """The matrix product :math:`R_g R_h`, ``(n, d, d)``."""
        return as_tensor(g) @ as_tensor(h)

    def inverse(self, g: Element) -> Tensor:
        """The transpose :math:`R^\\top = R^{-1}`, ``(n, d, d)``."""
        return as_tensor(g).transpose(-1, -2)

    def act(self, g: Element, x: Tensor) -> Tensor:
        """``x R^T`` for points ``x`` of shape ``(n, N, d)`` (rotation about the origin)."""
        return rotate_points(as_tensor(g), x)

    def example_input(
        self, n: int, generator: torch.Generator, *, dtype: torch.dtype = torch.float64
    ) -> Tensor:
        """Random Gaussian points, ``(n, 5, d)``."""
        return randn((n, 5, self.dim), generator, dtype=dtype)


class Orthogonal(_MatrixGroup):
    """The orthogonal group :math:`O(d)`, or :math:`SO(d)` with ``proper=True``.

    Elements are ``(n, d, d)`` orthogonal matrices :math:`R` acting on points ``(n, N, d)`` by
    :math:`x \\mapsto x R^\\top` (rotation/reflection about the origin); the product is the
    matrix product. :meth:`sample` is Haar-uniform (see :func:`haar_orthogonal`).
    """

    name: ClassVar[str] = "orthogonal"
    acts_on: ClassVar[str] = "(B, N, d) points: rotated/reflected about the origin"

    def __init__(self, dim: int = 3, proper: bool = False) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.dim = dim
        self.proper = proper

    def sample(
        self,
        n: int,
        generator: torch.Generator,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """``n`` Haar-uniform matrices of :math:`O(d)` (or :math:`SO(d)`), ``(n, d, d)``."""
        return haar_orthogonal(
            n, self.dim, generator, proper=self.proper, dtype=dtype, device=device
        )

    def __repr__(self) -> str:
        return f"Orthogonal(dim={self.dim}, proper={self.proper})"


class Euclidean(Group):
    """The Euclidean group :math:`E(d)`, or :math:`SE(d)` with ``proper=True``.

    An element batch is a pair ``(R, t)``: ``R`` ``(n, d, d)`` orthogonal, ``t`` ``(n, d)``.
    It acts on points ``(n, N, d)`` by :math:`x \\mapsto x R^\\top + t`, so

    .. math::

        (R_g, t_g)(R_h, t_h) = (R_g R_h,\\; R_g t_h + t_g), \\qquad
        (R, t)^{-1} = (R^\\top, -R^\\top t) .

    :meth:`sample` draws ``R`` Haar-uniformly and ``t`` Gaussian with standard deviation
    ``translation_scale``.
    """

    name: ClassVar[str] = "euclidean"
    acts_on: ClassVar[str] = "(B, N, d) points: rigid motions x R^T + t"

    def __init__(self, dim: int = 3, proper: bool = False, translation_scale: float = 1.0) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.dim = dim
        self.proper = proper
        self.translation_scale = translation_scale

    def sample(
        self,
        n: int,
        generator: torch.Generator,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> tuple[Tensor, Tensor]:
        """``(R, t)``: Haar rotations ``(n, d, d)`` and Gaussian translations ``(n, d)``."""
        rot = haar_orthogonal(
            n, self.dim, generator, proper=self.proper, dtype=dtype, device=device
        )
        shift = randn((n, self.dim), generator, dtype=dtype, device=device)
        return rot, self.translation_scale * shift

    def identity(
        self,
        n: int,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> tuple[Tensor, Tensor]:
        """``(I, 0)``: ``(n, d, d)`` identities and ``(n, d)`` zeros."""
        eye = batched_eye(n, self.dim, dtype=dtype, device=device)
        return eye, torch.zeros(n, self.dim, dtype=dtype, device=device)

    def compose(self, g: Element, h: Element) -> tuple[Tensor, Tensor]:
        """:math:`(R_g R_h, R_g t_h + t_g)`."""
        rot_g, t_g = as_pair(g)
        rot_h, t_h = as_pair(h)
        t = (rot_g @ t_h[..., None])[..., 0] + t_g  # (n, d)
        return rot_g @ rot_h, t

    def inverse(self, g: Element) -> tuple[Tensor, Tensor]:
        """:math:`(R^\\top, -R^\\top t)`."""
        rot, t = as_pair(g)
        rot_t = rot.transpose(-1, -2)  # (n, d, d)
        return rot_t, -(rot_t @ t[..., None])[..., 0]

    def act(self, g: Element, x: Tensor) -> Tensor:
        """``x R^T + t`` for points ``x`` of shape ``(n, N, d)``."""
        rot, t = as_pair(g)
        return rotate_points(rot, x) + t.to(x.dtype)[:, None, :]

    def example_input(
        self, n: int, generator: torch.Generator, *, dtype: torch.dtype = torch.float64
    ) -> Tensor:
        """Random Gaussian points, ``(n, 5, d)``."""
        return randn((n, 5, self.dim), generator, dtype=dtype)

    def __repr__(self) -> str:
        return (
            f"Euclidean(dim={self.dim}, proper={self.proper}, "
            f"translation_scale={self.translation_scale})"
        )


class AxisRotation(_MatrixGroup):
    """:math:`O(2)` about one coordinate axis of 3-space: rotations about it and reflections
    in planes containing it.

    Elements are ``(n, 3, 3)`` matrices that are the identity on coordinate ``axis`` and an
    :math:`O(2)` block on the two other coordinates (in increasing order); they act on points
    ``(n, N, 3)`` by :math:`x \\mapsto x R^\\top`, which keeps ``x[..., axis]``. This is the
    subgroup of :math:`O(3)` that preserves an external field along ``axis``.
    """

    name: ClassVar[str] = "axis-rotation"
    acts_on: ClassVar[str] = "(B, N, 3) points: rotated/reflected about one coordinate axis"

    def __init__(self, axis: int = 2, dim: int = 3) -> None:
        if dim != 3:
            raise ValueError(f"AxisRotation is defined in 3 dimensions, got dim={dim}")
        if not 0 <= axis < dim:
            raise ValueError(f"axis must be in 0..{dim - 1}, got {axis}")
        self.axis = axis
        self.dim = dim
        self.plane = tuple(i for i in range(dim) if i != axis)

    def embed(self, block: Tensor) -> Tensor:
        """Embed ``(n, 2, 2)`` blocks on the plane orthogonal to ``axis`` into ``(n, 3, 3)``."""
        n = block.shape[0]
        out = self.identity(n, dtype=block.dtype, device=block.device)  # (n, 3, 3)
        rows = torch.tensor(self.plane, device=block.device)  # (2,)
        out[:, rows[:, None], rows[None, :]] = block
        return out

    def sample(
        self,
        n: int,
        generator: torch.Generator,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """``n`` Haar-uniform elements: a Haar :math:`O(2)` block embedded, ``(n, 3, 3)``."""
        block = haar_orthogonal(n, 2, generator, dtype=dtype, device=device)  # (n, 2, 2)
        return self.embed(block)

    def __repr__(self) -> str:
        return f"AxisRotation(axis={self.axis}, dim={self.dim})"


__all__ = ["AxisRotation", "Euclidean", "Orthogonal", "flip_to_proper", "haar_orthogonal"]
