"""Tensor helpers the BQ reducers share: gathering, sub-problem sizes, augmentation.

The frames (translation-scale, kNN neighbourhood) and the square's dihedral group live in the
core's symmetry layer (:mod:`symco.core.symmetry`), re-exported here for the reducers.
"""

from __future__ import annotations

import math
from typing import Literal, TypeVar

import torch
from torch import Tensor

from symco.core.reducer import SymmetryReducer
from symco.core.symmetry import SquareDihedral
from symco.core.symmetry import neighbourhood_frame as neighbourhood_frame  # re-exported
from symco.core.symmetry import normalize_coords as normalize_coords  # re-exported

SubproblemSizes = Literal["uniform", "loguniform"]
StateT = TypeVar("StateT")


class BQReducer(SymmetryReducer[StateT]):
    """A BQ reducer; every one can normalise its reduced instances to a canonical frame."""

    def __init__(self, normalize: bool = True) -> None:
        """:param normalize: rescale each reduced instance to a canonical frame (the unit square
        for coordinates; KP: weights by the remaining capacity)."""
        self.normalize = normalize


class AugmentedBQReducer(BQReducer[StateT]):
    """A BQ reducer whose training samples can be augmented by symmetries of the instance."""

    def __init__(self, normalize: bool = True, augment: bool = True) -> None:
        """:param augment: random symmetries of each training instance that keep its solution
        optimal (D4 of the square, tour/route direction and order)."""
        super().__init__(normalize)
        self.augment = augment


class SampledBQReducer(AugmentedBQReducer[StateT]):
    """A BQ reducer whose ``expand`` draws one reduced size per batch."""

    def __init__(
        self,
        normalize: bool = True,
        min_subproblem: int = 4,
        augment: bool = True,
        sizes: SubproblemSizes = "uniform",
    ) -> None:
        """:param min_subproblem: smallest reduced instance drawn by ``expand``.
        :param sizes: how ``expand`` draws the reduced size: ``uniform``, or ``loguniform`` (more
            of the cheap small tails, so more samples per second)."""
        super().__init__(normalize, augment)
        self.min_subproblem = min_subproblem
        self.sizes = sizes


def gather_rows(x: Tensor, index: Tensor) -> Tensor:
    """``x[b, index[b]]`` for ``x`` (B, N, ...) and ``index`` (B, M) -> (B, M, ...).

    Padding entries (``index < 0``) read row 0; callers mask them through ``node_index``.
    """
    flat = index.clamp_min(0).reshape(index.shape[0], -1, *([1] * (x.dim() - 2)))
    return torch.gather(x, 1, flat.expand(-1, -1, *x.shape[2:]))


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
    """Map each instance of ``coords`` (B, N, 2) by a random element of the square's dihedral
    group (:class:`~symco.core.symmetry.SquareDihedral`), which keeps every Euclidean distance."""
    group = SquareDihedral()
    g = group.sample(coords.shape[0], generator, device=coords.device)  # (B,)
    return group.act(g, coords)


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
