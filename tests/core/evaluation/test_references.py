"""References computed once and reused (``--references``), and reference solves that say what
they run and are time-capped at scale."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from symco.core.cli import main
from symco.core.evaluation.command import LARGE, LARGE_REFERENCE_LIMIT, _reference_solver


def test_solve_results_are_references_by_name(tmp_path: Path, monkeypatch, capsys) -> None:
    data = tmp_path / "d.npz"
    assert main(["data", "--problem", "tsp", "--size", "12", "--num", "3", "--solver", "none",
                 "--out", str(data), "--quiet"]) == 0  # fmt: skip
    refs = tmp_path / "refs.jsonl"
    assert main(["solve", "--solver", "farthest", str(data), "--out", str(refs), "--quiet"]) == 0
    costs = {r["name"]: r["cost"] for r in map(json.loads, refs.read_text().splitlines())}
    capsys.readouterr()

    def never(*args, **kwargs):
        raise AssertionError("a reference was solved again")

    monkeypatch.setattr("symco.core.evaluation.methods.solve_items", never)
    out = tmp_path / "r.jsonl"
    argv = ["evaluate", "--ckpt", "bq-tsp", "--instances", str(data), "--references", str(refs),
            "--quiet", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert "gap % vs farthest" in capsys.readouterr().out
    for r in map(json.loads, out.read_text().splitlines()):
        assert r["reference"] == costs[r["name"]]

    # an evaluate file works the same way, its references reused
    again = tmp_path / "again.jsonl"
    argv = ["evaluate", "--ckpt", "bq-tsp", "--instances", str(data), "--decode", "beam:2",
            "--references", str(out), "--quiet", "--out", str(again)]  # fmt: skip
    assert main(argv) == 0
    assert [r["reference"] for r in map(json.loads, again.read_text().splitlines())] == list(
        costs.values()
    )


def test_a_bad_references_file_is_one_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"name": "x"}\n')
    argv = ["evaluate", "--ckpt", "bq-tsp", "--generate", "10:1", "--references"]
    assert main([*argv, str(bad)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"symco: error: {bad}: line 1: neither a symco solve nor a symco evaluate record"
    )
    assert main([*argv, str(tmp_path / "none.jsonl")]) == 2
    assert "none.jsonl: no such file (--references)" in capsys.readouterr().err


class _Item:
    def __init__(self, size: int, problem) -> None:
        self.size, self.problem, self.reference = size, problem, None


@pytest.mark.parametrize(
    ("size", "given", "limit"),
    [(100, None, None), (LARGE, None, LARGE_REFERENCE_LIMIT), (LARGE, 5.0, 5.0), (100, 2.0, 2.0)],
)
def test_reference_solves_are_capped_at_scale(registry, size, given, limit) -> None:
    from symco.core.manager import get_plugin_manager

    args = argparse.Namespace(reference="farthest", reference_time_limit=given)
    ref = _reference_solver(
        args, get_plugin_manager(), registry, [_Item(size, registry.problem("tsp"))]
    )
    assert ref is not None and ref.solver.name == "farthest"
    assert ref.options.get("time_limit") == limit


def test_the_reference_solve_says_what_it_runs(capsys) -> None:
    argv = ["evaluate", "--ckpt", "bq-tsp", "--generate", "10:1", "--reference", "farthest",
            "--workers", "1"]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        "reference: farthest on the instances without one (no time limit; --reference none "
        "skips it, --references FILE.jsonl supplies them)"
    )
