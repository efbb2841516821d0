"""The thread policy: defaults, limits, one-line errors, the same tours with any thread count."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from symco.core.cli import main
from symco.core.errors import UsageError
from symco.core.threads import (
    ENV,
    check_threads,
    passive_wait,
    pop_threads,
    resolve_threads,
    usable_cores,
    worker_init,
)


def test_default_is_the_usable_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (ENV, "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    assert resolve_threads(None) == usable_cores() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("OMP_NUM_THREADS", "999")  # a user's setting, capped at the cores
    assert resolve_threads(None) == usable_cores()
    monkeypatch.setenv(ENV, "1")
    assert resolve_threads(None) == 1
    assert resolve_threads(1) == 1  # the option wins


@pytest.mark.parametrize(
    ("value", "message"),
    [(0, "expected a thread count >= 1, got 0"), (-3, "got -3"), (10_000, "may use")],
)
def test_bad_counts_are_refused(value: int, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        check_threads(value, "--threads")


def test_env_must_be_an_integer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "many")
    with pytest.raises(UsageError, match="SYMCO_THREADS: expected an integer"):
        resolve_threads(None)


def test_passive_wait_keeps_a_user_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    passive_wait()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    passive_wait()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_pop_threads_takes_only_ours() -> None:
    assert pop_threads(["--config", "a.yaml", "--threads", "2", "--x=1"]) == (
        2,
        ["--config", "a.yaml", "--x=1"],
    )
    assert pop_threads(["--threads=1"]) == (1, [])
    assert pop_threads(["--config", "a.yaml"]) == (None, ["--config", "a.yaml"])
    with pytest.raises(UsageError, match="--threads: expected an integer, got 'x'"):
        pop_threads(["--threads", "x"])


def test_worker_processes_use_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    try:
        worker_init()
        assert os.environ["OMP_NUM_THREADS"] == "1" and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["evaluate", "--ckpt", "bq-tsp", "--generate", "10:1", "--threads", "0"], "--threads"),
        (["evaluate", "--ckpt", "bq-tsp", "--generate", "10:1", "--threads", "10000"], "may use"),
        (["check-symmetry", "--ckpt", "bq-tsp", "--threads", "10000"], "may use"),
        (["fit", "--config", "x.yaml", "--threads", "10000"], "may use"),
    ],
)
def test_cli_refuses_bad_threads_in_one_line(argv: list[str], message: str, capsys) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err


@pytest.mark.skipif(usable_cores() < 2, reason="needs two cores")
def test_same_tours_with_any_thread_count(tmp_path: Path) -> None:
    import torch

    before = torch.get_num_threads()
    tours = []
    try:
        for threads in ("1", "2"):
            out = tmp_path / f"t{threads}.jsonl"
            assert main(["evaluate", "--ckpt", "bq-tsp", "--generate", "60:6", "--reference", "none",
                         "--threads", threads, "--out", str(out), "--quiet"]) == 0  # fmt: skip
            tours.append([json.loads(x)["solution"] for x in out.read_text().splitlines()])
    finally:
        torch.set_num_threads(before)
    assert tours[0] == tours[1]
