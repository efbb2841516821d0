"""The soft-equivariance regularizer: candidate groups, sampled penalties, the automatic weights
on toy functions with a known symmetry, and its state in checkpoints."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from symco.core.errors import InvalidInstanceError, UnknownNameError
from symco.core.symmetry import AxisRotation, Orthogonal
from symco.plugins.nbody.soft import CANDIDATES, SoftEquivariance, candidate_group

EZ = torch.tensor([0.0, 0.0, 1.0])


def test_candidates_are_core_groups() -> None:
    assert list(CANDIDATES) == ["o3", "o2-x", "o2-y", "o2-z"]
    assert isinstance(candidate_group("o3"), Orthogonal)
    z = candidate_group("o2-z")
    assert isinstance(z, AxisRotation) and z.axis == 2
    g = z.sample(4, torch.Generator().manual_seed(0))
    assert torch.allclose(g[:, 2], EZ.double().expand(4, 3))  # keeps the z axis
    with pytest.raises(UnknownNameError, match=r"unknown candidate group 'o5'; known: o3, o2-x"):
        candidate_group("o5")


def test_bad_options_wait_for_the_first_use() -> None:
    reg = SoftEquivariance(groups=["o3", "so7"])
    with pytest.raises(UnknownNameError, match="unknown candidate group 'so7'"):
        reg.check()
    with pytest.raises(UnknownNameError):
        reg.penalties(lambda x: x, torch.zeros(2, 5, 3), torch.Generator())
    for kwargs in ({"groups": []}, {"lambdas": [1.0]}, {"window": 0}, {"groups": ["o3", "o3"]}):
        with pytest.raises(InvalidInstanceError, match="regularizer: "):
            SoftEquivariance(**kwargs).check()  # type: ignore[arg-type]


def _z_only(x: Tensor) -> Tensor:
    """Equivariant to O(2) about z only: a push along z, plus a small term that no continuous
    rotation respects (so every penalty is positive)."""
    return x + 0.5 * EZ.to(x) + 0.01 * x**2


def test_penalties_vanish_exactly_for_the_groups_a_function_respects() -> None:
    reg = SoftEquivariance()
    x = torch.randn(64, 5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(1)
    assert float(reg.penalties(lambda y: 2.0 * y, x, gen).abs().max()) < 1e-25  # O(3)-equivariant
    r = reg.penalties(lambda y: y + 0.5 * EZ.to(y), x, gen)  # O(2)-z exactly, nothing else
    assert float(r[3]) < 1e-25 and bool((r[:3] > 1e-2).all())
    # one draw per example and `samples` draws averaged: deterministic for a generator's seed
    twice = SoftEquivariance(samples=2)
    a = twice.penalties(_z_only, x, torch.Generator().manual_seed(5))
    assert torch.equal(a, twice.penalties(_z_only, x, torch.Generator().manual_seed(5)))


def test_tuning_keeps_the_weight_of_the_respected_subgroup() -> None:
    """λ_j <- λ_j / (min R_j / min_k min R_k)^p at tune_step, from the window before it."""
    reg = SoftEquivariance(tune_step=10, window=4, power=2.0, lambdas=[1.0, 2.0, 1.0, 1.0])
    x = torch.randn(32, 5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    seen = []
    for step in range(12):
        r = reg.penalties(_z_only, x, reg.step_generator(step))
        tuned = reg.observe(step, r)
        assert tuned == (step == 10)
        if 6 <= step < 10:
            seen.append(r)
    lam = reg.lambdas
    assert int(lam.argmax()) == reg.names.index("o2-z") and float(lam[3]) == 1.0
    r_min = torch.stack(seen).min(0).values
    want = torch.tensor([1.0, 2.0, 1.0, 1.0], dtype=torch.float64) / (r_min / r_min.min()) ** 2
    assert torch.allclose(lam, want) and torch.equal(reg.r_min, r_min)
    assert bool((lam[:3] < 1e-3).all())  # the broken groups are relaxed
    frozen = lam.clone()
    reg.observe(20, torch.zeros(4))
    assert torch.equal(reg.lambdas, frozen)  # tuned once
    # the state is in the state dict: a checkpoint resumes it
    fresh = SoftEquivariance(tune_step=10, window=4)
    fresh.load_state_dict(reg.state_dict())
    assert torch.equal(fresh.lambdas, lam) and bool(fresh.tuned)


def test_a_trained_model_ends_with_o2_about_z_on_top() -> None:
    """A per-particle MLP fit to a field-like push along z, with all four penalties: the window
    minima rank O(2)-z first, so its weight stays the largest after tuning."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 32), nn.SiLU(), nn.Linear(32, 3))
    reg = SoftEquivariance(tune_step=120, window=40, lambdas=0.1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    data_gen = torch.Generator().manual_seed(1)
    for step in range(125):
        x = torch.randn(32, 5, 3, generator=data_gen)
        y = model(x)
        penalties = reg.penalties(model, x, reg.step_generator(step), outputs=y)
        loss = ((y - (x + 0.5 * EZ)) ** 2).mean() + reg.weighted(penalties)
        opt.zero_grad()
        loss.backward()
        opt.step()
        reg.observe(step, penalties.detach())
    assert bool(reg.tuned) and int(reg.lambdas.argmax()) == reg.names.index("o2-z")
    logged = reg.log_values(penalties)
    assert set(logged) == {f"soft/{k}_{g}" for k in ("lambda", "R") for g in reg.names}
