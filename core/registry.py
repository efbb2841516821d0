"""The :class:`Registry`: every registered class (problem, solver, reducer, policy, encoding,
group, frame, model, ... — the kinds are open), by name.

Kinds are declared first (``symco_add_kinds``: the core declares its own the same way), then
plugins fill the registry through the ``symco_register`` hook; each entry remembers the plugin
(and the installed package) that added it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from symco.core.dotted import DottedPathError, import_object
from symco.core.errors import DuplicateNameError, UnknownNameError

if TYPE_CHECKING:
    from symco.core.problem import Problem
    from symco.core.solver import Solver
    from symco.core.symmetry.group import Group

Kind = str
"""A kind's name (``"problem"``, ``"reducer"``, ``"improver"``, ...)."""


@dataclass(frozen=True)
class KindSpec:
    """A kind of pluggable thing.

    ``per_problem``: names are unique per problem only (solvers, reducers), and entries are added
    with ``problem=...``. ``base``: if set, every entry must be a subclass of it.
    """

    name: str
    doc: str = ""
    per_problem: bool = False
    base: type | None = None
    plugin: str = "<direct>"


@dataclass(frozen=True)
class Entry:
    """One registered class.

    ``problem`` is set for solvers and reducers (their names are unique per problem only).
    ``plugin`` is the plugin's name in the plugin manager, ``package`` the installed distribution
    that provides it (``"symco 0.1.0"`` for built-ins).
    """

    kind: Kind
    name: str
    target: Any
    """The class, or ``"module:Class"`` for a lazy entry (imported on first use of :attr:`obj`)."""
    plugin: str
    package: str
    problem: str | None = None

    @property
    def lazy(self) -> bool:
        """Registered by path and not imported yet."""
        return isinstance(self.target, str) and "obj" not in self.__dict__

    @cached_property
    def obj(self) -> Any:
        """The registered class; a lazy entry is imported here, once, and must carry the name it
        was registered under (``name`` attribute)."""
        if not isinstance(self.target, str):
            return self.target
        try:
            obj = import_object(self.target)
        except DottedPathError as exc:  # a plugin's bug or a missing dependency: name the plugin
            raise ImportError(
                f"{self.kind} '{self.name}' of plugin '{self.plugin}' is {self.target}, which"
                f" cannot be imported ({exc.reason})"
            ) from exc
        own = getattr(obj, "name", None)
        if isinstance(own, str) and own != self.name:  # Lightning classes have no own name
            raise TypeError(
                f"{self.kind} '{self.name}' of plugin '{self.plugin}' is {self.target}, whose name is {own!r}"
            )
        return obj

    @property
    def qualname(self) -> str:
        """``problem/name`` for per-problem kinds, else ``name``."""
        return f"{self.problem}/{self.name}" if self.problem else self.name


class Registry:
    """Name -> class lookup for every declared kind of pluggable thing."""

    def __init__(self) -> None:
        self._entries: dict[tuple[Kind, str | None, str], Entry] = {}
        self._kinds: dict[str, KindSpec] = {}
        self._plugin = "<direct>"
        self._package = "-"

    # -- kinds -----------------------------------------------------------------------------------

    def add_kind(
        self, name: str, doc: str = "", *, per_problem: bool = False, base: type | None = None
    ) -> KindSpec:
        """Declare a kind (from a plugin's ``symco_add_kinds``); declaring one twice is an error."""
        if not name or not isinstance(name, str):
            raise TypeError(f"a kind needs a non-empty name, got {name!r}")
        if name in self._kinds:
            old = self._kinds[name]
            raise DuplicateNameError(
                f"kind '{name}' is declared twice: by plugin '{old.plugin}' and by plugin '{self._plugin}'"
            )
        spec = KindSpec(name, doc, per_problem, base, self._plugin)
        self._kinds[name] = spec
        return spec

    def kinds(self) -> list[KindSpec]:
        """Every declared kind, in declaration order."""
        return list(self._kinds.values())

    def kind(self, name: str) -> KindSpec:
        """The declaration of kind ``name``; an unknown kind raises an error listing the known."""
        if name not in self._kinds:
            raise UnknownNameError(
                f"unknown kind '{name}'; declared kinds: {', '.join(self._kinds) or 'none'}"
            )
        return self._kinds[name]

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
        spec = self.kind(kind)
        if spec.per_problem and problem is None:
            raise TypeError(f"{kind} {obj!r} needs problem=... (names are unique per problem)")
        if spec.base is not None and not (isinstance(obj, type) and issubclass(obj, spec.base)):
            raise TypeError(f"{kind} {obj!r} must be a subclass of {spec.base.__qualname__}")
        name = name or getattr(obj, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"{obj!r} has no 'name' attribute; give name=... when registering it")
        self._put(Entry(kind, name, obj, self._plugin, self._package, problem))
        return obj

    def add_lazy(self, kind: Kind, target: str, *, name: str, problem: str | None = None) -> None:
        """Register the class at ``target`` (``"package.module:Class"``) as ``kind`` without
        importing it: listing the registry (``symco plugins``) stays cheap, the class is imported
        when first used. ``name`` must be the class's own ``name``."""
        if ":" not in target:
            raise TypeError(f"a lazy {kind} is 'module:Class', got {target!r}")
        spec = self.kind(kind)
        if spec.per_problem and problem is None:
            raise TypeError(f"{kind} {target} needs problem=... (names are unique per problem)")
        self._put(Entry(kind, name, target, self._plugin, self._package, problem))

    def _put(self, entry: Entry) -> None:
        key = (entry.kind, entry.problem, entry.name)
        if key in self._entries:
            old = self._entries[key]
            raise DuplicateNameError(
                f"{entry.kind} '{old.qualname}' is registered twice: by plugin '{old.plugin}' ({old.package})"
                f" and by plugin '{self._plugin}' ({self._package})"
            )
        self._entries[key] = entry

    def add_problem(self, cls: type[Problem]) -> type[Problem]:
        """Register a :class:`~symco.core.problem.Problem` subclass under ``cls.name``."""
        return self.add("problem", cls)  # type: ignore[no-any-return]

    def add_solver(self, cls: type[Solver]) -> type[Solver]:
        """Register a :class:`~symco.core.solver.Solver` subclass under ``(cls.problem, cls.name)``."""
        return self.add("solver", cls, problem=cls.problem)  # type: ignore[no-any-return]

    def add_reducer(self, cls: type[Any]) -> type[Any]:
        """Register a :class:`~symco.core.reducer.SymmetryReducer` under ``(cls.problem, cls.name)``."""
        return self.add("reducer", cls, problem=cls.problem)  # type: ignore[no-any-return]

    def add_improver(self, cls: type[Any]) -> type[Any]:
        """Register a :class:`~symco.core.improver.Improver` under ``(cls.problem, cls.name)``."""
        return self.add("improver", cls, problem=cls.problem)  # type: ignore[no-any-return]

    def add_policy(self, cls: type[Any]) -> type[Any]:
        """Register a :class:`~symco.core.policy.Policy` subclass under ``cls.name``."""
        return self.add("policy", cls)  # type: ignore[no-any-return]

    def add_encoding(self, cls: type[Any]) -> type[Any]:
        """Register a positional/structural encoding class under ``cls.name``."""
        return self.add("encoding", cls)  # type: ignore[no-any-return]

    def add_group(self, cls: type[Any]) -> type[Any]:
        """Register a :class:`~symco.core.symmetry.Group` subclass under ``cls.name``."""
        return self.add("group", cls)  # type: ignore[no-any-return]

    def add_frame(self, cls: type[Any]) -> type[Any]:
        """Register a :class:`~symco.core.symmetry.Frame` subclass under ``cls.name``."""
        return self.add("frame", cls)  # type: ignore[no-any-return]

    def add_model(self, cls: type[Any], name: str | None = None) -> type[Any]:
        """Register a trainable module class (a ``LightningModule``), by default under its
        class name: ``symco fit`` configs name it by class path, checkpoints record that path,
        and only registered classes are rebuilt from a checkpoint."""
        return self.add("model", cls, name=name or cls.__name__)  # type: ignore[no-any-return]

    def model_for_class_path(self, class_path: str) -> Entry:
        """The registered model whose class lives at ``class_path`` (``module.Class``)."""
        for e in self.entries("model"):
            if class_path_of(e.obj) == class_path:
                return e
        known = ", ".join(class_path_of(e.obj) for e in self.entries("model")) or "none"
        raise UnknownNameError(f"model class '{class_path}' is not registered; registered: {known}")

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
            key=lambda e: (self._kind_order(e.kind), e.problem or "", e.name),
        )

    def _kind_order(self, kind: str) -> int:
        return list(self._kinds).index(kind) if kind in self._kinds else len(self._kinds)

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

    def group(self, name: str) -> type[Group]:
        """The group class registered as ``name``, or whose ``short_name`` is ``name``.

        A registered name wins over a short name. An unknown name raises an
        :class:`~symco.core.errors.UnknownNameError` listing every group as ``name (short)``;
        a short name two groups claim raises a :class:`~symco.core.errors.DuplicateNameError`.
        """
        exact = self._entries.get(("group", None, name))
        if exact is not None:
            return exact.obj  # type: ignore[no-any-return]
        # short names live on the classes: this imports the lazily registered groups
        entries = self.entries("group")
        shorts = {e.name: _short_name(e) for e in entries}
        found = [e for e in entries if shorts[e.name] == name]
        if len(found) > 1:
            claims = " and ".join(f"'{e.name}' (plugin '{e.plugin}')" for e in found)
            raise DuplicateNameError(f"group short name '{name}' is claimed by {claims}")
        if not found:
            known = ", ".join(
                n if shorts[n] == n else f"{n} ({shorts[n]})" for n in self.names("group")
            )
            raise UnknownNameError(f"unknown group '{name}'; registered: {known or 'none'}")
        return found[0].obj  # type: ignore[no-any-return]

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
        counts = ", ".join(f"{k}={len(self.entries(k))}" for k in self._kinds)
        return f"Registry({counts})"


def _short_name(entry: Entry) -> str:
    """A group entry's ``short_name``; its registered name for a class without one."""
    short = getattr(entry.obj, "short_name", None)
    return short if isinstance(short, str) and short else entry.name


def class_path_of(obj: Any) -> str:
    """``module.QualName`` of a class (what a config's ``class_path`` names)."""
    return f"{obj.__module__}.{obj.__qualname__}"
