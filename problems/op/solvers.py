"""OP solvers: exact dynamic programming over subsets (tests), OR-Tools routing, greedy insertion.

Every solver returns the visited nodes in tour order, depot excluded (``int64``, possibly empty),
and every returned tour is within the *float* budget: the integer model of OR-Tools rounds each
edge length up for its budget dimension, and the result is checked (and repaired) in floats.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from symco.core.errors import InvalidInstanceError
from symco.core.solver import Solver
from symco.problems.geometry import distance_matrix, int_distance_matrix, int_scale
from symco.problems.op.problem import LENGTH_RTOL, tour_lengths

BUDGET_REFINE = 100
"""The budget dimension of OR-Tools counts ``INT_SCALE * BUDGET_REFINE`` units per unit-square
side (1e7): rounding each edge up then wastes at most 1e-7 of budget per edge."""

PRIZE_RESOLUTION = 10_000
"""OR-Tools sees prizes as integers ``round(prize / max_prize * PRIZE_RESOLUTION)`` (exact for
the ``distance`` and ``uniform`` prizes, which lie on a 0.01 grid up to 1)."""


def _single(instance: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, float]:
    """``(coords (N+1,2), prizes (N+1,), max_length)`` of a batch of one."""
    coords = np.asarray(instance["coords"], dtype=np.float64)
    if coords.ndim != 3 or coords.shape[0] != 1:
        raise InvalidInstanceError(
            f"a solver takes one instance (coords (1,N+1,2)), got {coords.shape}"
        )
    prizes = np.asarray(instance["prizes"], dtype=np.float64).reshape(-1)
    budget = float(np.asarray(instance["max_length"], dtype=np.float64).reshape(-1)[0])
    return coords[0], prizes, budget


def _length(coords: np.ndarray, tour: list[int] | np.ndarray) -> float:
    return float(tour_lengths(coords[None], [np.asarray(tour, dtype=np.int64)])[0])


def _repair(coords: np.ndarray, prizes: np.ndarray, budget: float, tour: list[int]) -> list[int]:
    """Drop nodes (least prize per length saved first) until the tour fits the float budget."""
    tour = list(tour)
    limit = budget * (1 + LENGTH_RTOL)
    d = distance_matrix(coords)
    while tour and _length(coords, tour) > limit:
        closed = [0, *tour, 0]
        saved = [
            d[closed[k - 1], closed[k]]
            + d[closed[k], closed[k + 1]]
            - d[closed[k - 1], closed[k + 1]]
            for k in range(1, len(closed) - 1)
        ]
        ratio = [prizes[v] / max(s, 1e-12) for v, s in zip(tour, saved)]
        del tour[int(np.argmin(ratio))]
    return tour


class ExactOP(Solver):
    """Dynamic programming over subsets of nodes, O(2^N N^2): proven optimal, for N <= 12.

    ``best[S, j]`` is the shortest path from the depot through the node set ``S`` ending at ``j``;
    the answer is the set of most prize whose closed tour fits the budget (ties: shortest tour).
    """

    name: ClassVar[str] = "exact"
    problem: ClassVar[str] = "op"
    strength: ClassVar[int] = 100
    exact: ClassVar[bool] = True
    max_size: ClassVar[int | None] = 12

    def solve(self, instance: Mapping[str, np.ndarray]) -> np.ndarray:
        """The optimal tour of the instance (nodes in order, depot excluded)."""
        coords, prizes, budget = _single(instance)
        m = len(coords) - 1
        self.check_size(m)
        limit = budget * (1 + LENGTH_RTOL)
        d = distance_matrix(coords)
        back = d[1:, 0]  # (m,) return edge to the depot
        full = 1 << m
        cost = np.full((full, m), np.inf)
        parent = np.full((full, m), -1, dtype=np.int64)
        start = d[0, 1:]
        ok = start + back <= limit
        cost[(1 << np.arange(m))[ok], np.arange(m)[ok]] = start[ok]
        inner = d[1:, 1:]
        bits = np.arange(m)
        for mask in range(1, full):
            row = cost[mask]
            if not np.isfinite(row).any():
                continue
            cand = row[:, None] + inner  # (j, k): path ending at j, extended to k
            best_j = cand.argmin(axis=0)
            best = cand[best_j, bits]
            free = (mask >> bits) & 1 == 0
            fits = free & (best + back <= limit)
            for k in np.flatnonzero(fits):
                nxt = mask | (1 << int(k))
                if best[k] < cost[nxt, k]:
                    cost[nxt, k] = best[k]
                    parent[nxt, k] = best_j[k]
        closing = cost + back[None, :]  # (full, m)
        length = closing.min(axis=1)
        masks = np.arange(full)
        prize = np.zeros(full)
        for k in range(m):
            prize += ((masks >> k) & 1) * prizes[k + 1]
        prize = np.where(length <= limit, prize, -np.inf)
        prize[0] = 0.0
        length[0] = 0.0
        top = prize.max()
        ties = np.flatnonzero(prize >= top - 1e-12 * max(1.0, abs(top)))
        mask = int(ties[np.argmin(length[ties])])
        if mask == 0:
            return np.zeros(0, dtype=np.int64)
        last = int(np.argmin(closing[mask]))
        tour = []
        while last >= 0:
            tour.append(last + 1)
            last, mask = int(parent[mask, last]), mask & ~(1 << last)
        return np.array(tour[::-1], dtype=np.int64)


class OrToolsOP(Solver):
    """OR-Tools: routing local search from the greedy tour, then CP-SAT on small instances.

    1. Routing, as a prize-collecting TSP with a hard length budget: each node is optional (a
       disjunction whose penalty is its prize, scaled so that one prize unit outweighs any
       difference in tour length, so arc costs only break ties); a ``length`` dimension with edge
       lengths rounded *up* caps the tour at the budget, so what OR-Tools accepts fits the float
       budget too. The search starts from :class:`GreedyOP`'s tour (so it never returns less
       prize) and runs tabu search until the time limit; tabu search beat guided local search on
       OP20-100 in our runs (same time: GLS rarely left the greedy tour's basin on OP).
    2. For ``N <=`` :attr:`cp_sat_max_size`, routing gets only :attr:`routing_share` of the time
       limit and the rest goes to a CP-SAT model (``AddCircuit`` with self-loops for skipped
       nodes, the same rounded-up lengths, arcs pruned by depot -> i -> j -> depot, circuit cuts),
       hinted with the routing tour; it proves OP9 optimal in ~0.05 s, OP12 in 0.1-0.4 s.

    The default time limit is 1 s per instance; the better tour (by prize) is returned.
    """

    name: ClassVar[str] = "ortools"
    problem: ClassVar[str] = "op"
    strength: ClassVar[int] = 10
    deterministic: ClassVar[bool] = False
    requires: ClassVar[tuple[str, ...]] = ("ortools",)
    default_time_limit: ClassVar[float] = 1.0
    cp_sat_max_size: ClassVar[int] = 30
    routing_share: ClassVar[float] = 0.25
    """The part of the time limit routing gets when CP-SAT runs after it."""

    def solve(self, instance: Mapping[str, np.ndarray]) -> np.ndarray:
        """A tour found within the time limit (nodes in order, depot excluded)."""
        coords, prizes, budget = _single(instance)
        n = len(coords)
        limit = self.time_limit or self.default_time_limit
        use_sat = n - 1 <= self.cp_sat_max_size
        model = _IntModel(coords, prizes, budget)
        share = self.routing_share if use_sat else 1.0
        tour = self._routing(model, GreedyOP().solve(instance).tolist(), limit * share)
        if use_sat:
            sat = self._cp_sat(model, tour, limit * (1 - share))
            if sat is not None and prizes[sat].sum() > prizes[tour].sum():
                tour = sat
        return np.array(_repair(coords, prizes, budget, tour), dtype=np.int64)

    def _routing(self, model: _IntModel, start: list[int], limit: float) -> list[int]:
        from ortools.constraint_solver import pywrapcp, routing_enums_pb2

        n = model.n
        manager = pywrapcp.RoutingIndexManager(n, 1, 0)
        routing = pywrapcp.RoutingModel(manager)
        cost_cb = routing.RegisterTransitMatrix(model.arc.tolist())
        routing.SetArcCostEvaluatorOfAllVehicles(cost_cb)
        length_cb = routing.RegisterTransitMatrix(model.up.tolist())
        routing.AddDimension(length_cb, 0, model.capacity, True, "length")
        for i in range(1, n):
            routing.AddDisjunction([manager.NodeToIndex(i)], int(model.units[i]) * model.weight)
        params = pywrapcp.DefaultRoutingSearchParameters()
        params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
        params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.TABU_SEARCH
        params.time_limit.FromMilliseconds(max(1, int(limit * 1000)))
        routing.CloseModelWithParameters(params)
        initial = routing.ReadAssignmentFromRoutes([start], True) if start else None
        solution = (
            routing.SolveFromAssignmentWithParameters(initial, params)
            if initial is not None
            else routing.SolveWithParameters(params)
        )
        if solution is None:
            return start
        tour, index = [], solution.Value(routing.NextVar(routing.Start(0)))
        while not routing.IsEnd(index):
            tour.append(manager.IndexToNode(index))
            index = solution.Value(routing.NextVar(index))
        return tour

    def _cp_sat(self, model: _IntModel, hint: list[int], limit: float) -> list[int] | None:
        from ortools.sat.python import cp_model

        n = model.n
        m = cp_model.CpModel()
        skip = [m.NewBoolVar(f"skip{i}") for i in range(n)]
        arcs: list[tuple[int, int, cp_model.IntVar]] = []
        x: dict[tuple[int, int], cp_model.IntVar] = {}
        for i in range(n):
            arcs.append((i, i, skip[i]))
            if i:  # the depot is skipped only with every node (the empty tour)
                m.AddImplication(skip[0], skip[i])
            for j in range(n):  # an arc is usable only on a tour depot -> i -> j -> depot
                if i != j and model.up[0, i] + model.up[i, j] + model.up[j, 0] <= model.capacity:
                    x[i, j] = m.NewBoolVar(f"x{i}_{j}")
                    arcs.append((i, j, x[i, j]))
        m.AddCircuit(arcs)
        m.Add(sum(int(model.up[i, j]) * v for (i, j), v in x.items()) <= model.capacity)
        m.Maximize(sum(int(model.units[i]) * (1 - skip[i]) for i in range(1, n)))
        if hint:
            seq = [0, *hint, 0]
            used = set(itertools.pairwise(seq))
            for key, v in x.items():
                m.AddHint(v, key in used)
            for i in range(n):
                m.AddHint(skip[i], i != 0 and i not in hint)
        solver = cp_model.CpSolver()
        # deterministic time (about seconds on an idle core), so results do not depend on the
        # machine's load; the wall-clock cap only guards against pathological slowness
        solver.parameters.max_deterministic_time = max(limit, 1e-3)
        solver.parameters.max_time_in_seconds = max(10 * limit, 1.0)
        solver.parameters.num_workers = 1  # labelling runs one solver per worker process
        solver.parameters.random_seed = self.seed
        solver.parameters.linearization_level = 2  # circuit cuts: proves OP12 in ~0.1-0.4 s
        status = solver.Solve(m)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None
        nxt = {i: j for (i, j), v in x.items() if solver.Value(v)}
        tour, k = [], nxt.get(0)
        while k is not None and k != 0:
            tour.append(k)
            k = nxt.get(k)
        return tour


class _IntModel:
    """The integer data shared by the OR-Tools models of one instance.

    ``arc``: tie-break arc costs (:func:`int_distance_matrix`); ``up``: edge lengths in
    ``int_scale * BUDGET_REFINE`` units rounded up, and ``capacity`` the budget in those units
    rounded down (so an integer-feasible tour is float-feasible); ``units``: prizes on a
    :data:`PRIZE_RESOLUTION` grid; ``weight``: the factor that makes one prize unit outweigh the
    arc cost of any feasible tour.
    """

    def __init__(self, coords: np.ndarray, prizes: np.ndarray, budget: float) -> None:
        n = len(coords)
        d = distance_matrix(coords)
        # a budget above the "star" bound 2 * sum d(0, i) admits every node: clamp (no overflow)
        budget_eff = min(budget, 2.02 * float(d[0].sum()))
        scale = int_scale(coords)
        self.n = n
        self.arc = int_distance_matrix(coords)
        self.up = np.ceil(d * (scale * BUDGET_REFINE)).astype(np.int64)
        self.capacity = int(np.floor(budget_eff * (1 + LENGTH_RTOL) * scale * BUDGET_REFINE))
        top = float(prizes[1:].max()) if n > 1 else 0.0
        self.units = (
            np.rint(prizes / top * PRIZE_RESOLUTION).astype(np.int64)
            if top > 0
            else np.zeros(n, dtype=np.int64)
        )
        self.weight = int(np.ceil(budget_eff * scale)) + n + 2


class GreedyOP(Solver):
    """Greedy insertion: repeatedly insert, at its cheapest position, the node of most prize per
    unit of added length among those that still fit the budget. O(N^3) with NumPy; a baseline."""

    name: ClassVar[str] = "greedy"
    problem: ClassVar[str] = "op"
    strength: ClassVar[int] = 1
    heuristic: ClassVar[bool] = True

    def solve(self, instance: Mapping[str, np.ndarray]) -> np.ndarray:
        """The greedy tour (nodes in order, depot excluded)."""
        coords, prizes, budget = _single(instance)
        limit = budget * (1 + LENGTH_RTOL)
        d = distance_matrix(coords)
        closed = [0, 0]
        length = 0.0
        free = np.arange(1, len(coords))
        while free.size:
            t = np.asarray(closed)
            a, b = t[:-1], t[1:]  # edges of the closed tour
            extra = d[a][:, free] + d[free][:, b].T - d[a, b][:, None]  # (edges, free)
            pos = extra.argmin(axis=0)
            add = extra[pos, np.arange(free.size)]
            fits = (length + add <= limit) & (prizes[free] > 0)
            if not fits.any():
                break
            score = np.where(fits, prizes[free] / np.maximum(add, 1e-12), -np.inf)
            k = int(np.argmax(score))
            closed.insert(int(pos[k]) + 1, int(free[k]))
            length += float(add[k])
            free = np.delete(free, k)
        tour = closed[1:-1]
        return np.array(_repair(coords, prizes, budget, tour), dtype=np.int64)
