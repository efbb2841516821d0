"""``--cluster``: labelling and solving on a Dask cluster give the local run's bytes, survive a
worker killed mid-run, and report what is wrong in one line."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from symco.core.cli import main
from symco.core.cluster import ClusterTaskError
from symco.core.errors import UsageError

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def scheduler() -> Any:
    """A scheduler and two one-thread worker processes (as ``dask scheduler`` + ``dask worker``
    would be), for the tests that give ``--cluster tcp://...``."""
    import logging

    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.ERROR)  # fmt: skip
    yield cluster
    cluster.close()


def _data(
    out: Path, *extra: str, problem: str = "tsp", solver: str = "lkh", num: int = 16
) -> list[str]:
    return ["data", "--problem", problem, "--size", "50", "--num", str(num), "--seed", "5",
            "--chunk-size", "4", "--solver", solver, "--out", str(out), "--quiet", *extra]  # fmt: skip


@pytest.mark.parametrize(("problem", "solver", "num"), [("tsp", "lkh", 16), ("cvrp", "hgs", 2)])
def test_a_cluster_run_is_the_local_run_byte_for_byte(
    tmp_path: Path, scheduler: Any, problem: str, solver: str, num: int
) -> None:
    pytest.importorskip("elkai" if solver == "lkh" else "pyvrp")
    local, remote = tmp_path / "local.npz", tmp_path / "remote.npz"
    assert main(_data(local, "--workers", "1", problem=problem, solver=solver, num=num)) == 0
    argv = _data(remote, "--cluster", scheduler.scheduler_address, problem=problem, solver=solver,
                 num=num)  # fmt: skip
    assert main(argv) == 0
    assert remote.read_bytes() == local.read_bytes()
    assert not Path(str(remote) + ".parts").exists()


def test_a_worker_killed_mid_run_costs_only_its_chunk(tmp_path: Path, scheduler: Any) -> None:
    """SIGKILL one worker process once the first chunk is written: the scheduler hands its
    chunk to the other worker (the nanny restarts the dead one) and the file is still whole and
    identical to the local run's."""
    pytest.importorskip("elkai")
    local, remote = tmp_path / "local.npz", tmp_path / "remote.npz"
    argv = ["data", "--problem", "tsp", "--size", "100", "--num", "24", "--seed", "2",
            "--chunk-size", "2", "--solver", "lkh", "--quiet"]  # fmt: skip
    assert main([*argv, "--out", str(local), "--workers", "1"]) == 0
    client = distributed.Client(scheduler.scheduler_address, set_as_default=False)
    pids = client.run(os.getpid)
    codes: list[int] = []
    run = threading.Thread(
        target=lambda: codes.append(
            main([*argv, "--out", str(remote), "--cluster", scheduler.scheduler_address])
        )
    )
    run.start()
    parts = Path(str(remote) + ".parts")
    deadline = time.monotonic() + 60
    while (
        not list(parts.glob("chunk_*.npz")) and not remote.exists() and time.monotonic() < deadline
    ):
        time.sleep(0.01)
    os.kill(next(iter(pids.values())), signal.SIGKILL)
    run.join(120)
    client.close()
    assert codes == [0]
    assert remote.read_bytes() == local.read_bytes()


def test_an_interrupted_cluster_run_resumes(tmp_path: Path, scheduler: Any) -> None:
    """Chunks a local run left in OUT.parts are kept; the cluster labels only the rest."""
    pytest.importorskip("elkai")
    whole, out = tmp_path / "whole.npz", tmp_path / "out.npz"
    assert main(_data(whole, "--workers", "1")) == 0
    assert main(_data(out, "--workers", "1", num=8)) == 0  # the first two chunks of 16...
    parts = Path(str(out) + ".parts")
    parts.mkdir()
    from symco.core.dataset import read_npz, save_npz

    first = read_npz(out)
    for c in range(2):  # ...put back as an interrupted run of 16 would have left them
        save_npz(parts / f"chunk_{c:06d}.npz", {k: v[4 * c : 4 * c + 4] for k, v in first.items()})
    out.unlink()
    from symco.core.labels import DataSpec, _open_parts

    spec = DataSpec("tsp", 50, 16, 5, "uniform", "lkh", {"seed": 5}, 4)
    _open_parts(out, spec)  # writes the manifest of the run being resumed
    assert main(_data(out, "--cluster", scheduler.scheduler_address)) == 0
    assert out.read_bytes() == whole.read_bytes()


def test_a_failing_chunk_is_named_and_the_rest_kept(
    tmp_path: Path, scheduler: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from symco.core.cluster import connect
    from symco.core.labels import DataSpec, build_dataset
    from symco.problems.tsp import TSP
    from symco.problems.tsp.solvers import FarthestInsertionTSP

    class Fails(FarthestInsertionTSP):
        def solve(self, instance: Any) -> np.ndarray:
            if float(instance["coords"][0, 0, 0]) < 0.05:
                raise RuntimeError("this instance is cursed")
            return super().solve(instance)

    # a class defined here travels by value (cloudpickle): the workers need not import this file
    spec = DataSpec("tsp", 20, 32, 1, "uniform", "fails", {"seed": 1}, 4)
    out = tmp_path / "f.npz"
    with connect(scheduler.scheduler_address) as cluster, pytest.raises(ClusterTaskError) as err:
        build_dataset(TSP(), spec, out, solver_cls=Fails, workers=1, cluster=cluster, quiet=True)
    message = str(err.value)
    assert "failed on tcp://" in message and "after 2 retries" in message
    assert "RuntimeError: this instance is cursed" in message and "rerun to retry" in message
    kept = list(Path(str(out) + ".parts").glob("chunk_*.npz"))
    assert kept and not out.exists()  # the finished chunks wait for the rerun, nothing half


def test_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "x.npz"
    assert main(_data(out, "--cluster", "local:0")) == 2
    assert capsys.readouterr().err.splitlines() == [
        "symco: error: --cluster: local:N needs N >= 1 worker processes, got 'local:0'"
    ]
    from symco.core import cluster as cluster_module

    monkeypatch.setattr(cluster_module, "connect", _unreachable(cluster_module.connect))
    assert main(_data(out, "--cluster", "tcp://127.0.0.1:9")) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(
        "symco: error: --cluster tcp://127.0.0.1:9: no Dask scheduler answers there ("
    )
    monkeypatch.setitem(sys.modules, "distributed", None)  # not installed
    assert main(_data(out, "--cluster", "tcp://127.0.0.1:9")) == 2
    assert capsys.readouterr().err.splitlines() == [
        "symco: error: --cluster: needs the distributed package: pip install 'symco[cluster]' "
        "(Dask distributed)"
    ]
    assert not out.exists()


def _unreachable(connect: Any) -> Any:
    """``connect`` with a short timeout (a closed port answers at once or never)."""
    from contextlib import contextmanager

    @contextmanager
    def quick(address: str, *, timeout: float = 10.0) -> Any:
        with connect(address, timeout=1.0) as c:
            yield c

    return quick


class _FakeClient:
    def __init__(self, versions: dict[str, Any]) -> None:
        self.versions = versions

    def wait_for_workers(self, n: int, timeout: float) -> None:
        if not self.versions:
            raise TimeoutError

    def run(self, func: Any, *args: Any, on_error: str) -> dict[str, Any]:
        return self.versions


@pytest.mark.parametrize(
    ("versions", "message"),
    [
        ({}, "--cluster tcp://h:8786: the scheduler has no workers (start some: dask worker "
             "tcp://h:8786 --nthreads 1)"),
        ({"tcp://w:1": "0.0.1"}, "--cluster tcp://h:8786: worker tcp://w:1 runs symco 0.0.1, "
                                 "this client 0.1.0 (install the same version everywhere)"),
        ({"tcp://w:1": ModuleNotFoundError("symco")}, "--cluster tcp://h:8786: worker tcp://w:1 "
                                                     "has no symco installed (install symco 0.1.0 "
                                                     "on every worker)"),
    ],
)  # fmt: skip
def test_workers_are_checked(versions: dict[str, Any], message: str) -> None:
    from symco.core.cluster import Cluster, _check_workers

    with pytest.raises(UsageError) as err:
        _check_workers(Cluster("tcp://h:8786", _FakeClient(versions)), 1.0)
    assert str(err.value) == message
