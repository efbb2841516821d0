"""Labelling and solving on a Dask cluster: ``--cluster ADDRESS`` on ``symco data``, ``symco
solve`` and ``symco evaluate`` (its references and baselines).

Dask distributed (https://distributed.dask.org) is the engine: its scheduler hands tasks to
workers, retries a task whose worker died (``distributed.scheduler.allowed-failures``) and, with
``retries``, one that raised. symco submits the same pure functions it runs locally — a dataset
chunk ``c`` is :func:`symco.core.labels.label_chunk` of ``(seed, c)`` — and writes what comes back
on the client, atomically, so a file made on a cluster is byte for byte the one a local run makes
(with a deterministic solver), and an interrupted run resumes from its finished chunks.

``ADDRESS`` is a scheduler's (``tcp://HOST:8786``: ``dask scheduler`` there, ``dask worker
tcp://HOST:8786 --nworkers N --nthreads 1`` on each machine, symco installed everywhere) or
``local[:N]``: a ``LocalCluster`` of ``N`` one-thread worker processes on this machine, to try it.
``distributed`` is the optional extra ``symco[cluster]``.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from symco.core.errors import SymcoError, UsageError

INSTALL = "pip install 'symco[cluster]' (Dask distributed)"


class ClusterTaskError(SymcoError):
    """A task failed on the cluster after its retries (the message names it); what finished is
    kept (``exit 2``)."""


class Cluster:
    """A connected Dask client (and the local cluster it started, for ``local[:N]``)."""

    def __init__(self, address: str, client: Any, local: Any = None) -> None:
        self.address, self.client, self.local = address, client, local

    def close(self) -> None:
        self.client.close()
        if self.local is not None:
            self.local.close()

    def submit(self, func: Callable[..., Any], *args: Any, name: str, retries: int = 2) -> Any:
        """``func(*args)`` on a worker, a Dask future (``result()``, ``add_done_callback``);
        ``retries`` more tries if it raises. Keys are unique per call: a rerun never meets a
        stale result."""
        key = f"symco-{name}-{uuid.uuid4().hex[:12]}"
        return self.client.submit(func, *args, key=key, pure=False, retries=retries)

    def running(self, futures: Mapping[Any, Any]) -> int:
        """How many of ``futures`` a worker is processing now."""
        keys = {f.key for f in futures}
        return sum(k in keys for tasks in self.client.processing().values() for k in tasks)

    def run_tasks(
        self,
        tasks: Mapping[int, tuple[Callable[..., Any], tuple[Any, ...]]],
        on_result: Callable[[int, Any], None],
        *,
        what: str,
        quiet: bool = False,
        retries: int = 2,
    ) -> None:
        """Submit every task ``i -> (func, args)``, call ``on_result(i, value)`` on the client
        as each finishes (in finishing order), with progress: done / running / failed, ETA.

        :raises ClusterTaskError: tasks that failed after ``retries`` retries (the first named);
            every other task's result was handed to ``on_result`` first.
        """
        from distributed import as_completed

        futures = {
            self.submit(func, *args, name=f"{what}-{i}", retries=retries): i
            for i, (func, args) in tasks.items()
        }
        failed: list[tuple[int, BaseException]] = []
        with (
            self.client.as_current(),  # as_completed finds its client there
            task_progress(len(futures), what, self.address, quiet=quiet) as report,
        ):
            for fut in as_completed(futures):  # type: ignore[no-untyped-call]
                i = futures[fut]
                if fut.status == "error":
                    failed.append((i, fut.exception()))
                else:
                    on_result(i, fut.result())
                report(len(failed), self.running(futures))
                fut.release()
        if failed:
            i, exc = failed[0]
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            raise ClusterTaskError(
                f"{what} {i} failed on {self.address} after {retries} retries{more}: "
                f"{type(exc).__name__}: {first}; the {len(futures) - len(failed)} that finished "
                "are kept: rerun to retry"
            )


@contextmanager
def task_progress(
    total: int, what: str, address: str, *, quiet: bool = False
) -> Iterator[Callable[[int, int], None]]:
    """Progress of cluster tasks; yields ``report(failed, running)``, called once per finished
    task: a ``tqdm`` bar on a terminal, else a line per task (done / running / failed, ETA)."""
    from tqdm import tqdm

    terminal = sys.stderr.isatty()
    t0 = time.perf_counter()
    done = 0
    with tqdm(total=total, desc=f"{what}s on {address}", unit=what,
              disable=quiet or not terminal, file=sys.stderr) as bar:  # fmt: skip

        def report(failed: int, running: int) -> None:
            nonlocal done
            done += 1
            bar.update(1)
            bar.set_postfix(running=running, failed=failed, refresh=False)
            if quiet or terminal:
                return
            spent = time.perf_counter() - t0
            eta = spent / done * (total - done)
            print(
                f"{what}s on {address}: {done - failed}/{total} done, {running} running, "
                f"{failed} failed, {spent:.0f} s, ETA {eta:.0f} s",
                file=sys.stderr,
            )

        yield report


def _parse_local(address: str) -> int | None:
    """``N`` of ``local[:N]`` (default 2), ``None`` for any other address."""
    if address != "local" and not address.startswith("local:"):
        return None
    text = address.partition(":")[2] or "2"
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"--cluster: local:N needs N >= 1 worker processes, got '{address}'")
    return int(text)


@contextmanager
def connect(address: str, *, timeout: float = 10.0) -> Iterator[Cluster]:
    """A client of the scheduler at ``address`` (or of a new ``local[:N]`` cluster), checked:
    the scheduler answers within ``timeout`` seconds, has workers, and every worker runs this
    version of symco. Closed on exit.

    :raises UsageError: one line naming the address: no ``distributed`` package, no scheduler
        there, no workers, a worker without symco or with another version.
    """
    try:
        import distributed
    except ImportError:
        raise UsageError(f"--cluster: needs the distributed package: {INSTALL}") from None
    import logging

    workers = _parse_local(address)
    local = None
    if workers is not None:
        local = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                         dashboard_address=None, silence_logs=logging.ERROR)  # type: ignore[no-untyped-call]  # fmt: skip
        address = f"local:{workers}"
        target: Any = local
    else:
        target = address
    try:
        client = distributed.Client(target, timeout=timeout, set_as_default=False)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError, ValueError) as exc:
        if local is not None:
            local.close()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"--cluster {address}: no Dask scheduler answers there ({first})"
        ) from None
    cluster = Cluster(address, client, local)
    try:
        _check_workers(cluster, timeout)
        yield cluster
    finally:
        cluster.close()


def _check_workers(cluster: Cluster, timeout: float) -> None:
    from importlib.metadata import version

    import symco

    client = cluster.client
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError:
        raise UsageError(
            f"--cluster {cluster.address}: the scheduler has no workers (start some: dask worker "
            f"{cluster.address} --nthreads 1)"
        ) from None
    # importlib.metadata travels by reference: it runs on a worker with or without symco
    found = client.run(version, "symco", on_error="return")
    for worker, value in sorted(found.items()):
        if isinstance(value, BaseException):
            raise UsageError(
                f"--cluster {cluster.address}: worker {worker} has no symco installed "
                f"(install symco {symco.__version__} on every worker)"
            )
        if value != symco.__version__:
            raise UsageError(
                f"--cluster {cluster.address}: worker {worker} runs symco {value}, this client "
                f"{symco.__version__} (install the same version everywhere)"
            )


def add_cluster_option(p: argparse.ArgumentParser) -> None:
    """``--cluster ADDRESS``: solve on a Dask cluster (:mod:`symco.core.cluster`)."""
    p.add_argument(
        "--cluster",
        default=None,
        metavar="ADDRESS",
        help="solve on the Dask scheduler at tcp://HOST:8786, or local[:N] worker processes "
        "(needs symco[cluster])",
    )


@contextmanager
def cluster_of(args: argparse.Namespace) -> Iterator[Cluster | None]:
    """The cluster ``--cluster`` names, connected and checked (``None`` without the option)."""
    if args.cluster is None:
        yield None
        return
    with connect(args.cluster) as cluster:
        yield cluster


__all__ = [
    "INSTALL",
    "Cluster",
    "ClusterTaskError",
    "add_cluster_option",
    "cluster_of",
    "connect",
    "task_progress",
]
