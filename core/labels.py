"""Generating and labelling datasets in parallel, deterministically and resumably.

Instances are generated in fixed-size chunks; chunk ``c`` draws from
``np.random.default_rng([seed, c])`` alone, so the file is the same whatever the number of
workers. Each finished chunk is written atomically to ``OUT.parts/``; an interrupted run, started
again with the same arguments, keeps those chunks and continues with the rest. On a Dask cluster
(``cluster=``) each chunk is one task, :func:`label_chunk`, the same pure function of ``(seed,
c)``: the file is the same as a local run's.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import shutil
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from symco.core.dataset import atomic_path, concat_arrays, manifest_mismatch, read_npz, save_npz
from symco.core.errors import DataFileError, InvalidInstanceError
from symco.core.problem import Instances, Problem
from symco.core.solver import Solver
from symco.core.threads import worker_init

if TYPE_CHECKING:
    from symco.core.cluster import Cluster


def solve_one(
    solver_cls: type[Solver], options: Mapping[str, Any], instance: Instances
) -> tuple[np.ndarray, float]:
    """Solve one instance (``B=1``) in this process; returns ``(solution, seconds)``.

    Top-level so worker processes receive the solver *class* by reference, never a registry.
    """
    solver = solver_cls(**options)
    start = time.perf_counter()
    solution = solver.solve(instance)
    return solution, time.perf_counter() - start


class Pool:
    """``workers`` processes (or the calling process when ``workers == 1``) running
    :func:`solve_one` — or, given a connected :class:`~symco.core.cluster.Cluster`, its workers
    (each instance one task, retried where its worker dies)."""

    def __init__(self, workers: int, cluster: Cluster | None = None) -> None:
        if workers < 1:
            raise InvalidInstanceError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self.cluster = cluster
        self._ex: cf.ProcessPoolExecutor | None = None

    def __enter__(self) -> Pool:
        if self.workers > 1 and self.cluster is None:
            ctx = multiprocessing.get_context("spawn")
            # one thread per worker: the pool already runs one worker per core
            self._ex = cf.ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=worker_init)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._ex is not None:
            self._ex.shutdown(wait=exc[0] is None, cancel_futures=True)

    def submit(
        self, solver_cls: type[Solver], options: Mapping[str, Any], instance: Instances
    ) -> cf.Future[tuple[np.ndarray, float]]:
        if self.cluster is not None:  # a Dask future: result() and add_done_callback() alike
            args = (solver_cls, dict(options), instance)
            return self.cluster.submit(solve_one, *args, name="solve")  # type: ignore[no-any-return]
        if self._ex is not None:
            return self._ex.submit(solve_one, solver_cls, dict(options), instance)
        fut: cf.Future[tuple[np.ndarray, float]] = cf.Future()
        try:
            fut.set_result(solve_one(solver_cls, options, instance))
        except BaseException as exc:
            fut.set_exception(exc)
        return fut


@dataclass(frozen=True)
class DataSpec:
    """Everything that determines a dataset file; stored in ``OUT.parts/manifest.json``."""

    problem: str
    size: int
    num: int
    seed: int
    distribution: str
    solver: str | None
    solver_options: dict[str, Any]
    chunk_size: int

    @property
    def num_chunks(self) -> int:
        return -(-self.num // self.chunk_size)

    def chunk_len(self, c: int) -> int:
        return min(self.chunk_size, self.num - c * self.chunk_size)


def parts_dir(out: Path) -> Path:
    """Where the finished chunks of ``out`` wait until the whole file is written."""
    return out.with_name(out.name + ".parts")


def _open_parts(out: Path, spec: DataSpec) -> tuple[Path, set[int]]:
    parts = parts_dir(out)
    manifest = parts / "manifest.json"
    mine = asdict(spec)
    if manifest.is_file():
        found = manifest_mismatch(manifest, mine, f"delete {parts} to start over")
        if found is not None:
            k, theirs = found
            raise DataFileError(
                f"{parts} holds an interrupted run with {k}={theirs!r}, not {mine[k]!r};"
                f" rerun with the same arguments to resume, or delete {parts}"
            )
    else:
        parts.mkdir(parents=True, exist_ok=True)
        with atomic_path(manifest) as tmp:
            tmp.write_text(json.dumps(mine, indent=1))
    done = {int(p.stem.split("_")[1]) for p in parts.glob("chunk_*.npz")}
    return parts, {c for c in done if c < spec.num_chunks}


def generate_chunk(problem: Problem, spec: DataSpec, c: int) -> Instances:
    """Chunk ``c``'s instances: drawn from ``np.random.default_rng([seed, c])`` alone."""
    rng = np.random.default_rng([spec.seed, c])
    return problem.generate(spec.chunk_len(c), spec.size, rng=rng, distribution=spec.distribution)


def labelled(problem: Problem, inst: Instances, solutions: list[np.ndarray]) -> dict[str, Any]:
    """``inst``'s arrays with the (checked) solutions packed and their objective values."""
    problem.check_solution(inst, solutions)
    return {
        **inst,
        problem.solution_key: problem.pack_solutions(solutions),
        problem.objective_key: problem.objective(inst, solutions),
    }


def label_chunk(
    problem: Problem, spec: DataSpec, c: int, solver_cls: type[Solver] | None
) -> tuple[dict[str, Any], float]:
    """Chunk ``c`` of the dataset, generated and labelled in this process, and the solver's
    seconds: what a cluster worker runs (a pure function of ``(spec, c)`` with a deterministic
    solver)."""
    inst = generate_chunk(problem, spec, c)
    if solver_cls is None:
        return dict(inst), 0.0
    results = [
        solve_one(solver_cls, spec.solver_options, problem.select(inst, i))
        for i in range(spec.chunk_len(c))
    ]
    return labelled(problem, inst, [r[0] for r in results]), sum(r[1] for r in results)


def build_dataset(
    problem: Problem,
    spec: DataSpec,
    out: Path,
    *,
    solver_cls: type[Solver] | None,
    workers: int,
    progress: Callable[[int], None] | None = None,
    cluster: Cluster | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Generate (and label) ``spec.num`` instances into ``out``; resumes from ``OUT.parts``.

    :param progress: called with the number of instances just finished.
    :param cluster: label on a Dask cluster (:mod:`symco.core.cluster`), a task per chunk, its
        own progress (``quiet``: none); ``workers`` is then unused.
    :return: a summary: instances, chunks reused, solver seconds.
    :raises ClusterTaskError: a chunk failed on the cluster after its retries (the others are
        kept in ``OUT.parts``).
    """
    parts, done = _open_parts(out, spec)
    todo = [c for c in range(spec.num_chunks) if c not in done]
    if cluster is not None:
        spent = [0.0]

        def keep(c: int, value: tuple[dict[str, Any], float]) -> None:
            save_npz(parts / f"chunk_{c:06d}.npz", value[0])
            spent[0] += value[1]

        tasks = {c: (label_chunk, (problem, spec, c, solver_cls)) for c in todo}
        cluster.run_tasks(tasks, keep, what="chunk", quiet=quiet)
        _merge(parts, spec, out, problem.solution_key)
        return {"instances": spec.num, "chunks_reused": len(done), "solver_seconds": spent[0]}
    if progress and done:
        progress(sum(spec.chunk_len(c) for c in done))
    seconds = 0.0
    with Pool(workers) as pool:
        window: deque[tuple[int, Instances, list[cf.Future[tuple[np.ndarray, float]]]]] = deque()

        def finish() -> None:
            nonlocal seconds
            c, inst, futs = window.popleft()
            arrays = dict(inst)
            if solver_cls is not None:
                results = [f.result() for f in futs]
                seconds += sum(r[1] for r in results)
                arrays = labelled(problem, inst, [r[0] for r in results])
            elif progress:
                progress(spec.chunk_len(c))
            save_npz(parts / f"chunk_{c:06d}.npz", arrays)

        for c in todo:
            inst = generate_chunk(problem, spec, c)
            futs = []
            if solver_cls is not None:
                for i in range(spec.chunk_len(c)):
                    fut = pool.submit(solver_cls, spec.solver_options, problem.select(inst, i))
                    if progress:
                        fut.add_done_callback(lambda _f: progress(1))
                    futs.append(fut)
            window.append((c, inst, futs))
            # with workers, keep one chunk queued so no process idles while a chunk is saved
            while len(window) > (1 if workers > 1 else 0):
                finish()
        while window:
            finish()
    _merge(parts, spec, out, problem.solution_key)
    return {"instances": spec.num, "chunks_reused": len(done), "solver_seconds": seconds}


def _merge(parts: Path, spec: DataSpec, out: Path, solution_key: str) -> None:
    chunks = [read_npz(parts / f"chunk_{c:06d}.npz") for c in range(spec.num_chunks)]
    save_npz(out, concat_arrays(chunks, solution_key, where=str(parts)))
    shutil.rmtree(parts)
