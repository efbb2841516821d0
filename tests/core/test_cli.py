"""The ``symco`` command line: commands, tables, JSONL, and one clear line for every bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from symco.core.cli import main
from symco.core.dataset import read_npz, save_npz


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_commands(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("plugins", "data", "solve"):
        assert cmd in out


def test_plugins_table_and_json(capsys) -> None:
    code, out, _ = run(capsys, "plugins")
    assert code == 0
    assert "tsp" in out and "symco 0.1.0" in out and "default label solver" in out
    code, out, _ = run(capsys, "plugins", "--json")
    data = json.loads(out)
    assert any({"kind": "problem", "name": "tsp"}.items() <= e.items() for e in data["entries"])


def test_data_then_solve(capsys, tmp_path: Path) -> None:
    out = tmp_path / "t.npz"
    code, stdout, _ = run(
        capsys,
        "data",
        "--problem",
        "tsp",
        "--size",
        "7",
        "--num",
        "6",
        "--solver",
        "exact",
        "--seed",
        "1",
        "--out",
        str(out),
        "--workers",
        "1",
        "--quiet",
    )
    assert code == 0 and "wrote" in stdout
    arrays = read_npz(out)
    assert arrays["coords"].shape == (6, 7, 2) and arrays["tours"].shape == (6, 7)
    jsonl = tmp_path / "r.jsonl"
    code, stdout, _ = run(
        capsys, "solve", "--solver", "ortools", "--time-limit", "0.1", str(out), "--out", str(jsonl)
    )
    assert code == 0
    lines = [json.loads(x) for x in jsonl.read_text().splitlines()]
    assert [x["name"] for x in lines] == [f"t.npz:{i}" for i in range(6)]
    assert {"name", "n", "cost", "solution", "time_s"} <= lines[0].keys()
    for x, cost in zip(lines, arrays["costs"]):
        assert sorted(x["solution"]) == list(range(7))
        assert x["gap_percent"] == pytest.approx(0.0, abs=1e-3)
        assert x["cost"] == pytest.approx(cost, rel=1e-4)
    assert "gap %" in stdout


def test_existing_output_needs_force(capsys, tmp_path: Path) -> None:
    out = tmp_path / "t.npz"
    args = [
        "data",
        "--problem",
        "tsp",
        "--size",
        "5",
        "--num",
        "2",
        "--solver",
        "none",
        "--out",
        str(out),
        "--quiet",
    ]
    assert run(capsys, *args)[0] == 0
    code, _, err = run(capsys, *args)
    assert code == 2 and "exists; pass --force" in err
    assert run(capsys, *args, "--force")[0] == 0


def test_solve_tsplib_directory_reports_gap(capsys, tmp_path: Path) -> None:
    # a small TSPLIB file with a .sol beside it, in a directory
    from symco.problems.tsp import TSP

    inst = TSP().generate(1, 9, rng=np.random.default_rng(0))
    inst["coords"] = np.round(inst["coords"] * 1000)
    inst["euc_2d"] = np.array([True])
    from symco.problems.tsp.solvers import ExactTSP

    TSP().write(tmp_path / "small.tsp", inst, ExactTSP().solve(inst))
    code, out, _ = run(capsys, "solve", "--solver", "ortools", "--time-limit", "0.2", str(tmp_path))
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("small"))
    assert row.split()[5] == "0.0000"  # gap % to the optimal .sol


def _bad_npz(tmp_path: Path, **arrays) -> str:
    path = tmp_path / "bad.npz"
    save_npz(path, arrays)
    return str(path)


def _data(p: Path, *extra: str, size: str = "5", out: str = "x.npz") -> list[str]:
    """`symco data` argv for a TSP set of one instance, with ``extra`` options."""
    return ["data", "--problem", "tsp", "--size", size, "--num", "1", *extra, "--out", str(p / out)]


BAD = {
    "nan": lambda p: ["solve", _bad_npz(p, coords=np.array([[[0, 0], [np.nan, 1], [1, 1]]]))],
    "inf": lambda p: ["solve", _bad_npz(p, coords=np.array([[[0, 0], [np.inf, 1], [1, 1]]]))],
    "n<3 file": lambda p: ["solve", _bad_npz(p, coords=np.zeros((1, 2, 2)))],
    "n<3 data": lambda p: _data(p, size="2"),
    "wrong shape": lambda p: ["solve", "--problem", "tsp", _bad_npz(p, coords=np.zeros((1, 5, 3)))],
    "unknown problem": lambda p: ["data", "--problem", "tsq", "--size", "5", "--num", "1", "--out", str(p / "x.npz")],
    "unknown solver": lambda p: _data(p, "--solver", "lkj"),
    "missing file": lambda p: ["solve", str(p / "nope.npz")],
    "malformed npz": lambda p: ["solve", _write(p / "junk.npz", b"not a zip")],
    "malformed tsp": lambda p: ["solve", _write(p / "junk.tsp", b"\x00\x01garbage")],
    "unknown suffix": lambda p: ["solve", _write(p / "x.txt", b"hello")],
    "negative num": lambda p: ["data", "--problem", "tsp", "--size", "5", "--num", "-3", "--out", str(p / "x.npz")],
    "bad time limit": lambda p: ["solve", "--time-limit", "nan", str(p)],
    "too big for exact": lambda p: _data(p, "--solver", "exact", size="40"),
    "pickled npz": lambda p: ["solve", _pickled(p)],
    "wrong out suffix": lambda p: _data(p, out="x.csv"),
}  # fmt: skip


def _write(path: Path, content: bytes) -> str:
    path.write_bytes(content)
    return str(path)


def _pickled(path: Path) -> str:
    target = path / "obj.npz"
    np.savez(target, coords=np.array([{"a": 1}], dtype=object))
    return str(target)


def test_an_unknown_problem_names_the_flag(capsys, tmp_path: Path) -> None:
    for argv in (BAD["unknown problem"](tmp_path), ["solve", "--problem", "tsq", str(tmp_path)]):
        assert main(argv) == 2
        assert capsys.readouterr().err.startswith("symco: error: --problem: unknown problem 'tsq'")


@pytest.mark.parametrize("case", BAD)
def test_bad_input_one_clear_line(case: str, capsys, tmp_path: Path) -> None:
    argv = BAD[case](tmp_path)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2, (case, out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "error:" in lines[0], (case, err)
    assert "Traceback" not in err


def test_console_script_no_traceback(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("symco")
    proc = subprocess.run(
        [str(exe), "solve", str(tmp_path / "missing.tsp")], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"symco: error: {tmp_path / 'missing.tsp'}: no such file"


@pytest.mark.slow
def test_symco_data_interrupted_by_ctrl_c_resumes(tmp_path: Path) -> None:
    import signal
    import time

    exe = str(Path(sys.executable).with_name("symco"))
    out = tmp_path / "d.npz"
    argv = [exe, "data", "--problem", "tsp", "--size", "11", "--num", "48", "--solver", "exact",
            "--chunk-size", "4", "--workers", "1", "--quiet", "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    parts = tmp_path / "d.npz.parts"
    deadline = time.monotonic() + 60
    while len(list(parts.glob("chunk_*.npz"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the run finished before it could be interrupted")
    assert proc.returncode == 130 and "rerun the same command to resume" in err
    assert not out.exists()
    kept = len(list(parts.glob("chunk_*.npz")))
    assert kept >= 2
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    assert f"resumed, {kept} of 12 chunks kept" in done.stdout
    clean = tmp_path / "clean.npz"
    subprocess.run([*argv[:-1], str(clean)], capture_output=True, text=True, check=True)
    a, b = read_npz(out), read_npz(clean)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_without_elkai_the_strongest_installed_solver_labels(
    capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from symco.problems.tsp.solvers import LKHTSP

    monkeypatch.setattr(LKHTSP, "requires", ("symco_no_such_module",))
    code, out, _ = run(capsys, "plugins")
    assert "not installed" in out
    default = next(line for line in out.splitlines() if line.endswith("default label solver"))
    assert default.split()[1] == "hgs"
    code, _, err = run(capsys, "data", "--problem", "tsp", "--size", "20", "--num", "1",
                       "--solver", "lkh", "--out", str(tmp_path / "x.npz"))  # fmt: skip
    assert code == 2 and "needs symco_no_such_module" in err


def test_plugins_note_agrees_with_the_solver_data_uses(tmp_path, capsys) -> None:
    """`symco plugins` says which solver `symco data` picks, also at small sizes."""
    from symco.core.cli import main as symco_main

    assert symco_main(["plugins", "--json"]) == 0
    import json as _json

    entries = _json.loads(capsys.readouterr().out)["entries"]
    exact = next(
        e for e in entries if (e["kind"], e["name"], e["problem"]) == ("solver", "exact", "tsp")
    )
    assert exact["note"] == "default label solver for N <= 12"
    out = tmp_path / "t.npz"
    assert symco_main(["data", "--problem", "tsp", "--size", "10", "--num", "2", "--workers", "1",
                       "--quiet", "--out", str(out)]) == 0  # fmt: skip
    assert "labelled by exact" in capsys.readouterr().out
