"""The Facet potential (float64): O(3) + translation invariance of the energy and equivariance
of the forces, permutation and padding invariance, the spherical-grid mixer's equivariance,
smoothness at the cutoff, and the config schema."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from symco.core.errors import InvalidInstanceError
from symco.plugins.mlip.atoms import ELEMENTS
from symco.plugins.mlip.e3nn_compat import import_o3
from symco.plugins.mlip.facet import FacetPotential
from symco.plugins.mlip.s2_mixer import S2Mixer, sphere_irreps

o3 = import_o3()
F64 = torch.float64


@contextmanager
def float64_default() -> Iterator[None]:
    """Build in float64: e3nn (and the mixer) compute their constants (Clebsch–Gordan
    coefficients, grid matrices) in the default dtype, so a float32 build rounds them."""
    saved = torch.get_default_dtype()
    torch.set_default_dtype(F64)
    try:
        yield
    finally:
        torch.set_default_dtype(saved)


def small(seed: int = 0, **kwargs: object) -> FacetPotential:
    torch.manual_seed(seed)
    options = {"channels": 8, "mixer_channels": 8, "layers": 2, **kwargs}
    with float64_default():
        return FacetPotential(**options)  # type: ignore[arg-type]


def linear_mixers(model: FacetPotential) -> FacetPotential:
    """The same model with each mixer's MLP made linear: the grid round trip is then exact, so
    every symmetry must hold to rounding (the SiLU MLP adds a small grid-aliasing error)."""
    for layer in model.layers:
        layer.mixer.mlp = nn.Linear(layer.mixer.channels, layer.mixer.channels, dtype=F64)
    return model


@pytest.fixture(scope="module")
def model() -> FacetPotential:
    return small()


@pytest.fixture(scope="module")
def exact_model() -> FacetPotential:
    return linear_mixers(small(1))


def molecules(seed: int, sizes: tuple[int, ...] = (7, 5, 3)) -> tuple[torch.Tensor, torch.Tensor]:
    """A padded batch: random elements, atoms spread so that some pairs exceed the cutoff."""
    gen = torch.Generator().manual_seed(seed)
    n = max(sizes)
    z = torch.zeros(len(sizes), n, dtype=torch.long)
    for b, size in enumerate(sizes):
        z[b, :size] = torch.tensor(ELEMENTS)[
            torch.randint(0, len(ELEMENTS), (size,), generator=gen)
        ]
    pos = 2.2 * torch.randn(len(sizes), n, 3, generator=gen, dtype=F64)
    return z, pos


def energy_forces(model: nn.Module, z: torch.Tensor, pos: torch.Tensor):
    pos = pos.clone().requires_grad_(True)
    energy = model(z, pos)
    (grad,) = torch.autograd.grad(energy.sum(), pos)
    return energy.detach(), -grad


def random_o3(seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(
        torch.randn(3, 3, generator=torch.Generator().manual_seed(seed), dtype=F64)
    )
    return q


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), reflect=st.booleans())
def test_energy_invariant_and_forces_equivariant_under_e3(
    exact_model: FacetPotential, model: FacetPotential, seed: int, reflect: bool
) -> None:
    z, pos = molecules(seed)
    rot = random_o3(seed + 1)
    if (torch.linalg.det(rot) < 0) != reflect:
        rot = -rot
    shift = torch.randn(3, generator=torch.Generator().manual_seed(seed + 2), dtype=F64)
    moved = pos @ rot.T + shift
    for m, tol in ((exact_model, 1e-10), (model, 1e-5)):
        e, f = energy_forces(m, z, pos)
        e_moved, f_moved = energy_forces(m, z, moved)
        torch.testing.assert_close(e_moved, e, atol=tol, rtol=tol)
        torch.testing.assert_close(f_moved, f @ rot.T, atol=tol, rtol=tol)
    assert float(f.abs().max()) > 1e-3  # forces are not trivially zero


def test_mixing_in_the_atoms_own_features_keeps_the_symmetries() -> None:
    """``mix_self``: the mixers read each atom's features beside its messages (their input is
    wider than the messages); E(3) and permutations still hold to rounding (linear mixers)."""
    model = linear_mixers(small(2, mix_self=True))
    z, pos = molecules(5)
    rot = -random_o3(6)
    perm = torch.randperm(7, generator=torch.Generator().manual_seed(1))
    e, f = energy_forces(model, z, pos)
    e_rot, f_rot = energy_forces(model, z, pos @ rot.T + 1.5)
    torch.testing.assert_close(e_rot, e, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(f_rot, f @ rot.T, atol=1e-10, rtol=1e-10)
    z2, pos2 = z.clone(), pos.clone()
    z2[0, :7], pos2[0, :7] = z[0, perm], pos[0, perm]
    e2, f2 = energy_forces(model, z2, pos2)
    torch.testing.assert_close(e2, e, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(f2[0, :7], f[0, perm], atol=1e-10, rtol=1e-10)
    assert "mix_self=True" in repr(model.layers[0])
    assert all(layer.mixer.irreps_in.dim > layer.irreps_in.dim for layer in model.layers)


def test_permuting_atoms_within_a_structure(exact_model: FacetPotential) -> None:
    z, pos = molecules(3)
    perm = torch.randperm(7, generator=torch.Generator().manual_seed(0))
    z2, pos2 = z.clone(), pos.clone()
    z2[0, :7], pos2[0, :7] = z[0, perm], pos[0, perm]
    e, f = energy_forces(exact_model, z, pos)
    e2, f2 = energy_forces(exact_model, z2, pos2)
    torch.testing.assert_close(e2, e, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(f2[0, :7], f[0, perm], atol=1e-10, rtol=1e-10)


def test_padding_and_batching_change_nothing(model: FacetPotential) -> None:
    z, pos = molecules(4)
    e, f = energy_forces(model, z, pos)
    # three extra padding columns (their positions are junk)
    z_pad = torch.cat([z, torch.zeros(3, 3, dtype=torch.long)], dim=1)
    pos_pad = torch.cat([pos, 50 * torch.randn(3, 3, 3, dtype=F64)], dim=1)
    e_pad, f_pad = energy_forces(model, z_pad, pos_pad)
    torch.testing.assert_close(e_pad, e, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(f_pad[:, :7], f, atol=1e-12, rtol=1e-12)
    assert bool((f_pad[:, 7:] == 0).all())
    # each structure alone, unpadded
    for b, size in enumerate((7, 5, 3)):
        e_b, _ = energy_forces(model, z[b : b + 1, :size], pos[b : b + 1, :size])
        torch.testing.assert_close(e_b, e[b : b + 1], atol=1e-12, rtol=1e-12)


def test_smooth_through_the_cutoff(model: FacetPotential) -> None:
    """A dimer beyond the cutoff is two lone atoms; just inside it barely differs, and the
    force there is tiny (the envelope's value, slope and curvature vanish at r_c)."""
    z = torch.tensor([[6, 8]])
    with torch.no_grad():
        origin = torch.zeros(1, 1, 3, dtype=F64)
        lone = model(z[:, :1], origin) + model(z[:, 1:], origin)

    def dimer(r: float) -> tuple[torch.Tensor, torch.Tensor]:
        pos = torch.tensor([[[0.0, 0.0, 0.0], [r, 0.0, 0.0]]], dtype=F64)
        return energy_forces(model, z, pos)

    e_out, f_out = dimer(5.0 + 1e-9)
    torch.testing.assert_close(e_out, lone, atol=1e-12, rtol=0)
    assert bool((f_out == 0).all())
    e_in, f_in = dimer(5.0 - 1e-3)
    assert abs(float(e_in - lone)) < 1e-6 and float(f_in.abs().max()) < 1e-4
    e_mid, f_mid = dimer(2.0)
    assert abs(float(e_mid - lone)) > 1e-4 and float(f_mid.abs().max()) > 1e-4


@pytest.mark.parametrize("reflect", [False, True])
def test_s2_mixer_is_equivariant(reflect: bool) -> None:
    torch.manual_seed(0)
    irreps_in = o3.Irreps("3x0e + 2x1o + 4x2e + 1x1e")  # 1e has no grid function: dropped
    irreps_out = sphere_irreps(5, 2)
    with float64_default():
        mixer = S2Mixer(irreps_in, irreps_out, channels=6, lmax=2, grid=(18, 17))
    rot = random_o3(7)
    if (torch.linalg.det(rot) < 0) != reflect:
        rot = -rot
    d_in, d_out = irreps_in.D_from_matrix(rot), irreps_out.D_from_matrix(rot)
    x = torch.randn(10, irreps_in.dim, dtype=F64)
    # the SiLU MLP's frequencies above lmax alias on the grid: equivariant to ~1e-6
    with torch.no_grad():
        y, y_rot = mixer(x) @ d_out.T, mixer(x @ d_in.T)
    assert float((y_rot - y).norm() / y.norm()) < 1e-5
    mixer.mlp = nn.Linear(6, 6, dtype=F64)  # band-limited: exact
    torch.testing.assert_close(mixer(x @ d_in.T), mixer(x) @ d_out.T, atol=1e-12, rtol=1e-12)


def test_s2_grid_round_trip_is_exact() -> None:
    with float64_default():
        mixer = S2Mixer("4x0e", sphere_irreps(2, 2), channels=3, lmax=2, grid=(12, 11))
    c = torch.randn(5, 9, 3, dtype=F64)  # (A, (lmax+1)^2, M)
    torch.testing.assert_close(mixer.from_grid @ (mixer.to_grid @ c), c, atol=1e-12, rtol=0)
    x = torch.randn(5, mixer.irreps_sphere.dim, dtype=F64)
    torch.testing.assert_close(mixer.from_coefficients(mixer.to_coefficients(x)), x)


def test_float32_and_training_gradients() -> None:
    torch.manual_seed(0)
    model = FacetPotential(channels=8, mixer_channels=8)
    z, pos = molecules(5)
    pos = pos.float().requires_grad_(True)
    energy = model(z, pos)
    assert energy.dtype == torch.float32 and energy.shape == (3,)
    (grad,) = torch.autograd.grad(energy.sum(), pos, create_graph=True)
    (energy.pow(2).sum() + grad.pow(2).sum()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and bool(torch.isfinite(p.grad).all()), name
    assert float(model.layers[0].radial.weight.grad.abs().max()) > 0


def test_deepcopy_and_saved_weights_keep_the_model(model: FacetPotential, tmp_path) -> None:
    """Copies need no TorchScript (deep copies stay torch.fx); weights saved and loaded
    (``weights_only``) into a fresh build give the same model."""
    z, pos = molecules(6)
    e, f = energy_forces(model, z, pos)
    twin = copy.deepcopy(model)
    assert type(twin.layers[1].tps[0]._compiled_main_left_right).__name__ == "GraphModule"
    torch.save(model.state_dict(), tmp_path / "w.pt")
    fresh = small(seed=1)  # other initial weights, replaced by the saved ones
    fresh.load_state_dict(torch.load(tmp_path / "w.pt", weights_only=True))
    for other in (twin, fresh):
        e2, f2 = energy_forces(other, z, pos)
        torch.testing.assert_close(e2, e, atol=1e-12, rtol=0)
        torch.testing.assert_close(f2, f, atol=1e-12, rtol=0)
    with torch.no_grad():
        twin.layers[0].radial.weight.add_(1.0)
    torch.testing.assert_close(energy_forces(model, z, pos)[0], e, atol=0, rtol=0)


def test_unknown_element_is_rejected(model: FacetPotential) -> None:
    z = torch.tensor([[6, 26]])
    with pytest.raises(InvalidInstanceError, match="not one this model knows"):
        model(z, torch.randn(1, 2, 3, dtype=F64))


def test_constructor_is_a_config_schema() -> None:
    sig = inspect.signature(FacetPotential.__init__)
    for name, p in list(sig.parameters.items())[1:]:
        assert p.annotation is not inspect.Parameter.empty, name
        assert p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, name
        assert isinstance(p.default, int | float | tuple), name
    text = repr(FacetPotential(channels=4, mixer_channels=4, layers=1))
    assert "channels=4, lmax=2, cutoff=5.0" in text and "S2Mixer" in text and "SplineBasis" in text
    with pytest.raises(InvalidInstanceError, match="layers"):
        FacetPotential(layers=0)
    with pytest.raises(InvalidInstanceError, match="cannot hold lmax=3"):
        FacetPotential(lmax=3, grid=(6, 5))
