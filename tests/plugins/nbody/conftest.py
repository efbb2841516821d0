"""One torch thread (the models are small and the machine is shared) and a tiny simulated
dataset shared by the n-body tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


TINY = {"train_size": 24, "val_size": 8, "test_size": 8, "chunk_size": 10, "workers": 1}


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the tiny dataset (no field) already simulated."""
    from symco.plugins.nbody.data import NBodyDataModule

    root = tmp_path_factory.mktemp("nbody")
    NBodyDataModule(data_dir=str(root), **TINY).prepare_data()  # type: ignore[arg-type]
    return root
