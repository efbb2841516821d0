"""The 0-1 knapsack problem: generator, objective, feasibility, solvers."""

from symco.problems.kp.problem import KP

__all__ = ["KP"]
