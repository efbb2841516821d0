"""``.npz`` datasets (no pickle) and atomic writes.

A dataset file holds a problem's instance arrays (:attr:`Problem.instance_spec`), optionally its
solutions under :attr:`Problem.solution_key` and objective values under
:attr:`Problem.objective_key`, all with the same leading batch dimension.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from symco.core.errors import DataFileError, InvalidInstanceError
from symco.core.problem import Instances, Problem, integral_as_int64


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path`` atomically.

    Readers never see a half-written file, and a crash leaves the old file (if any) intact.
    The temporary name keeps ``path``'s suffix, so writers that append one (``np.savez``) do not.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp creates 0600 files: give the result the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def chunk_ranges(size: int, chunk_size: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``0..size-1`` in chunks of ``chunk_size``."""
    return [(s, min(s + chunk_size, size)) for s in range(0, size, chunk_size)]


def chunk_path(folder: Path, split: str, start: int, stop: int) -> Path:
    """``folder/<split>-<start>-<stop>.npz``: one chunk of a chunked dataset."""
    return folder / f"{split}-{start:06d}-{stop:06d}.npz"


def manifest_mismatch(path: Path, mine: Mapping[str, Any], remedy: str) -> tuple[str, Any] | None:
    """The first key whose value in the manifest file ``path`` differs from ``mine``, with the
    file's value; ``None`` when all agree. An unreadable file is one :class:`DataFileError`
    line ending in ``remedy``."""
    try:
        theirs = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataFileError(f"{path}: unreadable ({exc}); {remedy}") from None
    for k in mine:
        if theirs.get(k) != mine[k]:
            return k, theirs.get(k)
    return None


def manifest_folder(
    data_dir: str | os.PathLike[str],
    name: str,
    manifest: Mapping[str, object],
    *,
    create: bool = True,
) -> Path:
    """``data_dir/name``, a chunked dataset's folder, its ``manifest.json`` checked against
    ``manifest`` (what made the chunks; written if missing and ``create``): a folder made by
    other settings is one :class:`DataFileError` line naming the first differing key."""
    folder = Path(data_dir) / name
    path = folder / "manifest.json"
    mine = json.loads(json.dumps(manifest))  # tuples as lists, as the file holds them
    if path.is_file():
        found = manifest_mismatch(path, mine, f"delete {folder}")
        if found is not None:
            k, theirs = found
            raise DataFileError(
                f"{path}: {k}={theirs!r}, but the data module asks for {mine[k]!r}; "
                f"delete {folder} or use another data_dir"
            )
    elif create:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(mine, indent=1, ensure_ascii=False) + "\n")
    return folder


def run_chunks(
    write: Callable[..., object],
    jobs: Sequence[tuple[Any, ...]],
    workers: int | None = None,
    on_done: Callable[[int, tuple[Any, ...]], None] | None = None,
) -> None:
    """``write(*job)`` for every job (a chunk of a chunked dataset): in this process for one
    worker, else over a pool of spawned processes (``workers``, default the usable cores; one
    thread each). A worker's error is raised here; ``on_done(i, job)`` follows each finished job.

    ``write`` must be importable by the workers (a module-level function).
    """
    import concurrent.futures as cf
    import multiprocessing

    from symco.core.threads import usable_cores, worker_init

    procs = min(workers or usable_cores(), len(jobs))
    if procs <= 1:
        for i, job in enumerate(jobs):
            write(*job)
            if on_done is not None:
                on_done(i, job)
        return
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that runs torch
    with cf.ProcessPoolExecutor(procs, mp_context=ctx, initializer=worker_init) as pool:
        futures = {pool.submit(write, *job): job for job in jobs}
        for i, fut in enumerate(cf.as_completed(futures)):
            fut.result()  # re-raise a worker's error here
            if on_done is not None:
                on_done(i, futures[fut])


def save_npz(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` atomically (plain ``.npz``, no object arrays).

    The bytes depend on the arrays alone: the archive's entries carry a fixed timestamp (``np.savez``
    stamps the current time), so the same data written twice — by two runs, or by a local run and
    a cluster run — is the same file.
    """
    for key, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"array '{key}' has dtype object; datasets hold numeric arrays only")
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asarray(value), allow_pickle=False)


def read_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file; missing, malformed or pickled content raises one clear line."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise DataFileError(f"{path}: not a .npz archive")
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise DataFileError(f"{path}: holds pickled objects, which symco never loads") from None
        raise DataFileError(f"{path}: not a valid .npz file ({exc})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataFileError(
            f"{path}: not a valid .npz file ({type(exc).__name__}: {exc})"
        ) from None


def concat_arrays(
    parts: Sequence[Mapping[str, np.ndarray]], padded: str, where: str = "datasets"
) -> dict[str, np.ndarray]:
    """Concatenate the arrays of several datasets along the instance axis.

    Variable-length solutions (CVRP, OP, KP) are ``-1``-padded per file, so key ``padded`` is
    right-padded with ``-1`` to the widest file first; any other mismatch is one clear line.
    """
    merged: dict[str, np.ndarray] = {}
    for key in parts[0]:
        arrays = [np.asarray(p[key]) for p in parts if key in p]
        if len(arrays) != len(parts):
            raise DataFileError(f"{where}: array '{key}' is missing from some files")
        if key == padded and all(a.ndim == 2 for a in arrays):
            width = max(a.shape[1] for a in arrays)
            arrays = [
                np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=-1) for a in arrays
            ]
        if len({a.shape[1:] for a in arrays}) > 1:
            shapes = sorted({str(a.shape[1:]) for a in arrays})
            raise DataFileError(
                f"{where}: array '{key}' has different shapes per file: {', '.join(shapes)}"
            )
        merged[key] = np.concatenate(arrays)
    return merged


@dataclass
class Dataset:
    """A loaded, validated dataset of one problem."""

    instances: Instances
    solutions: np.ndarray | None
    objectives: np.ndarray | None

    def __len__(self) -> int:
        return len(next(iter(self.instances.values())))


def load_dataset(path: str | os.PathLike[str], problem: Problem) -> Dataset:
    """Read ``path`` and check it against ``problem``'s arrays (keys, shapes, finite values).

    Integer arrays stored as floats with integral values (other codebases' capacities and
    demands) are returned as ``int64``; a fractional one is refused naming its first index.
    """
    arrays = read_npz(path)
    keys = {s.key for s in problem.instance_spec}
    instances = {k: v for k, v in arrays.items() if k in keys}
    b, _ = problem.validate(instances, str(path))
    instances = integral_as_int64(problem.instance_spec, instances)
    solutions = arrays.get(problem.solution_key)
    objectives = arrays.get(problem.objective_key)
    for key, arr in ((problem.solution_key, solutions), (problem.objective_key, objectives)):
        if arr is not None and (arr.ndim == 0 or arr.shape[0] != b):
            raise InvalidInstanceError(
                f"{path}: '{key}' has shape {arr.shape}, expected leading dimension B={b}"
            )
    if objectives is not None and objectives.ndim != 1:
        raise InvalidInstanceError(
            f"{path}: '{problem.objective_key}' must have shape (B,), got {objectives.shape}"
        )
    return Dataset(instances, solutions, objectives)
