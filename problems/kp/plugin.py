"""The built-in KP plugin (entry point ``kp`` in the ``symco`` group)."""

from __future__ import annotations

from symco import hookimpl
from symco.core.registry import Registry
from symco.problems.kp.problem import KP
from symco.problems.kp.solvers import DynamicProgrammingKP, GreedyKP, OrToolsKP


@hookimpl
def symco_register(registry: Registry) -> None:
    """Register the KP problem and its solvers."""
    registry.add_problem(KP)
    for solver in (OrToolsKP, DynamicProgrammingKP, GreedyKP):
        registry.add_solver(solver)
