"""Training data is checked once when loaded: an infeasible label is one line naming file and row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from symco.core.cli import main
from symco.core.errors import DataFileError
from symco.plugins.bq.lightning import BQDataModule, _without_row_name
from symco.problems.tsp.problem import TSP

ROOT = Path(__file__).resolve().parents[3]
TINY = ROOT / "configs" / "tsp" / "tiny.yaml"


def _code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # LightningCLI / argparse exit through SystemExit
        return int(exc.code or 0)


def _dataset(path: Path, seed: int = 0) -> None:
    assert main(["data", "--problem", "tsp", "--size", "8", "--num", "8", "--seed", str(seed),
                 "--solver", "exact", "--workers", "1", "--quiet", "--out", str(path)]) == 0  # fmt: skip


def _corrupt(path: Path, row: int = 5) -> None:
    """Visit node ``tours[row][1]`` twice in tour ``row`` (its last node is dropped)."""
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["tours"][row, -1] = arrays["tours"][row, 1]
    np.savez(path, **arrays)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """``data/tsp10_train.npz`` (label 5 infeasible) and ``data/tsp10_val.npz`` under tmp_path,
    the paths configs/tsp/tiny.yaml reads."""
    _dataset(tmp_path / "data" / "tsp10_train.npz")
    _dataset(tmp_path / "data" / "tsp10_val.npz", seed=9)
    _corrupt(tmp_path / "data" / "tsp10_train.npz")
    return tmp_path


def test_infeasible_label_names_file_and_row(data: Path) -> None:
    train = data / "data" / "tsp10_train.npz"
    module = BQDataModule(problem=TSP(), train_paths=[str(train)])
    with pytest.raises(DataFileError) as exc:
        module.setup("fit")
    msg = str(exc.value)
    assert msg.startswith(f"{train}: label 5 is infeasible: tour is not a permutation of 0..7")
    assert "\n" not in msg and "tour 0" not in msg and "label 5" in msg


def test_feasible_labels_load(data: Path) -> None:
    val = data / "data" / "tsp10_val.npz"
    module = BQDataModule(problem=TSP(), train_paths=[str(val)])
    module.setup("fit")
    assert module.train is not None and len(module.train) == 8


def test_fit_on_infeasible_labels_exits_2_with_one_line(
    data: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(data)
    capsys.readouterr()
    assert _code(["fit", "--config", str(TINY)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(
        "symco: error: data/tsp10_train.npz: label 5 is infeasible: tour is not a permutation"
    )


@pytest.mark.parametrize(
    "reason, shown",
    [
        ("tour 0 is not a permutation of 0..7", "tour is not a permutation of 0..7"),
        ("solution 0: route 2 carries 31 > capacity 30", "route 2 carries 31 > capacity 30"),
        ("items 0 holds item 3 more than once", "items holds item 3 more than once"),
        ("a reason naming no row", "a reason naming no row"),
        ("tour 10 is too long", "tour 10 is too long"),
    ],
)
def test_row_name_dropped_from_reason(reason: str, shown: str) -> None:
    assert _without_row_name(reason) == shown
