"""Concatenating datasets: padded solutions widen, other mismatches are one clear line; integer
arrays stored as integral floats (other codebases' files) load as int64."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from symco.core.cli import main
from symco.core.dataset import concat_arrays, load_dataset, read_npz, save_npz
from symco.core.errors import DataFileError, InvalidInstanceError
from symco.problems.cvrp.problem import CVRP


def test_padded_key_widens_to_the_widest_file() -> None:
    a = {"coords": np.zeros((2, 5, 2)), "tours": np.array([[1, 2, -1], [3, -1, -1]])}
    b = {"coords": np.ones((1, 5, 2)), "tours": np.array([[4, 1, 2, 3, -1]])}
    out = concat_arrays([a, b], "tours")
    assert out["coords"].shape == (3, 5, 2)
    assert out["tours"].tolist() == [[1, 2, -1, -1, -1], [3, -1, -1, -1, -1], [4, 1, 2, 3, -1]]


def test_other_shape_mismatch_is_one_line() -> None:
    a = {"coords": np.zeros((2, 5, 2)), "tours": np.zeros((2, 5), dtype=int)}
    b = {"coords": np.zeros((2, 6, 2)), "tours": np.zeros((2, 6), dtype=int)}
    with pytest.raises(DataFileError, match=r"train_paths: array 'coords' has different shapes"):
        concat_arrays([a, b], "tours", where="train_paths")


def test_missing_key_is_one_line() -> None:
    a = {"coords": np.zeros((2, 5, 2)), "costs": np.zeros(2)}
    b = {"coords": np.zeros((2, 5, 2))}
    with pytest.raises(DataFileError, match=r"array 'costs' is missing"):
        concat_arrays([a, b], "tours")


def _float_cvrp(path: Path, num: int = 4, size: int = 6) -> dict[str, np.ndarray]:
    """A CVRP dataset whose ``capacity`` and ``demands`` are float64 (as GOAL's test sets)."""
    inst = CVRP().generate(num, size, rng=np.random.default_rng(0))
    inst = {**inst, "demands": inst["demands"].astype(np.float64)}
    inst["capacity"] = inst["capacity"].astype(np.float64)
    save_npz(path, inst)
    return inst


def test_integral_floats_load_as_int64(tmp_path: Path) -> None:
    path = tmp_path / "cvrp_float.npz"
    inst = _float_cvrp(path)
    ds = load_dataset(path, CVRP())
    assert ds.instances["capacity"].dtype == np.int64
    assert ds.instances["demands"].dtype == np.int64
    assert ds.instances["coords"].dtype == np.float64
    np.testing.assert_array_equal(ds.instances["demands"], inst["demands"])


@pytest.mark.parametrize("bad, shown", [(50.5, "50.5"), (np.nan, "nan"), (1e30, "1e+30")])
def test_fractional_integer_array_names_key_index_value(
    tmp_path: Path, bad: float, shown: str
) -> None:
    path = tmp_path / "cvrp_frac.npz"
    inst = _float_cvrp(path)
    inst["capacity"][3] = bad
    save_npz(path, inst)
    with pytest.raises(InvalidInstanceError) as exc:
        load_dataset(path, CVRP())
    assert str(exc.value) == f"{path}: 'capacity' must be integers, got {shown} at index (3,)"


def test_non_numeric_integer_array_still_refused(tmp_path: Path) -> None:
    inst = CVRP().generate(2, 4, rng=np.random.default_rng(0))
    inst["capacity"] = np.array([True, True])
    with pytest.raises(InvalidInstanceError, match=r"'capacity' must be integers, got dtype bool"):
        CVRP().validate(inst, "here")


def test_solve_accepts_float_capacity(tmp_path: Path, capsys) -> None:
    path = tmp_path / "cvrp100_test.npz"
    _float_cvrp(path, num=2)
    assert main(["solve", str(path), "--solver", "savings", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "cvrp100_test.npz:1" in out and "savings" in out


def test_solve_refuses_fractional_capacity(tmp_path: Path, capsys) -> None:
    path = tmp_path / "cvrp_frac.npz"
    inst = _float_cvrp(path, num=2)
    inst["capacity"][1] = 20.25
    save_npz(path, inst)
    assert main(["solve", str(path), "--solver", "savings", "--quiet"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"symco: error: {path}: 'capacity' must be integers, got 20.25 at index (1,)"


def test_save_npz_bytes_depend_on_the_arrays_alone(tmp_path: Path) -> None:
    """No timestamp in the archive: the same arrays written at two times are the same file (what
    makes a cluster run's file comparable with a local run's)."""
    import time

    arrays = {
        "coords": np.random.default_rng(0).random((3, 5, 2)),
        "tours": np.arange(15).reshape(3, 5),
    }
    save_npz(tmp_path / "a.npz", arrays)
    time.sleep(2.1)  # zip timestamps have a 2-second resolution
    save_npz(tmp_path / "b.npz", arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    back = read_npz(tmp_path / "a.npz")
    assert back.keys() == arrays.keys()
    assert all(np.array_equal(back[k], v) and back[k].dtype == v.dtype for k, v in arrays.items())
