"""Partial matching to a width and PLeaS merging of the plugin's MLP."""

from __future__ import annotations

import pytest
import torch

from symco.core.symmetry import WeightPermutations
from symco.plugins.weights.interpolation import interpolate
from symco.plugins.weights.mlp import MLP
from symco.plugins.weights.partial import partial_matching
from symco.plugins.weights.pleas import feature_mismatch, pleas_merge, widths_of
from symco.plugins.weights.weight_matching import weight_matching


def _data(n: int, dim: int, seed: int) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_partial_matching_merges_the_best_correlated_pairs() -> None:
    a = _data(200, 4, 0)
    noise = _data(200, 4, 1)
    # B's unit 3 - j copies A's unit j, less and less exactly
    b = torch.stack([a[:, 3 - j] + 0.3 * j * noise[:, j] for j in range(4)], dim=1)
    full = partial_matching(a, b, 4)
    assert full.pairs_a.tolist() == [3, 2, 1, 0] and full.pairs_b.tolist() == [0, 1, 2, 3]
    half = partial_matching(a, b, 6)  # k = 2 pairs: the two best
    assert half.pairs_a.tolist() == [3, 2] and half.pairs_b.tolist() == [0, 1]
    assert half.only_a.tolist() == [0, 1] and half.only_b.tolist() == [2, 3]
    none = partial_matching(a, b, 8)
    assert len(none.pairs_a) == 0 and none.width == 8
    with pytest.raises(ValueError, match="width: between 4 and 8"):
        partial_matching(a, b, 9)


@pytest.mark.parametrize("widths", [[16], [12, 20]])
def test_merging_a_permuted_copy_at_its_width_gives_the_same_function(widths: list[int]) -> None:
    torch.manual_seed(0)
    model = MLP(5, widths, 3).double()
    group = WeightPermutations.of(model)
    g = group.perms(group.sample(1, torch.Generator().manual_seed(1)))
    copy = MLP(5, widths, 3).double()
    copy.load_state_dict(group.permute(g, model.state_dict()))
    x = _data(256, 5, 2)
    merged, matches = pleas_merge(model, copy, x)
    assert widths_of(merged) == widths and all(len(m.only_a) == 0 for m in matches)
    test = _data(64, 5, 3)
    with torch.no_grad():
        assert torch.allclose(merged(test), model(test), atol=1e-8)


def test_the_widest_merge_is_the_ensemble_and_widths_are_as_asked() -> None:
    torch.manual_seed(0)
    a, b = MLP(4, [8, 8], 2).double(), MLP(4, [8, 8], 2).double()
    x = _data(128, 4, 5)
    merged, _ = pleas_merge(a, b, x, 16)
    assert widths_of(merged) == [16, 16]
    with torch.no_grad():
        assert torch.allclose(merged(x), (a(x) + b(x)) / 2, atol=1e-8)
    merged, _ = pleas_merge(a, b, x, [10, 12])
    assert [layer.weight.shape[0] for layer in merged.layers] == [10, 12, 2]
    assert a.layers[0].weight.dtype == torch.float64  # the endpoints are not modified
    with pytest.raises(ValueError, match="width: between 8 and 16"):
        pleas_merge(a, b, x, 7)


def test_least_squares_fits_the_endpoints_better_than_averaging() -> None:
    torch.manual_seed(0)
    a, b = MLP(6, [16, 16], 3).double(), MLP(6, [16, 16], 3).double()
    x = _data(400, 6, 7)
    merged, _ = pleas_merge(a, b, x)
    spec = a.weight_permutations()
    aligned = spec.permute(weight_matching(spec, a.state_dict(), b.state_dict()), b.state_dict())
    average = MLP(6, [16, 16], 3).double()
    average.load_state_dict(interpolate(a.state_dict(), aligned, 0.5))
    assert feature_mismatch(merged, a, b, x) < 0.5 * feature_mismatch(average, a, b, x)


def test_separate_heads_at_double_width_are_both_models_side_by_side() -> None:
    """Two label spaces: at 2x width nothing is paired, so the merged model computes A's
    logits followed by B's exactly (on any input, the fit being exact on the data's span)."""
    torch.manual_seed(0)
    a, b = MLP(4, [6, 6], 2).double(), MLP(4, [6, 6], 3).double()
    x = _data(200, 4, 5)
    merged, matches = pleas_merge(a, b, x, 12, heads="separate")
    assert merged.layers[-1].out_features == 5 and all(len(m.pairs_a) == 0 for m in matches)
    test = _data(50, 4, 6)
    with torch.no_grad():
        assert torch.allclose(merged(test), torch.cat([a(test), b(test)], dim=1), atol=1e-8)
    with pytest.raises(ValueError, match="the models differ"):
        pleas_merge(a, b, x)  # a shared head needs one label space
    with pytest.raises(ValueError, match="heads: 'shared' or 'separate'"):
        pleas_merge(a, a, x, heads="both")  # type: ignore[arg-type]
