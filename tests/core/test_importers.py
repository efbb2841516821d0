"""rl4co-style files become symco datasets: depot first, demands denormalised, one line on errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from symco.core.cli import main
from symco.core.dataset import load_dataset
from symco.core.errors import DataFileError, InvalidInstanceError, UnknownNameError
from symco.core.importers import import_rl4co
from symco.problems.cvrp.problem import CVRP
from symco.problems.op.problem import OP
from symco.problems.tsp.problem import TSP


def _symco(*argv: str) -> int:
    return main(list(argv))  # `symco import` comes with the core's own plugin


def _rl4co_cvrp(path: Path, *, normalized: bool, b: int = 3, n: int = 5, **extra) -> dict:
    """An rl4co CVRP file: float32 arrays, the depot apart; demands fractions of the capacity
    (the generators' ``(B,1)`` capacity) or raw integers (``generate_data``'s ``(B,)``)."""
    rng = np.random.default_rng(0)
    raw = rng.integers(1, 10, (b, n)).astype(np.float32)
    arrays = {
        "depot": rng.random((b, 2), dtype=np.float32),
        "locs": rng.random((b, n, 2), dtype=np.float32),
        "demand": raw / 20 if normalized else raw,
        "capacity": np.full((b, 1) if normalized else (b,), 20.0, dtype=np.float32),
        **extra,
    }
    np.savez(path, **arrays)
    return {**arrays, "raw": raw}


@pytest.mark.parametrize("normalized", [True, False])
def test_cvrp_depot_first_and_integral_demands(tmp_path: Path, normalized: bool) -> None:
    path = tmp_path / "vrp5_test_seed1234.npz"
    src = _rl4co_cvrp(path, normalized=normalized)
    out = import_rl4co(path, "cvrp")
    assert out["coords"].shape == (3, 6, 2) and out["coords"].dtype == np.float64
    np.testing.assert_array_equal(out["coords"][:, 0], src["depot"])
    np.testing.assert_array_equal(out["coords"][:, 1:], src["locs"])
    assert out["demands"].dtype == np.int64 and out["capacity"].dtype == np.int64
    np.testing.assert_array_equal(out["demands"][:, 1:], src["raw"])
    assert (out["demands"][:, 0] == 0).all() and out["capacity"].tolist() == [20, 20, 20]
    assert CVRP().validate(out) == (3, 5)


def test_cvrp_scalar_capacity_and_depot_inside_locs(tmp_path: Path) -> None:
    path = tmp_path / "in.npz"
    locs = np.random.default_rng(1).random((2, 4, 2))
    np.savez(path, locs=locs, demand=np.array([[1.0, 2, 3], [4, 5, 6]]), capacity=np.float64(9))
    out = import_rl4co(path, "cvrp")
    np.testing.assert_array_equal(out["coords"], locs)
    assert out["demands"].tolist() == [[0, 1, 2, 3], [0, 4, 5, 6]]
    assert out["capacity"].tolist() == [9, 9]


def test_cvrp_demand_not_a_fraction_of_capacity_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "in.npz"
    src = _rl4co_cvrp(path, normalized=True)
    demand = src["demand"].copy()
    demand[1, 2] = 0.123
    np.savez(path, **{**{k: v for k, v in src.items() if k != "raw"}, "demand": demand})
    with pytest.raises(InvalidInstanceError) as exc:
        import_rl4co(path, "cvrp")
    msg = str(exc.value)
    assert msg.startswith(
        f"{path}: 'demand' is neither integral nor a fraction of the capacity: instance 1"
        " customer 3 has 0.123"
    )
    assert "\n" not in msg


def test_cvrp_fractional_capacity_names_index(tmp_path: Path) -> None:
    path = tmp_path / "in.npz"
    _rl4co_cvrp(path, normalized=False, capacity=np.array([20.0, 20.5, 20.0]))
    with pytest.raises(InvalidInstanceError) as exc:
        import_rl4co(path, "cvrp")
    assert str(exc.value) == f"{path}: 'capacity' must be integers, got 20.5 at index (1,)"


def test_missing_array_names_it_and_what_the_file_has(tmp_path: Path) -> None:
    path = tmp_path / "in.npz"
    np.savez(path, locs=np.zeros((2, 3, 2)), demand=np.ones((2, 3)))
    with pytest.raises(DataFileError) as exc:
        import_rl4co(path, "cvrp")
    assert str(exc.value) == (
        f"{path}: missing array 'capacity' of the rl4co layout (has demand, locs)"
    )


def test_tsp_and_op(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    tsp_path, op_path = tmp_path / "tsp.npz", tmp_path / "op.npz"
    locs = rng.random((2, 6, 2), dtype=np.float32)
    np.savez(tsp_path, locs=locs)
    out = import_rl4co(tsp_path, "tsp")
    np.testing.assert_array_equal(out["coords"], locs)
    assert TSP().validate(out) == (2, 6)
    prize = rng.random((2, 6)).astype(np.float32)
    np.savez(op_path, depot=rng.random((2, 2)), locs=locs, prize=prize, max_length=np.float32(4))
    out = import_rl4co(op_path, "op")
    assert out["coords"].shape == (2, 7, 2) and out["prizes"][:, 0].tolist() == [0, 0]
    np.testing.assert_array_equal(out["prizes"][:, 1:], prize)
    assert out["max_length"].tolist() == [4.0, 4.0]
    assert OP().validate(out) == (2, 6)


def test_unknown_problem_lists_the_known() -> None:
    with pytest.raises(UnknownNameError, match=r"no rl4co importer for problem 'kp'; known: cvrp"):
        import_rl4co("whatever.npz", "kp")


def test_import_command_writes_a_loadable_dataset(tmp_path: Path, capsys) -> None:
    src, dst = tmp_path / "vrp5.npz", tmp_path / "cvrp5.npz"
    raw = _rl4co_cvrp(src, normalized=True)["raw"]
    assert (
        _symco("import", "--from", "rl4co", "--problem", "cvrp", str(src), "--out", str(dst)) == 0
    )
    assert capsys.readouterr().out.strip() == (
        f"wrote {dst}: 3 cvrp5 instances from rl4co file {src}"
    )
    ds = load_dataset(dst, CVRP())
    assert ds.instances["demands"].dtype == np.int64
    np.testing.assert_array_equal(ds.instances["demands"][:, 1:], raw)
    assert _symco("solve", str(dst), "--solver", "savings", "--quiet") == 0


def test_import_command_errors_are_one_line(tmp_path: Path, capsys) -> None:
    src, dst = tmp_path / "vrp5.npz", tmp_path / "cvrp5.npz"
    _rl4co_cvrp(src, normalized=True)
    dst.write_bytes(b"")
    argv = ["import", "--from", "rl4co", "--problem", "cvrp", str(src), "--out", str(dst)]
    assert _symco(*argv) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"symco: error: {dst}: exists; pass --force to overwrite it"
    ]
    np.savez(src, locs=np.zeros((2, 4, 2)), demand=np.full((2, 3), 30.0), capacity=np.float64(20))
    assert _symco(*argv, "--force") == 2
    assert capsys.readouterr().err.splitlines() == [
        f"symco: error: {src}: 'demands': demand of node 1 in instance 0 is 30, larger than the"
        " capacity 20"
    ]
    assert _symco("import", "--from", "lehd", "--problem", "cvrp", str(src), "--out", str(dst)) == 2
    assert capsys.readouterr().err.splitlines() == [
        "symco: error: --from: no dataset importer 'lehd'; registered: rl4co"
    ]
