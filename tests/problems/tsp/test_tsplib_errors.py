"""Malformed TSPLIB files: one line naming the file, the line and the value; never a traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symco.core.cli import main
from symco.core.errors import DataFileError
from symco.problems.tsp import TSP

from ..conftest import edit_line, read_or_none

TINY = """NAME : tiny
TYPE : TSP
DIMENSION : 4
EDGE_WEIGHT_TYPE : EUC_2D
NODE_COORD_SECTION
1 0 0
2 10 0
3 10 10
4 0 10
EOF
"""
"""A valid file; the cases below edit one line of it (line numbers are 1-based)."""


def _edit(line: int, new: str | None) -> str:
    """``TINY`` with line ``line`` replaced by ``new`` (deleted for ``None``)."""
    return edit_line(TINY, line, new)


CASES = {
    "not a number": (_edit(7, "2 abc 0"), "line 7: x coordinate 'abc' of node 2 is not a number"),
    "missing y": (_edit(7, "2 10"), "line 7: node 2: missing y coordinate"),
    "missing x and y": (_edit(7, "2"), "line 7: node 2: missing x coordinate and y coordinate"),
    "extra value": (_edit(7, "2 10 0 5"), "line 7: node 2: unexpected '5' after the y coordinate"),
    "nan": (_edit(8, "3 10 nan"), "line 8: y coordinate 'nan' of node 3 is not a finite number"),
    "overflow": (_edit(8, "3 1e999 1"), "line 8: x coordinate '1e999' of node 3 is not a finite number"),
    "id not int": (_edit(7, "2.5 10 0"), "line 7: node id '2.5' is not an integer"),
    "id too big": (_edit(7, "5 10 0"), "line 7: node id 5 is out of range 1..4 (DIMENSION is 4)"),
    "id zero": (_edit(6, "0 0 0"), "line 6: node id 0 is out of range 1..4 (DIMENSION is 4)"),
    "id twice": (_edit(7, "1 10 0"), "line 7: node 1 appears twice in NODE_COORD_SECTION (first at line 6)"),
    "node missing": (_edit(9, None), "line 5: NODE_COORD_SECTION has 3 nodes but DIMENSION is 4: node 4 is missing"),
    "extra node": (_edit(10, "5 1 1\nEOF"), "line 10: node id 5 is out of range 1..4 (DIMENSION is 4)"),
    "no dimension, gap": (_edit(3, None).replace("4 0 10", "5 0 10"), "line 8: node id 5 is out of range 1..4 (NODE_COORD_SECTION has 4 rows)"),
    "dimension text": (_edit(3, "DIMENSION : abc"), "line 3: DIMENSION must be a positive integer, got 'abc'"),
    "dimension negative": (_edit(3, "DIMENSION : -1"), "line 3: DIMENSION must be a positive integer, got '-1'"),
    "dimension twice": (_edit(4, "DIMENSION: 5\nEDGE_WEIGHT_TYPE : EUC_2D"), "line 4: DIMENSION is given twice: '4' at line 3, '5' here"),
    "edge weight type": (_edit(4, "EDGE_WEIGHT_TYPE : GEO"), "line 4: EDGE_WEIGHT_TYPE GEO is not supported (EUC_2D, EXACT_2D)"),
    "type": (_edit(2, "TYPE : ATSP"), "line 2: TYPE is ATSP, expected TSP"),
    "section header lost": (_edit(5, None), "line 5: '1 0 0' is neither a 'KEY : value' line nor inside a section (not a readable TSPLIB file)"),
    "section twice": (_edit(8, "NODE_COORD_SECTION"), "line 8: NODE_COORD_SECTION appears twice (first at line 5)"),
    "junk after header": (_edit(5, "NODE_COORD_SECTION 1 0 0"), "line 5: unexpected '1 0 0' after NODE_COORD_SECTION (data goes on the next lines)"),
    "no section": ("NAME : x\nTYPE : TSP\nEOF\n", "no NODE_COORD_SECTION (only coordinate instances are supported)"),
    "control bytes": ("\x00\x01garbage\n", r"line 1: '\x00\x01garbage' is neither a 'KEY : value' line nor inside a section (not a readable TSPLIB file)"),
    "too few nodes": (_edit(3, "DIMENSION : 2").replace("3 10 10\n4 0 10\n", ""), "tsp needs at least 3 nodes, got N=2"),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_each_error_is_one_line_naming_file_line_and_value(tmp_path: Path, case: str) -> None:
    content, message = CASES[case]
    path = tmp_path / "bad.tsp"
    path.write_text(content)
    with pytest.raises(DataFileError) as info:
        TSP().read(path)
    assert str(info.value) == f"{path}: {message}"


def test_the_valid_file_reads(tmp_path: Path) -> None:
    """The base of the cases above is itself fine (so each case tests its one edit)."""
    path = tmp_path / "tiny.tsp"
    path.write_text(TINY)
    inst, ref = TSP().read(path)
    assert inst["coords"].tolist() == [[[0, 0], [10, 0], [10, 10], [0, 10]]] and ref is None


@pytest.mark.parametrize(
    "text",
    [
        "NODE_COORD_SECTION :\n3 2 2\n1 0 0\n2 1 1\n",
        "NODE_COORD_SECTION:\r\n3\t2\t2\r\n1 0 0\r\n2 1 1\r\n",
        "\ufeffNAME: a\nNODE_COORD_SECTION\n3 2 2\n1 0 0\n2 1.0 1e0\nEOF\n",
    ],
    ids=["colon", "crlf-tabs", "bom"],
)
def test_layouts_seen_in_published_files(tmp_path: Path, text: str) -> None:
    """Nodes in any order, a colon after a section name, CRLF and tabs, a byte-order mark."""
    path = tmp_path / "a.tsp"
    path.write_bytes(text.encode())
    inst, _ = TSP().read(path)
    assert inst["coords"][0].tolist() == [[0, 0], [1, 1], [2, 2]]


def test_unreadable_cost_in_the_solution_file(tmp_path: Path) -> None:
    path = tmp_path / "a.tsp"
    path.write_text(TINY)
    (tmp_path / "a.sol").write_text("Route #1: 1 2 3 4\nCost abc\n")
    with pytest.raises(DataFileError, match=r"a\.sol: Cost 'abc' is not a finite number$"):
        TSP().read(path)


@pytest.mark.parametrize(
    "tour, message",
    [
        ("TOUR_SECTION\n1\n2\nabc\n-1\n", "line 4: tour node 'abc' is not a node number"),
        ("TOUR_SECTION\n1\n9\n3\n4\n-1\n", "line 3: tour node 9 is out of range 1..4"),
        (
            "TOUR_SECTION\n1 2 3 4 -1 5\n",
            "line 2: unexpected '5' after the -1 that ends TOUR_SECTION",
        ),
        ("NAME : x.opt.tour\nEOF\n", "no TOUR_SECTION (the reference tour)"),
    ],
)
def test_malformed_tour_file(tmp_path: Path, tour: str, message: str) -> None:
    path = tmp_path / "a.tsp"
    path.write_text(TINY)
    (tmp_path / "a.opt.tour").write_text(tour)
    with pytest.raises(DataFileError) as info:
        TSP().read(path)
    assert str(info.value) == f"{tmp_path / 'a.opt.tour'}: {message}"


def _first_error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    return code, lines[0]


def _bad_copy(instances_dir: Path, tmp_path: Path, old: str, new: str) -> Path:
    """``d1291.tsp`` with ``old`` (a whole line) replaced by ``new``, without its ``.sol``."""
    text = (instances_dir / "d1291.tsp").read_text()
    assert f"\n{old}\n" in text
    path = tmp_path / "d1291.tsp"
    path.write_text(text.replace(f"\n{old}\n", f"\n{new}\n", 1))
    return path


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("12 1091 958.3", "12 abc 958.3", "line 19: x coordinate 'abc' of node 12 is not a number"),
        ("12 1091 958.3", "12 1091", "line 19: node 12: missing y coordinate"),
        ("DIMENSION : 1291", "DIMENSION : 1292", "line 7: NODE_COORD_SECTION has 1291 nodes but DIMENSION is 1292: node 1292 is missing"),
    ],
)  # fmt: skip
def test_solve_prints_one_line_and_exits_2(
    capsys, tmp_path: Path, instances_dir: Path, old: str, new: str, message: str
) -> None:
    path = _bad_copy(instances_dir, tmp_path, old, new)
    code, first = _first_error_line(capsys, ["solve", str(path)])
    assert (code, first) == (2, f"symco: error: {path}: {message}")


def test_evaluate_prints_one_line_and_exits_2(capsys, tmp_path: Path, instances_dir: Path) -> None:
    path = _bad_copy(instances_dir, tmp_path, "12 1091 958.3", "12 1091")
    argv = ["evaluate", "--ckpt", "bq-tsp", "--instances", str(path), "--reference", "none"]
    code, first = _first_error_line(capsys, argv)
    assert (code, first) == (2, f"symco: error: {path}: line 19: node 12: missing y coordinate")


@pytest.fixture(scope="module")
def d1291_text(instances_dir: Path) -> str:
    return (instances_dir / "d1291.tsp").read_bytes().decode()


@settings(max_examples=50, deadline=None, database=None, derandomize=True)
@given(data=st.data())
def test_damaged_real_file_reads_or_fails_cleanly(
    data: st.DataObject, d1291_text: str, mutate_file, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A damaged copy of ``d1291.tsp`` reads to a valid instance or raises DataFileError."""
    path = tmp_path_factory.mktemp("damaged") / "d1291.tsp"  # no .sol beside it
    path.write_bytes(mutate_file(data, d1291_text).encode())
    read = read_or_none(TSP().read, path)
    if read is None:
        return
    inst, ref = read
    coords = inst["coords"]
    assert coords.dtype == np.float64 and coords.ndim == 3 and coords.shape[0] == 1
    assert coords.shape[1] >= 3 and coords.shape[2] == 2 and np.isfinite(coords).all()
    assert inst["euc_2d"].shape == (1,) and ref is None
