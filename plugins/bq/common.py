"""Tensor helpers the BQ reducers share: gathering, frames, sub-problem sizes, augmentation."""

from __future__ import annotations

import math
from typing import Literal, TypeVar

import torch
from torch import Tensor

from symco.core.reducer import SymmetryReducer

SubproblemSizes = Literal["uniform", "loguniform"]
StateT = TypeVar("StateT")


class BQReducer(SymmetryReducer[StateT]):
    """The options every BQ reducer takes (one config schema for all problems)."""

    def __init__(
        self,
        normalize: bool = True,
        min_subproblem: int = 4,
        augment: bool = True,
        sizes: SubproblemSizes = "uniform",
    ) -> None:
        """:param normalize: rescale each reduced instance to a canonical frame (the unit square
            for coordinates; KP: weights by the remaining capacity).
        :param min_subproblem: smallest reduced instance drawn by ``expand`` (where it applies).
        :param augment: random symmetries of each training instance that keep its solution optimal
            (D4 of the square, tour/route direction and order).
        :param sizes: how ``expand`` draws the reduced size: ``uniform``, or ``loguniform`` (more
            of the cheap small tails, so more samples per second)."""
        self.normalize = normalize
        self.min_subproblem = min_subproblem
        self.augment = augment
        self.sizes = sizes


def gather_rows(x: Tensor, index: Tensor) -> Tensor:
    """``x[b, index[b]]`` for ``x`` (B, N, ...) and ``index`` (B, M) -> (B, M, ...).

    Padding entries (``index < 0``) read row 0; callers mask them through ``node_index``.
    """
    flat = index.clamp_min(0).reshape(index.shape[0], -1, *([1] * (x.dim() - 2)))
    return torch.gather(x, 1, flat.expand(-1, -1, *x.shape[2:]))


def normalize_coords(xy: Tensor, valid: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Translate and scale each reduced instance into the unit square (aspect kept).

    Euclidean routing objectives are invariant to translation and scale up to that factor, so
    this is a further symmetry reduction: small tail problems and kNN neighbourhoods look like
    full-size training instances.

    :param xy: (B, M, 2) coordinates; ``valid`` (B, M) bool excludes padding from the frame.
    :return: the rescaled ``xy`` and the scale ``(B,)`` (new lengths = old lengths * scale).
    """
    lo, span = _bounding_square(xy, valid)
    out = (xy - lo) / span
    if valid is not None:
        out = out.masked_fill(~valid[..., None], 0.0)
    return out, 1.0 / span[:, 0, 0]


def _bounding_square(xy: Tensor, valid: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Lower corner (B, 1, 2) and longer side (B, 1, 1) of the bounding box of the (``valid``)
    points of ``xy`` (B, M, 2): the frame both normalisations divide by."""
    if valid is None:
        lo, hi = xy.amin(dim=1, keepdim=True), xy.amax(dim=1, keepdim=True)  # (B, 1, 2)
    else:
        v = valid[..., None]
        lo = torch.where(v, xy, math.inf).amin(dim=1, keepdim=True)
        hi = torch.where(v, xy, -math.inf).amax(dim=1, keepdim=True)
    return lo, (hi - lo).amax(dim=-1, keepdim=True).clamp_min(1e-9)


def neighbourhood_frame(xy: Tensor) -> Tensor:
    """The frame of a kNN view ``[origin, neighbours..., end]`` (B, M, 2): translate and scale by
    the origin and its neighbours alone, then clamp the end into the unit square.

    The end (a TSP's destination) of a large instance usually lies far outside the neighbourhood.
    Framing it too would squeeze the neighbourhood into a corner of the square, a layout no
    training instance has; clamped, it sits on the square's border on its side. Measured with
    ``bq-tsp`` (greedy, kNN 100, 32 fresh instances, seed 78): tours 2.1% shorter at TSP1000 (25 of
    32 instances) and 0.6% at TSP500 (within noise) than with the end inside the frame. With
    ``bq-cvrp`` (the depot as the end, CVRP1000, 12 instances) it measured no gain (-0.6 ± 0.7%),
    so the CVRP reducer keeps the whole view in its frame.
    """
    lo, span = _bounding_square(xy[:, :-1])
    return ((xy - lo) / span).clamp(0.0, 1.0)


def end_distances(xy: Tensor) -> tuple[Tensor, Tensor]:
    """Each node's distance to the first and to the last node of its reduced instance.

    :param xy: (B, M, 2) coordinates of ``[origin, ..., destination/depot]``.
    :return: ``d(origin, j)`` and ``d(j, end)``, each (B, M).
    """
    return (
        torch.linalg.vector_norm(xy - xy[:, :1], dim=-1),
        torch.linalg.vector_norm(xy - xy[:, -1:], dim=-1),
    )


def subproblem_size(lo: int, hi: int, sizes: SubproblemSizes, generator: torch.Generator) -> int:
    """A reduced-instance size in ``[lo, hi]``: ``uniform``, or ``loguniform`` (more of the cheap
    small tails; a batch costs O(M) to O(M^2), so this trains on more samples per second)."""
    lo = min(lo, hi)
    if sizes == "loguniform":
        u = float(torch.rand((), generator=generator))
        return min(hi, int(math.exp(math.log(lo) + u * (math.log(hi + 1) - math.log(lo)))))
    return int(torch.randint(lo, hi + 1, (1,), generator=generator))


def d4_augment(coords: Tensor, generator: torch.Generator) -> Tensor:
    """Map each instance of ``coords`` (B, N, 2) by a random symmetry of the square (axis swap and
    reflections: the dihedral group D4), which leaves every Euclidean distance unchanged."""
    b = coords.shape[0]
    swap = (torch.rand(b, 1, 1, generator=generator) < 0.5).to(coords.device)
    flip = (torch.rand(b, 1, 2, generator=generator) < 0.5).to(coords.device)
    coords = torch.where(swap, coords.flip(-1), coords)
    return torch.where(flip, 1.0 - coords, coords)


def shuffled(count: int, b: int, generator: torch.Generator, device: torch.device) -> Tensor:
    """(B, count) independent random permutations of ``0..count-1``."""
    return torch.argsort(torch.rand(b, count, generator=generator), dim=1).to(device)


def pad_left_aligned(keep: Tensor) -> Tensor:
    """Indices of the ``True`` entries of ``keep`` (B, N), in increasing order, left-aligned and
    padded with ``-1`` to the largest count in the batch: (B, K)."""
    count = keep.sum(dim=1)
    k = int(count.max()) if keep.numel() else 0
    order = torch.sort((~keep).to(torch.uint8), dim=1, stable=True).indices[:, :k]  # (B, K)
    pos = torch.arange(k, device=keep.device)[None]
    return torch.where(pos < count[:, None], order, -1)
