"""MACEPotential: the adapter agrees with mace's own pipeline and keeps the potential contract."""

from __future__ import annotations

import copy
import os
import sys
import warnings
from collections.abc import Iterator

import pytest
import torch

_ENV = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"
_saved = os.environ.get(_ENV)
pytest.importorskip("mace")
# importing mace sets the variable for the whole process: undo it for the rest of the session
if _saved is None:
    os.environ.pop(_ENV, None)
else:
    os.environ[_ENV] = _saved

from symco.core.errors import InvalidInstanceError, SolverUnavailableError  # noqa: E402
from symco.plugins.mlip.mace import MACEPotential  # noqa: E402

ELEMENTS = (1, 6, 7, 8, 9, 16, 17)


@pytest.fixture(scope="module")
def pot64() -> MACEPotential:
    """The default model in float64 with its weights perturbed (energies far from zero)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        pot = MACEPotential()
        with torch.no_grad():
            for p in pot.parameters():
                p.add_(0.3 * torch.randn_like(p))
    return pot.to(torch.float64).eval()


def molecules(b: int, n: int, seed: int = 0, pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``b`` random molecules of ``n - i % 3`` atoms (padded to ``n + pad``), float64 Å."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.tensor(ELEMENTS)[torch.randint(0, len(ELEMENTS), (b, n + pad), generator=gen)]
    pos = 1.6 * torch.randn(b, n + pad, 3, generator=gen, dtype=torch.float64)  # (B, N, 3)
    for i in range(b):
        z[i, n - i % 3 :] = 0
    return z, pos


def energy_forces(
    pot: MACEPotential, z: torch.Tensor, pos: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    p = pos.clone().requires_grad_(True)
    energy = pot(z, p)  # (B,)
    (grad,) = torch.autograd.grad(energy.sum(), p)
    return energy.detach(), -grad  # (B,), (B, N, 3)


@pytest.fixture
def float64_default() -> Iterator[None]:
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


@pytest.mark.usefixtures("float64_default")
def test_matches_mace_pipeline(pot64: MACEPotential) -> None:
    import ase
    from mace.data import AtomicData, config_from_atoms
    from mace.tools import AtomicNumberTable, torch_geometric

    z, pos = molecules(2, 9, seed=1)
    pos = pos * 1.8  # spread out: some pairs lie beyond the 5 Å cutoff
    table = AtomicNumberTable(list(ELEMENTS))
    data = []
    for zi, xi in zip(z, pos):
        atoms = ase.Atoms(numbers=zi[zi > 0].numpy(), positions=xi[zi > 0].numpy())
        data.append(AtomicData.from_config(config_from_atoms(atoms), z_table=table, cutoff=5.0))
    loader = torch_geometric.dataloader.DataLoader(data, batch_size=len(data), shuffle=False)
    batch = next(iter(loader)).to_dict()
    ref = pot64.model(batch, training=False, compute_force=True)

    energy, forces = energy_forces(pot64, z, pos)
    assert energy.abs().min() > 1e-3
    torch.testing.assert_close(energy, ref["energy"].detach(), rtol=1e-9, atol=1e-6)
    torch.testing.assert_close(forces[z > 0], ref["forces"].detach(), rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("improper", [False, True], ids=["rotation", "reflection"])
def test_invariant_energy_equivariant_forces(pot64: MACEPotential, improper: bool) -> None:
    z, pos = molecules(3, 12, seed=2)
    gen = torch.Generator().manual_seed(3)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=torch.float64))
    if (torch.linalg.det(q) < 0) != improper:
        q = -q
    shift = torch.randn(3, generator=gen, dtype=torch.float64) * 5
    e, f = energy_forces(pot64, z, pos)
    e2, f2 = energy_forces(pot64, z, pos @ q.T + shift)
    torch.testing.assert_close(e2, e, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(f2, f @ q.T, rtol=1e-8, atol=1e-10)


def test_padding_invariance(pot64: MACEPotential) -> None:
    z, pos = molecules(3, 10, seed=4, pad=0)
    zp, posp = molecules(3, 10, seed=5, pad=4)  # extra padding slots with arbitrary positions
    zp[:, :10], posp[:, :10] = z, pos
    zp[:, 10:] = 0
    posp[:, 10] = pos[:, 0]  # padding on top of a real atom
    e, f = energy_forces(pot64, z, pos)
    ep, fp = energy_forces(pot64, zp, posp)
    torch.testing.assert_close(ep, e, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fp[:, :10], f, rtol=1e-12, atol=1e-12)
    assert bool((fp[zp == 0] == 0).all())
    only_padding = pot64(torch.zeros_like(zp), posp.requires_grad_(True))  # (B,)
    assert only_padding.tolist() == [0.0, 0.0, 0.0] and only_padding.requires_grad


def test_permutation_invariance(pot64: MACEPotential) -> None:
    z, pos = molecules(2, 11, seed=6)
    e, f = energy_forces(pot64, z, pos)
    gen = torch.Generator().manual_seed(7)
    zq, posq, fq = z.clone(), pos.clone(), f.clone()
    for i in range(2):
        n = int((z[i] > 0).sum())
        perm = torch.randperm(n, generator=gen)
        zq[i, :n], posq[i, :n], fq[i, :n] = z[i, perm], pos[i, perm], f[i, perm]
    e2, f2 = energy_forces(pot64, zq.flip(0), posq.flip(0))  # structures swapped too
    torch.testing.assert_close(e2, e.flip(0), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(f2, fq.flip(0), rtol=1e-8, atol=1e-10)


def test_float32_and_training_gradients(pot64: MACEPotential) -> None:
    pot = copy.deepcopy(pot64).float().train()
    z, pos = molecules(2, 8, seed=8)
    p = pos.float().requires_grad_(True)
    energy = pot(z, p)
    assert energy.dtype == torch.float32 and energy.shape == (2,)
    (grad,) = torch.autograd.grad(energy.sum(), p, create_graph=True)
    (energy.square().sum() + grad.square().sum()).backward()  # a force-matching step
    assert all(q.grad is not None for q in pot.parameters() if q.requires_grad)
    e64, _ = energy_forces(pot64, z, pos)
    torch.testing.assert_close(energy.detach().double(), e64, rtol=1e-4, atol=1e-5)


def test_deepcopy_is_exact_and_quiet(pot64: MACEPotential) -> None:
    z, pos = molecules(2, 6, seed=9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        twin = copy.deepcopy(pot64)
    assert twin.model is not pot64.model
    torch.testing.assert_close(twin(z, pos), pot64(z, pos), rtol=0, atol=0)


def test_unknown_element(pot64: MACEPotential) -> None:
    z, pos = molecules(1, 5, seed=10)
    z[0, 2] = 15  # phosphorus: not among the default elements
    with pytest.raises(InvalidInstanceError, match="P"):
        pot64(z, pos)


@pytest.mark.parametrize("before", [None, "0"])
def test_environment_left_as_found(monkeypatch: pytest.MonkeyPatch, before: str | None) -> None:
    if before is None:
        monkeypatch.delenv(_ENV, raising=False)
    else:
        monkeypatch.setenv(_ENV, before)
    old = sys.modules["mace"]
    monkeypatch.delitem(sys.modules, "mace")  # so the constructor really runs mace/__init__
    MACEPotential(num_channels=4, max_L=0, correlation=1, num_interactions=1)
    assert sys.modules["mace"] is not old
    assert os.environ.get(_ENV) == before


def test_without_mace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mace", None)
    with pytest.raises(SolverUnavailableError) as err:
        MACEPotential()
    assert str(err.value) == "MACEPotential needs mace-torch: pip install 'symco[mace]'"
