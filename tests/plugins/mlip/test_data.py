"""GFN2-xTB-labelled molecule sets: units, reproducibility, resumption, failures recorded,
checked chunks and padding."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from symco.core.dataset import read_npz, save_npz
from symco.core.errors import DataFileError, InvalidInstanceError
from symco.plugins.mlip.atoms import ElementIndex, radius_graph
from symco.plugins.mlip.chunks import MoleculeSetSpec, ineligible, molecule_splits
from symco.plugins.mlip.data import MLIPDataModule, check_chunk, pad, reference_energies

from .conftest import TINY


def _module(root: Path, **kw: object) -> MLIPDataModule:
    return MLIPDataModule(data_dir=str(root), **{**TINY, **kw})  # type: ignore[arg-type]


def test_labels_are_gfn2_xtb_in_ev_and_forces_are_minus_the_gradient() -> None:
    """Water's GFN2-xTB energy in eV (tblite's -5.0703 Hartree), and forces that are minus a
    finite difference of the energy."""
    from ase import Atoms

    from symco.plugins.mlip.xtb import label, xtb_calculator

    water = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    calc = xtb_calculator()
    lab = label(water, calc)
    assert lab.energy == pytest.approx(-5.0703 * 27.211386, abs=0.05)
    h = 1e-4
    moved = water.copy()
    moved.positions[1, 0] += h
    e_plus = label(moved, xtb_calculator()).energy
    moved.positions[1, 0] -= 2 * h
    e_minus = label(moved, xtb_calculator()).energy
    assert -(e_plus - e_minus) / (2 * h) == pytest.approx(lab.forces[1, 0], abs=1e-3)


def test_collapsed_or_nan_coordinates_are_a_label_error() -> None:
    from ase import Atoms

    from symco.plugins.mlip.xtb import LabelError, label, xtb_calculator

    with pytest.raises(LabelError, match="apart"):
        label(Atoms("OH2", positions=[[0, 0, 0], [0.01, 0, 0], [0, 0.9, 0]]), xtb_calculator())
    with pytest.raises(LabelError, match="not finite"):
        label(Atoms("H2", positions=[[0, 0, 0], [np.nan, 0, 0]]), xtb_calculator())


def test_the_set_is_reproducible_split_by_molecule_and_resumes(
    tiny_data_dir: Path, tmp_path: Path
) -> None:
    dm = _module(tiny_data_dir)
    dm.setup()
    train, test = dm.raw["train"], dm.raw["test"]
    assert len(train["energy"]) == TINY["train_size"] * TINY["frames"]  # no failures here
    spec = dm.spec
    splits = molecule_splits(spec)
    assert not set(splits["train"]) & set(splits["test"])  # unseen test molecules
    # a deleted chunk is relabelled: the same structures, and labels equal to the SCF's
    # convergence (tblite's OpenMP reductions round differently with the thread count)
    copy = tmp_path / "copy"
    shutil.copytree(tiny_data_dir, copy)
    folder = next(copy.iterdir())
    chunk = folder / "test-000000-000002.npz"
    before = read_npz(chunk)
    chunk.unlink()
    _module(copy).prepare_data()
    after = read_npz(chunk)
    np.testing.assert_array_equal(before["numbers"], after["numbers"])
    for key in ("positions", "forces", "energy"):
        np.testing.assert_allclose(before[key], after[key], rtol=1e-9, atol=1e-9)
    assert len(test["energy"]) == TINY["test_size"] * TINY["frames"]


def test_a_molecule_that_cannot_be_labelled_is_skipped_and_recorded(tmp_path: Path) -> None:
    from symco.plugins.mlip.chunks import write_chunk

    spec = MoleculeSetSpec(kind="molecules")
    path = tmp_path / "chunk.npz"
    reasons = write_chunk(spec, 0, 0, 2, ["CCO", "C1CC"], str(path))  # an unclosed ring
    arrays = read_npz(path)
    assert reasons == ["train sample 1 (C1CC): RDKit cannot parse SMILES 'C1CC'"]
    assert arrays["failed"].tolist() == [1] and arrays["reasons"].tolist() == reasons
    assert set(arrays["sample"].tolist()) == {0}  # the good molecule is kept


@pytest.mark.parametrize(
    ("smiles", "why"),
    [("CCO", ""), ("C[Si](C)(C)C", "unknown element Si"), ("[NH4+]", "charged"),
     ("C[CH2]", "odd number"), ("CC.O", "fragment"), ("xyz", "cannot parse")],
)  # fmt: skip
def test_ineligible_molecules_say_why(smiles: str, why: str) -> None:
    got = ineligible(smiles, MoleculeSetSpec(min_heavy=1))
    assert (why in got) if why else got == ""


@pytest.mark.parametrize(
    ("key", "edit", "message"),
    [
        ("positions", lambda a: a[:, :2], "positions has shape"),
        ("energy", lambda a: np.where(np.arange(len(a)) == 1, np.nan, a), "energy row 1 is not finite"),
        ("numbers", lambda a: np.where(np.arange(len(a)) == 0, 14, a), "element Si"),
        ("atoms", lambda a: a + 1, "atoms per structure sum to"),
    ],
)  # fmt: skip
def test_malformed_chunks_fail_in_one_line(tiny_data_dir: Path, tmp_path: Path, key: str, edit,
                                           message: str) -> None:  # fmt: skip
    folder = next(tiny_data_dir.iterdir())
    arrays = read_npz(folder / "train-000000-000004.npz")
    arrays[key] = edit(arrays[key])
    path = tmp_path / "bad.npz"
    save_npz(path, arrays)
    with pytest.raises((InvalidInstanceError, DataFileError), match=message):
        check_chunk(read_npz(path), path, (1, 6, 7, 8, 9, 16, 17))


def test_padding_and_reference_energies() -> None:
    arrays = {
        "numbers": np.array([8, 1, 1, 1, 1]),
        "positions": np.arange(15, dtype=np.float64).reshape(5, 3),
        "forces": np.ones((5, 3)),
        "energy": np.array([-3.0 * 1 - 2.0 * 2, -2.0 * 2]),  # O = -3, H = -2 exactly
        "atoms": np.array([3, 2]),
        "sample": np.array([0, 1]),
    }
    batch = pad(arrays, 4)
    assert batch["z"].tolist() == [[8, 1, 1, 0], [1, 1, 0, 0]]
    assert batch["pos"][1, 1].tolist() == [12.0, 13.0, 14.0] and batch["pos"][1, 2].abs().sum() == 0
    np.testing.assert_allclose(reference_energies(arrays, (1, 8)), [-2.0, -3.0], atol=1e-12)


def test_radius_graph_and_element_index() -> None:
    z = torch.tensor([[6, 1, 1, 0], [8, 1, 0, 0]])
    pos = torch.tensor([[[0.0, 0, 0], [1, 0, 0], [9, 0, 0], [0, 0, 0]],
                        [[0.0, 0, 0], [0, 1, 0], [0, 0, 0], [0, 0, 0]]])  # fmt: skip
    g = radius_graph(z, pos, cutoff=2.0)
    pairs = {tuple(e) for e in g.edge_index.T.tolist()}
    assert pairs == {(0, 1), (1, 0), (3, 4), (4, 3)}  # the far H has no neighbour
    assert g.batch.tolist() == [0, 0, 0, 1, 1]
    torch.testing.assert_close(g.length, torch.ones(4))
    with pytest.raises(InvalidInstanceError, match="element Si"):
        ElementIndex()(torch.tensor([[14, 1]]))


def test_config_errors_are_one_line() -> None:
    with pytest.raises(InvalidInstanceError, match="kind must be"):
        MLIPDataModule(kind="crystals").check_inputs()
    with pytest.raises(InvalidInstanceError, match="t_min"):
        MLIPDataModule(t_min=500, t_max=300).check_inputs()
