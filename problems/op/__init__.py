"""The orienteering problem: generators, objective, feasibility, solvers."""

from symco.problems.op.problem import OP

__all__ = ["OP"]
