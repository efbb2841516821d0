"""The cubic B-spline radial basis: Cox–de Boor values, partition of unity, C² joins at every
knot (also through autograd at the knots themselves), and zero from the cutoff on."""

from __future__ import annotations

import pytest
import torch

from symco.core.errors import InvalidInstanceError
from symco.plugins.mlip.splines import SplineBasis

F64 = torch.float64


def cox_de_boor(r: float, knots: list[float], k: int, degree: int) -> float:
    """The textbook recursion for the ``k``-th B-spline of ``degree`` on ``knots``."""
    if degree == 0:
        return 1.0 if knots[k] <= r < knots[k + 1] else 0.0
    left = (r - knots[k]) / (knots[k + degree] - knots[k])
    right = (knots[k + degree + 1] - r) / (knots[k + degree + 1] - knots[k + 1])
    return left * cox_de_boor(r, knots, k, degree - 1) + right * cox_de_boor(
        r, knots, k + 1, degree - 1
    )


def derivatives(basis: SplineBasis, r: torch.Tensor, coef: torch.Tensor, bare: bool = False):
    """``f = phi(r) @ coef`` and its first two derivatives in ``r`` by autograd."""
    r = r.clone().requires_grad_(True)
    f = (basis.bsplines(r) if bare else basis(r)) @ coef
    (d1,) = torch.autograd.grad(f.sum(), r, create_graph=True)
    (d2,) = torch.autograd.grad(d1.sum(), r)
    return f.detach(), d1.detach(), d2


def test_matches_cox_de_boor_and_sums_to_one() -> None:
    basis = SplineBasis(cutoff=4.0, num_splines=7).double()
    h = basis.spacing
    knots = [(k - 3) * h for k in range(7 + 4)]
    r = torch.linspace(0.0, 3.999, 97, dtype=F64)
    values = basis.bsplines(r)  # (97, 7)
    expected = torch.tensor(
        [[cox_de_boor(float(x), knots, k, 3) for k in range(7)] for x in r], dtype=F64
    )
    torch.testing.assert_close(values, expected, atol=1e-12, rtol=0)
    torch.testing.assert_close(values.sum(-1), torch.ones_like(r), atol=1e-12, rtol=0)
    assert bool((values >= 0).all())


def test_c2_at_every_knot_and_at_the_cutoff() -> None:
    """Left and right limits of the value, slope and curvature agree at each knot (a cubic
    spline's third derivative jumps there, so differences shrink like the offset)."""
    basis = SplineBasis(cutoff=5.0, num_splines=8).double()
    coef = torch.randn(8, generator=torch.Generator().manual_seed(0), dtype=F64)
    knots = torch.arange(-3, 9, dtype=F64) * basis.spacing
    knots = knots[(knots > 0) & (knots <= 5.0)]
    eps = 1e-7
    left = derivatives(basis, knots - eps, coef)
    right = derivatives(basis, knots + eps, coef)
    for a, b in zip(left, right):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    # at the cutoff itself everything vanishes from the left too
    at_cut = derivatives(basis, torch.tensor([5.0 - eps], dtype=F64), coef)
    for a in at_cut:
        assert float(a.abs().max()) < 1e-5


def test_autograd_is_right_exactly_at_the_knots() -> None:
    """The second derivative through ``|s|^3`` at a knot agrees with finite differences."""
    basis = SplineBasis(cutoff=3.0, num_splines=6).double()
    coef = torch.randn(6, generator=torch.Generator().manual_seed(1), dtype=F64)
    knots = torch.arange(0, 4, dtype=F64) * basis.spacing + 0.0
    _, _, d2 = derivatives(basis, knots, coef, bare=True)
    eps = 1e-5
    _, d1_plus, _ = derivatives(basis, knots + eps, coef, bare=True)
    _, d1_minus, _ = derivatives(basis, knots - eps, coef, bare=True)
    # the third derivative jumps at a knot: central differences are off by O(eps)
    torch.testing.assert_close(d2, (d1_plus - d1_minus) / (2 * eps), atol=1e-4, rtol=0)


def test_zero_at_and_beyond_the_cutoff() -> None:
    basis = SplineBasis(cutoff=5.0, num_splines=8).double()
    r = torch.tensor([5.0, 5.0001, 5.5, 7.0, 100.0], dtype=F64, requires_grad=True)
    phi = basis(r)
    assert bool((phi == 0).all())
    (grad,) = torch.autograd.grad(phi.sum(), r)
    assert bool((grad == 0).all())
    assert float(basis(torch.tensor([0.5], dtype=F64)).sum()) > 0.9


def test_rejects_too_few_splines_and_has_a_repr() -> None:
    with pytest.raises(InvalidInstanceError, match="at least 4"):
        SplineBasis(num_splines=3)
    assert repr(SplineBasis()) == "SplineBasis(cutoff=5.0, num_splines=8, envelope_exponent=6)"
