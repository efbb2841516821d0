"""Linear interpolation between a model and its aligned permuted copy stays on the model: the
barrier is 0 after alignment (and not before)."""

from __future__ import annotations

import pytest
import torch

from symco.core.symmetry import WeightPermutations
from symco.plugins.weights.interpolation import interpolate
from symco.plugins.weights.mlp import MLP
from symco.plugins.weights.weight_matching import weight_matching


@torch.no_grad()
def test_the_aligned_line_is_the_model_itself() -> None:
    torch.manual_seed(0)
    a = MLP(8, [32, 32], 4).double()
    group = WeightPermutations.of(a)
    g = group.sample(1, torch.Generator().manual_seed(0))
    sa = a.state_dict()
    sb = group.permute(group.perms(g), sa)
    aligned = group.permute(weight_matching(group.spec, sa, sb), sb)
    x = torch.randn(100, 8, dtype=torch.float64)
    want = a(x)
    probe = MLP(8, [32, 32], 4).double()
    naive_gap = 0.0
    for t in torch.linspace(0, 1, 11).tolist():
        probe.load_state_dict(interpolate(sa, aligned, t))
        torch.testing.assert_close(probe(x), want, rtol=1e-12, atol=1e-12)
        probe.load_state_dict(interpolate(sa, sb, t))
        naive_gap = max(naive_gap, float((probe(x) - want).abs().max()))
    assert naive_gap > 1e-2  # the unaligned line leaves the model


def test_integer_buffers_come_from_a_and_mismatches_are_refused() -> None:
    a = {"w": torch.zeros(2), "n": torch.tensor(3)}
    b = {"w": torch.ones(2), "n": torch.tensor(5)}
    mid = interpolate(a, b, 0.25)
    assert mid["w"].tolist() == [0.25, 0.25] and int(mid["n"]) == 3
    with pytest.raises(ValueError, match="differ in keys"):
        interpolate(a, {"w": torch.ones(2)}, 0.5)
    with pytest.raises(ValueError, match="w: shapes"):
        interpolate(a, {"w": torch.ones(3), "n": torch.tensor(5)}, 0.5)
