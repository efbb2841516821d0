"""CVRP instances, routes and CVRPLIB files.

Instances: ``coords`` ``(B, N+1, 2)`` float with the depot first, ``demands`` ``(B, N+1)`` int with
the depot's demand 0, ``capacity`` ``(B,)`` int, optional ``euc_2d`` ``(B,)`` bool (CVRPLIB
``EUC_2D``: each edge rounded to the nearest integer, as in the published costs). The instance
size is the number of customers ``N``.

A solution is a *giant tour*: the routes one after the other, each preceded by the depot ``0``,
e.g. ``[0, 3, 5, 0, 2, 1]`` for the routes ``3-5`` and ``2-1`` (every route starts and ends at the
depot; the closing edges are implied).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from symco.core.errors import DataFileError, InfeasibleSolutionError, InvalidInstanceError
from symco.core.problem import ArraySpec, Instances, Problem
from symco.problems import tsplib
from symco.problems.geometry import as_float_tensor, edge_lengths, edge_lengths_torch
from symco.problems.routing import read_solution_file, write_files

if TYPE_CHECKING:  # torch is imported where it is used: ``symco --help`` must not load it
    from torch import Tensor

CAPACITIES: dict[int, int] = {10: 20, 20: 30, 50: 40, 100: 50, 200: 80, 500: 100, 1000: 250}
"""Vehicle capacity by number of customers (Kool et al. 2019 for 10-100, BQ-NCO for 200-1000);
other sizes take the capacity of the largest listed size below them (20 under 10 customers)."""


def capacity_for(size: int) -> int:
    """The generator's vehicle capacity for ``size`` customers (see :data:`CAPACITIES`)."""
    below = [n for n in CAPACITIES if n <= size]
    return CAPACITIES[max(below)] if below else CAPACITIES[min(CAPACITIES)]


def split_routes(solution: np.ndarray) -> list[np.ndarray]:
    """The routes of a giant tour, each as its customers in order (empty routes dropped)."""
    s = np.asarray(solution, dtype=np.int64)
    s = s[s >= 0]
    cuts = np.flatnonzero(s == 0)
    parts = (part[part != 0] for part in np.split(s, cuts))
    return [r for r in parts if r.size]


def join_routes(routes: Sequence[Sequence[int]]) -> np.ndarray:
    """The giant tour ``[0, route 1..., 0, route 2..., ...]`` of ``routes`` (customer indices)."""
    out: list[int] = []
    for r in routes:
        if len(r):
            out += [0, *map(int, r)]
    return np.asarray(out, dtype=np.int64)


def _check_depot(lib: tsplib.LibFile) -> None:
    """A ``DEPOT_SECTION``, if there is one, names node 1 and nothing else (node 1 is the
    depot without one)."""
    section = lib.sections.get("DEPOT_SECTION")
    if section is None:
        return
    entries = tsplib.node_list(lib, section, "depot")
    depots = [node for _, node in entries]
    if depots != [1]:
        raise lib.error(
            entries[0][0] if entries else section.line,
            f"DEPOT_SECTION must name node 1 as the only depot, got {depots or 'none'}",
        )


def _read_demands(
    lib: tsplib.LibFile,
    section: tsplib.Section,
    nodes: tuple[int, str],
    capacity: tuple[int | None, int],
) -> np.ndarray:
    """``(n,)`` demands of a ``DEMAND_SECTION``: 0 at the depot (node 1), ``1..capacity`` at
    every customer. ``nodes`` is ``(n, where n comes from)``, ``capacity`` ``(line, value)``."""
    cap_line, cap = capacity
    demands = np.zeros(nodes[0], dtype=np.int64)
    for node, row, value in tsplib.node_integers(lib, section, *nodes, "demand"):
        if node == 0 and value != 0:
            raise lib.error(row.line, f"the depot (node 1) must have demand 0, got {value}")
        if node > 0 and value <= 0:
            raise lib.error(
                row.line, f"demand of customer {node + 1} must be positive, got {value}"
            )
        if value > cap:
            raise lib.error(
                row.line,
                f"demand {value} of node {node + 1} is larger than the capacity {cap}"
                f" (CAPACITY, line {cap_line})",
            )
        demands[node] = value
    return demands


class CVRP(Problem):
    """Capacitated vehicle routing from one depot, unlimited identical vehicles."""

    name: ClassVar[str] = "cvrp"
    sense = "min"
    min_size: ClassVar[int] = 1
    fixed_nodes: ClassVar[int] = 1
    instance_spec: ClassVar[tuple[ArraySpec, ...]] = (
        ArraySpec("coords", ("B", "N", 2), "float", doc="depot then customers (B,N+1,2)"),
        ArraySpec("demands", ("B", "N"), "int", doc="demand per node, depot 0 (B,N+1)"),
        ArraySpec("capacity", ("B",), "int", doc="vehicle capacity (B,)"),
        ArraySpec("euc_2d", ("B",), "bool", optional=True, doc="CVRPLIB EUC_2D integer rounding"),
    )
    solution_key: ClassVar[str] = "tours"
    objective_key: ClassVar[str] = "costs"
    file_suffixes: ClassVar[tuple[str, ...]] = (".vrp",)
    baselines: ClassVar[tuple[str, ...]] = ("savings", "ortools")
    invariances: ClassVar[dict[str, str]] = {
        "square-dihedral": "coords"
    }  # isometries of the square

    def generate(
        self, num: int, size: int, *, rng: np.random.Generator, distribution: str | None = None
    ) -> Instances:
        """``num`` instances of ``size`` customers: depot and customers uniform in the unit square,
        demands uniform in 1..9, capacity from :data:`CAPACITIES` (the BQ-NCO distribution)."""
        if size < self.min_size:
            raise InvalidInstanceError(f"size: CVRP needs at least 1 customer, got {size}")
        if (distribution or "uniform") != "uniform":
            raise InvalidInstanceError(
                f"unknown CVRP distribution '{distribution}'; known: uniform"
            )
        coords = rng.random((num, size + 1, 2))
        demands = rng.integers(1, 10, (num, size + 1))
        demands[:, 0] = 0
        return {
            "coords": coords,
            "demands": demands.astype(np.int64),
            "capacity": np.full(num, capacity_for(size), dtype=np.int64),
        }

    def check_values(self, instances: Mapping[str, Any], where: str) -> None:
        """Positive capacity; depot demand 0; customer demands in ``1..capacity``."""
        demands = np.asarray(instances["demands"])
        cap = np.asarray(instances["capacity"])
        for name, bad in (
            ("capacity", cap <= 0),
            ("demands", demands[:, 0] != 0),
            ("demands", demands[:, 1:] <= 0),
            ("demands", demands > cap[:, None]),
        ):
            if bad.any():
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                if name == "capacity":
                    msg = f"capacity must be positive, got {cap[idx].item()} at index {idx}"
                elif bad.ndim == 1:
                    msg = f"the depot (node 0) must have demand 0, got {demands[idx[0], 0].item()} in instance {idx[0]}"
                else:
                    b, i = idx[0], idx[1] + (demands.shape[1] - bad.shape[1])
                    d, c = demands[b, i].item(), cap[b].item()
                    msg = (
                        f"demand of node {i} in instance {b} is {d}, larger than the capacity {c}"
                        if d > c
                        else f"demand of customer {i} in instance {b} must be positive, got {d}"
                    )
                raise InvalidInstanceError(f"{where}: '{name}': {msg}")

    # -- solutions -------------------------------------------------------------------------------

    def objective(
        self, instances: Mapping[str, np.ndarray], solutions: Sequence[np.ndarray] | np.ndarray
    ) -> np.ndarray:
        """Total length of the routes, ``(B,)``."""
        coords = np.asarray(instances["coords"], dtype=np.float64)  # (B, N+1, 2)
        # padding (-1) and repeated depots become depot->depot edges of length 0
        tours = np.maximum(self.pack_solutions(list(solutions)), 0)  # (B, L)
        if tours.shape[1] == 0:
            return np.zeros(len(coords))
        return edge_lengths(coords, tours, instances.get("euc_2d", False)).sum(axis=1)

    def check_solution(
        self, instances: Mapping[str, np.ndarray], solutions: Sequence[np.ndarray] | np.ndarray
    ) -> None:
        """Giant tour starting at the depot, every customer exactly once, each route within capacity."""
        demands = np.asarray(instances["demands"])
        cap = np.asarray(instances["capacity"])
        n = demands.shape[1] - 1
        for i, sol in enumerate(solutions):
            s = np.asarray(sol, dtype=np.int64)
            if s.size and s[0] != 0:
                raise InfeasibleSolutionError(f"solution {i} must start at the depot 0, got {s[0]}")
            visits = np.sort(s[s != 0])
            if not np.array_equal(visits, np.arange(1, n + 1)):
                missing = sorted(set(range(1, n + 1)) - set(visits.tolist()))[:5]
                raise InfeasibleSolutionError(
                    f"solution {i} does not visit each customer 1..{n} exactly once"
                    f" (missing {missing}, {len(visits)} visits)"
                )
            for r, route in enumerate(split_routes(s)):
                load = int(demands[i, route].sum())
                if load > cap[i]:
                    raise InfeasibleSolutionError(
                        f"solution {i}: route {r + 1} carries {load} > capacity {int(cap[i])}"
                    )

    def objective_torch(self, instances: Mapping[str, Tensor], solutions: Tensor) -> Tensor:
        """Total route lengths ``(B,)`` of packed giant tours ``(B, L)``, in torch on the tensors'
        device and in the dtype of ``coords``; ``-1`` reads as the depot, as in :meth:`objective`."""
        import torch

        coords = as_float_tensor(instances["coords"])
        tours = solutions.long().to(coords.device).clamp_min(0)  # (B, L)
        if tours.shape[1] == 0:
            return torch.zeros(coords.shape[0], dtype=coords.dtype, device=coords.device)
        return edge_lengths_torch(coords, tours, instances.get("euc_2d")).sum(dim=1)

    def feasible_torch(self, instances: Mapping[str, Tensor], solutions: Tensor) -> Tensor:
        """``(B,)`` bool, as :meth:`check_solution`: ignoring ``-1`` entries, the giant tour starts
        at the depot, holds only nodes ``0..N``, serves each customer exactly once and no route
        carries more than the capacity."""
        import torch

        demands, capacity = instances["demands"], instances["capacity"]
        b, n1 = demands.shape
        s = solutions.long().to(demands.device)
        s = torch.cat([s, s.new_full((b, 1), -1)], dim=1)  # (B, L+1): never empty
        kept = s >= 0
        first = torch.gather(s, 1, kept.long().argmax(dim=1, keepdim=True))[:, 0]  # (B,)
        ok = ~kept.any(dim=1) | (first == 0)  # starts at the depot
        ok &= ~(s >= n1).any(dim=1)
        customer = kept & (s > 0) & (s < n1)  # (B, L)
        at = torch.where(customer, s, 0)
        visits = torch.zeros(b, n1, dtype=torch.long, device=s.device)
        visits.scatter_add_(1, at, customer.long())
        ok &= (visits[:, 1:] == 1).all(dim=1)
        route = (s == 0).long().cumsum(dim=1)  # (B, L) route number of each entry
        demand = torch.where(customer, torch.gather(demands, 1, at), 0)  # (B, L)
        load = torch.zeros(b, s.shape[1] + 1, dtype=demands.dtype, device=s.device)
        load.scatter_add_(1, route, demand)
        return ok & (load <= capacity[:, None]).all(dim=1)

    def solution_to_json(self, solution: np.ndarray) -> Any:
        """The routes, each a list of customer indices ``1..N``."""
        return [[int(v) for v in r] for r in split_routes(solution)]

    # -- CVRPLIB ---------------------------------------------------------------------------------

    def read(self, path: Path) -> tuple[Instances, np.ndarray | None]:
        """Read a CVRPLIB ``.vrp`` file (one depot, ``EUC_2D`` or exact coordinates); a
        ``NAME.sol`` beside it (``Route #k: ...``, ``Cost C``) gives the reference cost.

        :raises DataFileError: one line naming the file, the line and the offending value for
            anything malformed (a coordinate or demand that is missing or not a number, node ids
            out of range, repeated or missing against DIMENSION, a missing section or CAPACITY, a
            depot other than node 1, a demand over the capacity, ...).
        """
        path = Path(path)
        lib = tsplib.parse(path, "CVRPLIB")
        tsplib.check_type(lib, "CVRP")
        kind = tsplib.edge_weight_type(lib, ("EUC_2D", "EXACT_2D"))
        _, dimension = lib.positive_int("DIMENSION", required=False)
        cap_line, capacity = lib.positive_int("CAPACITY", required=True)
        coord_section = lib.section("NODE_COORD_SECTION", "a CVRP needs coordinates")
        demand_section = lib.section("DEMAND_SECTION", "a CVRP needs demands")
        _check_depot(lib)
        coords = tsplib.coordinates(lib, coord_section, dimension)
        source = (
            f"NODE_COORD_SECTION has {len(coords)} nodes"
            if dimension is None
            else f"DIMENSION is {dimension}"
        )
        demands = _read_demands(lib, demand_section, (len(coords), source), (cap_line, capacity))
        instances = {
            "coords": coords[None],
            "demands": demands[None],
            "capacity": np.array([capacity], dtype=np.int64),
            "euc_2d": np.array([kind == "EUC_2D"]),
        }
        try:
            self.validate(instances, str(path))
        except InvalidInstanceError as exc:  # a depot without customers: the file is wrong
            raise DataFileError(str(exc)) from None
        return instances, self._read_reference(path.with_suffix(".sol"), instances)

    def _read_reference(self, sol: Path, instances: Instances) -> np.ndarray | None:
        parsed = read_solution_file(sol)
        if parsed is None:
            return None
        routes = parsed.get("routes") or []
        if routes:
            tour = join_routes(routes)  # CVRPLIB numbers customers 1..N, the depot 0
            try:
                self.check_solution(instances, [tour])
            except InfeasibleSolutionError as exc:
                raise DataFileError(f"{sol}: {exc}") from None
            if "cost" not in parsed:
                return self.objective(instances, [tour])
        if "cost" in parsed:
            return np.array([float(parsed["cost"])])
        return None

    def write(
        self, path: Path, instances: Mapping[str, np.ndarray], solution: np.ndarray | None = None
    ) -> None:
        """Write a CVRPLIB file (and ``NAME.sol`` with the routes when ``solution`` is given)."""
        path = Path(path)
        coords = np.asarray(instances["coords"])[0]
        euc = bool(np.asarray(instances.get("euc_2d", [False]))[0])
        data: dict[str, Any] = {
            "NAME": path.stem,
            "TYPE": "CVRP",
            "DIMENSION": len(coords),
            "EDGE_WEIGHT_TYPE": "EUC_2D" if euc else "EXACT_2D",
            "CAPACITY": int(np.asarray(instances["capacity"])[0]),
            "NODE_COORD_SECTION": coords,
            "DEMAND_SECTION": np.asarray(instances["demands"])[0],
            "DEPOT_SECTION": np.array([1]),
        }
        routes, cost = None, None
        if solution is not None:
            routes = [r.tolist() for r in split_routes(solution)]
            cost = float(self.objective(instances, [np.asarray(solution)])[0])
        write_files(path, data, routes, cost)
