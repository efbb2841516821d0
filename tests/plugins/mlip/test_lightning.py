"""The potential module: declared symmetries checked in float64 for every potential (exact ones
pass, the Transformer's rotations are measured), forces by autograd, the loss parts, TransIP's
objective, and one training step of each variant."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import lightning as L
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from symco.core.symmetry.declare import check_symmetries
from symco.core.symmetry.orthogonal import haar_orthogonal
from symco.plugins.mlip.data import MLIPDataModule
from symco.plugins.mlip.egnn import EGNNPotential
from symco.plugins.mlip.learned_equivariance import LearnedEquivariance
from symco.plugins.mlip.lightning import PotentialModule
from symco.plugins.mlip.transformer import TransformerPotential

from .conftest import TINY


def _facet(**options: object) -> torch.nn.Module:
    from symco.plugins.mlip.facet import FacetPotential

    return FacetPotential(channels=8, layers=1, **options)  # type: ignore[arg-type]


def _mace() -> torch.nn.Module:
    if importlib.util.find_spec("mace") is None:  # importing it would set an environment variable
        pytest.skip("mace-torch is not installed")
    from symco.plugins.mlip.mace import MACEPotential

    return MACEPotential(num_channels=8, num_interactions=1, correlation=2, radial_mlp=(16,))


EXACT = {
    "egnn": lambda: EGNNPotential(hidden=16, layers=2),
    "facet": _facet,
    "facet-config": lambda: _facet(num_splines=16, mix_self=True),  # configs/mlip/facet.yaml's form
    "mace": _mace,
}


@pytest.mark.parametrize("name", sorted(EXACT))
def test_built_in_equivariance_holds_in_float64(name: str) -> None:
    module = PotentialModule(EXACT[name]())
    results = check_symmetries(module, n=3, seed=1)
    assert len(results) == 4
    assert all(r.exact and r.passed for r in results), [r.row() for r in results]


def test_the_transformer_declares_its_rotations_learned_and_they_are_measured() -> None:
    module = PotentialModule(TransformerPotential(dim=16, layers=1, heads=2, invariant_dim=8))
    rows = {r.label: r for r in check_symmetries(module, n=3, seed=1)}
    rotation = rows["euclidean: rigid motions: forces rotate"]
    assert not rotation.exact and rotation.row()[-1] == "measured"
    assert rotation.max_rel > 1e-3  # untrained: far from equivariant, and reported so
    assert rows["node-permutation: atoms relabelled: forces"].passed  # exact by construction


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_transformer_is_exactly_translation_and_permutation_invariant(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    model = TransformerPotential(dim=16, layers=1, heads=2, invariant_dim=8).double()
    z = torch.tensor([[6, 1, 8, 1, 0]])
    pos = torch.randn((1, 5, 3), generator=gen, dtype=torch.float64)
    shift = torch.randn((1, 1, 3), generator=gen, dtype=torch.float64)
    perm = torch.tensor([2, 0, 3, 1, 4])  # padding stays last
    e = model(z, pos)
    torch.testing.assert_close(model(z, pos + shift), e)
    torch.testing.assert_close(model(z[:, perm], pos[:, perm]), e)


def test_forces_are_minus_the_gradient_of_the_energy() -> None:
    module = PotentialModule(EGNNPotential(hidden=16, layers=2)).double()
    z = torch.tensor([[8, 1, 1]])
    pos = torch.tensor([[[0.0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]]], dtype=torch.float64)
    _, f = module(z, pos)
    h = 1e-6
    bump = torch.zeros_like(pos)
    bump[0, 1, 0] = h
    fd = -(module.energy(z, pos + bump) - module.energy(z, pos - bump)) / (2 * h)
    torch.testing.assert_close(f[0, 1, 0], fd[0], rtol=1e-6, atol=1e-8)


def test_the_objective_vanishes_for_embeddings_that_rotate_as_declared() -> None:
    """Embeddings whose invariant part stays and whose rotating part turns by R: the
    transformation network learns the map (the loss on a held-out pair falls 5x)."""
    obj = LearnedEquivariance(dim=5, invariant_dim=2, kind="mse", transform="mlp")
    gen = torch.Generator().manual_seed(0)
    h = torch.randn((2, 4, 5), generator=gen)
    rot = haar_orthogonal(2, 3, gen, proper=True, dtype=torch.float32)
    h_rot = torch.cat([h[..., :2], h[..., 2:] @ rot.transpose(1, 2)], dim=-1)
    real = torch.ones(2, 4, dtype=torch.bool)
    # T_phi is learned: fit it, then the loss on fresh rotations goes to ~0 (well below the start)
    opt = torch.optim.Adam(obj.parameters(), lr=1e-2)
    first = obj.loss(h, h_rot, rot, real).item()
    for step in range(300):
        g = torch.Generator().manual_seed(step + 1)
        x = torch.randn((8, 4, 5), generator=g)
        r = haar_orthogonal(8, 3, g, proper=True, dtype=torch.float32)
        y = torch.cat([x[..., :2], x[..., 2:] @ r.transpose(1, 2)], dim=-1)
        opt.zero_grad()
        obj.loss(x, y, r, torch.ones(8, 4, dtype=torch.bool)).backward()
        opt.step()
    assert obj.loss(h, h_rot, rot, real).item() < 0.2 * first


def test_the_bilinear_transformation_learns_scalars_and_vectors_exactly() -> None:
    """With no channel held fixed, T(h, R) = W_0 h + sum_ab R_ab W_ab h can represent any sum
    of scalar and vector representations: fitted on embeddings made of a vector and three
    scalars, the loss on a held-out pair falls to rounding (an MLP of (h, vec R) cannot
    multiply h by R exactly)."""
    obj = LearnedEquivariance(dim=6, invariant_dim=0, kind="mse", transform="bilinear")

    def pair(seed: int, b: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        x = torch.randn((b, 4, 6), generator=g)
        r = haar_orthogonal(b, 3, g, proper=True, dtype=torch.float32)
        return x, torch.cat([x[..., :3] @ r.transpose(1, 2), x[..., 3:]], dim=-1), r

    h, h_rot, rot = pair(0, 4)
    real = torch.ones(4, 4, dtype=torch.bool)
    first = obj.loss(h, h_rot, rot, real).item()
    opt = torch.optim.Adam(obj.parameters(), lr=1e-2)
    for step in range(300):
        x, y, r = pair(step + 1, 8)
        opt.zero_grad()
        obj.loss(x, y, r, torch.ones(8, 4, dtype=torch.bool)).backward()
        opt.step()
    assert obj.loss(h, h_rot, rot, real).item() < 1e-3 * first


def test_the_objective_rejects_a_bad_form() -> None:
    with pytest.raises(ValueError, match="transform must be 'bilinear' or 'mlp', got 'qr'"):
        LearnedEquivariance(dim=4, invariant_dim=0, transform="qr")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"invariant_dim must be in 0\.\.dim=4, got 5"):
        LearnedEquivariance(dim=4, invariant_dim=5)


def test_the_defaults_keep_the_form_of_earlier_checkpoints() -> None:
    """Checkpoints saved before ``transform`` existed carry no value for it: the default must
    rebuild their MLP (the same parameter names and shapes)."""
    old = {"dim": 64, "invariant_dim": 32, "weight": 1.0, "kind": "both", "temperature": 0.1,
           "hidden": 128}  # fmt: skip
    shapes = {k: tuple(v.shape) for k, v in LearnedEquivariance(**old).state_dict().items()}  # type: ignore[arg-type]
    assert shapes == {"transform.0.weight": (128, 73), "transform.0.bias": (128,),
                      "transform.2.weight": (32, 128), "transform.2.bias": (32,)}  # fmt: skip


def test_stop_gradient_leaves_the_target_without_gradient() -> None:
    obj = LearnedEquivariance(dim=4, invariant_dim=0, transform="bilinear", stop_gradient=True)
    gen = torch.Generator().manual_seed(0)
    h = torch.randn((1, 3, 4), generator=gen, requires_grad=True)
    h_rot = torch.randn((1, 3, 4), generator=gen, requires_grad=True)
    rot = haar_orthogonal(1, 3, gen, proper=True, dtype=torch.float32)
    obj.loss(h, h_rot, rot, torch.ones(1, 3, dtype=torch.bool)).backward()
    assert h_rot.grad is None and h.grad is not None and h.grad.abs().sum() > 0


def test_the_haar_average_of_the_bilinear_transformation_is_its_r_free_part() -> None:
    obj = LearnedEquivariance(dim=6, invariant_dim=2, transform="bilinear", invariant_readout=True)
    gen = torch.Generator().manual_seed(0)
    h = torch.randn((1, 3, 6), generator=gen)
    rot = haar_orthogonal(20_000, 3, gen, proper=True, dtype=torch.float32)
    with torch.no_grad():
        monte_carlo = obj(h.expand(len(rot), -1, -1), rot).mean(0)  # (3, 6)
        exact = obj.average(h)[0]
    torch.testing.assert_close(exact[:, :2], h[0, :, :2])  # the fixed channels stay
    assert (monte_carlo - exact).abs().max() < 0.03  # Monte Carlo error ~ 1 / sqrt(20,000)
    with pytest.raises(ValueError, match="invariant_readout needs transform='bilinear'"):
        LearnedEquivariance(dim=4, invariant_dim=0, transform="mlp", invariant_readout=True)


class _ScalarAndVector(torch.nn.Module):
    """Embeddings ``[|x_i|^2, x_i]`` (one scalar and one vector channel per atom, about the
    centroid): exactly equivariant under rotations; a head reading the vector is not invariant."""

    rotation_symmetry = "learned"

    def __init__(self) -> None:
        super().__init__()
        self.head = torch.nn.Linear(4, 1)

    def embed(self, z: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        x = pos - pos.mean(1, keepdim=True)
        return torch.cat([(x**2).sum(-1, keepdim=True), x], dim=-1)  # (B, N, 4)

    def readout(self, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return (self.head(h).squeeze(-1) ** 2).sum(1)  # (B,): not linear, so the vector counts

    def forward(self, z: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        return self.readout(self.embed(z, pos), z)


@pytest.mark.parametrize("invariant_readout", [False, True])
def test_the_invariant_readout_makes_the_energy_invariant_when_t_is_a_representation(
    invariant_readout: bool,
) -> None:
    """T set to the embedding's exact representation (identity on the scalar, R on the vector):
    the energy read from the Haar average of T is invariant and the forces rotate; read from
    all of h, the same head is not invariant."""
    obj = LearnedEquivariance(dim=4, invariant_dim=0, transform="bilinear", kind="mse",
                              invariant_readout=invariant_readout)  # fmt: skip
    weight = torch.zeros(4, 10, 4)  # (out, [1, R_00 .. R_22], in)
    weight[0, 0, 0] = 1.0  # the scalar: W_0
    for a in range(3):
        for b in range(3):
            weight[1 + a, 1 + 3 * a + b, 1 + b] = 1.0  # the vector: (R x)_a = sum_b R_ab x_b
    assert obj.transform is not None
    obj.transform.weight.data = weight.reshape(4, 40)
    model = _ScalarAndVector()
    torch.nn.init.constant_(model.head.weight, 0.5)
    module = PotentialModule(model, equivariance=obj).double()
    gen = torch.Generator().manual_seed(3)
    z = torch.full((2, 5), 6)
    pos = torch.randn((2, 5, 3), generator=gen, dtype=torch.float64)
    rot = haar_orthogonal(2, 3, gen, proper=True, dtype=torch.float64)
    h, h_rot = model.embed(z, pos), model.embed(z, pos @ rot.transpose(1, 2))
    assert obj.loss(h, h_rot, rot, z > 0) < 1e-20  # T is exact
    e, f = module(z, pos)
    e_rot, f_rot = module(z, pos @ rot.transpose(1, 2))
    invariant = torch.allclose(e_rot, e, atol=1e-10) and torch.allclose(
        f_rot, f @ rot.transpose(1, 2), atol=1e-10
    )
    assert invariant == invariant_readout


@pytest.mark.parametrize("variant", ["plain", "augment", "transip", "transip-fixed", "transip-inv"])
def test_a_few_training_steps_run_and_fit_the_references(tiny_data_dir: Path, variant: str) -> None:
    model = TransformerPotential(dim=16, layers=1, heads=2, invariant_dim=8)
    equiv = {
        "transip": LearnedEquivariance(dim=16, invariant_dim=0, transform="bilinear"),
        "transip-fixed": LearnedEquivariance(dim=16, invariant_dim=8, transform="mlp"),
        "transip-inv": LearnedEquivariance(
            dim=16, invariant_dim=0, transform="bilinear", invariant_readout=True
        ),
    }.get(variant)
    module = PotentialModule(model, augment=variant == "augment", equivariance=equiv)
    dm = MLIPDataModule(data_dir=str(tiny_data_dir), **TINY)  # type: ignore[arg-type]
    trainer = L.Trainer(max_steps=2, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    trainer.fit(module, dm)
    assert ("train/equivariance" in trainer.callback_metrics) == (equiv is not None)
    assert bool(module.fitted) and float(module.scale) > 0
    assert module.e0[6] < module.e0[1] < 0  # eV per C below eV per H, both bound
    (metrics,) = trainer.test(module, dm, verbose=False)
    assert {"test/energy_mae", "test/force_mae", "test/energy_mae_atom"} <= set(metrics)
