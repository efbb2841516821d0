"""What ``symco solve`` and ``symco evaluate`` run on: instances read from files, datasets and
directories, or generated, each with its reference value where one is known."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from symco.core.errors import DataFileError
from symco.core.problem import Instances, Problem
from symco.core.registry import Registry

__all__ = ["Item", "LoadedInstance", "generate_inputs", "load_inputs", "problem_for_npz"]


@dataclass
class LoadedInstance:
    """One instance read from a file: its ``name`` (``file.npz:3`` for a dataset row, the stem for
    an instance file), its ``problem``, the ``instance`` arrays (leading axis ``B = 1``) and the
    ``reference`` objective value the file records (a dataset's label, a ``.sol`` file), if any."""

    name: str
    problem: Problem
    instance: Instances
    reference: float | None


@dataclass
class Item(LoadedInstance):
    """One instance under evaluation: a :class:`LoadedInstance`, where its reference comes from
    (``reference_by``: a solver's name, or ``"file"``) and the result of every method run on it
    (``results[method]``: ``cost``, ``solution`` (NumPy, the problem's format), ``time_s``, and
    for improved methods ``start_cost`` and ``improve_steps``)."""

    reference_by: str | None = None
    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, loaded: LoadedInstance) -> Item:
        """The item of a loaded instance (its reference, if any, is from the file)."""
        by = "file" if loaded.reference is not None else None
        return cls(loaded.name, loaded.problem, loaded.instance, loaded.reference, by)

    @property
    def size(self) -> int:
        return self.problem.size(self.instance)


def problem_for_npz(registry: Registry, path: Path, keys: Sequence[str]) -> Problem:
    """The registered problem whose required arrays are all in the file, preferring the most
    specific (the one requiring most arrays).

    :raises DataFileError: no problem fits, naming the file and its arrays.
    """
    best: tuple[int, Problem] | None = None
    for e in registry.entries("problem"):
        required = {s.key for s in e.obj.instance_spec if not s.optional}
        if required <= set(keys) and (best is None or len(required) > best[0]):
            best = (len(required), e.obj())
    if best is None:
        raise DataFileError(
            f"{path}: its arrays ({', '.join(keys) or 'none'}) match no registered problem"
        )
    return best[1]


def _files(registry: Registry, path: Path) -> list[Path]:
    """``path`` itself, or the ``.npz`` and instance files a registered problem reads in it."""
    if not path.is_dir():
        return [path]
    return sorted(
        p
        for p in path.iterdir()
        if p.suffix == ".npz" or any(e.obj().can_read(p) for e in registry.entries("problem"))
    )


def load_inputs(
    registry: Registry, paths: Sequence[str | Path], problem: str | None = None
) -> list[LoadedInstance]:
    """Every instance of every path: ``.npz`` datasets (one per row), instance files (TSPLIB,
    CVRPLIB, ...) and directories of them, in order.

    :param problem: the problem the inputs are (default: guessed from each file's arrays or
        suffix).
    :raises DataFileError: a missing file, a file no (or not the given) problem reads.
    """
    from symco.core.dataset import load_dataset, read_npz

    items: list[LoadedInstance] = []
    for raw in paths:
        for f in _files(registry, Path(raw)):
            if not f.exists():
                raise DataFileError(f"{f}: no such file")
            if f.suffix == ".npz":
                prob = (
                    registry.problem(problem)
                    if problem
                    else problem_for_npz(registry, f, list(read_npz(f)))
                )
                ds = load_dataset(f, prob)
                for i in range(len(ds)):
                    ref = None if ds.objectives is None else float(ds.objectives[i])
                    items.append(
                        LoadedInstance(f"{f.name}:{i}", prob, prob.select(ds.instances, i), ref)
                    )
            else:
                prob = registry.problem(problem) if problem else registry.problem_for_file(f)
                if not prob.can_read(f):
                    raise DataFileError(f"{f}: {prob.name} does not read '{f.suffix}' files")
                inst, known = prob.read(f)
                ref = None if known is None else float(known[0])
                items.append(LoadedInstance(f.stem, prob, inst, ref))
    return items


def generate_inputs(
    problem: Problem, sizes: Sequence[tuple[int, int]], seed: int
) -> list[LoadedInstance]:
    """Fresh instances of the problem's first distribution: ``num`` of each ``size``, named
    ``tsp100-seed0:3``; the instances of one size depend on ``(seed, size)`` only."""
    items = []
    for size, num in sizes:
        inst = problem.generate(num, size, rng=np.random.default_rng([seed, size]))
        items += [
            LoadedInstance(f"{problem.name}{size}-seed{seed}:{i}", problem, problem.select(inst, i), None)
            for i in range(num)
        ]  # fmt: skip
    return items
