"""The built-in CVRP plugin (entry point ``cvrp`` in the ``symco`` group)."""

from __future__ import annotations

from symco import hookimpl
from symco.core.registry import Registry
from symco.problems.cvrp.problem import CVRP
from symco.problems.cvrp.solvers import HGSCVRP, ExactCVRP, OrToolsCVRP, SavingsCVRP


@hookimpl
def symco_register(registry: Registry) -> None:
    registry.add_problem(CVRP)
    for solver in (ExactCVRP, OrToolsCVRP, HGSCVRP, SavingsCVRP):
        registry.add_solver(solver)
    # by path: the improver imports torch, `symco plugins` does not
    registry.add_lazy(
        "improver", "symco.problems.cvrp.local_search:RouteLocalSearch", name="ls", problem="cvrp"
    )
    registry.add_lazy(
        "improver", "symco.problems.cvrp.local_search:RuinRecreate", name="rr", problem="cvrp"
    )
