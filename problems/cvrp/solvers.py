"""CVRP solvers: exact subset DP (tests), OR-Tools routing, HGS (pyvrp), Clarke-Wright savings.

Integer solvers see :func:`~symco.problems.geometry.int_distance_matrix` distances (CVRPLIB nint
for ``EUC_2D`` files, unit-square instances scaled by 1e5).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from symco.core.errors import InvalidInstanceError
from symco.core.solver import Solver
from symco.problems.cvrp.problem import join_routes
from symco.problems.geometry import distance_matrix, int_distance_matrix
from symco.problems.routing import hgs_routes


def _single(instance: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, int, bool]:
    coords = np.asarray(instance["coords"], dtype=np.float64)
    if coords.ndim != 3 or coords.shape[0] != 1:
        raise InvalidInstanceError(
            f"a solver takes one instance (coords (1,N+1,2)), got {coords.shape}"
        )
    demands = np.asarray(instance["demands"], dtype=np.int64)[0]
    cap = int(np.asarray(instance["capacity"]).reshape(-1)[0])
    euc = bool(np.asarray(instance.get("euc_2d", [False])).reshape(-1)[0])
    return coords[0], demands, cap, euc


class ExactCVRP(Solver):
    """Proven optimal for tiny instances: Held-Karp over customer subsets gives the best single
    route of every subset, then a set-partition DP picks the routes, O(2^N N^2 + 3^N)."""

    name: ClassVar[str] = "exact"
    problem: ClassVar[str] = "cvrp"
    strength: ClassVar[int] = 100
    exact: ClassVar[bool] = True
    max_size: ClassVar[int | None] = 10

    def solve(self, instance: Mapping[str, np.ndarray]) -> np.ndarray:
        coords, demands, cap, euc = _single(instance)
        n = len(coords) - 1
        self.check_size(n)
        d = distance_matrix(coords, euc)
        full = 1 << n
        # path[mask, j]: shortest depot -> (customers in mask) -> j path ending at customer j
        path = np.full((full, n), np.inf)
        parent = np.full((full, n), -1, dtype=np.int64)
        path[1 << np.arange(n), np.arange(n)] = d[0, 1:]
        inner = d[1:, 1:]
        for mask in range(1, full):
            row = path[mask]
            if not np.isfinite(row).any():
                continue
            cand = row[:, None] + inner  # last j -> next k
            best_j, best = cand.argmin(axis=0), cand.min(axis=0)
            for k in range(n):
                nxt = mask | (1 << k)
                if not mask >> k & 1 and best[k] < path[nxt, k]:
                    path[nxt, k], parent[nxt, k] = best[k], best_j[k]
        closing = path + d[1:, 0][None]  # (2^N, N)
        route_cost, route_last = closing.min(axis=1), closing.argmin(axis=1)
        load = np.array(
            [demands[1:][[k for k in range(n) if m >> k & 1]].sum() for m in range(full)]
        )
        route_cost[load > cap] = np.inf
        # partition DP: the route holding the lowest customer of `mask`, plus the best of the rest
        best_cost = np.full(full, np.inf)
        choice = np.zeros(full, dtype=np.int64)
        best_cost[0] = 0.0
        for mask in range(1, full):
            low = mask & -mask
            rest = mask ^ low
            sub = rest
            while True:
                r = sub | low
                c = route_cost[r] + best_cost[mask ^ r]
                if c < best_cost[mask]:
                    best_cost[mask], choice[mask] = c, r
                if sub == 0:
                    break
                sub = (sub - 1) & rest
        routes, mask = [], full - 1
        while mask:
            r = int(choice[mask])
            order, m, last = [], r, int(route_last[r])
            while last >= 0:
                order.append(last + 1)
                last, m = int(parent[m, last]), m & ~(1 << last)
            routes.append(order[::-1])
            mask ^= r
        return join_routes(routes)


class OrToolsCVRP(Solver):
    """OR-Tools routing with a capacity dimension: savings start, guided local search until the
    time limit. The fleet is bounded by twice the trivial lower bound plus slack (unused vehicles
    cost nothing)."""

    name: ClassVar[str] = "ortools"
    problem: ClassVar[str] = "cvrp"
    strength: ClassVar[int] = 10
    deterministic: ClassVar[bool] = False
    requires: ClassVar[tuple[str, ...]] = ("ortools",)
    default_time_limit: ClassVar[float] = 2.0

    def solve(self, instance: Mapping[str, np.ndarray]) -> np.ndarray:
        from ortools.constraint_solver import pywrapcp, routing_enums_pb2

        coords, demands, cap, euc = _single(instance)
        n = len(coords) - 1
        dist = int_distance_matrix(coords, euc)
        vehicles = min(n, 2 * math.ceil(demands.sum() / cap) + 2)
        manager = pywrapcp.RoutingIndexManager(n + 1, vehicles, 0)
        routing = pywrapcp.RoutingModel(manager)
        transit = routing.RegisterTransitMatrix(dist.tolist())
        routing.SetArcCostEvaluatorOfAllVehicles(transit)
        demand_cb = routing.RegisterUnaryTransitVector(demands.tolist())
        routing.AddDimensionWithVehicleCapacity(demand_cb, 0, [cap] * vehicles, True, "load")
        params = pywrapcp.DefaultRoutingSearchParameters()
        params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.SAVINGS
        params.local_search_metaheuristic = (
            routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
        )
        limit = self.time_limit or self.default_time_limit
        params.time_limit.FromMilliseconds(max(1, int(limit * 1000)))
        solution = routing.SolveWithParameters(params)
        if solution is None:
            raise RuntimeError("OR-Tools found no CVRP solution within the time limit")
        routes = []
        for v in range(vehicles):
            index, route = solution.Value(routing.NextVar(routing.Start(v))), []
            while not routing.IsEnd(index):
                route.append(manager.IndexToNode(index))
                index = solution.Value(routing.NextVar(index))
            routes.append(route)
        return join_routes(routes)


class HGSCVRP(Solver):
    """PyVRP's hybrid genetic search (Vidal's HGS-CVRP lineage): the strong reference. Stops after
    ``no_improvement`` iterations without a better solution (deterministic for a seed), or, with a
    time limit, at the time limit."""

    name: ClassVar[str] = "hgs"
    problem: ClassVar[str] = "cvrp"
    strength: ClassVar[int] = 30
    requires: ClassVar[tuple[str, ...]] = ("pyvrp",)

    def __init__(
        self, time_limit: float | None = None, seed: int = 0, no_improvement: int = 2000
    ) -> None:
        super().__init__(time_limit, seed)
        self.no_improvement = no_improvement

    def reproducible(self) -> bool:
        """Deterministic for a seed unless a time limit makes the result depend on the load."""
        return self.time_limit is None

    def solve(self, instance: Mapping[str, np.ndarray]) -> np.ndarray:
        coords, demands, cap, euc = _single(instance)
        routes = hgs_routes(coords, euc, demands=demands, capacity=cap, vehicles=len(coords) - 1,
                            no_improvement=self.no_improvement, time_limit=self.time_limit,
                            seed=self.seed)  # fmt: skip
        return join_routes(routes)


class SavingsCVRP(Solver):
    """Clarke-Wright parallel savings: start from one route per customer and merge route ends in
    order of the saving ``d(0,i) + d(0,j) - d(i,j)`` while capacity allows. A classic construction
    baseline (typically 5-10% above the best known)."""

    name: ClassVar[str] = "savings"
    problem: ClassVar[str] = "cvrp"
    strength: ClassVar[int] = 1
    heuristic: ClassVar[bool] = True

    def solve(self, instance: Mapping[str, np.ndarray]) -> np.ndarray:
        coords, demands, cap, euc = _single(instance)
        n = len(coords) - 1
        d = distance_matrix(coords, euc)
        saving = d[0, :, None] + d[0, None, :] - d
        i, j = np.triu_indices(n + 1, k=1)
        keep = i > 0
        i, j = i[keep], j[keep]
        order = np.argsort(-saving[i, j], kind="stable")
        route_of = np.arange(n + 1)  # customer -> route id (its first customer at the start)
        routes: dict[int, list[int]] = {c: [c] for c in range(1, n + 1)}
        load = {c: int(demands[c]) for c in range(1, n + 1)}
        for a, b in zip(i[order].tolist(), j[order].tolist()):
            ra, rb = route_of[a], route_of[b]
            if ra == rb or load[ra] + load[rb] > cap:
                continue
            x, y = routes[ra], routes[rb]
            # merge only at route ends: ... a][b ... after orienting both routes
            if x[-1] != a:
                if x[0] != a:
                    continue
                x.reverse()
            if y[0] != b:
                if y[-1] != b:
                    continue
                y.reverse()
            x.extend(y)
            load[ra] += load.pop(rb)
            for c in routes.pop(rb):
                route_of[c] = ra
        return join_routes(list(routes.values()))
