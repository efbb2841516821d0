"""The :class:`Solver` interface: ground-truth labels for one problem."""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from symco.core.errors import InvalidInstanceError, SolverUnavailableError

if TYPE_CHECKING:
    from symco.core.manager import PluginManager
    from symco.core.problem import Problem
    from symco.core.registry import Registry


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
            raise InvalidInstanceError(f"time_limit must be positive, got {time_limit}")
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


def default_solver(
    pm: PluginManager, registry: Registry, problem: Problem, size: int | None = None
) -> type[Solver]:
    """The solver that labels ``problem`` when none is named: a plugin's choice
    (``symco_default_solver``), else the strongest installed one that accepts ``size`` nodes
    (size-limited exact solvers win on tiny instances; with no size given, unlimited solvers are
    preferred).

    :raises SymcoError: no installed solver fits.
    """
    from symco.core.errors import SymcoError

    chosen = pm.hook.symco_default_solver(problem=problem, registry=registry)
    if chosen:
        return registry.solver_class(problem.name, chosen)
    installed = [s for s in registry.solver_classes(problem.name) if s.available()]
    fits = [s for s in installed if s.max_size is None or (size is not None and size <= s.max_size)]
    candidates = fits or ([] if size is not None else installed)
    if not candidates:
        where = f" of size {size}" if size is not None else ""
        raise SymcoError(f"no installed solver for {problem.name} instances{where}")
    return candidates[0]


def resolve_solver(
    pm: PluginManager,
    registry: Registry,
    problem: Problem,
    name: str | None,
    size: int | None = None,
) -> type[Solver]:
    """The registered solver ``name`` of ``problem`` (``None``: :func:`default_solver` at
    ``size``), checked to be installed.

    :raises UnknownNameError: no such solver; :raises SolverUnavailableError: not installed.
    """
    cls = (
        default_solver(pm, registry, problem, size)
        if name is None
        else registry.solver_class(problem.name, name)
    )
    cls.ensure_available()
    return cls
