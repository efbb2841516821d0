"""Weight matching finds the permutation of a permuted copy exactly (hypothesis over widths and
depths), never lowers the matching objective, and aligning two different models keeps B's
function."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from symco.core.symmetry import Axis, Permutation, PermutationSpec, WeightPermutations
from symco.plugins.weights.mlp import MLP
from symco.plugins.weights.weight_matching import weight_matching


def _permuted_copy(model: MLP, seed: int) -> tuple[WeightPermutations, tuple, dict]:
    group = WeightPermutations.of(model)
    g = group.sample(1, torch.Generator().manual_seed(seed))
    return group, g, group.permute(group.perms(g), model.state_dict())


def _objective(spec: PermutationSpec, perms: dict, a: dict, b: dict) -> float:
    """``<θ_A, π·θ_B>`` over the spec's parameters."""
    moved = spec.permute(perms, b)
    return float(sum((a[k].double() * moved[k].double()).sum() for k in spec.keys))


@settings(max_examples=12, deadline=None, database=None, derandomize=True)
@given(
    widths=st.lists(st.integers(16, 48), min_size=1, max_size=4),
    seed=st.integers(0, 2**31 - 1),
)
def test_a_permuted_copy_is_aligned_exactly(widths: list[int], seed: int) -> None:
    """The inverse of the permutation that made the copy, and the original parameters back,
    bit for bit. (Widths from 16: between layers of a few units coordinate descent can stop in
    a local optimum even here.)"""
    torch.manual_seed(seed)
    model = MLP(16, widths, 16)
    group, g, permuted = _permuted_copy(model, seed)
    perms = weight_matching(group.spec, model.state_dict(), permuted,
                            generator=torch.Generator().manual_seed(seed))  # fmt: skip
    inverse = group.perms(group.inverse(g))
    assert all(torch.equal(perms[name], inverse[name]) for name in group.spec.names)
    aligned = group.permute(perms, permuted)
    assert all(torch.equal(aligned[k], v) for k, v in model.state_dict().items())


def test_a_permutation_on_both_axes_of_a_square_weight() -> None:
    """One permutation on the rows and the columns of a hidden-to-hidden weight (a recurrent
    cell's): each axis is matched with the other held at its current value."""
    gen = torch.Generator().manual_seed(0)
    state = {"w_hh": torch.randn(12, 12, generator=gen), "w_ih": torch.randn(12, 3, generator=gen)}
    spec = PermutationSpec(
        {"h": Permutation(12, (Axis("w_hh", 0), Axis("w_hh", 1), Axis("w_ih", 0)))}
    )
    q = torch.randperm(12, generator=gen)
    permuted = spec.permute({"h": q}, state)
    perms = weight_matching(spec, state, permuted)
    assert torch.equal(perms["h"], q.argsort())


@settings(max_examples=8, deadline=None, database=None, derandomize=True)
@given(
    widths=st.lists(st.integers(1, 12), min_size=1, max_size=3),
    seed=st.integers(0, 2**31 - 1),
)
def test_two_models_the_objective_rises_and_b_keeps_its_function(
    widths: list[int], seed: int
) -> None:
    """Two independent models of any width: the aligned B is a symmetry of B (same outputs),
    no farther from A than before, and the true alignment is a fixed point of the descent."""
    torch.manual_seed(seed)
    a, b = MLP(3, widths, 2).double(), MLP(3, widths, 2).double()
    spec = a.weight_permutations()
    sa, sb = a.state_dict(), b.state_dict()
    perms = weight_matching(spec, sa, sb)
    assert _objective(spec, perms, sa, sb) >= _objective(spec, spec.identity(), sa, sb)
    x = torch.randn(7, 3, dtype=torch.float64)
    before = b(x)
    b.load_state_dict(spec.permute(perms, sb))
    torch.testing.assert_close(b(x), before, rtol=1e-12, atol=1e-12)
    group, g, permuted = _permuted_copy(a, seed)
    truth = group.perms(group.inverse(g))
    stays = weight_matching(spec, sa, permuted, init=truth)
    assert all(torch.equal(stays[n], truth[n]) for n in spec.names)
