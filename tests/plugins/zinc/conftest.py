"""A small SMILES file from the molecules shipped with RDKit (always installed with the extra);
one torch thread (for molecule-sized graphs threads cost more than they save, and far more on a
loaded machine)."""

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


@pytest.fixture(scope="session")
def smiles_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from symco.plugins.zinc.dataset import read_smiles, source_path

    smiles = read_smiles(source_path("rdkit-nci"))[:64]
    out = tmp_path_factory.mktemp("mols") / "tiny.smi"
    out.write_text("SMILES\n" + "\n".join(smiles) + "\n")
    return out
