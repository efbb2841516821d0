"""``symco evaluate`` refuses, before any work, a run that would not fit in memory: one line
saying how much it needs and what to pass."""

from __future__ import annotations

import re

import pytest

from symco.core.cli import main
from symco.core.decoding import Decoder
from symco.core.evaluation.memory import available_bytes, needs

MiB = 2**20


def _refusal(argv: list[str], available: int, monkeypatch: pytest.MonkeyPatch, capsys) -> str:
    def never(*args, **kwargs):
        raise AssertionError("work started before the memory check")

    monkeypatch.setattr("symco.core.evaluation.memory.available_bytes", lambda device: available)
    monkeypatch.setattr("symco.core.evaluation.methods.decode_items", never)
    monkeypatch.setattr("symco.core.evaluation.methods.solve_items", never)
    assert main(["evaluate", "--ckpt", "bq-tsp", *argv]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    return err[0]


@pytest.mark.parametrize(
    ("argv", "available", "line"),
    [
        (["--generate", "3000:1"], MiB,
         "3000-node instances in batches of 1 without --knn need about X MiB to decode, "
         "1.0 MiB available: pass --knn 100"),
        (["--generate", "3000:6", "--batch-size", "4", "--knn", "50"], MiB,
         "3000-node instances in batches of 4 with --knn 50 need about X MiB to decode, "
         "1.0 MiB available: pass a smaller --batch-size (or a smaller --knn)"),
        (["--generate", "3000:2", "--augment", "d4"], MiB,
         "3000-node instances in batches of 2 (x8 images, --augment d4) without --knn need about "
         "X MiB to decode, 1.0 MiB available: pass --knn 100 (or a smaller --batch-size); "
         "or leave out --augment"),
        (["--generate", "3000:1", "--knn", "100", "--improve", "2opt"], 100 * MiB,
         "3000-node instances in batches of 1 with --knn 100 need about X MiB for --improve 2opt, "
         "100.0 MiB available: leave out --improve 2opt"),
    ],
)  # fmt: skip
def test_a_run_too_large_for_memory_is_refused_in_one_line(
    argv: list[str], available: int, line: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    got = _refusal(argv, available, monkeypatch, capsys)
    assert re.sub(r"about [\d.]+ MiB", "about X MiB", got) == f"symco: error: evaluate: {line}"


def test_the_refusal_states_the_estimate(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """2-opt holds five ``(B, N, N)`` float64 tensors: 3000 nodes need 412 MiB."""
    got = _refusal(["--generate", "3000:1", "--knn", "100", "--improve", "2opt"], 100 * MiB,
                   monkeypatch, capsys)  # fmt: skip
    assert "need about 412.0 MiB for --improve 2opt" in got


def test_needs_count_the_rows_each_batch_decodes() -> None:
    """``--batch-size`` rows, ``rows_per_instance`` each and one per augmented image; a size
    with fewer instances than a batch decodes them all at once."""
    rows: list[tuple[int, int]] = []

    def memory(batch: int, nodes: int) -> int:
        rows.append((batch, nodes))
        return batch * nodes

    dec = Decoder(lambda t: t["coords"], "x", rows_per_instance=2, memory=memory)
    got = needs(dec, None, {100: 3, 5000: 40}, batch_size=32, images=8, plain_stage=True)
    # 32 rows / 2 per instance = 16 instances; augmented: 16 // 8 = 2 instances (16 rows)
    assert [(n.nodes, n.instances, n.decode, n.improve) for n in got] == [
        (5000, 2, 16 * 5000, 0),
        (100, 2, 16 * 100, 0),
    ]
    assert rows == [(16, 5000), (16, 5000), (16, 100), (3, 100)]
    assert needs(Decoder(lambda t: t["coords"], "x"), None, {10: 1}, batch_size=1)[0].total == 0


def test_available_memory_is_read_from_the_system() -> None:
    free = available_bytes()
    assert free is None or free > 0
