"""The :class:`Solver` interface: ground-truth labels for one problem."""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from symco.core.errors import InvalidInstanceError, SolverUnavailableError


class Solver(ABC):
    """Solves single instances of one problem.

    Solvers are registered per problem (``(problem, name)`` is the registry key), so ``ortools``
    for TSP and ``ortools`` for CVRP are different classes living in their problems' folders.
    """

    name: ClassVar[str]
    """Registry name, unique per problem (``"lkh"``, ``"ortools"``, ...)."""
    problem: ClassVar[str]
    """Name of the problem this solver solves."""
    strength: ClassVar[int] = 0
    """Label quality rank: the default label solver is the strongest *installed* one."""
    exact: ClassVar[bool] = False
    """Whether solutions are proven optimal."""
    heuristic: ClassVar[bool] = False
    """A fast construction baseline, not expected to find optima even on tiny instances."""
    max_size: ClassVar[int | None] = None
    """Largest instance size the solver accepts (exact solvers are exponential)."""
    deterministic: ClassVar[bool] = True
    """Whether the same instance and seed give the same solution; see :meth:`reproducible`."""
    requires: ClassVar[tuple[str, ...]] = ()
    """Modules that must be importable for the solver to run (optional extras)."""
    install_hint: ClassVar[str] = ""
    """How to install what :attr:`requires` names."""

    def __init__(self, time_limit: float | None = None, seed: int = 0) -> None:
        """:param time_limit: seconds per instance for anytime solvers (``None``: solver default).
        :param seed: the solver's own random seed (never the global RNG)."""
        if time_limit is not None and not time_limit > 0:
            raise InvalidInstanceError(f"--time-limit must be positive, got {time_limit}")
        self.time_limit = time_limit
        self.seed = seed

    def reproducible(self) -> bool:
        """Whether this configured solver gives the same solution for the same instance and seed
        (:attr:`deterministic`; a solver whose determinism depends on its options, such as a time
        limit, overrides this). ``symco data`` warns when its labels are not reproducible."""
        return self.deterministic

    @classmethod
    def available(cls) -> bool:
        """Whether everything in :attr:`requires` is installed."""
        return all(importlib.util.find_spec(m) is not None for m in cls.requires)

    @classmethod
    def ensure_available(cls) -> None:
        """Raise a one-line :class:`SolverUnavailableError` if a requirement is missing."""
        if not cls.available():
            missing = ", ".join(m for m in cls.requires if importlib.util.find_spec(m) is None)
            raise SolverUnavailableError(
                f"solver '{cls.name}' for {cls.problem} needs {missing}: {cls.install_hint or 'install it'}"
            )

    def check_size(self, n: int) -> None:
        """Refuse instances larger than :attr:`max_size`."""
        if self.max_size is not None and n > self.max_size:
            raise InvalidInstanceError(
                f"solver '{self.name}' handles at most {self.max_size} nodes, got N={n}"
            )

    @abstractmethod
    def solve(self, instance: Mapping[str, np.ndarray]) -> np.ndarray:
        """Solve the single instance in ``instance`` (a batch with ``B=1``); return its solution."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(time_limit={self.time_limit}, seed={self.seed})"
