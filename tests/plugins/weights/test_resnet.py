"""The small ResNet's declared weight permutations: exact, and recovered by weight matching."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from symco.core.symmetry.declare import check_weight_symmetry
from symco.core.symmetry.weights import Permutation, PermutationSpec
from symco.plugins.weights.resnet import ResNet
from symco.plugins.weights.weight_matching import weight_matching


def _trained_looking(widths: tuple[int, ...], blocks: int, seed: int) -> ResNet:
    """A ResNet with non-trivial BatchNorm statistics and affine parameters."""
    torch.manual_seed(seed)
    net = ResNet(widths=widths, blocks=blocks).double()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_()
        net.train()
        net(torch.randn(8, 1, 12, 12, dtype=torch.float64))
    return net.eval()


@pytest.mark.parametrize("blocks", [1, 2])
def test_declaration_holds(blocks: int) -> None:
    net = _trained_looking((4, 6, 8), blocks, 0)
    net.weight_permutations().validate(net.state_dict())
    [row] = check_weight_symmetry(net)
    assert row.passed, row
    assert row.label == f"weight-permutation: 3 residual streams, {3 * blocks} blocks"


def test_a_missing_axis_fails_the_check() -> None:
    """Leave the head out of the last stream: permuting the stream then changes the logits."""
    net = _trained_looking((4, 6), 1, 0)
    spec = net.weight_permutations()
    perms = dict(spec.perms)
    last = perms["stream1"]
    perms["stream1"] = Permutation(last.size, tuple(a for a in last.axes if a.key != "head.weight"))
    broken = PermutationSpec(perms, "broken")
    net.weight_permutations = lambda: broken  # type: ignore[method-assign]
    [row] = check_weight_symmetry(net)
    assert not row.passed


@settings(max_examples=6, deadline=None)
@given(
    width=st.integers(4, 12),
    blocks=st.integers(1, 2),
    seed=st.integers(0, 2**16),
)
def test_weight_matching_undoes_a_permutation(width: int, blocks: int, seed: int) -> None:
    net = _trained_looking((width, width + 2), blocks, seed)
    spec = net.weight_permutations()
    gen = torch.Generator().manual_seed(seed)
    perms = {n: torch.randperm(p.size, generator=gen) for n, p in spec.perms.items()}
    state = net.state_dict()
    shuffled = spec.permute(perms, state)
    found = weight_matching(spec, state, shuffled)
    aligned = spec.permute(found, shuffled)
    for key, value in state.items():
        assert torch.equal(aligned[key], value), key


def test_running_statistics_move_but_do_not_steer_the_matching() -> None:
    """BatchNorm running variances in the thousands, unrelated between the two copies: weight
    matching still recovers the permutation from the weights alone, and moves the statistics."""
    net = _trained_looking((6, 8), 1, 3)
    spec = net.weight_permutations()
    gen = torch.Generator().manual_seed(5)
    perms = {n: torch.randperm(p.size, generator=gen) for n, p in spec.perms.items()}
    state = net.state_dict()
    shuffled = spec.permute(perms, state)
    for key in shuffled:
        if key.endswith("running_var"):
            shuffled[key] = 1000 * torch.rand(
                shuffled[key].shape, generator=gen, dtype=torch.float64
            )
    aligned = spec.permute(weight_matching(spec, state, shuffled), shuffled)
    for key, value in state.items():
        if not key.endswith("running_var"):
            assert torch.equal(aligned[key], value), key
    # the statistics are declared with their channels (so they move), marked as not weights
    assert [a.key for a in spec.perms["stream0"].axes if not a.weight] == [
        "stem_bn.running_mean", "stem_bn.running_var", "stages.0.0.bn2.running_mean",
        "stages.0.0.bn2.running_var",
    ]  # fmt: skip
