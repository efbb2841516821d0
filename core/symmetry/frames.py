"""Frames: maps of each instance's points into a canonical position, and back.

A :class:`Frame` *canonicalizes* a batch of point sets (translation, scale, orientation) and
*restores* canonical outputs to the original position. Built-ins:

* :class:`TranslationScaleFrame`: the points' bounding box onto the unit square/cube.
* :class:`NeighbourhoodFrame`: the frame of a kNN view (its origin and neighbours).
* :class:`PCAFrame`: the principal axes, one frame per sign choice, for frame averaging.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Generic, Literal, TypeVar

import torch
from torch import Tensor

ParamsT = TypeVar("ParamsT")


class DegenerateFrameError(ValueError):
    """A PCA frame is ambiguous: two eigenvalues of the covariance (nearly) coincide."""


class Frame(ABC, Generic[ParamsT]):
    """A canonical position of every instance of a batch of point sets.

    :meth:`canonicalize` returns the canonical points and the parameters of the map;
    :meth:`restore` maps canonical points (or a model's outputs in canonical coordinates) back.
    """

    name: ClassVar[str]

    @abstractmethod
    def canonicalize(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, ParamsT]:
        """The canonical coordinates of ``x`` and the parameters of the map."""

    @abstractmethod
    def restore(self, y: Tensor, params: ParamsT) -> Tensor:
        """Map canonical points ``y`` back to the original position."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# --- translation and scale ---------------------------------------------------------------------


def bounding_square(xy: Tensor, valid: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The lower corner ``(B, 1, d)`` and longer side ``(B, 1, 1)`` of the bounding box.

    For points ``xy`` ``(B, M, d)`` (only those with ``valid`` ``(B, M)`` when given):

    .. math::

        lo = \\min_i x_i,\\qquad
        span = \\max\\big(\\max_k (\\max_i x_{ik} - lo_k),\\ 10^{-9}\\big) .
    """
    if valid is None:
        lo = xy.amin(1, keepdim=True)  # (B, 1, d)
        hi = xy.amax(1, keepdim=True)  # (B, 1, d)
    else:
        v = valid[..., None]  # (B, M, 1)
        lo = torch.where(v, xy, float("inf")).amin(1, keepdim=True)
        hi = torch.where(v, xy, float("-inf")).amax(1, keepdim=True)
    span = (hi - lo).amax(dim=-1, keepdim=True).clamp_min(1e-9)  # (B, 1, 1)
    return lo, span


@dataclass(frozen=True)
class ScaleParams:
    """The map ``x -> (x - lo) / span``: ``lo`` ``(B, 1, d)``, ``span`` ``(B, 1, 1)``."""

    lo: Tensor
    span: Tensor

    @property
    def scale(self) -> Tensor:
        """``1 / span`` ``(B,)``: lengths in the canonical frame are the original ones times it."""
        return 1.0 / self.span[:, 0, 0]


class TranslationScaleFrame(Frame[ScaleParams]):
    """Each instance's points ``(B, M, d)`` onto the unit square/cube, aspect kept.

    :math:`x_c = (x - lo) / span` with the bounding box of :func:`bounding_square`; padding
    (``mask`` False) is set to 0. :meth:`restore` is :math:`y \\cdot span + lo`.
    """

    name: ClassVar[str] = "translation-scale"

    def canonicalize(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, ScaleParams]:
        """``(x - lo) / span`` ``(B, M, d)`` and the map's parameters."""
        lo, span = bounding_square(x, mask)
        out = (x - lo) / span  # (B, M, d)
        if mask is not None:
            out = out.masked_fill(~mask[..., None], 0.0)
        return out, ScaleParams(lo, span)

    def restore(self, y: Tensor, params: ScaleParams) -> Tensor:
        """``y * span + lo`` ``(B, M, d)``."""
        return y * params.span + params.lo


class NeighbourhoodFrame(Frame[ScaleParams]):
    """The frame of a kNN view ``[origin, neighbours..., end]`` ``(B, M, d)``.

    The origin and its neighbours (all points but the last) are framed into the unit square
    with the bounding box of :func:`bounding_square`; the far end is clamped onto the square's
    border: :math:`x_c = \\operatorname{clamp}((x - lo) / span, 0, 1)`. So :meth:`restore`
    inverts the map only for points that were not clamped (the origin, the neighbours, and the
    end when it already lay inside the square). With a ``mask`` ``(B, M)`` the frame is that of
    the valid points among the first ``M - 1`` and padding is 0.
    """

    name: ClassVar[str] = "neighbourhood"

    def canonicalize(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, ScaleParams]:
        """The clamped framed view ``(B, M, d)`` and the map's parameters."""
        if mask is None:
            lo, span = bounding_square(x[:, :-1])
            return ((x - lo) / span).clamp(0.0, 1.0), ScaleParams(lo, span)
        lo, span = bounding_square(x[:, :-1], mask[:, :-1])
        out = ((x - lo) / span).clamp(0.0, 1.0).masked_fill(~mask[..., None], 0.0)
        return out, ScaleParams(lo, span)

    def restore(self, y: Tensor, params: ScaleParams) -> Tensor:
        """``y * span + lo`` (exact only for the points that were not clamped)."""
        return y * params.span + params.lo


def normalize_coords(xy: Tensor, valid: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Deprecated: use :class:`TranslationScaleFrame` (``out, params = frame.canonicalize(xy,
    valid)``, the scale is ``params.scale``).

    Kept, as a thin alias, for code written against the README's reducer guide. Returns the
    canonical points ``(B, M, d)`` and the scale ``1 / span`` ``(B,)``.
    """
    out, params = TranslationScaleFrame().canonicalize(xy, valid)
    return out, params.scale


def neighbourhood_frame(xy: Tensor) -> Tensor:
    """Deprecated: use :class:`NeighbourhoodFrame` (``frame.canonicalize(xy)[0]``).

    Kept, as a thin alias, for code that called it before the reducers moved onto the frame
    objects: the framed kNN view ``(B, M, d)``.
    """
    return NeighbourhoodFrame().canonicalize(xy)[0]


# --- principal axes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PCAFrames:
    """The PCA frames of a batch of point sets ``(B, N, d)``.

    Attributes:
        rotations: ``(B, F, d, d)``, column ``j`` of ``rotations[b, f]`` is axis ``j`` of frame
            ``f`` (an eigenvector of the covariance, with a sign).
        centre: ``(B, 1, d)``, the (masked) mean of the points.
        eigenvalues: ``(B, d)``, the covariance's eigenvalues, ascending.
        degenerate: ``(B,)`` bool, True where two eigenvalues (nearly) coincide, so the frames
            are not determined by the points.
    """

    rotations: Tensor
    centre: Tensor
    eigenvalues: Tensor
    degenerate: Tensor

    @property
    def num_frames(self) -> int:
        """The number of frames ``F`` per instance."""
        return int(self.rotations.shape[1])


def sign_vectors(dim: int, *, proper: bool, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``(F, d)`` sign vectors: all :math:`2^d`, or the :math:`2^{d-1}` with product ``+1``."""
    rows = torch.arange(2**dim, device=device)[:, None]  # (2^d, 1)
    bits = (rows >> torch.arange(dim, device=device)[None, :]) & 1  # (2^d, d)
    signs = (1 - 2 * bits).to(dtype)
    if proper:
        signs = signs[signs.prod(dim=1) > 0]
    return signs


def masked_moments(x: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """The mean ``(B, 1, d)`` and covariance ``(B, d, d)`` of the (valid) points ``(B, N, d)``.

    .. math::

        c = \\frac{1}{|V|}\\sum_{i \\in V} x_i,\\qquad
        C = \\frac{1}{|V|}\\sum_{i \\in V} (x_i - c)^\\top (x_i - c) .
    """
    if mask is None:
        weight = torch.ones(x.shape[:2], dtype=x.dtype, device=x.device)  # (B, N)
    else:
        weight = mask.to(x.dtype)
    count = weight.sum(dim=1).clamp_min(1.0)[:, None, None]  # (B, 1, 1)
    centre = (x * weight[..., None]).sum(dim=1, keepdim=True) / count  # (B, 1, d)
    centred = (x - centre) * weight[..., None]  # (B, N, d)
    cov = centred.transpose(-1, -2) @ centred / count  # (B, d, d)
    return centre, cov


def eigen_gaps_degenerate(eigenvalues: Tensor, tol: float) -> Tensor:
    """``(B,)`` bool: some gap between ascending eigenvalues ``(B, d)`` is at most
    ``tol * max(largest eigenvalue, tiny)``."""
    tiny = torch.finfo(eigenvalues.dtype).tiny
    scale = eigenvalues[:, -1].clamp_min(tiny)  # (B,)
    gaps = eigenvalues.diff(dim=-1)  # (B, d - 1)
    return (gaps <= tol * scale[:, None]).any(dim=-1)


class PCAFrame(Frame[PCAFrames]):
    """Principal-axes frames for frame averaging over :math:`E(d)` (or :math:`SE(d)`).

    For points ``x`` ``(B, N, d)`` (valid where ``mask`` ``(B, N)``) with centre :math:`c`
    and covariance :math:`C = E \\Lambda E^\\top` (``torch.linalg.eigh``, ascending), the
    frames are :math:`R_s = E \\operatorname{diag}(s)` for every sign vector :math:`s`
    (:math:`2^d` frames, :math:`O(d)`), or only those with :math:`\\det R_s = +1`
    (:math:`2^{d-1}`, :math:`SO(d)`) when ``proper``. The canonical coordinates
    :math:`(x - c) R_s` are, as a *set* over :math:`s`, invariant under
    :math:`x \\mapsto x Q^\\top + t` (:math:`Q` proper when ``proper``) as long as the
    eigenvalues are distinct, so the frame average

    .. math::

        \\operatorname{FA}_f(x) = \\frac{1}{F}\\sum_s f\\big((x - c) R_s\\big) R_s^\\top + c

    is equivariant for any function :math:`f` (see :meth:`average`).

    Eigenvalue pairs closer than ``tol`` times the largest eigenvalue make the frame
    ``degenerate``: reported in :attr:`PCAFrames.degenerate`, or raised as
    :class:`DegenerateFrameError` with ``on_degenerate="raise"``.
    """

    name: ClassVar[str] = "pca"

    def __init__(
        self,
        proper: bool = False,
        tol: float = 1e-4,
        on_degenerate: Literal["raise", "report"] = "report",
    ) -> None:
        if on_degenerate not in ("raise", "report"):
            raise ValueError(f"on_degenerate must be 'raise' or 'report', got {on_degenerate!r}")
        self.proper = proper
        self.tol = tol
        self.on_degenerate = on_degenerate

    def frames(self, x: Tensor, mask: Tensor | None = None) -> PCAFrames:
        """The PCA frames of ``x`` ``(B, N, d)``; raises on a degenerate instance if asked to."""
        centre, cov = masked_moments(x, mask)
        eigenvalues, vectors = torch.linalg.eigh(cov)  # (B, d), (B, d, d)
        degenerate = eigen_gaps_degenerate(eigenvalues, self.tol)  # (B,)
        if self.on_degenerate == "raise" and bool(degenerate.any()):
            index = int(degenerate.nonzero()[0, 0])
            values = [float(v) for v in eigenvalues[index]]
            raise DegenerateFrameError(
                f"PCA frame of example {index} (batch index {index}) is degenerate: covariance eigenvalues "
                f"{values} are not separated by more than tol={self.tol} (relative)"
            )
        if self.proper:
            vectors = _make_proper(vectors)
        signs = sign_vectors(x.shape[-1], proper=self.proper, dtype=x.dtype, device=x.device)
        rotations = vectors[:, None] * signs[None, :, None, :]  # (B, F, d, d)
        return PCAFrames(rotations, centre, eigenvalues, degenerate)

    def canonicalize(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, PCAFrames]:
        """The canonical coordinates ``(x - c) R`` in every frame, ``(B, F, N, d)``.

        Padding (``mask`` False) is set to 0.
        """
        params = self.frames(x, mask)
        centred = (x - params.centre)[:, None]  # (B, 1, N, d)
        out = centred @ params.rotations  # (B, F, N, d)
        if mask is not None:
            out = out.masked_fill(~mask[:, None, :, None], 0.0)
        return out, params

    def restore(self, y: Tensor, params: PCAFrames, *, points: bool = True) -> Tensor:
        """Map canonical ``y`` ``(B, F, N, d)`` back: ``y R^T (+ c when points)``.

        With ``points=False`` ``y`` holds vectors (directions, forces), which are only rotated.
        Padding is not masked: restored padding points sit at the centre.
        """
        out = y @ params.rotations.transpose(-1, -2)  # (B, F, N, d)
        if points:
            out = out + params.centre[:, None]
        return out

    def average(
        self,
        fn: Callable[[Tensor], Tensor],
        x: Tensor,
        mask: Tensor | None = None,
        *,
        points: bool = True,
    ) -> Tensor:
        """The frame average ``(B, N, d)`` of ``fn`` over the frames of ``x`` ``(B, N, d)``.

        ``fn`` maps canonical coordinates ``(B * F, N, d)`` to outputs ``(B * F, N, d)``
        (points, or vectors with ``points=False``); the result is the mean over frames of the
        restored outputs.
        """
        canonical, params = self.canonicalize(x, mask)  # (B, F, N, d)
        batch, num_frames = canonical.shape[:2]
        outputs = fn(canonical.flatten(0, 1))  # (B * F, N, d)
        outputs = outputs.reshape(batch, num_frames, *outputs.shape[1:])  # (B, F, N, d)
        return self.restore(outputs, params, points=points).mean(dim=1)

    def __repr__(self) -> str:
        return (
            f"PCAFrame(proper={self.proper}, tol={self.tol}, on_degenerate={self.on_degenerate!r})"
        )


def _make_proper(vectors: Tensor) -> Tensor:
    """Negate the last column of every ``(B, d, d)`` basis with determinant < 0."""
    det_sign = torch.where(torch.linalg.det(vectors) < 0, -1.0, 1.0).to(vectors.dtype)  # (B,)
    col_signs = torch.ones(
        vectors.shape[0], vectors.shape[-1], dtype=vectors.dtype, device=vectors.device
    )  # (B, d)
    col_signs[:, -1] = det_sign
    return vectors * col_signs[:, None, :]


BUILTIN_FRAMES: tuple[type[Frame[ScaleParams]] | type[Frame[PCAFrames]], ...] = (
    TranslationScaleFrame,
    NeighbourhoodFrame,
    PCAFrame,
)
"""Every built-in frame class; each is constructible with no arguments."""

__all__ = [
    "BUILTIN_FRAMES",
    "DegenerateFrameError",
    "Frame",
    "NeighbourhoodFrame",
    "PCAFrame",
    "PCAFrames",
    "ScaleParams",
    "TranslationScaleFrame",
    "bounding_square",
    "neighbourhood_frame",
    "normalize_coords",
]
