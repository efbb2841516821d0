"""Activation matching pairs the units of a permuted copy exactly on random data."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from symco.core.symmetry import WeightPermutations
from symco.plugins.weights.activation_matching import activation_matching, correlation_matching
from symco.plugins.weights.mlp import MLP


@settings(max_examples=12, deadline=None, database=None, derandomize=True)
@given(
    widths=st.lists(st.integers(1, 32), min_size=1, max_size=3),
    seed=st.integers(0, 2**31 - 1),
)
def test_a_permuted_copy_is_matched_exactly(widths: list[int], seed: int) -> None:
    """On pre-activations (no dead ReLU units, whose ties no data can break) the inverse
    permutation is found and the original parameters come back."""
    torch.manual_seed(seed)
    model = MLP(4, widths, 3).double()
    group = WeightPermutations.of(model)
    g = group.sample(1, torch.Generator().manual_seed(seed))
    copy = MLP(4, widths, 3).double()
    copy.load_state_dict(group.permute(group.perms(g), model.state_dict()))
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    perms = activation_matching(model, copy, lambda m: m.activations(x, pre=True))
    inverse = group.perms(group.inverse(g))
    assert all(torch.equal(perms[name], inverse[name]) for name in group.spec.names)
    aligned = group.permute(perms, copy.state_dict())
    assert all(torch.equal(aligned[k], v) for k, v in model.state_dict().items())


def test_post_activations_of_a_live_network() -> None:
    torch.manual_seed(1)
    model = MLP(8, [16, 16], 3)
    group = WeightPermutations.of(model)
    g = group.sample(1, torch.Generator().manual_seed(1))
    copy = MLP(8, [16, 16], 3)
    copy.load_state_dict(group.permute(group.perms(g), model.state_dict()))
    x = torch.randn(256, 8)
    assert all((a > 0).any(0).all() for a in model.activations(x).values())  # no dead unit
    perms = activation_matching(model, copy, lambda m: m.activations(x))
    inverse = group.perms(group.inverse(g))
    assert all(torch.equal(perms[name], inverse[name]) for name in group.spec.names)


def test_correlation_matching_convention_and_shapes() -> None:
    a = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    p = torch.tensor([2, 0, 3, 1])
    b = 3.0 * a[:, p.argsort()] + 1.0  # unit i of A is unit p(i) of B, rescaled and shifted
    assert torch.equal(correlation_matching(a, b), p)
    with pytest.raises(ValueError, match="one shape"):
        correlation_matching(a, b[:, :3])
