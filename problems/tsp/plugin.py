"""The built-in TSP plugin (entry point ``tsp`` in the ``symco`` group)."""

from __future__ import annotations

from symco import hookimpl
from symco.core.registry import Registry
from symco.problems.tsp.problem import TSP
from symco.problems.tsp.solvers import (
    HGSTSP,
    LKHTSP,
    ExactTSP,
    FarthestInsertionTSP,
    OrToolsTSP,
)


@hookimpl
def symco_register(registry: Registry) -> None:
    registry.add_problem(TSP)
    for solver in (ExactTSP, OrToolsTSP, LKHTSP, HGSTSP, FarthestInsertionTSP):
        registry.add_solver(solver)
    # by path: the improver imports torch, `symco plugins` does not
    registry.add_lazy("improver", "symco.problems.tsp.improvers:TwoOpt", name="2opt", problem="tsp")
    registry.add_lazy("improver", "symco.problems.tsp.improvers:OrOpt", name="oropt", problem="tsp")
    registry.add_lazy(
        "improver", "symco.problems.tsp.local_search:NeighbourLocalSearch", name="ls", problem="tsp"
    )
