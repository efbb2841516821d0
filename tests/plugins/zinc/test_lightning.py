"""ZincModule/ZincDataModule: encodings by name or class path, data with the model's transform."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch_geometric.loader import DataLoader

from symco.core.errors import UnknownNameError
from symco.encodings import SPE, EigenPairs, LapPE, PaddedLaplacianPE
from symco.plugins.zinc.lightning import ZincDataModule, ZincModule, l1_loss

PATHS = {"none": "none", "lappe": "symco.encodings.LapPE", "rwpe": "symco.encodings.RWPE",
         "spe": "symco.encodings.SPE", "signnet": "symco.encodings.SignNet"}  # fmt: skip


def test_encoding_by_class_path_or_none() -> None:
    """In Python an encoding is a class path (a config may use its registry name: the CLI
    resolves it, see tests/plugins/zinc/test_cli.py)."""
    assert isinstance(ZincModule(encoding="symco.encodings.LapPE").model.encoding, LapPE)
    by_path = ZincModule(encoding={"class_path": "symco.encodings.SPE", "init_args": {"m": 4}})
    assert isinstance(by_path.model.encoding, SPE) and by_path.model.encoding.m == 4
    assert isinstance(by_path.data_transform(), EigenPairs)
    assert isinstance(ZincModule(encoding=PATHS["lappe"]).data_transform(), PaddedLaplacianPE)
    for none in (None, "none"):
        assert ZincModule(encoding=none).data_transform() is None
    bad = ZincModule(encoding="symco.encodings.Spee")  # reported by the first hook
    with pytest.raises(UnknownNameError, match=r"'symco\.encodings\.Spee' cannot be imported"):
        bad.data_transform()
    with pytest.raises(UnknownNameError, match=r"'symco\.encodings\.Spee' cannot be imported"):
        bad.setup("fit")


@pytest.mark.parametrize("encoding", ["none", "lappe", "rwpe", "spe", "signnet"])
def test_a_training_step_on_molecules(encoding: str, smiles_file: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = ZincModule(encoding=PATHS[encoding], encoding_args=None, hidden=16, num_layers=2)
    data = ZincDataModule(source=str(smiles_file), train_size=16, val_size=4, test_size=4,
                          cache_dir=str(tmp_path), batch_size=8)  # fmt: skip
    data.prepare_data()
    data.transform = module.data_transform()
    data.setup("fit")  # no trainer attached: keeps the transform set above
    batch = next(iter(data.train_dataloader()))
    assert batch.num_graphs == 8 and batch.y.shape == (8,)
    opt = torch.optim.Adam(module.parameters(), lr=1e-3)
    losses = []
    for _ in range(5):
        loss = l1_loss(module.model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]
    module.eval()
    loader = DataLoader(data.splits["test"], batch_size=4)
    with torch.no_grad():
        assert module.model(next(iter(loader))).shape == (4,)
