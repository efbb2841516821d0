"""KP solvers: OR-Tools branch and bound (exact), dynamic programming (exact, tests), greedy.

The exact solvers work on integers. When every weight, value and capacity lies on a decimal grid
``1/S`` with ``S`` in :data:`SCALES` (generated instances: ``S = 1000``), they use
``round(x * S)`` and are exact for the float instance. Otherwise they use ``S = 10**6`` with
weights rounded *up*, the capacity *down* and values to the nearest unit: the chosen items then
always fit, and they are optimal for that rounded instance (within about ``N * 1e-6`` of the
float optimum's value).

Every solver returns the chosen item indices, sorted, as ``int64``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from symco.core.errors import InvalidInstanceError
from symco.core.solver import Solver
from symco.problems.kp.problem import WEIGHT_ATOL

SCALES = (1_000, 10_000, 100_000, 1_000_000)
"""Decimal grids tried, finest last; the last one is also the off-grid fallback."""

DP_MAX_CELLS = 50_000_000
"""The DP keeps an ``N x (capacity + 1)`` table of choices: refuse larger ones."""


def _single(instance: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, float]:
    """``(weights (N,), values (N,), capacity)`` of a batch of one."""
    weights = np.asarray(instance["weights"], dtype=np.float64)
    if weights.ndim != 2 or weights.shape[0] != 1:
        raise InvalidInstanceError(
            f"a solver takes one instance (weights (1,N)), got {weights.shape}"
        )
    values = np.asarray(instance["values"], dtype=np.float64).reshape(-1)
    capacity = float(np.asarray(instance["capacity"], dtype=np.float64).reshape(-1)[0])
    return weights[0], values, capacity


def _on_grid(x: np.ndarray, scale: int) -> bool:
    y = x * scale
    return bool(np.all(np.abs(y - np.rint(y)) <= 1e-6 * np.maximum(1.0, np.abs(y))))


def integer_instance(
    weights: np.ndarray, values: np.ndarray, capacity: float
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """``(weights, values, capacity, scale)`` as non-negative integers (see the module doc).

    The capacity is clamped to the total weight (a larger one changes nothing).
    """
    everything = np.concatenate([weights, values, [capacity]])
    scale = next((s for s in SCALES if _on_grid(everything, s)), None)
    if scale is not None:
        w = np.rint(weights * scale).astype(np.int64)
        v = np.rint(values * scale).astype(np.int64)
        c = int(np.rint(capacity * scale))
    else:
        scale = SCALES[-1]
        w = np.ceil(weights * scale - 1e-9).astype(np.int64)
        v = np.rint(values * scale).astype(np.int64)
        c = int(np.floor(capacity * scale + 1e-9))
    return w, v, min(c, int(w.sum())), scale


class OrToolsKP(Solver):
    """OR-Tools' knapsack solver (branch and bound): proven optimal on the integer instance.

    With a ``time_limit`` the search may stop early (then not proven optimal); by default it
    runs to completion (milliseconds for generated KP100-KP1000).
    """

    name: ClassVar[str] = "ortools"
    problem: ClassVar[str] = "kp"
    strength: ClassVar[int] = 100
    exact: ClassVar[bool] = True
    requires: ClassVar[tuple[str, ...]] = ("ortools",)

    def solve(self, instance: Mapping[str, np.ndarray]) -> np.ndarray:
        """The chosen items, sorted."""
        from ortools.algorithms.python import knapsack_solver

        weights, values, capacity = _single(instance)
        w, v, c, _ = integer_instance(weights, values, capacity)
        solver = knapsack_solver.KnapsackSolver(
            knapsack_solver.SolverType.KNAPSACK_MULTIDIMENSION_BRANCH_AND_BOUND_SOLVER, "kp"
        )
        if self.time_limit is not None:
            solver.set_time_limit(float(self.time_limit))
        solver.init(v.tolist(), [w.tolist()], [c])
        solver.solve()
        chosen = [i for i in range(len(w)) if solver.best_solution_contains(i)]
        return np.array(chosen, dtype=np.int64)


class DynamicProgrammingKP(Solver):
    """Dynamic programming over the integer capacity, O(N C) with NumPy: proven optimal on the
    integer instance; refuses tables of more than :data:`DP_MAX_CELLS` cells."""

    name: ClassVar[str] = "dp"
    problem: ClassVar[str] = "kp"
    strength: ClassVar[int] = 90
    exact: ClassVar[bool] = True

    def solve(self, instance: Mapping[str, np.ndarray]) -> np.ndarray:
        """The chosen items, sorted (ties: fewer items from the end of the list)."""
        weights, values, capacity = _single(instance)
        w, v, c, scale = integer_instance(weights, values, capacity)
        n = len(w)
        if n * (c + 1) > DP_MAX_CELLS:
            raise InvalidInstanceError(
                f"solver 'dp' needs a table of {n} x {c + 1} cells (capacity {capacity!r} at"
                f" scale {scale}), more than {DP_MAX_CELLS}; use the 'ortools' solver"
            )
        best = np.zeros(c + 1, dtype=np.int64)  # best[k]: most value within weight k
        take = np.zeros((n, c + 1), dtype=bool)
        for i in range(n):
            if w[i] > c:
                continue
            cand = best[: c + 1 - w[i]] + v[i]
            better = cand > best[w[i] :]
            best[w[i] :] = np.where(better, cand, best[w[i] :])
            take[i, w[i] :] = better
        chosen, k = [], c
        for i in range(n - 1, -1, -1):
            if take[i, k]:
                chosen.append(i)
                k -= int(w[i])
        return np.array(sorted(chosen), dtype=np.int64)


class GreedyKP(Solver):
    """Greedy by value/weight ratio: add items in decreasing ratio while they fit, then keep the
    better of that and the single most valuable item that fits (a 1/2-approximation)."""

    name: ClassVar[str] = "greedy"
    problem: ClassVar[str] = "kp"
    strength: ClassVar[int] = 1
    heuristic: ClassVar[bool] = True

    def solve(self, instance: Mapping[str, np.ndarray]) -> np.ndarray:
        """The chosen items, sorted."""
        weights, values, capacity = _single(instance)
        order = np.lexsort((np.arange(len(weights)), -(values / weights)))
        chosen, load = [], 0.0
        for i in order:
            if load + weights[i] <= capacity + WEIGHT_ATOL:
                chosen.append(int(i))
                load += float(weights[i])
        fits = np.flatnonzero(weights <= capacity + WEIGHT_ATOL)
        if fits.size:
            single = int(fits[np.argmax(values[fits])])
            if values[single] > values[chosen].sum():
                chosen = [single]
        return np.array(sorted(chosen), dtype=np.int64)
