"""Molecules, conformers and the configurations that get labelled (worker-side; no torch).

* **Molecules**: SMILES from an offline source (:func:`symco.plugins.zinc.dataset.source_path`:
  RDKit's shipped NCI set, the MOSES/ZINC file, or a local file), kept when they parse, are one
  neutral fragment of ``min_heavy..max_heavy`` heavy atoms with an even electron count, and
  use only the set's elements. The kept list is shuffled by the set's seed and cut into the
  splits, so the held-out molecules are unseen in training.
* **Conformers**: RDKit's ETKDG (v3) with explicit hydrogens, seeded per sample.
* **Configurations**: Langevin molecular dynamics with ASE under GFN2-xTB forces at a
  temperature drawn per sample from ``[t_min, t_max]`` K (a thermostat friction of
  0.01 fs⁻¹), frames every ``stride`` steps after ``burn`` steps; each frame is, with
  probability ``displace``, replaced by a copy with Gaussian displacements of ``sigma`` Å (off
  the MD manifold: what a relaxation or an unstable simulation visits). The MD step's own
  energy and forces are the labels of an MD frame; a displaced copy gets a single point.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from symco.plugins.mlip.xtb import LabelError, Labelled, label, xtb_calculator

FS = 0.09822694788464063
"""One femtosecond in ASE's time unit (Å·√(amu/eV)); ``ase.units.fs``, kept here so that the
constants are importable without ASE."""


@dataclass(frozen=True)
class Sampling:
    """How configurations are drawn from one molecule (see the module docstring)."""

    frames: int = 4
    burn: int = 20
    stride: int = 10
    timestep_fs: float = 0.5
    t_min: float = 300.0
    t_max: float = 1000.0
    displace: float = 0.25
    sigma: float = 0.04
    friction: float = 0.01


def conformer(smiles: str, seed: int) -> object:
    """An ``ase.Atoms`` of ``smiles`` (explicit hydrogens) embedded by ETKDG with ``seed``;
    :class:`LabelError` if RDKit cannot parse or embed it."""
    import ase
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise LabelError(f"RDKit cannot parse SMILES {smiles!r}")
    mol = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed) % (2**31)
    if AllChem.EmbedMolecule(mol, params) != 0:
        raise LabelError(f"ETKDG could not embed {smiles!r}")
    numbers = [a.GetAtomicNum() for a in mol.GetAtoms()]
    return ase.Atoms(numbers=numbers, positions=mol.GetConformer().GetPositions())


def sample_configurations(
    atoms: object, sampling: Sampling, rng: np.random.Generator
) -> list[Labelled]:
    """``sampling.frames`` labelled configurations of ``atoms`` drawn by MD (see the module
    docstring); every random number comes from ``rng``."""
    import ase
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    assert isinstance(atoms, ase.Atoms)
    atoms = atoms.copy()
    calc = xtb_calculator()
    label(atoms, calc)  # the start must be labelled (raises if it cannot be)
    temperature = float(rng.uniform(sampling.t_min, sampling.t_max))
    thermalize_momenta(atoms, temperature_K=temperature, rng=rng)
    Stationary(atoms)
    dyn = Langevin(atoms, timestep=sampling.timestep_fs * FS, temperature_K=temperature,
                   friction=sampling.friction / FS, fixcm=False, rng=rng)  # fmt: skip
    dyn.run(sampling.burn)
    out = []
    for _ in range(sampling.frames):
        dyn.run(sampling.stride)
        frame = label(atoms, calc)  # cached: the step already computed it
        displaced = bool(rng.random() < sampling.displace)
        if displaced:
            moved = atoms.copy()
            moved.positions += rng.normal(0.0, sampling.sigma, moved.positions.shape)
            frame = label(moved, xtb_calculator())
        out.append(replace(frame, temperature=temperature, displaced=displaced))
    return out


__all__ = ["FS", "Sampling", "conformer", "sample_configurations"]
