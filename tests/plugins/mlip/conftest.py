"""One torch thread, and a tiny GFN2-xTB-labelled molecule set shared by the potential tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

pytest.importorskip("tblite")

TINY = {"max_heavy": 6, "train_size": 4, "val_size": 2, "test_size": 2, "frames": 2,
        "chunk_size": 4, "workers": 1, "batch_size": 4}  # fmt: skip
"""The data section of configs/mlip/tiny.yaml."""


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<root>/data/mlip`` holding the tiny set, labelled once per session."""
    from symco.plugins.mlip.data import MLIPDataModule

    root = tmp_path_factory.mktemp("mlip") / "data" / "mlip"
    MLIPDataModule(data_dir=str(root), **TINY).prepare_data()  # type: ignore[arg-type]
    return root
