"""NBodyModule: the declared symmetries checked in float64 for each backbone, the loss and the
recorded hyper-parameters."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from symco.core.symmetry import check_symmetries
from symco.plugins.nbody.data import NBodyDataModule
from symco.plugins.nbody.egnn import EGNN
from symco.plugins.nbody.frame_averaging import FrameAveraging
from symco.plugins.nbody.gnn import GNN
from symco.plugins.nbody.lightning import NBodyModule, mse
from symco.plugins.nbody.linear import Linear
from symco.plugins.nbody.soft import SoftEquivariance

from .conftest import TINY


@pytest.mark.parametrize(
    "backbone",
    [lambda: EGNN(hidden=16, num_layers=2), lambda: FrameAveraging(GNN(hidden=16, num_layers=2)),
     lambda: Linear()],
    ids=["egnn", "fa-gnn", "linear"],
)  # fmt: skip
def test_equivariant_backbones_pass_the_check(backbone) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    module = NBodyModule(backbone())
    results = check_symmetries(module, n=4, seed=0, tol=1e-6)
    assert [r.label.partition(":")[0] for r in results] == ["euclidean", "node-permutation"]
    assert all(r.passed and r.max_rel <= 1e-6 for r in results), [r.row() for r in results]
    assert next(module.parameters()).dtype == torch.float32  # restored after the check


def test_the_gnn_fails_e3_and_keeps_permutations() -> None:
    """The check reports the baseline's rotation error rather than hiding it."""
    torch.manual_seed(0)
    e3, perm = check_symmetries(NBodyModule(GNN(hidden=16, num_layers=2)), n=4)
    assert not e3.passed and e3.max_rel > 1e-2
    assert perm.passed and perm.relation == "permuted"


def test_loss_and_hyperparameters(tiny_data_dir: Path) -> None:
    torch.manual_seed(0)
    reg = SoftEquivariance(tune_step=None)
    module = NBodyModule(Linear(), lr=1e-3, regularizer=reg)
    assert "backbone" not in module.hparams and module.hparams["lr"] == 1e-3
    module.setup("fit")  # a valid regularizer: nothing to report
    dm = NBodyDataModule(data_dir=str(tiny_data_dir), **TINY)  # type: ignore[arg-type]
    dm.setup("fit")
    batch = next(iter(dm.val_dataloader()))
    want = ((batch["loc"] + module.backbone.alpha * batch["vel"] - batch["target"]) ** 2).mean()
    assert torch.allclose(mse(module.backbone, batch), want)
    assert "regularizer.lambdas" in module.state_dict()  # the weights resume from checkpoints
