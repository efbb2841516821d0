"""Importers: other projects' files become symco's — datasets (``symco import``) and trained
models (``symco import-model``) — through one open kind, ``importer``.

An importer is a class registered under its ``--from`` name (``registry.add("importer", cls)``
from a plugin's ``symco_register``): a :class:`DatasetImporter` reads instance arrays, a
:class:`ModelImporter` converts a checkpoint into a symco model file (class path, config,
weights) that records where it came from and under which licence (:class:`ModelSource`).

The built-in dataset importer, ``rl4co`` (:class:`RL4COImporter`), reads only array files
(``.npz``, never pickle: no ``.pkl`` or ``.pt``). The rl4co layout (``rl4co.data.generate_data``
and the environments' generators) keeps the depot apart from the customers and stores everything
as floats; per symco problem:

- ``tsp``: ``locs`` (B,N,2) becomes ``coords`` (B,N,2).
- ``cvrp``: ``depot`` (B,2), ``locs`` (B,N,2), ``demand`` (B,N) and ``capacity`` (a scalar,
  (B,) or (B,1)) become ``coords`` (B,N+1,2) with the depot first, ``demands`` (B,N+1) int64
  with the depot's 0 first, and ``capacity`` (B,) int64.
- ``op``: ``depot``, ``locs``, ``prize`` (B,N) and ``max_length`` (a scalar, (B,) or (B,1))
  become ``coords`` (B,N+1,2), ``prizes`` (B,N+1) with the depot's 0 first, and ``max_length``
  (B,).

Without a ``depot`` array, the first row of ``locs`` is the depot when ``locs`` has one row more
than ``demand`` (``prize``). CVRP demands stored as fractions of the capacity (rl4co's
generators divide them by it) are multiplied back and must then be integral.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from symco.core.dataset import read_npz
from symco.core.errors import DataFileError, InvalidInstanceError, UnknownNameError

if TYPE_CHECKING:
    from symco.core.problem import Problem


class Importer(ABC):
    """Converts another project's files into symco's, for the problems it lists.

    Subclass :class:`DatasetImporter` or :class:`ModelImporter`; register the class as kind
    ``importer`` (its ``name`` is what ``--from`` takes).
    """

    name: ClassVar[str]
    """The ``--from`` name (``rl4co``, ``bq-nco``, ...)."""
    produces: ClassVar[Literal["dataset", "model"]]
    """What it makes: ``symco import`` uses dataset importers, ``symco import-model`` model ones."""
    problems: ClassVar[tuple[str, ...]]
    """The symco problems it converts."""
    description: ClassVar[str] = ""
    """One line for ``symco plugins`` and the commands' help."""

    def check_problem(self, problem_name: str) -> None:
        """One line when this importer does not convert the problem ``problem_name``.

        :raises UnknownNameError: naming the problems it does convert.
        """
        if problem_name not in self.problems:
            raise UnknownNameError(
                f"no {self.name} importer for problem '{problem_name}'; known: "
                f"{', '.join(sorted(self.problems))}"
            )


class DatasetImporter(Importer):
    """Reads another project's instance file as symco arrays (``symco import --from NAME``)."""

    produces: ClassVar[Literal["dataset", "model"]] = "dataset"

    @abstractmethod
    def read(self, path: Path, problem: Problem) -> dict[str, np.ndarray]:
        """The instance arrays of ``problem`` in ``path``, not yet checked against the problem's
        rules (``symco import`` runs :meth:`Problem.validate` before writing).

        :raises DataFileError: unreadable file, missing or misshapen array (one line naming it).
        """


@dataclass(frozen=True)
class ModelSource:
    """Where an imported model came from; recorded in the model file and shown by ``symco info``.

    ``licence_text`` is the licence as the user's copy of the source has it (a ``LICENCE`` or
    ``LICENSE`` file beside the checkpoint, or ``--licence FILE``), empty when none was found.
    """

    name: str
    importer: str
    file: str
    sha256: str
    licence: str
    licence_url: str = ""
    copyright: str = ""
    licence_text: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class ImportedModel:
    """A converted model: what a symco model file holds (see
    :func:`symco.core.training.checkpoints.write_model_file`)."""

    class_path: str
    hyper_parameters: dict[str, Any]
    state_dict: dict[str, Any]
    source: ModelSource
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class ModelImporter(Importer):
    """Converts another project's checkpoint into a symco model (``symco import-model``)."""

    produces: ClassVar[Literal["dataset", "model"]] = "model"

    @abstractmethod
    def convert(self, path: Path, problem: Problem, licence_text: str = "") -> ImportedModel:
        """The symco model of the checkpoint ``path`` for ``problem``.

        Read files with ``torch.load(weights_only=True)`` only.

        :raises DataFileError: not a checkpoint of this source, a checkpoint of another problem,
            or missing/unexpected/misshapen weights (one line naming the key).
        """


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (recorded with an imported model)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def licence_beside(path: Path) -> str:
    """The text of a ``LICENCE``/``LICENSE`` file (any suffix) in ``path``'s folder, or ``""``."""
    for candidate in sorted(path.parent.glob("LICEN[CS]E*")):
        if candidate.is_file():
            return candidate.read_text(errors="replace")
    return ""


DEMAND_RTOL = 1e-6
"""Relative tolerance for a denormalised demand (``demand * capacity``) to count as integral."""


def _require(arrays: Mapping[str, np.ndarray], key: str, where: str) -> np.ndarray:
    """``arrays[key]`` as a float64 array, or one line naming the missing key."""
    if key not in arrays:
        have = ", ".join(sorted(arrays)) or "none"
        raise DataFileError(f"{where}: missing array '{key}' of the rl4co layout (has {have})")
    a = np.asarray(arrays[key])
    if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise DataFileError(f"{where}: '{key}' must be real numbers, got dtype {a.dtype}")
    return a.astype(np.float64)


def _expect_shape(a: np.ndarray, key: str, want: str, ndim: int, where: str) -> None:
    """One line when ``a`` has not ``ndim`` axes."""
    if a.ndim != ndim:
        raise DataFileError(f"{where}: '{key}' must have shape {want}, got {tuple(a.shape)}")


def _per_instance(a: np.ndarray, key: str, b: int, where: str) -> np.ndarray:
    """A scalar, ``(B,)`` or ``(B, 1)`` array as ``(B,)``."""
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim == 0:
        return np.full(b, float(a))
    if a.shape != (b,):
        raise DataFileError(
            f"{where}: '{key}' must be a scalar or have shape (B,) or (B,1) with B={b},"
            f" got {tuple(a.shape)}"
        )
    return a


def _locations(
    arrays: Mapping[str, np.ndarray], customers: int, where: str
) -> tuple[np.ndarray, np.ndarray]:
    """``(depot (B,2), locs (B,N,2))`` from ``depot`` and ``locs``, or from ``locs`` alone when
    its first row is the depot (one row more than the ``customers`` of the per-node arrays)."""
    locs = _require(arrays, "locs", where)
    _expect_shape(locs, "locs", "(B,N,2)", 3, where)
    if "depot" in arrays:
        depot = _require(arrays, "depot", where)
        if depot.ndim == 3 and depot.shape[1] == 1:
            depot = depot[:, 0]
        if depot.shape != (locs.shape[0], locs.shape[2]):
            raise DataFileError(
                f"{where}: 'depot' must have shape (B,2) with B={locs.shape[0]},"
                f" got {tuple(depot.shape)}"
            )
        return depot, locs
    if locs.shape[1] == customers + 1:
        return locs[:, 0], locs[:, 1:]
    raise DataFileError(
        f"{where}: no 'depot' array, and 'locs' has {locs.shape[1]} rows, not one more than"
        f" the {customers} customers"
    )


def _node_values(arrays: Mapping[str, np.ndarray], key: str, where: str) -> np.ndarray:
    """A per-customer array ``(B,N)`` (``(B,N,1)`` is squeezed)."""
    a = _require(arrays, key, where)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    _expect_shape(a, key, "(B,N)", 2, where)
    return a


def _coords(depot: np.ndarray, locs: np.ndarray, values: np.ndarray, where: str) -> np.ndarray:
    """Depot first, then the customers: ``(B, N+1, 2)``; ``values`` is a per-customer array."""
    if locs.shape[:2] != values.shape[:2]:
        raise DataFileError(
            f"{where}: 'locs' holds {locs.shape[0]} instances of {locs.shape[1]} customers, the"
            f" per-customer arrays {values.shape[0]} of {values.shape[1]}"
        )
    return np.concatenate([depot[:, None, :], locs], axis=1)


def _not_integral(values: np.ndarray, rtol: float) -> np.ndarray:
    """Mask of the values that are not finite or lie more than ``rtol`` (relative, at least
    absolute) from the nearest integer."""
    rounded = np.round(values)
    with np.errstate(invalid="ignore"):
        far = np.abs(values - rounded) > rtol * np.maximum(1.0, np.abs(rounded))
    return np.asarray(~np.isfinite(values) | far)


def _first(mask: np.ndarray) -> tuple[int, ...]:
    """Index of the first ``True`` of ``mask``."""
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _integral(values: np.ndarray, key: str, where: str) -> np.ndarray:
    """``values`` as int64; one line naming the first value that is not an integer."""
    off = _not_integral(values, 0.0)
    if off.any():
        idx = _first(off)
        raise InvalidInstanceError(
            f"{where}: '{key}' must be integers, got {values[idx].item()!r} at index {idx}"
        )
    return values.astype(np.int64)


def _demands(demand: np.ndarray, capacity: np.ndarray, where: str) -> np.ndarray:
    """Integral demands: as stored, or ``demand * capacity`` when stored as fractions of it
    (integral within :data:`DEMAND_RTOL`)."""
    if not _not_integral(demand, 0.0).any():
        return demand.astype(np.int64)
    scaled = demand * capacity[:, None]
    off = _not_integral(scaled, DEMAND_RTOL)
    if off.any():
        b, i = _first(off)
        raise InvalidInstanceError(
            f"{where}: 'demand' is neither integral nor a fraction of the capacity: instance {b}"
            f" customer {i + 1} has {demand[b, i].item()!r} (x capacity {capacity[b].item():g}"
            f" = {scaled[b, i].item()!r})"
        )
    return np.asarray(np.round(scaled), dtype=np.int64)


def _tsp(arrays: Mapping[str, np.ndarray], where: str) -> dict[str, np.ndarray]:
    """TSP: ``locs`` is already ``coords``."""
    locs = _require(arrays, "locs", where)
    _expect_shape(locs, "locs", "(B,N,2)", 3, where)
    return {"coords": locs}


def _cvrp(arrays: Mapping[str, np.ndarray], where: str) -> dict[str, np.ndarray]:
    """CVRP: depot first in ``coords``, integral (denormalised) demands and capacities."""
    demand = _node_values(arrays, "demand", where)
    b = demand.shape[0]
    capacity = _integral(
        _per_instance(_require(arrays, "capacity", where), "capacity", b, where), "capacity", where
    )
    depot, locs = _locations(arrays, demand.shape[1], where)
    demands = _demands(demand, capacity.astype(np.float64), where)
    return {
        "coords": _coords(depot, locs, demand, where),
        "demands": np.concatenate([np.zeros((b, 1), dtype=np.int64), demands], axis=1),
        "capacity": capacity,
    }


def _op(arrays: Mapping[str, np.ndarray], where: str) -> dict[str, np.ndarray]:
    """OP: depot first in ``coords`` and ``prizes`` (with prize 0), one budget per instance."""
    prize = _node_values(arrays, "prize", where)
    b = prize.shape[0]
    depot, locs = _locations(arrays, prize.shape[1], where)
    max_length = _per_instance(_require(arrays, "max_length", where), "max_length", b, where)
    return {
        "coords": _coords(depot, locs, prize, where),
        "prizes": np.concatenate([np.zeros((b, 1)), prize], axis=1),
        "max_length": max_length,
    }


class RL4COImporter(DatasetImporter):
    """rl4co's ``.npz`` layout (see the module docstring) as symco arrays."""

    name: ClassVar[str] = "rl4co"
    problems: ClassVar[tuple[str, ...]] = ("tsp", "cvrp", "op")
    description: ClassVar[str] = "rl4co .npz datasets (locs, depot, demand, capacity, prize, ...)"
    converters: ClassVar[
        dict[str, Callable[[Mapping[str, np.ndarray], str], dict[str, np.ndarray]]]
    ] = {"tsp": _tsp, "cvrp": _cvrp, "op": _op}
    """The converter of each problem in :attr:`problems`."""

    def read(self, path: Path, problem: Problem) -> dict[str, np.ndarray]:
        self.check_problem(problem.name)
        return self.converters[problem.name](read_npz(path), str(path))


def import_rl4co(path: str | os.PathLike[str], problem_name: str) -> dict[str, np.ndarray]:
    """The instance arrays of symco's ``problem_name`` from an rl4co-style ``.npz`` file
    (:class:`RL4COImporter` for a problem given by name).

    :raises UnknownNameError: the problem has no rl4co converter.
    :raises DataFileError: the file is unreadable, or an array is missing or misshapen.
    :raises InvalidInstanceError: a capacity or demand is not integral (naming its index).
    """
    importer = RL4COImporter()
    importer.check_problem(problem_name)
    return importer.converters[problem_name](read_npz(Path(path)), str(path))
