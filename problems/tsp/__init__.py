"""The travelling salesman problem: generators, objective, feasibility, TSPLIB files, solvers."""

from symco.problems.tsp.problem import TSP

__all__ = ["TSP"]
