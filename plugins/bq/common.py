"""What the BQ reducers share: their base classes, sub-problem sizes, augmentation.

The frames the reducers canonicalize in and the square's dihedral group live in the core's
symmetry layer (:mod:`symco.core.symmetry`), generic tensor helpers in :mod:`symco.core.tensors`.
"""

from __future__ import annotations

import math
from typing import Literal, TypeVar

import torch
from torch import Tensor

from symco.core.reducer import SymmetryReducer
from symco.core.symmetry import (
    Frame,
    NeighbourhoodFrame,
    ScaleParams,
    SquareDihedral,
    TranslationScaleFrame,
)

SubproblemSizes = Literal["uniform", "loguniform"]
StateT = TypeVar("StateT")


class BQReducer(SymmetryReducer[StateT]):
    """A BQ reducer; every one can normalise its reduced instances to a canonical frame."""

    def __init__(self, normalize: bool = True) -> None:
        """:param normalize: rescale each reduced instance to a canonical frame (the unit square
        for coordinates; KP: weights by the remaining capacity)."""
        self.normalize = normalize


class AugmentedBQReducer(BQReducer[StateT]):
    """A BQ reducer of points in the plane, whose training samples can be augmented by
    symmetries of the instance.

    With ``normalize`` each reduced instance's coordinates are canonicalized by :attr:`frame`
    (:class:`~symco.core.symmetry.TranslationScaleFrame`), a kNN view by :attr:`local_frame`
    (:class:`~symco.core.symmetry.NeighbourhoodFrame`) where the reducer frames it by the
    origin's neighbourhood.
    """

    def __init__(self, normalize: bool = True, augment: bool = True) -> None:
        """:param augment: random symmetries of each training instance that keep its solution
        optimal (D4 of the square, tour/route direction and order)."""
        super().__init__(normalize)
        self.augment = augment
        # the registered frames, not a copy of their math: the shipped models' inputs are
        # exactly these frames' outputs
        self.frame: Frame[ScaleParams] = TranslationScaleFrame()
        self.local_frame: Frame[ScaleParams] = NeighbourhoodFrame()


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
