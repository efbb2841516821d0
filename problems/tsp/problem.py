"""TSP instances, tours and TSPLIB files.

Instances: ``coords`` ``(B, N, 2)`` float, optional ``euc_2d`` ``(B,)`` bool (TSPLIB ``EUC_2D``:
each edge length rounded to the nearest integer, as in TSPLIB's published optima). A solution is
a tour: a permutation of ``0..N-1`` (the closing edge back to the first node is implied).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from symco.core.errors import DataFileError, InfeasibleSolutionError, InvalidInstanceError
from symco.core.problem import ArraySpec, Instances, Problem
from symco.problems import tsplib
from symco.problems.geometry import edge_lengths, edge_lengths_torch
from symco.problems.routing import read_solution_file, write_files

if TYPE_CHECKING:  # torch is imported where it is used: ``symco --help`` must not load it
    from torch import Tensor


def _uniform(num: int, size: int, rng: np.random.Generator) -> np.ndarray:
    return rng.random((num, size, 2))


def _clustered(num: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian clusters: per instance 3-8 centres uniform in the unit square, each point drawn
    around a random centre with standard deviation 0.05, clipped to the square."""
    out = np.empty((num, size, 2))
    for b in range(num):
        k = int(rng.integers(3, 9))
        centres = rng.random((k, 2))
        which = rng.integers(0, k, size)
        out[b] = np.clip(centres[which] + 0.05 * rng.standard_normal((size, 2)), 0.0, 1.0)
    return out


class TSP(Problem):
    """Symmetric Euclidean TSP in the plane."""

    name: ClassVar[str] = "tsp"
    sense = "min"
    min_size: ClassVar[int] = 3
    instance_spec: ClassVar[tuple[ArraySpec, ...]] = (
        ArraySpec("coords", ("B", "N", 2), "float", doc="node coordinates (B,N,2)"),
        ArraySpec("euc_2d", ("B",), "bool", optional=True, doc="TSPLIB EUC_2D integer rounding"),
    )
    solution_key: ClassVar[str] = "tours"
    objective_key: ClassVar[str] = "costs"
    distributions: ClassVar[tuple[str, ...]] = ("uniform", "clustered")
    file_suffixes: ClassVar[tuple[str, ...]] = (".tsp",)
    baselines: ClassVar[tuple[str, ...]] = ("farthest", "ortools")
    invariances: ClassVar[dict[str, str]] = {
        "square-dihedral": "coords"
    }  # isometries of the square

    def generate(
        self, num: int, size: int, *, rng: np.random.Generator, distribution: str | None = None
    ) -> Instances:
        """``num`` instances of ``size`` nodes: ``uniform`` in the unit square or ``clustered``."""
        if size < self.min_size:
            raise InvalidInstanceError(
                f"size: TSP needs at least {self.min_size} nodes, got {size}"
            )
        distribution = distribution or self.distributions[0]
        samplers = {"uniform": _uniform, "clustered": _clustered}
        if distribution not in samplers:
            raise InvalidInstanceError(
                f"unknown TSP distribution '{distribution}'; known: {', '.join(self.distributions)}"
            )
        return {"coords": samplers[distribution](num, size, rng)}

    def objective(
        self, instances: Mapping[str, np.ndarray], solutions: Sequence[np.ndarray] | np.ndarray
    ) -> np.ndarray:
        """Closed tour lengths, ``(B,)``."""
        coords = np.asarray(instances["coords"], dtype=np.float64)  # (B, N, 2)
        tours = np.asarray(solutions, dtype=np.int64).reshape(coords.shape[0], -1)  # (B, N)
        euc = instances.get("euc_2d", False)
        return edge_lengths(coords, tours, euc).sum(axis=1)

    def check_solution(
        self, instances: Mapping[str, np.ndarray], solutions: Sequence[np.ndarray] | np.ndarray
    ) -> None:
        """Every tour must visit each node exactly once."""
        n = self.size(instances)
        for i, tour in enumerate(solutions):
            t = np.asarray(tour)
            if t.shape != (n,) or not np.array_equal(np.sort(t), np.arange(n)):
                missing = sorted(set(range(n)) - set(t.tolist()))[:5]
                raise InfeasibleSolutionError(
                    f"tour {i} is not a permutation of 0..{n - 1}"
                    f" (length {t.size}, missing {missing}{'...' if len(missing) == 5 else ''})"
                )

    def objective_torch(self, instances: Mapping[str, Tensor], solutions: Tensor) -> Tensor:
        """Closed tour lengths ``(B,)`` of ``solutions`` ``(B, N)``, in torch on the tensors'
        device and in the dtype of ``coords`` (``euc_2d`` rounds each edge as :meth:`objective`)."""
        coords = instances["coords"]
        tours = solutions.long().to(coords.device).clamp_min(0)  # a tour has no padding
        return edge_lengths_torch(coords, tours, instances.get("euc_2d")).sum(dim=1)

    def feasible_torch(self, instances: Mapping[str, Tensor], solutions: Tensor) -> Tensor:
        """``(B,)`` bool: each row is a permutation of ``0..N-1`` (as :meth:`check_solution`)."""
        import torch

        n = instances["coords"].shape[1]
        s = solutions.long()
        if s.shape[1] != n:
            return torch.zeros(s.shape[0], dtype=torch.bool, device=s.device)
        return (s.sort(dim=1).values == torch.arange(n, device=s.device)).all(dim=1)

    def pack_solutions(self, solutions: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack([np.asarray(s, dtype=np.int64) for s in solutions])

    def unpack_solutions(self, packed: np.ndarray) -> list[np.ndarray]:
        return [np.asarray(row, dtype=np.int64) for row in packed]

    # -- TSPLIB ----------------------------------------------------------------------------------

    def read(self, path: Path) -> tuple[Instances, np.ndarray | None]:
        """Read a TSPLIB ``.tsp`` file (``EUC_2D`` or ``EXACT_2D``-style coordinates).

        A ``NAME.sol`` beside it (VRPLIB solution format: ``Route #1: ...``, ``Cost ...``) or a
        TSPLIB tour file ``NAME.opt.tour`` (``TOUR_SECTION``) gives the reference cost.

        :raises DataFileError: one line naming the file, the line and the offending value for
            anything malformed (a coordinate that is missing or not a finite number, node ids
            out of range, repeated or missing against DIMENSION, a missing section, ...).
        """
        path = Path(path)
        lib = tsplib.parse(path, "TSPLIB")
        tsplib.check_type(lib, "TSP")
        kind = tsplib.edge_weight_type(lib, ("EUC_2D", "EXACT_2D"))
        _, dimension = lib.positive_int("DIMENSION", required=False)
        section = lib.section("NODE_COORD_SECTION", "only coordinate instances are supported")
        coords = tsplib.coordinates(lib, section, dimension)
        instances = {"coords": coords[None], "euc_2d": np.array([kind == "EUC_2D"])}
        try:
            self.validate(instances, str(path))
        except InvalidInstanceError as exc:  # too few nodes: the file is what is wrong
            raise DataFileError(str(exc)) from None
        tour_file = path.with_name(path.stem + ".opt.tour")
        if not path.with_suffix(".sol").is_file() and tour_file.is_file():
            return instances, self._read_tour_file(tour_file, instances)
        return instances, self._read_reference(path.with_suffix(".sol"), instances)

    def _read_tour_file(self, path: Path, instances: Instances) -> np.ndarray:
        """The cost of the tour in a TSPLIB ``TOUR_SECTION`` file (1-based nodes, ended by -1)."""
        lib = tsplib.parse(path, "TSPLIB tour")
        section = lib.section("TOUR_SECTION", "the reference tour")
        n = self.size(instances)
        nodes = tsplib.node_list(lib, section, "tour node")
        for line, node in nodes:
            if not 1 <= node <= n:  # also keeps int64 from overflowing
                raise lib.error(line, f"tour node {node} is out of range 1..{n}")
        tour = np.asarray([node - 1 for _, node in nodes], dtype=np.int64)
        try:
            self.check_solution(instances, [tour])
        except InfeasibleSolutionError as exc:
            raise DataFileError(f"{path}: {exc}") from None
        return self.objective(instances, tour[None])

    def _read_reference(self, sol: Path, instances: Instances) -> np.ndarray | None:
        parsed = read_solution_file(sol)
        if parsed is None:
            return None
        if "cost" in parsed:
            return np.array([float(parsed["cost"])])
        routes = parsed.get("routes") or []
        tour = np.concatenate([np.asarray(r) for r in routes]) - 1 if routes else np.array([])
        try:
            self.check_solution(instances, [tour])
        except InfeasibleSolutionError as exc:
            raise DataFileError(f"{sol}: {exc}") from None
        return self.objective(instances, tour[None])

    def write(
        self, path: Path, instances: Mapping[str, np.ndarray], solution: np.ndarray | None = None
    ) -> None:
        """Write a TSPLIB file (and ``NAME.sol`` with the tour when ``solution`` is given)."""
        path = Path(path)
        coords = np.asarray(instances["coords"])[0]
        euc = bool(np.asarray(instances.get("euc_2d", [False]))[0])
        data: dict[str, Any] = {
            "NAME": path.stem,
            "TYPE": "TSP",
            "DIMENSION": len(coords),
            "EDGE_WEIGHT_TYPE": "EUC_2D" if euc else "EXACT_2D",
            "NODE_COORD_SECTION": coords,
        }
        routes, cost = None, None
        if solution is not None:
            routes = [[int(v) + 1 for v in solution]]
            cost = float(self.objective(instances, np.asarray(solution)[None])[0])
        write_files(path, data, routes, cost)
