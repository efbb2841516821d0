"""Malformed CVRPLIB files: one line naming the file, the line and the value; never a traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symco.core.cli import main
from symco.core.errors import DataFileError
from symco.problems.cvrp import CVRP

from ..conftest import edit_line, read_or_none

TINY = """NAME : tiny
TYPE : CVRP
DIMENSION : 4
EDGE_WEIGHT_TYPE : EUC_2D
CAPACITY : 10
NODE_COORD_SECTION
1 0 0
2 10 0
3 10 10
4 0 10
DEMAND_SECTION
1 0
2 3
3 4
4 5
DEPOT_SECTION
1
-1
EOF
"""
"""A valid file; the cases below edit one line of it (line numbers are 1-based)."""


def _edit(line: int, new: str | None) -> str:
    """``TINY`` with line ``line`` replaced by ``new`` (deleted for ``None``)."""
    return edit_line(TINY, line, new)


CASES = {
    "coordinate": (_edit(8, "2 abc 0"), "line 8: x coordinate 'abc' of node 2 is not a number"),
    "missing y": (_edit(8, "2 10"), "line 8: node 2: missing y coordinate"),
    "demand text": (_edit(13, "2 abc"), "line 13: demand 'abc' of node 2 is not an integer"),
    "demand fraction": (_edit(13, "2 1.5"), "line 13: demand '1.5' of node 2 is not an integer"),
    "demand huge": (_edit(13, "2 1e30"), "line 13: demand '1e30' of node 2 is too large"),
    "demand missing": (_edit(13, "2"), "line 13: node 2: missing demand"),
    "demand extra": (_edit(13, "2 3 4"), "line 13: node 2: unexpected '4' after the demand"),
    "demand negative": (_edit(13, "2 -1"), "line 13: demand of customer 2 must be positive, got -1"),
    "demand over capacity": (_edit(13, "2 11"), "line 13: demand 11 of node 2 is larger than the capacity 10 (CAPACITY, line 5)"),
    "depot demand": (_edit(12, "1 3"), "line 12: the depot (node 1) must have demand 0, got 3"),
    "demand id twice": (_edit(13, "1 3"), "line 13: node 1 appears twice in DEMAND_SECTION (first at line 12)"),
    "demand node missing": (_edit(15, None), "line 11: DEMAND_SECTION has 3 nodes but DIMENSION is 4: node 4 is missing"),
    "demand without dimension": (_edit(3, None).replace("4 5\n", ""), "line 10: DEMAND_SECTION has 3 nodes but NODE_COORD_SECTION has 4 nodes: node 4 is missing"),
    "no demand section": (TINY.split("DEMAND_SECTION")[0] + "EOF\n", "no DEMAND_SECTION (a CVRP needs demands)"),
    "capacity missing": (_edit(5, None), "no CAPACITY line ('CAPACITY : value')"),
    "capacity text": (_edit(5, "CAPACITY : abc"), "line 5: CAPACITY must be a positive integer, got 'abc'"),
    "capacity zero": (_edit(5, "CAPACITY : 0"), "line 5: CAPACITY must be a positive integer, got '0'"),
    "capacity infinite": (_edit(5, "CAPACITY : 1e999"), "line 5: CAPACITY must be a positive integer, got '1e999'"),
    "other depot": (_edit(17, "2"), "line 17: DEPOT_SECTION must name node 1 as the only depot, got [2]"),
    "no depot": (_edit(17, None), "line 16: DEPOT_SECTION must name node 1 as the only depot, got none"),
    "depot text": (_edit(17, "abc"), "line 17: depot 'abc' is not a node number"),
    "after -1": (_edit(19, "1\nEOF"), "line 19: unexpected '1' after the -1 that ends DEPOT_SECTION"),
    "type": (_edit(2, "TYPE : TSP"), "line 2: TYPE is TSP, expected CVRP"),
    "edge weight type": (_edit(4, "EDGE_WEIGHT_TYPE : EXPLICIT"), "line 4: EDGE_WEIGHT_TYPE EXPLICIT is not supported (EUC_2D, EXACT_2D)"),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_each_error_is_one_line_naming_file_line_and_value(tmp_path: Path, case: str) -> None:
    content, message = CASES[case]
    path = tmp_path / "bad.vrp"
    path.write_text(content)
    with pytest.raises(DataFileError) as info:
        CVRP().read(path)
    assert str(info.value) == f"{path}: {message}"


def test_the_valid_file_reads(tmp_path: Path) -> None:
    """The base of the cases above is itself fine (so each case tests its one edit); the depot
    section is optional (node 1 is the depot), as are DIMENSION and the closing -1."""
    for name, text in {
        "tiny": TINY,
        "no depot section": TINY.replace("DEPOT_SECTION\n1\n-1\n", ""),
        "no dimension, no -1": _edit(3, None).replace("1\n-1\n", "1\n"),
    }.items():
        path = tmp_path / "tiny.vrp"
        path.write_text(text)
        inst, ref = CVRP().read(path)
        assert inst["demands"].tolist() == [[0, 3, 4, 5]] and ref is None, name
        assert inst["capacity"].tolist() == [10] and inst["coords"].shape == (1, 4, 2), name


def test_solve_prints_one_line_and_exits_2(capsys, tmp_path: Path, instances_dir: Path) -> None:
    text = (instances_dir / "X-n101-k25.vrp").read_bytes()  # CRLF and tabs, as published
    path = tmp_path / "X-n101-k25.vrp"  # without its .sol
    assert b"\n12\t25\t\r\n" in text  # node 12's demand, line 121
    path.write_bytes(text.replace(b"\n12\t25\t\r\n", b"\n12\tabc\t\r\n", 1))
    code = main(["solve", str(path)])
    err = capsys.readouterr().err
    assert "Traceback" not in err and code == 2
    first = err.splitlines()[0]
    assert first == f"symco: error: {path}: line 121: demand 'abc' of node 12 is not an integer"


@pytest.fixture(scope="module")
def x101_text(instances_dir: Path) -> str:
    return (instances_dir / "X-n101-k25.vrp").read_bytes().decode()  # keeps its CRLF


@settings(max_examples=50, deadline=None, database=None, derandomize=True)
@given(data=st.data())
def test_damaged_real_file_reads_or_fails_cleanly(
    data: st.DataObject, x101_text: str, mutate_file, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A damaged copy of ``X-n101-k25.vrp`` reads to a valid instance or raises DataFileError."""
    path = tmp_path_factory.mktemp("damaged") / "X-n101-k25.vrp"  # no .sol beside it
    path.write_bytes(mutate_file(data, x101_text).encode())
    read = read_or_none(CVRP().read, path)
    if read is None:
        return
    inst, ref = read
    coords, demands, capacity = inst["coords"], inst["demands"], inst["capacity"]
    n = coords.shape[1]
    assert coords.dtype == np.float64 and coords.shape == (1, n, 2) and np.isfinite(coords).all()
    assert n >= 2 and demands.dtype == np.int64 and demands.shape == (1, n)
    assert capacity.shape == (1,) and capacity[0] > 0 and demands[0, 0] == 0
    assert ((demands[0, 1:] >= 1) & (demands[0, 1:] <= capacity[0])).all()
    assert inst["euc_2d"].shape == (1,) and ref is None
