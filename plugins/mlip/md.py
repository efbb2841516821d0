"""Molecular dynamics with a trained potential: an ASE calculator and ``symco md``.

:class:`SymcoCalculator` wraps any :class:`~.lightning.PotentialModule` as an ASE calculator
(energy in eV, forces in eV/Å), so ASE's integrators, optimizers and tools run on it.
:func:`run_md` integrates Newton's equations with velocity Verlet (NVE: the total energy is
conserved by the exact dynamics, so its drift measures the potential's smoothness and the
integrator's error), from velocities drawn at a temperature, and reports the drift and whether
the molecule came apart.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from symco.core.errors import InvalidInstanceError

COVALENT_SCALE = 1.25
"""Atoms closer than this times the sum of their covalent radii at the start are bonded."""


class SymcoCalculator(Calculator):  # type: ignore[misc]
    """An ASE calculator of ``module``'s energy and forces (autograd), in float64 by default.

    :param module: a potential module (``module(z, pos) -> (energy (B,), forces (B, N, 3))``).
    """

    implemented_properties = ("energy", "forces")

    def __init__(self, module: torch.nn.Module, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        self.module = module.to(dtype).eval()
        self.dtype = dtype
        self.calls = 0

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: Any = ("energy", "forces"),
        system_changes: Any = all_changes,
    ) -> None:
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        pos = np.asarray(self.atoms.get_positions())
        if not np.isfinite(pos).all():
            raise InvalidInstanceError("md: the coordinates are not finite (NaN or inf)")
        z = torch.as_tensor(self.atoms.get_atomic_numbers(), dtype=torch.long)[None]  # (1, N)
        x = torch.as_tensor(pos, dtype=self.dtype)[None]  # (1, N, 3)
        energy, forces = self.module(z, x)
        self.calls += 1
        self.results = {
            "energy": float(energy[0].detach()),
            "forces": forces[0].detach().numpy().astype(np.float64),
        }


@dataclass(frozen=True)
class MDReport:
    """What a run did: ``steps`` of ``timestep_fs``; the total energy's drift (slope of a line
    fitted through it, meV/atom/ps) and largest excursion from its start (meV/atom); the mean
    temperature (K); ``exploded`` (and why) when coordinates went non-finite, two atoms came
    closer than 0.5 Å or a bond stretched past twice its starting length."""

    steps: int
    timestep_fs: float
    time_ps: float
    atoms: int
    drift_mev_atom_ps: float
    max_deviation_mev_atom: float
    mean_temperature: float
    exploded: bool
    reason: str
    seconds: float
    steps_per_second: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def bonds(atoms: Atoms) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)`` bonded at the start (see :data:`COVALENT_SCALE`) and their lengths."""
    from ase.data import covalent_radii

    pos = atoms.get_positions()
    dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    radii = covalent_radii[atoms.get_atomic_numbers()]
    close = dist < COVALENT_SCALE * (radii[:, None] + radii[None])
    i, j = np.nonzero(np.triu(close, 1))
    return np.stack([i, j]), dist[i, j]


def broken(atoms: Atoms, pairs: np.ndarray, lengths: np.ndarray) -> str:
    """Why the molecule counts as exploded, or ``""``."""
    pos = atoms.get_positions()
    if not np.isfinite(pos).all():
        return "non-finite coordinates"
    dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1) + 1e9 * np.eye(len(pos))
    if dist.min() < 0.5:
        return f"two atoms {dist.min():.2f} Å apart"
    if pairs.size:
        stretch = dist[pairs[0], pairs[1]] / lengths
        k = int(stretch.argmax())
        if stretch[k] > 2.0:
            return f"bond {pairs[0, k]}-{pairs[1, k]} stretched {stretch[k]:.1f}x"
    return ""


def run_md(
    atoms: Atoms,
    calc: Calculator,
    *,
    steps: int = 20000,
    timestep_fs: float = 0.5,
    temperature: float = 300.0,
    seed: int = 0,
    check_every: int = 10,
) -> tuple[MDReport, np.ndarray]:
    """NVE velocity Verlet from Maxwell-Boltzmann velocities at ``temperature`` K (zero total
    momentum); the report and the total energy (eV) every ``check_every`` steps. Stops early
    when the molecule explodes."""
    from ase import units
    from ase.md.velocitydistribution import Stationary, ZeroRotation, thermalize_momenta
    from ase.md.verlet import VelocityVerlet

    atoms = atoms.copy()
    atoms.calc = calc
    thermalize_momenta(atoms, temperature_K=temperature, rng=np.random.default_rng(seed))
    Stationary(atoms)
    ZeroRotation(atoms)
    pairs, lengths = bonds(atoms)
    dyn = VelocityVerlet(atoms, timestep=timestep_fs * units.fs)
    energies, temps, reason, done = [], [], "", 0
    start = time.perf_counter()
    while done < steps:
        n = min(check_every, steps - done)
        dyn.run(n)
        done += n
        reason = broken(atoms, pairs, lengths)
        if reason:
            break
        energies.append(atoms.get_potential_energy() + atoms.get_kinetic_energy())
        temps.append(atoms.get_temperature())
    seconds = time.perf_counter() - start
    e = np.asarray(energies)
    n_atoms = len(atoms)
    t_ps = np.arange(1, len(e) + 1) * check_every * timestep_fs / 1000.0
    slope = float(np.polyfit(t_ps, e, 1)[0]) if len(e) > 1 else math.nan
    report = MDReport(
        steps=done,
        timestep_fs=timestep_fs,
        time_ps=done * timestep_fs / 1000.0,
        atoms=n_atoms,
        drift_mev_atom_ps=1000.0 * slope / n_atoms,
        max_deviation_mev_atom=1000.0 * float(np.abs(e - e[0]).max()) / n_atoms
        if len(e)
        else math.nan,
        mean_temperature=float(np.mean(temps)) if temps else math.nan,
        exploded=bool(reason),
        reason=reason,
        seconds=seconds,
        steps_per_second=done / seconds if seconds > 0 else math.nan,
    )
    return report, e


__all__ = ["MDReport", "SymcoCalculator", "bonds", "broken", "run_md"]
