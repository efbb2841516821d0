"""The capacitated vehicle routing problem (one depot, unlimited identical vehicles)."""

from symco.problems.cvrp.problem import CVRP

__all__ = ["CVRP"]
