"""ZINC molecules as graphs with the constrained-solubility target, built offline with RDKit.

Molecule sources (all offline, from installed packages or a local file):

* ``"moses"``: the ZINC Clean Leads molecules of the MOSES benchmark (1.58M SMILES), the
  ``train.csv.gz`` shipped inside the ``molsets`` wheel. Its pinned dependencies do not install
  on current Pythons, so install it alone: ``pip install --no-deps molsets==0.3.1``; only the
  data file is read (through the distribution's metadata; ``moses`` is never imported).
* ``"rdkit-nci"``: the 5k NCI molecules shipped with RDKit (``RDDataDir/NCI/first_5K.smi``).
  *Not ZINC*: an always-available fallback for smoke tests.
* a path to a ``.smi``/``.csv``/``.txt`` file (optionally ``.gz``): first token of each line
  is a SMILES string; a header line ``smiles`` is skipped.

Target: penalized logP ("constrained solubility" of the ZINC benchmark),
``logP - SA - cycle`` with Crippen logP (``rdkit.Chem.Crippen.MolLogP``), the SA score of
RDKit's shipped scorer (``Contrib/SA_Score/sascorer.py``) and ``cycle = max(0, largest ring - 6)``
over RDKit's ring perception (SSSR). ``target="normalized"`` (default) standardizes each of the
three terms with the statistics of the 250k ZINC set (``250k_rndm_zinc_drugs_clean``) as in the
JT-VAE/GCPN code from which the ZINC benchmark's target comes (its values have mean ~0, std
~2, which the unnormalized sum does not); ``target="raw"`` is the plain ``logP - SA - cycle``.
Both use the same cached terms. Differences to the published ZINC-12k file remain (different
molecule pool, RDKit version, SSSR instead of a networkx cycle basis), so absolute MAEs are
comparable in scale only.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import os
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Literal

import numpy as np

from symco.core.dataset import read_npz, save_npz
from symco.core.errors import DataFileError, InvalidInstanceError

ELEMENTS = ("C", "N", "O", "F", "P", "S", "Cl", "Br", "I", "B", "Si", "Se")
# per-atom categorical columns: element (+other), charge -1/0/+1 (+other), H count 0..3 (+more),
# aromatic; sizes of each column's vocabulary:
ATOM_VOCAB = (len(ELEMENTS) + 1, 4, 5, 2)
BOND_VOCAB = 5  # single, double, triple, aromatic, other

# mean/std of logP, -SA and -cycle over 250k_rndm_zinc_drugs_clean (JT-VAE / GCPN constants)
TERM_STATS = {
    "logp": (2.4570953396190123, 1.434324401111988),
    "neg_sa": (-3.0525811293166134, 0.8335207024513095),
    "neg_cycle": (-0.0485696876403053, 0.2860212110245455),
}

MOSES_FILE = "moses/dataset/data/train.csv.gz"


@cache
def _sascorer() -> ModuleType:
    """RDKit's shipped SA scorer, imported by path (it is not a package module)."""
    from rdkit import RDConfig

    path = Path(RDConfig.RDContribDir) / "SA_Score" / "sascorer.py"
    if not path.is_file():
        raise DataFileError(f"{path}: RDKit's SA scorer is missing from this rdkit installation")
    spec = importlib.util.spec_from_file_location("symco_rdkit_sascorer", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def source_path(source: str) -> Path:
    """The file holding the SMILES of ``source`` (see the module docstring)."""
    if source == "moses":
        from importlib.metadata import PackageNotFoundError, distribution

        try:
            path = Path(str(distribution("molsets").locate_file(MOSES_FILE)))
        except PackageNotFoundError:
            raise DataFileError(
                "molecule source 'moses' needs the molsets package: "
                "pip install --no-deps molsets==0.3.1 (symco reads only its data file)"
            ) from None
    elif source == "rdkit-nci":
        from rdkit import RDConfig

        path = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"
    else:
        path = Path(source)
    if not path.is_file():
        raise DataFileError(f"{path}: no such molecule file (source {source!r})")
    return path


def read_smiles(path: Path) -> list[str]:
    """First token of every non-empty line; a leading ``smiles`` header is skipped."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as f:  # type: ignore[operator]
            tokens = [line.replace(",", " ").split()[0] for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{path}: cannot read SMILES ({exc})") from None
    if tokens and tokens[0].lower() == "smiles":
        tokens = tokens[1:]
    if not tokens:
        raise DataFileError(f"{path}: holds no SMILES")
    return tokens


def _atom_features(atom: object) -> list[int]:
    sym = atom.GetSymbol()  # type: ignore[attr-defined]
    element = ELEMENTS.index(sym) if sym in ELEMENTS else len(ELEMENTS)
    charge = atom.GetFormalCharge()  # type: ignore[attr-defined]
    charge_i = charge + 1 if -1 <= charge <= 1 else 3
    hs = min(atom.GetTotalNumHs(), 4)  # type: ignore[attr-defined]
    return [element, charge_i, hs, int(atom.GetIsAromatic())]  # type: ignore[attr-defined]


def molecule_terms(mol: object) -> tuple[float, float, int]:
    """``(Crippen logP, SA score, cycle penalty)`` of an RDKit molecule."""
    from rdkit.Chem import Crippen

    rings = mol.GetRingInfo().AtomRings()  # type: ignore[attr-defined]
    largest = max((len(r) for r in rings), default=0)
    return Crippen.MolLogP(mol), float(_sascorer().calculateScore(mol)), max(0, largest - 6)


def penalized_logp(
    logp: np.ndarray, sa: np.ndarray, cycle: np.ndarray, target: Literal["normalized", "raw"]
) -> np.ndarray:
    """The target from its three terms (see the module docstring)."""
    if target == "raw":
        return logp - sa - cycle
    if target != "normalized":
        raise InvalidInstanceError(f"target must be 'normalized' or 'raw', got {target!r}")
    (lm, ls), (sm, ss), (cm, cs) = (TERM_STATS[k] for k in ("logp", "neg_sa", "neg_cycle"))
    return (logp - lm) / ls + (-sa - sm) / ss + (-cycle - cm) / cs


def featurize(smiles: list[str], where: str = "") -> dict[str, np.ndarray]:
    """Graphs and target terms of ``smiles``, as flat arrays with CSR-style pointers.

    ``x`` ``(sum N, 4)`` atom categories, ``edge_index`` ``(2, sum E)`` (both directions, local
    node ids), ``edge_attr`` ``(sum E,)`` bond type, ``node_ptr``/``edge_ptr`` ``(G + 1,)``,
    ``logp``/``sa``/``cycle`` ``(G,)`` and ``smiles`` ``(G,)`` (fixed-width unicode, no pickle).
    """
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")  # parse failures are reported below, one clear line
    bond_index = {
        Chem.BondType.SINGLE: 0,
        Chem.BondType.DOUBLE: 1,
        Chem.BondType.TRIPLE: 2,
        Chem.BondType.AROMATIC: 3,
    }
    xs, eis, eas, terms = [], [], [], []
    node_ptr, edge_ptr = [0], [0]
    for i, smi in enumerate(smiles):
        mol = Chem.MolFromSmiles(smi)
        if mol is None or mol.GetNumAtoms() == 0:
            raise DataFileError(f"{where}molecule {i}: invalid SMILES {smi!r}")
        xs.append(np.array([_atom_features(a) for a in mol.GetAtoms()], dtype=np.int64))
        pairs, types = [], []
        for b in mol.GetBonds():
            u, v, t = b.GetBeginAtomIdx(), b.GetEndAtomIdx(), bond_index.get(b.GetBondType(), 4)
            pairs += [(u, v), (v, u)]
            types += [t, t]
        eis.append(np.array(pairs, dtype=np.int64).reshape(-1, 2).T)
        eas.append(np.array(types, dtype=np.int64))
        terms.append(molecule_terms(mol))
        node_ptr.append(node_ptr[-1] + mol.GetNumAtoms())
        edge_ptr.append(edge_ptr[-1] + len(types))
    t = np.array(terms, dtype=np.float64).reshape(-1, 3)
    return {
        "x": np.concatenate(xs),
        "edge_index": np.concatenate(eis, axis=1),
        "edge_attr": np.concatenate(eas),
        "node_ptr": np.array(node_ptr, dtype=np.int64),
        "edge_ptr": np.array(edge_ptr, dtype=np.int64),
        "logp": t[:, 0],
        "sa": t[:, 1],
        "cycle": t[:, 2],
        "smiles": np.array(smiles, dtype=str),
    }


SPLITS = ("train", "val", "test")


def cache_file(
    cache_dir: str | os.PathLike[str], source: str, sizes: dict[str, int], seed: int
) -> Path:
    """Where the split of ``source`` with ``sizes`` and ``seed`` is cached."""
    path = source_path(source)
    stat = path.stat()
    key = json.dumps([source, str(path.resolve()), stat.st_size, sizes, seed, 1], sort_keys=True)
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    tag = source if source in ("moses", "rdkit-nci") else Path(source).name.split(".")[0]
    return Path(cache_dir) / f"zinc-{tag}-{digest}.npz"


def build_split(source: str, sizes: dict[str, int], seed: int) -> dict[str, np.ndarray]:
    """A fixed seeded split: test first, then val, then train from one permutation, so the test
    (and val) molecules do not depend on the train size."""
    path = source_path(source)
    smiles = read_smiles(path)
    total = sum(sizes.values())
    if total > len(smiles):
        raise InvalidInstanceError(
            f"{path}: {len(smiles)} molecules, fewer than the {total} requested "
            f"(train {sizes['train']} + val {sizes['val']} + test {sizes['test']})"
        )
    order = np.random.default_rng(seed).permutation(len(smiles))
    chosen, split = [], []
    start = 0
    for code, name in reversed(list(enumerate(SPLITS))):  # test, val, train
        idx = order[start : start + sizes[name]]
        chosen += [smiles[i] for i in idx]
        split += [code] * len(idx)
        start += sizes[name]
    arrays = featurize(chosen, where=f"{path}: ")
    arrays["split"] = np.array(split, dtype=np.int8)  # 0 train, 1 val, 2 test
    return arrays


def load_split(
    cache_dir: str | os.PathLike[str], source: str, sizes: dict[str, int], seed: int
) -> dict[str, np.ndarray]:
    """The cached split, built (RDKit) and written atomically on first use."""
    path = cache_file(cache_dir, source, sizes, seed)
    if not path.is_file():
        save_npz(path, build_split(source, sizes, seed))
    arrays = read_npz(path)
    missing = {
        "x",
        "edge_index",
        "edge_attr",
        "node_ptr",
        "edge_ptr",
        "logp",
        "sa",
        "cycle",
        "split",
    } - set(arrays)
    if missing:
        raise DataFileError(
            f"{path}: not a symco ZINC cache (missing {', '.join(sorted(missing))})"
        )
    return arrays
