"""TSP solvers: exact Held-Karp (tests), OR-Tools routing, LKH-3 (elkai), HGS (pyvrp).

All integer solvers see the same integer distances (:func:`~symco.problems.geometry.int_distance_matrix`):
TSPLIB nint for ``EUC_2D`` files, unit-square instances scaled by 1e5.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from symco.core.errors import InvalidInstanceError
from symco.core.solver import Solver
from symco.problems.geometry import distance_matrix, int_distance_matrix, int_scale
from symco.problems.routing import hgs_routes


def _single(instance: Mapping[str, np.ndarray]) -> tuple[np.ndarray, bool]:
    coords = np.asarray(instance["coords"], dtype=np.float64)
    if coords.ndim != 3 or coords.shape[0] != 1:
        raise InvalidInstanceError(
            f"a solver takes one instance (coords (1,N,2)), got {coords.shape}"
        )
    euc = bool(np.asarray(instance.get("euc_2d", [False])).reshape(-1)[0])
    return coords[0], euc


def _rotate_to_zero(tour: list[int] | np.ndarray) -> np.ndarray:
    t = np.asarray(tour, dtype=np.int64)
    return np.roll(t, -int(np.argmax(t == 0)))


class ExactTSP(Solver):
    """Held-Karp dynamic programming, O(2^N N^2): proven optimal, for N <= 12 (tests, tiny data)."""

    name: ClassVar[str] = "exact"
    problem: ClassVar[str] = "tsp"
    strength: ClassVar[int] = 100
    exact: ClassVar[bool] = True
    max_size: ClassVar[int | None] = 12

    def solve(self, instance: Mapping[str, np.ndarray]) -> np.ndarray:
        coords, euc = _single(instance)
        n = len(coords)
        self.check_size(n)
        d = distance_matrix(coords, euc)
        m = n - 1  # node 0 is the fixed start; subsets range over nodes 1..n-1
        full = 1 << m
        cost = np.full((full, m), np.inf)
        parent = np.full((full, m), -1, dtype=np.int64)
        cost[1 << np.arange(m), np.arange(m)] = d[0, 1:]
        inner = d[1:, 1:]  # (m, m)
        for mask in range(1, full):
            row = cost[mask]
            if not np.isfinite(row).any():
                continue
            cand = row[:, None] + inner  # (m, m): last j -> next k
            best_j = cand.argmin(axis=0)
            best = cand[best_j, np.arange(m)]
            for k in range(m):
                if mask >> k & 1:
                    continue
                nxt = mask | (1 << k)
                if best[k] < cost[nxt, k]:
                    cost[nxt, k] = best[k]
                    parent[nxt, k] = best_j[k]
        last = int(np.argmin(cost[full - 1] + d[1:, 0]))
        tour, mask = [], full - 1
        while last >= 0:
            tour.append(last + 1)
            last, mask = int(parent[mask, last]), mask & ~(1 << last)
        return np.array([0, *tour[::-1]], dtype=np.int64)


class OrToolsTSP(Solver):
    """OR-Tools routing: path-cheapest-arc start, guided local search until the time limit."""

    name: ClassVar[str] = "ortools"
    problem: ClassVar[str] = "tsp"
    strength: ClassVar[int] = 10
    deterministic: ClassVar[bool] = False
    requires: ClassVar[tuple[str, ...]] = ("ortools",)
    default_time_limit: ClassVar[float] = 2.0

    def solve(self, instance: Mapping[str, np.ndarray]) -> np.ndarray:
        from ortools.constraint_solver import pywrapcp, routing_enums_pb2

        coords, euc = _single(instance)
        n = len(coords)
        dist = int_distance_matrix(coords, euc)
        manager = pywrapcp.RoutingIndexManager(n, 1, 0)
        routing = pywrapcp.RoutingModel(manager)
        transit = routing.RegisterTransitMatrix(dist.tolist())
        routing.SetArcCostEvaluatorOfAllVehicles(transit)
        params = pywrapcp.DefaultRoutingSearchParameters()
        params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
        params.local_search_metaheuristic = (
            routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
        )
        limit = self.time_limit or self.default_time_limit
        params.time_limit.FromMilliseconds(max(1, int(limit * 1000)))
        solution = routing.SolveWithParameters(params)
        if solution is None:
            raise RuntimeError("OR-Tools found no TSP tour (this should not happen)")
        tour, index = [], routing.Start(0)
        while not routing.IsEnd(index):
            tour.append(manager.IndexToNode(index))
            index = solution.Value(routing.NextVar(index))
        return _rotate_to_zero(tour)


class LKHTSP(Solver):
    """LKH-3 (Helsgaun) through elkai: one run of LKH's default trials; academic licence only.

    From :attr:`popmusic_from` nodes the candidate edges come from POPMUSIC with a short
    subgradient ascent (``INITIAL_PERIOD = 100``): LKH's default alpha-nearness preprocessing is
    quadratic and not bounded by ``TIME_LIMIT`` (about 190 s alone on a uniform TSP10k here),
    POPMUSIC's is near-linear (a uniform TSP10k: 40 s with ``TIME_LIMIT = 30``, the tour within
    0.01% of the one after 120 s). ``TIME_LIMIT`` bounds the search after the preprocessing.
    """

    name: ClassVar[str] = "lkh"
    problem: ClassVar[str] = "tsp"
    strength: ClassVar[int] = 30
    requires: ClassVar[tuple[str, ...]] = ("elkai",)
    install_hint: ClassVar[str] = (
        "pip install 'symco[lkh]' (LKH-3 is free for academic, non-commercial use)"
    )

    popmusic_from: ClassVar[int] = 5000
    """Instances of at least this many nodes get POPMUSIC candidate sets."""

    def __init__(self, time_limit: float | None = None, seed: int = 0, runs: int = 1) -> None:
        """:param runs: independent LKH runs; the best tour is kept."""
        super().__init__(time_limit, seed)
        self.runs = runs

    def solve(self, instance: Mapping[str, np.ndarray]) -> np.ndarray:
        self.ensure_available()
        from elkai import _elkai  # the public wrappers cannot pass SEED / TIME_LIMIT

        coords, euc = _single(instance)
        n = len(coords)
        pts = coords if euc else coords * int_scale(coords)
        params = (
            f"RUNS = {self.runs}\nSEED = {self.seed + 1}\nTRACE_LEVEL = 0\nPROBLEM_FILE = :stdin:\n"
        )
        if self.time_limit is not None:
            params += f"TIME_LIMIT = {self.time_limit}\n"
        if n >= self.popmusic_from:
            params += "CANDIDATE_SET_TYPE = POPMUSIC\nINITIAL_PERIOD = 100\n"
        # EUC_2D: LKH rounds each distance to nint, exactly TSPLIB's rule (and ours, after scaling).
        lines = [f"TYPE : TSP\nDIMENSION : {n}\nEDGE_WEIGHT_TYPE : EUC_2D\nNODE_COORD_SECTION"]
        lines += [f"{i + 1} {x!r} {y!r}" for i, (x, y) in enumerate(pts.tolist())]
        tour = _elkai.solve_problem(params, "\n".join(lines) + "\nEOF\n")
        return _rotate_to_zero(np.asarray(tour, dtype=np.int64) - 1)


class HGSTSP(Solver):
    """PyVRP's hybrid genetic search on the TSP as a one-vehicle VRP; stops after
    ``no_improvement`` iterations without a better tour (deterministic for a seed), or, with a
    time limit, at the time limit."""

    name: ClassVar[str] = "hgs"
    problem: ClassVar[str] = "tsp"
    strength: ClassVar[int] = 20
    requires: ClassVar[tuple[str, ...]] = ("pyvrp",)

    def __init__(
        self, time_limit: float | None = None, seed: int = 0, no_improvement: int = 1000
    ) -> None:
        super().__init__(time_limit, seed)
        self.no_improvement = no_improvement

    def reproducible(self) -> bool:
        """Deterministic for a seed unless a time limit makes the result depend on the load."""
        return self.time_limit is None

    def solve(self, instance: Mapping[str, np.ndarray]) -> np.ndarray:
        coords, euc = _single(instance)
        (visits,) = hgs_routes(coords, euc, no_improvement=self.no_improvement,
                               time_limit=self.time_limit, seed=self.seed)  # fmt: skip
        return np.array([0, *visits], dtype=np.int64)


class FarthestInsertionTSP(Solver):
    """Farthest insertion: start from the two farthest-apart nodes, repeatedly insert the node
    farthest from the tour where it lengthens the tour least. O(N^2) with NumPy; a classic
    construction baseline (about 7-8% above optimal on uniform TSP100)."""

    name: ClassVar[str] = "farthest"
    problem: ClassVar[str] = "tsp"
    strength: ClassVar[int] = 1
    heuristic: ClassVar[bool] = True

    def solve(self, instance: Mapping[str, np.ndarray]) -> np.ndarray:
        coords, euc = _single(instance)
        n = len(coords)
        d = distance_matrix(coords, euc)
        i, j = np.unravel_index(int(np.argmax(d)), d.shape)
        tour = [int(i), int(j)]
        in_tour = np.zeros(n, dtype=bool)
        in_tour[tour] = True
        dist_to_tour = np.minimum(d[i], d[j])  # (N,) distance of each node to the tour
        for _ in range(n - 2):
            cand = np.where(in_tour, -1.0, dist_to_tour)
            k = int(np.argmax(cand))
            t = np.asarray(tour)
            nxt = np.roll(t, -1)
            cost = (
                d[t, k] + d[k, nxt] - d[t, nxt]
            )  # (len(tour),) insertion cost after each position
            pos = int(np.argmin(cost))
            tour.insert(pos + 1, k)
            in_tour[k] = True
            dist_to_tour = np.minimum(dist_to_tour, d[k])
        return _rotate_to_zero(tour)
