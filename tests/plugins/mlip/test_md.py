"""The ASE calculator and NVE dynamics: energy conserved by a smooth potential, explosions
detected, the report's numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms

from symco.plugins.mlip.egnn import EGNNPotential
from symco.plugins.mlip.lightning import PotentialModule
from symco.plugins.mlip.md import SymcoCalculator, bonds, broken, run_md


def _water() -> Atoms:
    return Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])


def _module() -> PotentialModule:
    with torch.random.fork_rng():  # the untrained weights, without touching the global stream
        torch.manual_seed(0)
        return PotentialModule(EGNNPotential(hidden=16, layers=2))


def test_the_calculator_gives_the_module_energy_and_forces() -> None:
    module = _module()
    calc = SymcoCalculator(module)
    atoms = _water()
    atoms.calc = calc
    z = torch.tensor([[8, 1, 1]])
    e, f = module(z, torch.as_tensor(atoms.positions)[None])
    assert atoms.get_potential_energy() == pytest.approx(e[0].item(), abs=1e-9)
    np.testing.assert_allclose(atoms.get_forces(), f[0].detach().numpy(), atol=1e-9)


def test_nve_conserves_energy_with_a_smooth_potential() -> None:
    """An untrained EGNN is smooth: with 0.1 fs steps the total energy barely moves."""
    report, energy = run_md(_water(), SymcoCalculator(_module()), steps=200, timestep_fs=0.1,
                            temperature=300.0, seed=0, check_every=10)  # fmt: skip
    assert report.steps == 200 and report.time_ps == pytest.approx(0.02)
    assert len(energy) == 20
    assert report.max_deviation_mev_atom < 5.0
    assert np.isfinite(report.drift_mev_atom_ps)


def test_a_broken_bond_or_a_collision_counts_as_an_explosion() -> None:
    atoms = _water()
    pairs, lengths = bonds(atoms)
    assert sorted(map(tuple, pairs.T.tolist())) == [(0, 1), (0, 2)]
    assert broken(atoms, pairs, lengths) == ""
    far = atoms.copy()
    far.positions[1] = [3.0, 0, 0]
    assert "stretched" in broken(far, pairs, lengths)
    close = atoms.copy()
    close.positions[2] = [0.9, 0.1, 0]
    assert "apart" in broken(close, pairs, lengths)
