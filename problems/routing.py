"""Pieces the routing problems share: PyVRP's HGS as a solver, VRPLIB instance and ``.sol`` files."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from symco.core.errors import DataFileError
from symco.problems.geometry import int_distance_matrix


def hgs_routes(
    coords: np.ndarray,
    euc_2d: bool,
    *,
    demands: np.ndarray | None = None,
    capacity: int | None = None,
    vehicles: int = 1,
    no_improvement: int,
    time_limit: float | None,
    seed: int,
) -> list[list[int]]:
    """Routes of PyVRP's hybrid genetic search, node 0 the depot (its visits left out).

    Without ``time_limit``, stops after ``no_improvement`` iterations without a better solution
    (deterministic for a seed); with one, runs until it (an anytime reference: on 10,000
    customers 2,000 iterations without improvement came after 130 s, well short of what 600 s
    find). Without ``demands`` every node but the
    depot is a client with no demand (the TSP as a one-vehicle VRP).
    """
    import pyvrp
    from pyvrp.stop import MaxRuntime, NoImprovement

    n = len(coords)
    dist = int_distance_matrix(coords, euc_2d)
    if demands is None:
        clients = [pyvrp.Client(location=i) for i in range(1, n)]
        vtype = pyvrp.VehicleType(vehicles)
    else:
        clients = [pyvrp.Client(location=i, delivery=[int(demands[i])]) for i in range(1, n)]
        vtype = pyvrp.VehicleType(vehicles, capacity=[int(capacity or 0)])
    data = pyvrp.ProblemData(
        locations=[pyvrp.Location(float(x), float(y)) for x, y in coords],
        clients=clients,
        depots=[pyvrp.Depot(location=0)],
        vehicle_types=[vtype],
        distance_matrices=[dist],
        duration_matrices=[np.zeros_like(dist)],
    )
    stop: Any = NoImprovement(no_improvement) if time_limit is None else MaxRuntime(time_limit)
    result = pyvrp.solve(data, stop=stop, seed=seed, display=False, collect_stats=False)
    # client k of the model is node k+1 of the instance (node 0 is the depot)
    return [[a.idx + 1 for a in r if a.is_client()] for r in result.best.routes()]


def read_solution_file(sol: Path) -> dict[str, Any] | None:
    """A VRPLIB ``.sol`` file's ``routes`` (1-based nodes as written) and ``cost``; ``None`` when
    there is no such file; one clear error line when it is unreadable."""
    import vrplib

    if not sol.is_file():
        return None
    try:
        parsed: dict[str, Any] = vrplib.read_solution(sol)
    except Exception as exc:
        raise DataFileError(
            f"{sol}: not a readable solution file ({type(exc).__name__}: {exc})"
        ) from None
    cost = parsed.get("cost")
    # vrplib keeps a value it cannot read as a number as text ("Cost abc")
    if cost is not None and not (isinstance(cost, (int, float)) and math.isfinite(cost)):
        raise DataFileError(f"{sol}: Cost {cost!r} is not a finite number")
    return parsed


def write_files(
    path: Path, data: dict[str, Any], routes: list[list[int]] | None, cost: float | None
) -> None:
    """Write a VRPLIB/TSPLIB instance (``data``: its sections) and, with ``routes``, ``NAME.sol``;
    both atomically."""
    import vrplib

    from symco.core.dataset import atomic_path

    with atomic_path(path) as tmp:
        vrplib.write_instance(tmp, data)
    if routes is not None:
        with atomic_path(path.with_suffix(".sol")) as tmp:
            vrplib.write_solution(tmp, routes, {"Cost": cost})
