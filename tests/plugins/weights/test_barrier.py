"""The barrier along the linear path: its definition, the layer-wise paths, BatchNorm reset."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
import torch
from torch import Tensor, nn

from symco.core.symmetry import WeightPermutations
from symco.plugins.weights.barrier import (
    BarrierCurve,
    grid,
    layerwise_barriers,
    linear_path,
    module_groups,
    reset_batchnorm,
)
from symco.plugins.weights.mlp import MLP
from symco.plugins.weights.weight_matching import weight_matching


def _evaluator(model: MLP, x: Tensor, y: Tensor):  # type: ignore[no-untyped-def]
    def evaluate(state: Mapping[str, Tensor]) -> tuple[float, float]:
        model.load_state_dict(dict(state))
        with torch.no_grad():
            logits = model(x)
        loss = nn.functional.cross_entropy(logits, y)
        return float(loss), float((logits.argmax(1) == y).double().mean())

    return evaluate


def test_the_barrier_is_the_excess_over_the_line_between_the_endpoints() -> None:
    curve = BarrierCurve(grid(5), [1.0, 2.0, 3.5, 3.0, 3.0], [0.9, 0.5, 0.6, 0.7, 0.5])
    assert curve.t == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert curve.loss_barrier == pytest.approx(3.5 - 2.0)  # the line is at 2.0 for t = 0.5
    assert curve.accuracy_barrier == pytest.approx(0.8 - 0.5)  # 0.8 on the line at t = 0.25
    assert curve.mean_barrier == pytest.approx(3.5 - 2.0)
    assert curve.as_dict()["loss_barrier"] == pytest.approx(1.5)
    with pytest.raises(ValueError, match="at least 2"):
        grid(1)


def test_a_permuted_copy_aligned_by_weight_matching_has_no_barrier() -> None:
    torch.manual_seed(0)
    model = MLP(6, [24, 24], 3).double()
    x = torch.randn(128, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = torch.randint(0, 3, (128,), generator=torch.Generator().manual_seed(2))
    group = WeightPermutations.of(model)
    g = group.perms(group.sample(1, torch.Generator().manual_seed(3)))
    a, b = model.state_dict(), group.permute(g, model.state_dict())
    evaluate = _evaluator(MLP(6, [24, 24], 3).double(), x, y)
    naive = linear_path(a, b, evaluate, 5)
    assert naive.loss[0] == pytest.approx(naive.loss[-1])  # the same function
    perms = weight_matching(group.spec, a, b)
    aligned = linear_path(a, group.permute(perms, b), evaluate, 5)
    assert aligned.loss_barrier == pytest.approx(0.0, abs=1e-12)
    assert max(aligned.loss) - min(aligned.loss) < 1e-12
    assert max(naive.loss) - min(naive.loss) > 1e-6  # unaligned, the path leaves the function


def test_layerwise_paths_move_one_group_and_keep_the_rest_at_a() -> None:
    torch.manual_seed(0)
    a, b = MLP(3, [8], 2).double(), MLP(3, [8], 2).double()
    seen: list[dict[str, Tensor]] = []

    def evaluate(state: Mapping[str, Tensor]) -> tuple[float, float]:
        seen.append(dict(state))
        return 0.0, 1.0

    groups = module_groups(a.state_dict())
    assert groups == {"layers.0": ["layers.0.weight", "layers.0.bias"],
                      "layers.1": ["layers.1.weight", "layers.1.bias"]}  # fmt: skip
    curves = layerwise_barriers(a.state_dict(), b.state_dict(), evaluate, 3)
    assert set(curves) == {"layers.0", "layers.1"}
    last = seen[2]  # layers.0 at t = 1: B's first layer, A's second
    assert torch.equal(last["layers.0.weight"], b.state_dict()["layers.0.weight"])
    assert torch.equal(last["layers.1.weight"], a.state_dict()["layers.1.weight"])
    mid = seen[4]  # layers.1 at t = 0.5
    expect = (a.state_dict()["layers.1.bias"] + b.state_dict()["layers.1.bias"]) / 2
    assert torch.allclose(mid["layers.1.bias"], expect)
    assert torch.equal(mid["layers.0.bias"], a.state_dict()["layers.0.bias"])


def test_reset_batchnorm_recomputes_the_statistics_of_the_interpolated_network() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6)).double().eval()
    batches = [torch.randn(32, 4, generator=torch.Generator().manual_seed(i), dtype=torch.float64)
               for i in range(3)]  # fmt: skip
    state = reset_batchnorm(model, model.state_dict(), batches)
    with torch.no_grad():
        zs = [model[0](x) for x in batches]
    # the mean over batches of each batch's mean and (unbiased) variance, as BatchNorm keeps them
    assert torch.allclose(state["1.running_mean"], torch.stack([z.mean(0) for z in zs]).mean(0))
    assert torch.allclose(state["1.running_var"], torch.stack([z.var(0) for z in zs]).mean(0))
    assert model[1].momentum == 0.1 and not model.training
    plain = MLP(2, [3], 1)
    assert reset_batchnorm(plain, plain.state_dict(), batches).keys() == plain.state_dict().keys()
