"""The :class:`Registry`: every problem, solver, reducer, policy and encoding, by name.

Plugins fill it through the ``symco_register`` hook; each entry remembers the plugin (and the
installed package) that added it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from symco.core.errors import DuplicateNameError, UnknownNameError

if TYPE_CHECKING:
    from symco.core.problem import Problem
    from symco.core.solver import Solver

Kind = Literal["problem", "solver", "reducer", "policy", "encoding"]
KINDS: tuple[Kind, ...] = ("problem", "solver", "reducer", "policy", "encoding")


@dataclass(frozen=True)
class Entry:
    """One registered class.

    ``problem`` is set for solvers and reducers (their names are unique per problem only).
    ``plugin`` is the plugin's name in the plugin manager, ``package`` the installed distribution
    that provides it (``"symco 0.1.0"`` for built-ins).
    """

    kind: Kind
    name: str
    obj: Any
    plugin: str
    package: str
    problem: str | None = None

    @property
    def qualname(self) -> str:
        """``problem/name`` for per-problem kinds, else ``name``."""
        return f"{self.problem}/{self.name}" if self.problem else self.name


class Registry:
    """Name -> class lookup for the five kinds of pluggable things."""

    def __init__(self) -> None:
        self._entries: dict[tuple[Kind, str | None, str], Entry] = {}
        self._plugin = "<direct>"
        self._package = "-"

    # -- filling ---------------------------------------------------------------------------------

    @contextmanager
    def scope(self, plugin: str, package: str) -> Iterator[Registry]:
        """Attribute everything added inside the ``with`` block to ``plugin`` from ``package``."""
        saved = self._plugin, self._package
        self._plugin, self._package = plugin, package
        try:
            yield self
        finally:
            self._plugin, self._package = saved

    def add(
        self, kind: Kind, obj: Any, *, name: str | None = None, problem: str | None = None
    ) -> Any:
        """Register ``obj`` (a class) as ``kind``; returns ``obj`` so it can decorate a class."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}")
        name = name or getattr(obj, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"{obj!r} has no 'name' attribute; give name=... when registering it")
        key = (kind, problem, name)
        if key in self._entries:
            old = self._entries[key]
            raise DuplicateNameError(
                f"{kind} '{old.qualname}' is registered twice: by plugin '{old.plugin}' ({old.package})"
                f" and by plugin '{self._plugin}' ({self._package})"
            )
        self._entries[key] = Entry(kind, name, obj, self._plugin, self._package, problem)
        return obj

    def add_problem(self, cls: type[Problem]) -> type[Problem]:
        """Register a :class:`~symco.core.problem.Problem` subclass under ``cls.name``."""
        return self.add("problem", cls)  # type: ignore[no-any-return]

    def add_solver(self, cls: type[Solver]) -> type[Solver]:
        """Register a :class:`~symco.core.solver.Solver` subclass under ``(cls.problem, cls.name)``."""
        return self.add("solver", cls, problem=cls.problem)  # type: ignore[no-any-return]

    def add_reducer(self, cls: type[Any]) -> type[Any]:
        """Register a :class:`~symco.core.reducer.SymmetryReducer` under ``(cls.problem, cls.name)``."""
        return self.add("reducer", cls, problem=cls.problem)  # type: ignore[no-any-return]

    def add_policy(self, cls: type[Any]) -> type[Any]:
        """Register a :class:`~symco.core.policy.Policy` subclass under ``cls.name``."""
        return self.add("policy", cls)  # type: ignore[no-any-return]

    def add_encoding(self, cls: type[Any]) -> type[Any]:
        """Register a positional/structural encoding class under ``cls.name``."""
        return self.add("encoding", cls)  # type: ignore[no-any-return]

    def remove_plugin(self, plugin: str) -> None:
        """Drop every entry added by ``plugin`` (used when its registration hook fails half-way)."""
        self._entries = {k: e for k, e in self._entries.items() if e.plugin != plugin}

    # -- lookup ----------------------------------------------------------------------------------

    def entries(self, kind: Kind | None = None, problem: str | None = None) -> list[Entry]:
        """Entries of ``kind`` (all kinds if ``None``), optionally only those of ``problem``."""
        return sorted(
            (
                e
                for e in self._entries.values()
                if (kind is None or e.kind == kind) and (problem is None or e.problem == problem)
            ),
            key=lambda e: (KINDS.index(e.kind), e.problem or "", e.name),
        )

    def names(self, kind: Kind, problem: str | None = None) -> list[str]:
        """Sorted names of ``kind`` (for per-problem kinds, those of ``problem``)."""
        return sorted({e.name for e in self.entries(kind, problem)})

    def entry(self, kind: Kind, name: str, problem: str | None = None) -> Entry:
        """The entry of ``name``; an unknown name raises an error listing what is registered."""
        found = self._entries.get((kind, problem, name))
        if found is None:
            known = ", ".join(self.names(kind, problem)) or "none"
            where = f" for problem '{problem}'" if problem else ""
            raise UnknownNameError(f"unknown {kind} '{name}'{where}; registered: {known}")
        return found

    def get(self, kind: Kind, name: str, problem: str | None = None) -> Any:
        """The class registered as ``name``."""
        return self.entry(kind, name, problem).obj

    def problem(self, name: str) -> Problem:
        """A fresh instance of the problem registered as ``name``."""
        cls: type[Problem] = self.get("problem", name)
        return cls()

    def solver_class(self, problem: str, name: str) -> type[Solver]:
        """The solver class registered as ``name`` for ``problem``."""
        self.entry("problem", problem)
        return self.get("solver", name, problem)  # type: ignore[no-any-return]

    def solver_classes(self, problem: str) -> list[type[Solver]]:
        """Solvers registered for ``problem``, strongest first."""
        solvers = [e.obj for e in self.entries("solver", problem)]
        return sorted(solvers, key=lambda s: (-s.strength, s.name))

    def problem_for_file(self, path: Any) -> Problem:
        """The problem whose :meth:`~symco.core.problem.Problem.can_read` accepts ``path``."""
        from pathlib import Path

        from symco.core.errors import DataFileError

        path = Path(path)
        for e in self.entries("problem"):
            prob: Problem = e.obj()
            if prob.can_read(path):
                return prob
        suffixes = sorted({s for e in self.entries("problem") for s in e.obj.file_suffixes})
        raise DataFileError(
            f"{path}: no registered problem reads '{path.suffix}' files (known: {', '.join(suffixes) or 'none'}, .npz)"
        )

    def __contains__(self, key: tuple[Kind, str]) -> bool:
        kind, name = key
        return any(e.kind == kind and e.name == name for e in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={len(self.entries(k))}" for k in KINDS)
        return f"Registry({counts})"
