"""The :class:`Problem` interface: instances, objective, feasibility, files.

Instances travel as a plain mapping of NumPy arrays that all share the leading batch dimension
``B`` — the same mapping that is stored in a ``.npz`` dataset (no pickle anywhere). Each problem
declares its arrays with :class:`ArraySpec`, so generic code (datasets, CLI, contract tests) can
validate any problem without knowing its name.

A *solution* of one instance is a 1-D integer array whose meaning is the problem's own (TSP: a
permutation of the nodes; CVRP: a giant tour with depot separators; knapsack: chosen items).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from symco.core.errors import DataFileError, InfeasibleSolutionError, InvalidInstanceError

if TYPE_CHECKING:  # torch is imported where it is used: ``symco --help`` must not load it
    from torch import Tensor

Instances = dict[str, np.ndarray]
"""A batch of instances: key -> array with leading dimension ``B``."""


@dataclass(frozen=True)
class ArraySpec:
    """One array of a problem's instances or labels.

    ``shape`` names symbolic dimensions: ``"B"`` (batch) first, ``"N"`` (instance size) where it
    applies, integers for fixed sizes; nothing else (a depot is the axis ``"N"`` plus
    :attr:`Problem.fixed_nodes`, checked when a subclass is defined). ``kind`` is ``"float"``
    (must be finite), ``"int"`` (integers, or floats with integral values, which
    :func:`~symco.core.dataset.load_dataset` casts to ``int64``) or ``"bool"``.
    """

    key: str
    shape: tuple[str | int, ...]
    kind: Literal["float", "int", "bool"] = "float"
    optional: bool = False
    doc: str = ""


def check_arrays(
    specs: Sequence[ArraySpec], arrays: Mapping[str, Any], where: str
) -> tuple[int, int | None]:
    """Check ``arrays`` against ``specs``: presence, rank, fixed and shared dimensions, dtype, finiteness.

    :param where: names the source in the error message (a file path or ``"instances"``).
    :return: ``(B, N)``; ``N`` is ``None`` when no array has an ``"N"`` axis.
    :raises InvalidInstanceError: naming the key, the expected and the actual shape or value.
    """
    dims: dict[str, int] = {}
    for spec in specs:
        if spec.key not in arrays:
            if spec.optional:
                continue
            raise InvalidInstanceError(
                f"{where}: missing array '{spec.key}' ({spec.doc or spec.shape})"
            )
        a = np.asarray(arrays[spec.key])
        want = "(" + ",".join(map(str, spec.shape)) + ")"
        if a.ndim != len(spec.shape):
            raise InvalidInstanceError(
                f"{where}: '{spec.key}' must have shape {want}, got {tuple(a.shape)}"
            )
        for axis, (d, n) in enumerate(zip(spec.shape, a.shape)):
            if isinstance(d, int):
                if n != d:
                    raise InvalidInstanceError(
                        f"{where}: '{spec.key}' must have shape {want}, got {tuple(a.shape)}"
                        f" (axis {axis} is {n}, not {d})"
                    )
            elif dims.setdefault(d, n) != n:
                raise InvalidInstanceError(
                    f"{where}: '{spec.key}' has {d}={n} on axis {axis}, other arrays have {d}={dims[d]}"
                )
        if spec.kind == "float":
            if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
                raise InvalidInstanceError(
                    f"{where}: '{spec.key}' must be real numbers, got dtype {a.dtype}"
                )
            bad = ~np.isfinite(a)
            if bad.any():
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                raise InvalidInstanceError(
                    f"{where}: '{spec.key}' has a non-finite value {a[idx].item()!r} at index {idx}"
                )
        elif spec.kind == "int":
            _check_integral(a, spec.key, where)
        elif spec.kind == "bool" and a.dtype != np.bool_:
            raise InvalidInstanceError(
                f"{where}: '{spec.key}' must be booleans, got dtype {a.dtype}"
            )
    return dims.get("B", 0), dims.get("N")


_INT64_LIMIT = 2.0**63
"""Floats at or beyond this magnitude do not fit in ``int64``."""


def _check_integral(a: np.ndarray, key: str, where: str) -> None:
    """Refuse an ``"int"`` array unless it holds integers or floats with integral values.

    Peers' datasets store integral capacities and demands as ``float64``; they are accepted
    (:func:`integral_as_int64` converts them), a fractional or non-finite value is refused.
    """
    if np.issubdtype(a.dtype, np.integer):
        return
    if not np.issubdtype(a.dtype, np.floating):
        raise InvalidInstanceError(f"{where}: '{key}' must be integers, got dtype {a.dtype}")
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(a) | (np.round(a) != a) | (np.abs(a) >= _INT64_LIMIT)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InvalidInstanceError(
            f"{where}: '{key}' must be integers, got {a[idx].item()!r} at index {idx}"
        )


def integral_as_int64(specs: Sequence[ArraySpec], arrays: Mapping[str, Any]) -> Instances:
    """``arrays`` with each floating array of an ``"int"`` spec cast to ``int64``.

    Call it after :func:`check_arrays` (which refuses fractional values), so the cast is exact;
    other arrays are passed through unchanged.
    """
    kinds = {spec.key: spec.kind for spec in specs}
    out: Instances = {}
    for key, value in arrays.items():
        a = np.asarray(value)
        if kinds.get(key) == "int" and np.issubdtype(a.dtype, np.floating):
            a = a.astype(np.int64)
        out[key] = a
    return out


def check_spec_axes(owner: str, specs: Sequence[ArraySpec]) -> None:
    """Refuse an axis other than ``"B"``, ``"N"`` or a non-negative int in ``specs``.

    An axis such as ``"N+1"`` would validate and then leave :meth:`Problem.size` unable to tell
    the size: a depot is declared as the axis ``"N"`` plus :attr:`Problem.fixed_nodes`.

    :raises TypeError: one line naming ``owner``, the key and the axis.
    """
    for spec in specs:
        for axis in spec.shape:
            if axis in ("B", "N") or (
                isinstance(axis, (int, np.integer)) and not isinstance(axis, bool) and axis >= 0
            ):
                continue
            raise TypeError(
                f"{owner}.instance_spec: '{spec.key}' has axis {axis!r}; axes are 'B', 'N' or"
                " a non-negative int (CVRP-like: declare the axis 'N' and set fixed_nodes = 1)"
            )


class Problem(ABC):
    """A combinatorial optimization problem family (TSP, CVRP, ...).

    Subclasses set the class attributes and implement the abstract methods; everything a trainer,
    the CLI or a test needs from a problem is asked here rather than switched on its name.
    """

    name: ClassVar[str]
    """Registry name, e.g. ``"tsp"``."""
    sense: ClassVar[Literal["min", "max"]] = "min"
    """Whether the objective is minimised (cost) or maximised (prize, value)."""
    min_size: ClassVar[int] = 1
    """Smallest meaningful instance size ``N``."""
    instance_spec: ClassVar[tuple[ArraySpec, ...]]
    """The arrays of an instance batch (all with leading ``B``)."""
    solution_key: ClassVar[str] = "solutions"
    """The ``.npz`` key under which solutions of a labelled dataset are stored."""
    objective_key: ClassVar[str] = "objectives"
    """The ``.npz`` key under which objective values of a labelled dataset are stored."""
    distributions: ClassVar[tuple[str, ...]] = ("uniform",)
    """Names accepted by :meth:`generate`'s ``distribution``; the first is the default."""
    file_suffixes: ClassVar[tuple[str, ...]] = ()
    """Suffixes of single-instance files :meth:`read` understands (besides ``.npz``)."""
    baselines: ClassVar[tuple[str, ...]] = ()
    """Solvers shown beside a model's results by ``symco evaluate --baselines``."""
    invariances: ClassVar[dict[str, str]] = {}
    """Groups (registry names) under which the objective is invariant, each with the instance
    array it acts on: ``{"square-dihedral": "coords"}`` for Euclidean routing in the unit square.
    ``symco evaluate --augment`` decodes every image and keeps the best; a group not named here
    is refused."""
    fixed_nodes: ClassVar[int] = 0
    """Leading nodes that a relabelling must keep in place (a depot); see :meth:`relabel`. They do
    not count in the instance size (:meth:`size`)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Check the axes of an :attr:`instance_spec` declared by the new subclass."""
        super().__init_subclass__(**kwargs)
        if "instance_spec" in cls.__dict__:
            check_spec_axes(cls.__name__, cls.__dict__["instance_spec"])

    # -- instances -------------------------------------------------------------------------------

    @abstractmethod
    def generate(
        self, num: int, size: int, *, rng: np.random.Generator, distribution: str | None = None
    ) -> Instances:
        """Sample ``num`` instances of size ``size`` using only ``rng`` (no global RNG)."""

    def validate(self, instances: Mapping[str, Any], where: str = "instances") -> tuple[int, int]:
        """Check a batch against :attr:`instance_spec` and the problem's own value rules.

        :return: ``(B, N)``.
        :raises InvalidInstanceError: one line naming ``where``, the key and the offending value.
        """
        b, _ = check_arrays(self.instance_spec, instances, where)
        n = self.size(instances)
        if n < self.min_size:
            raise InvalidInstanceError(
                f"{where}: {self.name} needs at least {self.min_size} nodes, got N={n}"
            )
        self.check_values(instances, where)
        return b, n

    def check_values(self, instances: Mapping[str, Any], where: str) -> None:  # noqa: B027
        """Problem-specific value rules beyond shapes and finiteness (override as needed)."""

    def size(self, instances: Mapping[str, Any]) -> int:
        """The instance size of a batch: the length of the ``"N"`` axis less :attr:`fixed_nodes`.

        So a CVRP100 (depot + 100 customers, ``N`` = 101) has size 100, the ``size`` that
        :meth:`generate` takes. Override when no array has an ``"N"`` axis.
        """
        for spec in self.instance_spec:
            if "N" in spec.shape and spec.key in instances:
                n = int(np.asarray(instances[spec.key]).shape[spec.shape.index("N")])
                return n - self.fixed_nodes
        raise InvalidInstanceError(f"cannot tell the size of {self.name} instances")

    @staticmethod
    def select(instances: Mapping[str, np.ndarray], index: int | slice | np.ndarray) -> Instances:
        """Index every array of a batch along the batch axis (``index`` int keeps ``B=1``)."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return {k: np.asarray(v)[index] for k, v in instances.items()}

    # -- solutions -------------------------------------------------------------------------------

    @abstractmethod
    def objective(
        self, instances: Mapping[str, np.ndarray], solutions: Sequence[np.ndarray] | np.ndarray
    ) -> np.ndarray:
        """Objective value of each solution, shape ``(B,)``; ``solutions[i]`` solves instance ``i``."""

    @abstractmethod
    def check_solution(
        self, instances: Mapping[str, np.ndarray], solutions: Sequence[np.ndarray] | np.ndarray
    ) -> None:
        """Raise :class:`~symco.core.errors.InfeasibleSolutionError` naming the first infeasible solution."""

    def objective_torch(self, instances: Mapping[str, Tensor], solutions: Tensor) -> Tensor:
        """``(B,)`` objective of packed solutions ``(B, L)`` (``-1`` padded, the
        :meth:`pack_solutions` format), computed on the tensors' device.

        The default is a NumPy round trip through :meth:`objective` (float64 on ``solutions``'
        device), so every problem has it; the built-in problems override it in torch, computing
        in the dtype of the instance tensors.
        """
        import torch

        arrays = {k: v.detach().cpu().numpy() for k, v in instances.items()}
        sols = self.unpack_solutions(solutions.detach().cpu().numpy())
        value = np.asarray(self.objective(arrays, sols), dtype=np.float64)
        return torch.as_tensor(value, device=solutions.device)

    def feasible_torch(self, instances: Mapping[str, Tensor], solutions: Tensor) -> Tensor:
        """``(B,)`` bool, ``True`` where the packed solution (``(B, L)``, ``-1`` padded) is feasible.

        The default is a NumPy round trip through :meth:`check_solution`, row by row: a row is
        infeasible where it raises :class:`~symco.core.errors.InfeasibleSolutionError` (or an
        ``IndexError``, a node out of range); the built-in problems override it in torch.
        """
        import torch

        arrays = {k: v.detach().cpu().numpy() for k, v in instances.items()}
        sols = self.unpack_solutions(solutions.detach().cpu().numpy())
        ok = np.zeros(len(sols), dtype=bool)
        for i, sol in enumerate(sols):
            try:
                self.check_solution(self.select(arrays, i), [sol])
            except (InfeasibleSolutionError, IndexError):
                continue
            ok[i] = True
        return torch.as_tensor(ok, device=solutions.device)

    def relabel(
        self, instances: Mapping[str, np.ndarray], solutions: Sequence[np.ndarray], perm: np.ndarray
    ) -> tuple[Instances, list[np.ndarray]]:
        """Apply the node relabelling ``new node i = old node perm[i]`` to instances and solutions.

        The objective is invariant under it (a property the contract tests check). The default
        permutes every array with an ``"N"`` axis and maps solution entries ``>= 0`` as node
        indices; problems whose solutions are not node indices override it.
        """
        perm = np.asarray(perm)
        if not np.array_equal(perm[: self.fixed_nodes], np.arange(self.fixed_nodes)):
            raise ValueError(
                f"a relabelling of {self.name} must keep the first {self.fixed_nodes} nodes"
            )
        inverse = np.argsort(perm)
        out = dict(instances)
        for spec in self.instance_spec:
            if "N" in spec.shape and spec.key in instances:
                out[spec.key] = np.take(
                    np.asarray(instances[spec.key]), perm, axis=spec.shape.index("N")
                )
        sols = [np.where(s >= 0, inverse[np.maximum(s, 0)], s) for s in map(np.asarray, solutions)]
        return out, sols

    def pack_solutions(self, solutions: Sequence[np.ndarray]) -> np.ndarray:
        """Stack solutions into one array for ``.npz`` storage (right-padded with ``-1``)."""
        width = max((len(s) for s in solutions), default=0)
        out = np.full((len(solutions), width), -1, dtype=np.int64)
        for i, s in enumerate(solutions):
            out[i, : len(s)] = s
        return out

    def unpack_solutions(self, packed: np.ndarray) -> list[np.ndarray]:
        """Inverse of :meth:`pack_solutions`."""
        return [row[row >= 0].astype(np.int64) for row in np.asarray(packed)]

    def solution_to_json(self, solution: np.ndarray) -> Any:
        """A JSON-friendly form of one solution (override for structured solutions)."""
        return [int(x) for x in solution]

    def drawing_path(self, solution: np.ndarray) -> np.ndarray:
        """The closed node sequence that draws ``solution`` (``symco evaluate --plot``)."""
        s = np.asarray(solution, dtype=np.int64)
        return np.concatenate([s, s[:1]])

    def gap(self, value: np.ndarray | float, reference: np.ndarray | float) -> np.ndarray:
        """Relative gap to a reference, in percent; positive means worse than the reference."""
        value, reference = np.asarray(value, dtype=float), np.asarray(reference, dtype=float)
        diff = value - reference if self.sense == "min" else reference - value
        return np.asarray(100.0 * diff / np.abs(reference))

    # -- files -----------------------------------------------------------------------------------

    def can_read(self, path: Path) -> bool:
        """Whether :meth:`read` understands ``path`` (by suffix; ``.npz`` is generic)."""
        return path.suffix.lower() in self.file_suffixes

    def read(self, path: Path) -> tuple[Instances, np.ndarray | None]:
        """Read one instance file (TSPLIB, VRPLIB, ...) as a batch of one.

        :return: ``(instances, reference)`` where ``reference`` is the ``(1,)`` objective of a known
            solution stored beside the file (e.g. ``NAME.sol``), or ``None``.
        :raises DataFileError: the file is missing or malformed (one line, naming it).
        """
        raise DataFileError(
            f"{path}: {self.name} has no single-instance file format; use .npz datasets"
        )

    def write(
        self, path: Path, instances: Mapping[str, np.ndarray], solution: np.ndarray | None = None
    ) -> None:
        """Write the single instance in ``instances`` (``B=1``) to ``path`` in the problem's file format."""
        raise DataFileError(
            f"{path}: {self.name} has no single-instance file format; use .npz datasets"
        )
