"""GFN2-xTB labels through tblite, and the molecules and configurations they label.

Units and conventions (everything symco's potentials read and write): energies in eV, lengths in
Å, forces in eV/Å with :math:`F = -\\partial E / \\partial x`; tblite's Hartree and Bohr are
converted by ASE's constants. Molecules are neutral closed shells (an even electron count).

GFN2-xTB (Bannwarth, Ehlert & Grimme, *JCTC* 2019) is a semi-empirical tight-binding quantum
method: its energies and forces are real quantum-chemical labels, at milliseconds per
small molecule. ``tblite`` (the ``mlip`` extra) provides it; it is imported when labels are made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symco.core.errors import InvalidInstanceError, SolverUnavailableError

MIN_DISTANCE = 0.5
"""Closest approach (Å) of two atoms in a configuration that is labelled at all."""


class LabelError(InvalidInstanceError):
    """A molecule that could not be labelled (tblite did not converge, an embedding failed,
    non-finite coordinates): its sample is skipped and recorded."""


def xtb_calculator(method: str = "GFN2-xTB", max_iterations: int = 250) -> object:
    """An ASE calculator for ``method`` (tblite's own, which reuses the previous SCF solution
    as the start of the next one: MD steps cost a few SCF iterations)."""
    try:
        from tblite.ase import TBLite
    except ImportError:
        raise SolverUnavailableError(
            "GFN2-xTB labels need tblite: pip install 'symco[mlip]'"
        ) from None
    return TBLite(method=method, verbosity=0, max_iterations=max_iterations)


@dataclass(frozen=True)
class Labelled:
    """One labelled configuration: atomic numbers ``(n,)``, positions ``(n, 3)`` Å, energy eV,
    forces ``(n, 3)`` eV/Å; the MD temperature (K) it was drawn at and whether it was displaced
    off the trajectory."""

    numbers: np.ndarray
    positions: np.ndarray
    energy: float
    forces: np.ndarray
    temperature: float = 0.0
    displaced: bool = False


def label(atoms: object, calc: object) -> Labelled:
    """Energy and forces of ``atoms`` (an ``ase.Atoms``) with ``calc``; :class:`LabelError` if
    the coordinates are not finite or the SCF does not converge."""
    import ase

    assert isinstance(atoms, ase.Atoms)
    pos = atoms.get_positions()
    if not np.isfinite(pos).all():
        raise LabelError("coordinates are not finite (NaN or inf)")
    if len(pos) > 1:
        dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1) + np.eye(len(pos)) * 1e9
        i, j = np.unravel_index(int(dist.argmin()), dist.shape)
        if dist[i, j] < MIN_DISTANCE:
            raise LabelError(f"atoms {i} and {j} are {dist[i, j]:.3g} Å apart (< {MIN_DISTANCE} Å)")
    atoms.calc = calc
    try:
        energy = float(atoms.get_potential_energy())
        forces = np.asarray(atoms.get_forces(), dtype=np.float64)
    except Exception as exc:  # tblite raises its own RuntimeError subclasses
        raise LabelError(
            f"GFN2-xTB failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None
    if not (np.isfinite(energy) and np.isfinite(forces).all()):
        raise LabelError("GFN2-xTB returned non-finite energy or forces")
    return Labelled(atoms.get_atomic_numbers().copy(), pos.copy(), energy, forces)


__all__ = ["LabelError", "Labelled", "label", "xtb_calculator"]
