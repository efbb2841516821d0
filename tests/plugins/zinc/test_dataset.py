"""ZINC building: the penalized-logP target, featurization, the seeded split and its cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import Crippen

from symco.core.errors import DataFileError, InvalidInstanceError
from symco.plugins.zinc.dataset import (
    ATOM_VOCAB,
    TERM_STATS,
    _sascorer,
    cache_file,
    featurize,
    load_split,
    molecule_terms,
    penalized_logp,
    source_path,
)

SIZES = {"train": 20, "val": 6, "test": 8}


@pytest.mark.parametrize(
    "smiles, cycle", [("c1ccccc1O", 0), ("C1CCCCCCC1", 2), ("CCO", 0), ("C1CCCCCCCCC1C", 4)]
)
def test_terms_and_target(smiles: str, cycle: int) -> None:
    mol = Chem.MolFromSmiles(smiles)
    logp, sa, cyc = molecule_terms(mol)
    assert logp == pytest.approx(Crippen.MolLogP(mol))
    assert sa == pytest.approx(_sascorer().calculateScore(mol)) and 1 <= sa <= 10
    assert cyc == cycle
    a = np.array([logp]), np.array([sa]), np.array([float(cyc)])
    assert penalized_logp(*a, "raw")[0] == pytest.approx(logp - sa - cyc)
    (lm, ls), (sm, ss), (cm, cs) = TERM_STATS.values()
    expected = (logp - lm) / ls + (-sa - sm) / ss + (-cyc - cm) / cs
    assert penalized_logp(*a, "normalized")[0] == pytest.approx(expected)
    with pytest.raises(InvalidInstanceError, match="target"):
        penalized_logp(*a, "other")  # type: ignore[arg-type]


def test_featurize() -> None:
    arrays = featurize(["CCO", "c1ccccc1[N+](=O)[O-]"])
    assert arrays["node_ptr"].tolist() == [0, 3, 12]
    assert arrays["edge_ptr"].tolist() == [0, 4, 22]
    assert arrays["x"].shape == (12, len(ATOM_VOCAB))
    assert (arrays["x"] < np.array(ATOM_VOCAB)).all() and (arrays["x"] >= 0).all()
    assert set(arrays["edge_attr"][4:].tolist()) == {0, 1, 3}  # single, double, aromatic
    assert arrays["smiles"].dtype.kind == "U"
    with pytest.raises(DataFileError, match="molecule 1: invalid SMILES"):
        featurize(["CC", "C1CC("])


def test_split_is_seeded_cached_and_atomic(smiles_file: Path, tmp_path: Path) -> None:
    a = load_split(tmp_path, str(smiles_file), SIZES, seed=3)
    files = list(tmp_path.iterdir())
    assert files == [cache_file(tmp_path, str(smiles_file), SIZES, 3)]  # no temp file left over
    b = load_split(tmp_path, str(smiles_file), SIZES, seed=3)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert np.bincount(a["split"]).tolist() == [20, 6, 8]
    assert len(set(a["smiles"].tolist())) == 34  # no molecule in two splits
    # the test (and val) molecules do not depend on the train size
    c = load_split(tmp_path, str(smiles_file), {**SIZES, "train": 10}, seed=3)
    assert a["smiles"][a["split"] == 2].tolist() == c["smiles"][c["split"] == 2].tolist()
    d = load_split(tmp_path, str(smiles_file), SIZES, seed=4)
    assert a["smiles"].tolist() != d["smiles"].tolist()


def test_clear_errors(smiles_file: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInstanceError, match="fewer than the 1000 requested"):
        load_split(tmp_path, str(smiles_file), {"train": 998, "val": 1, "test": 1}, 0)
    with pytest.raises(DataFileError, match="no such molecule file"):
        source_path(str(tmp_path / "missing.smi"))
    bad = tmp_path / "bad.smi"
    bad.write_text("CCO\nnot_a_smiles\nCC\n")
    with pytest.raises(DataFileError, match="invalid SMILES 'not_a_smiles'"):
        load_split(tmp_path, str(bad), {"train": 1, "val": 1, "test": 1}, 0)


def test_moses_source_is_zinc() -> None:
    try:
        path = source_path("moses")
    except DataFileError as exc:
        assert "pip install --no-deps molsets" in str(exc)
        pytest.skip("molsets not installed")
    assert path.name == "train.csv.gz" and path.stat().st_size > 5_000_000
