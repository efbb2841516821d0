"""``symco evaluate --out``: lines appear as batches finish, and the same command resumes an
interrupted run, evaluating only what is missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from symco.core.cli import main
from symco.core.errors import DataFileError
from symco.core.evaluation.resume import read_finished

ARGV = ["evaluate", "--ckpt", "bq-tsp", "--generate", "10:3,12:2", "--batch-size", "2",
        "--improve", "2opt", "--reference", "farthest", "--workers", "1", "--quiet"]  # fmt: skip


def _timeless(path: Path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        r = json.loads(line)
        r.pop("time_s")
        r["baselines"] = {m: b["cost"] for m, b in r["baselines"].items()}
        out.append(r)
    return sorted(out, key=lambda r: r["name"])


def test_an_interrupted_run_resumes_to_the_same_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    whole = tmp_path / "whole.jsonl"
    assert main([*ARGV, "--out", str(whole)]) == 0
    capsys.readouterr()

    import symco.core.evaluation.methods as methods

    real, calls = methods.run_methods, []

    def interrupted(*args, **kwargs):
        calls.append(len(args[3]))
        if len(calls) == 3:  # chunks: 10:2, 10:1, 12:2 -> stop in the third
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    part = tmp_path / "part.jsonl"
    monkeypatch.setattr(methods, "run_methods", interrupted)
    assert main([*ARGV, "--out", str(part)]) == 130
    assert len(part.read_text().splitlines()) == 3  # the two finished chunks are on disk
    capsys.readouterr()

    monkeypatch.setattr(
        methods, "run_methods", lambda *a, **k: calls.append(len(a[3])) or real(*a, **k)
    )
    calls.clear()
    assert main([*ARGV, "--out", str(part)]) == 0
    out, err = capsys.readouterr()
    assert calls == [2]  # only the missing chunk ran
    assert "resuming" in err and "3 of 5 instances are in it" in err
    assert f"wrote {part}: 5 lines (3 resumed)" in out
    assert _timeless(part) == _timeless(whole)
    # the table still covers every instance of both sizes
    rows = [line for line in out.splitlines() if line.startswith("tsp ")]
    assert any(" 10 " in r and "  3  " in r for r in rows) and any(" 12 " in r for r in rows)


def test_a_finished_file_is_not_evaluated_again(tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "r.jsonl"
    assert main([*ARGV, "--out", str(out)]) == 0
    before = out.read_text()

    def never(*args, **kwargs):
        raise AssertionError("nothing was left to evaluate")

    monkeypatch.setattr("symco.core.evaluation.methods.run_methods", never)
    assert main([*ARGV, "--out", str(out)]) == 0
    assert out.read_text() == before
    assert "bq-tsp greedy +2opt" in capsys.readouterr().out


def test_a_line_cut_short_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    good = json.dumps({"name": "a", "method": "m", "cost": 1.0}) + "\n"
    path.write_text(good + '{"name": "b", "meth')
    assert list(read_finished(path, "m")) == ["a"]
    assert path.read_text() == good


def test_another_methods_file_is_refused_in_one_line(tmp_path: Path, capsys) -> None:
    out = tmp_path / "r.jsonl"
    out.write_text(json.dumps({"name": "x", "method": "bq-tsp beam:4"}) + "\n")
    assert main([*ARGV, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"symco: error: {out}: line 1: results of 'bq-tsp beam:4', not 'bq-tsp greedy +2opt'; "
        "pass another --out (or remove the file) to start afresh"
    ]
    with pytest.raises(DataFileError, match="line 1: not a symco evaluate record; pass another"):
        (tmp_path / "junk.jsonl").write_text("hello\n")
        read_finished(tmp_path / "junk.jsonl", "m")
