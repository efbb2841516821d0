"""The built-in OP plugin (entry point ``op`` in the ``symco`` group)."""

from __future__ import annotations

from symco import hookimpl
from symco.core.registry import Registry
from symco.problems.op.problem import OP
from symco.problems.op.solvers import ExactOP, GreedyOP, OrToolsOP


@hookimpl
def symco_register(registry: Registry) -> None:
    """Register the OP problem and its solvers."""
    registry.add_problem(OP)
    for solver in (ExactOP, OrToolsOP, GreedyOP):
        registry.add_solver(solver)
