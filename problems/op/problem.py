"""The orienteering problem (OP): collect the most prize on a closed tour of bounded length.

Instances: ``coords`` ``(B, N+1, 2)`` with the depot first, ``prizes`` ``(B, N+1)`` (the depot's
prize is 0) and ``max_length`` ``(B,)``, the length budget of the tour. In the ``"N"`` axis of
:attr:`OP.instance_spec` the depot counts (it is the one fixed node), so an OP100 instance has an
``"N"`` axis of 101 and size 100.

A solution is the sequence of visited nodes in order, the depot excluded: a 1-D integer array of
distinct node indices in ``1..N`` (possibly empty). The tour is closed: depot, the nodes, depot.
Its objective is the sum of the visited nodes' prizes, maximised; it is feasible when its length
is at most ``max_length`` (with a relative tolerance of :data:`LENGTH_RTOL`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from symco.core.errors import InfeasibleSolutionError, InvalidInstanceError
from symco.core.problem import ArraySpec, Instances, Problem
from symco.problems.geometry import (
    as_float_tensor,
    chosen_sum,
    drop_padding,
    has_repeats,
    path_lengths_torch,
)

if TYPE_CHECKING:  # torch is imported where it is used: ``symco --help`` must not load it
    from torch import Tensor

LENGTH_RTOL = 1e-9
"""Relative tolerance on the length budget (float rounding of the tour length)."""

KOOL_MAX_LENGTH: dict[int, float] = {20: 2.0, 50: 3.0, 100: 4.0}
"""The budgets of the usual OP benchmarks (Kool et al., 2019): OP20, OP50, OP100."""


def default_max_length(size: int) -> float:
    """The length budget :meth:`OP.generate` uses for ``size`` nodes.

    Kool et al. (2019) use 2, 3 and 4 for 20, 50 and 100 nodes; BQ-NCO (Drakulic et al., 2023)
    trains on OP100 and tests on 100 to 1000 nodes with the same budget 4 (a constant of its data
    script). Between and beyond those sizes the rule is a step: ``2`` up to 20 nodes, ``3`` up to
    50, ``4`` above (so 4 for every size >= 51, including 200, 500, 1000).
    """
    if size <= 20:
        return KOOL_MAX_LENGTH[20]
    if size <= 50:
        return KOOL_MAX_LENGTH[50]
    return KOOL_MAX_LENGTH[100]


def distance_prizes(coords: np.ndarray) -> np.ndarray:
    """The "distance" prizes of Fischetti et al. (1998), as used by Kool et al. and BQ-NCO.

    Node ``i``'s prize is ``(1 + floor(99 * d(depot, i) / max_j d(depot, j))) / 100``, in
    ``[0.01, 1.00]``; the farthest node gets 1. The depot's prize is 0.

    :param coords: ``(B, N+1, 2)``, depot first.
    :return: ``(B, N+1)``.
    """
    d = np.linalg.norm(coords[:, 1:] - coords[:, :1], axis=-1)  # (B, N)
    far = d.max(axis=1, keepdims=True)
    ratio = np.divide(d, far, out=np.zeros_like(d), where=far > 0)
    prizes = (1.0 + np.floor(99.0 * ratio)) / 100.0
    return np.concatenate([np.zeros((len(coords), 1)), prizes], axis=1)


def tour_lengths(coords: np.ndarray, solutions: Sequence[np.ndarray]) -> np.ndarray:
    """Lengths of the closed tours depot -> ``solutions[i]`` -> depot, ``(B,)``.

    :param coords: ``(B, N+1, 2)``, depot first.
    """
    out = np.zeros(len(solutions))
    for i, sol in enumerate(solutions):
        s = np.asarray(sol, dtype=np.int64).reshape(-1)
        if s.size == 0:
            continue
        pts = coords[i][np.concatenate([[0], s, [0]])]
        out[i] = np.linalg.norm(np.diff(pts, axis=0), axis=-1).sum()
    return out


class OP(Problem):
    """Euclidean orienteering problem in the plane with a depot (one tour, length budget)."""

    name: ClassVar[str] = "op"
    sense = "max"
    min_size: ClassVar[int] = 1
    fixed_nodes: ClassVar[int] = 1
    instance_spec: ClassVar[tuple[ArraySpec, ...]] = (
        ArraySpec("coords", ("B", "N", 2), "float", doc="depot then node coordinates (B,N+1,2)"),
        ArraySpec("prizes", ("B", "N"), "float", doc="node prizes, depot first with 0 (B,N+1)"),
        ArraySpec("max_length", ("B",), "float", doc="tour length budget (B,)"),
    )
    solution_key: ClassVar[str] = "tours"
    objective_key: ClassVar[str] = "prizes_collected"
    distributions: ClassVar[tuple[str, ...]] = ("distance", "uniform")
    baselines: ClassVar[tuple[str, ...]] = ("greedy", "ortools")
    invariances: ClassVar[dict[str, str]] = {
        "square-dihedral": "coords"
    }  # isometries of the square

    def generate(
        self, num: int, size: int, *, rng: np.random.Generator, distribution: str | None = None
    ) -> Instances:
        """``num`` instances of ``size`` nodes plus a depot, all uniform in the unit square.

        ``distribution`` sets the prizes: ``distance`` (default; see :func:`distance_prizes`) or
        ``uniform`` (every node's prize is 1, so the objective counts the visited nodes). The
        budget is :func:`default_max_length` of ``size``.
        """
        if size < self.min_size:
            raise InvalidInstanceError(f"size: OP needs at least {self.min_size} nodes, got {size}")
        distribution = distribution or self.distributions[0]
        if distribution not in self.distributions:
            raise InvalidInstanceError(
                f"unknown OP distribution '{distribution}'; known: {', '.join(self.distributions)}"
            )
        coords = rng.random((num, size + 1, 2))
        if distribution == "distance":
            prizes = distance_prizes(coords)
        else:
            prizes = np.ones((num, size + 1))
            prizes[:, 0] = 0.0
        return {
            "coords": coords,
            "prizes": prizes,
            "max_length": np.full(num, default_max_length(size)),
        }

    def check_values(self, instances: Mapping[str, Any], where: str) -> None:
        """Prizes must be non-negative with a depot prize of 0; each budget must be positive and
        at least the round trip from the depot to its nearest node."""
        prizes = np.asarray(instances["prizes"], dtype=np.float64)
        if (prizes < 0).any():
            b, i = (int(x) for x in np.argwhere(prizes < 0)[0])
            raise InvalidInstanceError(
                f"{where}: 'prizes' must be non-negative, instance {b} has {float(prizes[b, i])!r} at node {i}"
            )
        if (prizes[:, 0] != 0).any():
            b = int(np.flatnonzero(prizes[:, 0] != 0)[0])
            raise InvalidInstanceError(
                f"{where}: 'prizes' of the depot (node 0) must be 0, instance {b} has {float(prizes[b, 0])!r}"
            )
        budget = np.asarray(instances["max_length"], dtype=np.float64)
        if (budget <= 0).any():
            b = int(np.flatnonzero(budget <= 0)[0])
            raise InvalidInstanceError(
                f"{where}: 'max_length' must be positive, instance {b} has {float(budget[b])!r}"
            )
        coords = np.asarray(instances["coords"], dtype=np.float64)
        nearest = np.linalg.norm(coords[:, 1:] - coords[:, :1], axis=-1).min(axis=1)  # (B,)
        short = budget * (1 + LENGTH_RTOL) < 2 * nearest
        if short.any():
            b = int(np.flatnonzero(short)[0])
            raise InvalidInstanceError(
                f"{where}: 'max_length' of instance {b} is {float(budget[b])!r}, too small to leave the"
                f" depot (the round trip to the nearest node is {float(2 * nearest[b])!r})"
            )

    def objective(
        self, instances: Mapping[str, np.ndarray], solutions: Sequence[np.ndarray] | np.ndarray
    ) -> np.ndarray:
        """Collected prizes, ``(B,)``: the sum of the prizes of the visited nodes."""
        prizes = np.asarray(instances["prizes"], dtype=np.float64)
        return np.array(
            [
                prizes[i][np.asarray(s, dtype=np.int64).reshape(-1)].sum()
                for i, s in enumerate(solutions)
            ],
            dtype=np.float64,
        ).reshape(len(prizes))

    def objective_torch(self, instances: Mapping[str, Tensor], solutions: Tensor) -> Tensor:
        """Collected prizes ``(B,)`` of packed tours ``(B, L)`` (``-1`` padded), in torch on the
        tensors' device and in the dtype of ``prizes``."""
        return chosen_sum(as_float_tensor(instances["prizes"]), solutions)

    def feasible_torch(self, instances: Mapping[str, Tensor], solutions: Tensor) -> Tensor:
        """``(B,)`` bool, as :meth:`check_solution`: ignoring ``-1`` entries, distinct nodes of
        ``1..N`` on a closed tour from the depot no longer than ``max_length`` (relative
        tolerance :data:`LENGTH_RTOL`)."""
        import torch

        coords = as_float_tensor(instances["coords"])
        n = coords.shape[1] - 1
        s, kept = drop_padding(solutions.to(coords.device))  # (B, L) each
        inside = kept & (s >= 1) & (s <= n)
        ok = ~(kept & ~inside).any(dim=1) & ~has_repeats(s)
        length = path_lengths_torch(coords, torch.where(inside, s, -1))  # (B,)
        budget = instances["max_length"].to(length.dtype)
        return ok & (length <= budget * (1 + LENGTH_RTOL))

    def lengths(
        self, instances: Mapping[str, np.ndarray], solutions: Sequence[np.ndarray] | np.ndarray
    ) -> np.ndarray:
        """Lengths of the closed tours depot -> solution -> depot, ``(B,)``."""
        coords = np.asarray(instances["coords"], dtype=np.float64)
        return tour_lengths(coords, list(solutions))

    def check_solution(
        self, instances: Mapping[str, np.ndarray], solutions: Sequence[np.ndarray] | np.ndarray
    ) -> None:
        """Each solution visits distinct nodes of ``1..N`` on a tour within ``max_length``."""
        coords = np.asarray(instances["coords"], dtype=np.float64)
        budget = np.asarray(instances["max_length"], dtype=np.float64)
        n = coords.shape[1] - 1
        if len(solutions) != len(coords):
            raise InfeasibleSolutionError(
                f"got {len(solutions)} solutions for {len(coords)} instances"
            )
        for i, sol in enumerate(solutions):
            s = np.asarray(sol)
            if s.ndim != 1 or (s.size and not np.issubdtype(s.dtype, np.integer)):
                raise InfeasibleSolutionError(
                    f"tour {i} must be a 1-D array of node indices, got shape {s.shape} dtype {s.dtype}"
                )
            bad = s[(s < 1) | (s > n)]
            if bad.size:
                raise InfeasibleSolutionError(
                    f"tour {i} visits node {int(bad[0])}, not in 1..{n} (the depot 0 is implied)"
                )
            if len(np.unique(s)) != len(s):
                values, counts = np.unique(s, return_counts=True)
                raise InfeasibleSolutionError(
                    f"tour {i} visits node {int(values[counts > 1][0])} more than once"
                )
            length = tour_lengths(coords[i : i + 1], [s])[0]
            if length > budget[i] * (1 + LENGTH_RTOL):
                raise InfeasibleSolutionError(
                    f"tour {i} has length {float(length)!r}, over its max_length {float(budget[i])!r}"
                )

    def drawing_path(self, solution: np.ndarray) -> np.ndarray:
        """The tour from the depot through ``solution`` back to the depot."""
        return np.concatenate([[0], np.asarray(solution, dtype=np.int64), [0]])
