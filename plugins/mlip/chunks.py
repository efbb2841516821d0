"""Molecular datasets labelled by GFN2-xTB: what a set is and how one chunk is made (the
worker side: NumPy, RDKit, ASE and tblite, no torch).

Two kinds of set (:class:`MoleculeSetSpec`):

* ``trajectory`` — one molecule's dynamics (the MD17 kind of task; aspirin by default). Every
  chunk is an independent trajectory from its own ETKDG conformer, temperature and seed
  (Langevin MD, frames every ``stride`` steps after ``burn``); the splits are different
  trajectories, so test frames are never neighbours of training frames.
* ``molecules`` — many small molecules (the OMol25 kind, in miniature): ``frames``
  configurations per molecule, molecules split disjointly (the test molecules are unseen).

A dataset is a folder ``DATA_DIR/<spec name>/`` holding ``manifest.json`` (the spec) and chunks
``<split>-<start>-<stop>.npz`` of samples ``start..stop-1``; a sample is one molecule (or one
trajectory segment) and is made from its own seed ``(seed, split, index)``, so a chunk is a
pure function of the spec and its range, a larger split extends a smaller one, and chunks are
written atomically: a stopped run resumes by skipping the chunks on disk. Missing chunks are
labelled over a process pool (one thread each).

A chunk holds the ragged structures of its samples: ``numbers`` ``(A,)``, ``positions`` and
``forces`` ``(A, 3)`` (Å, eV/Å), ``energy`` ``(S,)`` (eV), ``atoms`` ``(S,)`` (atoms per
structure), ``sample`` ``(S,)`` (the sample each structure comes from), ``temperature``
``(S,)`` (K) and ``displaced`` ``(S,)``. A sample that cannot be labelled (an embedding that
fails, an SCF that does not converge, atoms that collapse) is skipped and recorded in the chunk:
``failed`` ``(K,)`` sample indices and ``reasons`` ``(K,)``, one line each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from symco.core.dataset import save_npz
from symco.core.errors import InvalidInstanceError
from symco.plugins.mlip.atoms import ELEMENTS, symbol
from symco.plugins.mlip.sampling import Sampling
from symco.plugins.mlip.xtb import LabelError, Labelled

SPLITS: tuple[str, ...] = ("train", "val", "test")
KEYS: tuple[str, ...] = ("numbers", "positions", "forces", "energy", "atoms", "sample",
                         "temperature", "displaced")  # fmt: skip
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


@dataclass(frozen=True)
class MoleculeSetSpec:
    """Everything that determines a set's samples (its manifest; see the module docstring).

    :param kind: ``trajectory`` (``smiles``'s dynamics) or ``molecules`` (from ``source``).
    :param source: molecule source of a ``molecules`` set (``rdkit-nci``, ``moses`` or a file
        of SMILES).
    :param splits: the ``(train, val, test)`` molecule counts of a ``molecules`` set: they
        decide which molecules each split holds (cut from one shuffled pool, train first), so
        they are part of the set's identity and name (other counts make another set).
    """

    kind: Literal["trajectory", "molecules"] = "molecules"
    smiles: str = ASPIRIN
    source: str = "rdkit-nci"
    elements: tuple[int, ...] = ELEMENTS
    min_heavy: int = 3
    max_heavy: int = 20
    seed: int = 0
    sampling: Sampling = field(default_factory=Sampling)
    splits: tuple[int, int, int] = (0, 0, 0)

    @property
    def name(self) -> str:
        if self.kind == "trajectory":
            return f"xtb-trajectory-{_slug(self.smiles)}-s{self.seed}"
        src = Path(self.source).stem if self.source not in ("rdkit-nci", "moses") else self.source
        sizes = "-".join(map(str, self.splits))
        return f"xtb-molecules-{src}-h{self.min_heavy}-{self.max_heavy}-s{self.seed}-n{sizes}"

    def manifest(self) -> dict[str, Any]:
        out = asdict(self)
        out["elements"] = list(self.elements)
        out["splits"] = list(self.splits)
        out["units"] = {"energy": "eV", "length": "Å", "forces": "eV/Å (-dE/dx)"}
        out["method"] = "GFN2-xTB (tblite)"
        return out


def _slug(smiles: str) -> str:
    import hashlib

    return hashlib.sha1(smiles.encode()).hexdigest()[:8]


# -- molecules ------------------------------------------------------------------------------


def ineligible(smiles: str, spec: MoleculeSetSpec) -> str:
    """Why a SMILES string does not belong in a ``molecules`` set (``""``: it does; see
    :mod:`.sampling`)."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")  # unparsable SMILES are reported by the caller, not printed
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return "RDKit cannot parse it"
    if len(Chem.GetMolFrags(mol)) != 1:
        return "more than one fragment"
    heavy = mol.GetNumHeavyAtoms()
    if not spec.min_heavy <= heavy <= spec.max_heavy:
        return f"{heavy} heavy atoms (the set takes {spec.min_heavy}-{spec.max_heavy})"
    atoms = list(Chem.AddHs(mol).GetAtoms())
    unknown = sorted({a.GetAtomicNum() for a in atoms} - set(spec.elements))
    if unknown:
        return f"unknown element {symbol(unknown[0])} (the set takes {', '.join(symbol(e) for e in spec.elements)})"
    if any(a.GetFormalCharge() != 0 for a in atoms):
        return "charged atoms (the set takes neutral molecules)"
    if sum(a.GetAtomicNum() for a in atoms) % 2:
        return "an odd number of electrons (the set takes closed shells)"
    return ""


def molecule_splits(spec: MoleculeSetSpec) -> dict[str, list[str]]:
    """The SMILES of each split: the eligible molecules of the source, shuffled by the seed,
    cut in the order train, val, test (disjoint), ``spec.splits`` of each."""
    sizes = dict(zip(SPLITS, spec.splits))
    from symco.plugins.zinc.dataset import read_smiles, source_path

    pool = sorted({s for s in read_smiles(source_path(spec.source)) if not ineligible(s, spec)})
    order = np.random.default_rng([spec.seed, 7]).permutation(len(pool))
    need = sum(sizes.get(s, 0) for s in SPLITS)
    if need > len(pool):
        raise InvalidInstanceError(
            f"data: {need} molecules asked for, but source {spec.source!r} has {len(pool)} "
            f"eligible ones ({spec.min_heavy}-{spec.max_heavy} heavy atoms, elements "
            f"{', '.join(symbol(e) for e in spec.elements)})"
        )
    out, at = {}, 0
    for split in SPLITS:
        k = sizes.get(split, 0)
        out[split] = [pool[i] for i in order[at : at + k]]
        at += k
    return out


# -- chunks -----------------------------------------------------------------------------------


def sample_rng(spec: MoleculeSetSpec, split: int, index: int) -> np.random.Generator:
    return np.random.default_rng([spec.seed, split, index])


def label_samples(
    spec: MoleculeSetSpec, split: int, start: int, stop: int, smiles: Sequence[str]
) -> list[tuple[int, str, list[Labelled] | str]]:
    """``(index, smiles, structures or the reason it failed)`` for samples ``start..stop-1``.

    A ``molecules`` sample is one molecule's ``frames`` structures; a ``trajectory`` chunk is one
    MD run from its own seed (its first sample's), each sample one frame of it (a failed run
    fails the whole chunk).
    """
    from symco.plugins.mlip.sampling import conformer, sample_configurations

    def draw(smi: str, rng: np.random.Generator, sampling: Sampling) -> list[Labelled]:
        atoms = conformer(smi, int(rng.integers(2**31)))
        return sample_configurations(atoms, sampling, rng)

    if spec.kind == "trajectory":
        rng = sample_rng(spec, split, start)
        try:
            frames = draw(spec.smiles, rng, replace(spec.sampling, frames=stop - start))
        except LabelError as exc:
            return [(i, spec.smiles, str(exc)) for i in range(start, stop)]
        return [(i, spec.smiles, [f]) for i, f in zip(range(start, stop), frames)]
    out: list[tuple[int, str, list[Labelled] | str]] = []
    for index, smi in zip(range(start, stop), smiles):
        try:
            out.append((index, smi, draw(smi, sample_rng(spec, split, index), spec.sampling)))
        except LabelError as exc:
            out.append((index, smi, str(exc)))
    return out


def write_chunk(
    spec: MoleculeSetSpec, split: int, start: int, stop: int, smiles: Sequence[str], path: str
) -> list[str]:
    """Label samples ``start..stop-1`` of split ``split`` (``smiles[i - start]`` each) and write
    them atomically to ``path``; the reasons of the samples that failed."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in KEYS}
    failed, reasons = [], []
    for index, smi, frames in label_samples(spec, split, start, stop, smiles):
        if isinstance(frames, str):
            failed.append(index)
            reasons.append(f"{SPLITS[split]} sample {index} ({smi}): {frames}")
            continue
        for frame in frames:
            parts["numbers"].append(np.asarray(frame.numbers, dtype=np.int64))
            parts["positions"].append(frame.positions)
            parts["forces"].append(frame.forces)
            parts["energy"].append(np.array([frame.energy]))
            parts["atoms"].append(np.array([len(frame.positions)]))
            parts["sample"].append(np.array([index]))
            parts["temperature"].append(np.array([frame.temperature]))
            parts["displaced"].append(np.array([frame.displaced]))
    arrays = {k: _cat(v, k) for k, v in parts.items()}
    arrays["failed"] = np.asarray(failed, dtype=np.int64)
    arrays["reasons"] = np.asarray(reasons, dtype=np.str_)
    save_npz(path, arrays)
    return reasons


def _cat(parts: list[np.ndarray], key: str) -> np.ndarray:
    if parts:
        return np.concatenate(parts)
    shape = (0, 3) if key in ("positions", "forces") else (0,)
    return np.zeros(shape, dtype=np.int64 if key in ("numbers", "atoms", "sample") else np.float64)
