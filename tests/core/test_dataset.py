"""Concatenating datasets: padded solutions widen, other mismatches are one clear line."""

from __future__ import annotations

import numpy as np
import pytest

from symco.core.dataset import concat_arrays
from symco.core.errors import DataFileError


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
