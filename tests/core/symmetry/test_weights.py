"""Weight-space symmetry: the permutation spec (views, spans, validation), its group acting on
parameters, and the check that a declared permutation leaves a model's outputs unchanged."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from symco.core.cli import main
from symco.core.symmetry import (
    Axis,
    Permutation,
    PermutationSpec,
    PermutationSpecError,
    WeightPermutations,
    check_weight_symmetry,
    columns,
    declared_weight_permutations,
    rows,
)


class _TwoLayer(nn.Module):
    """``x -> W2 relu(W1 x + b1) + b2`` declaring its hidden units (or a broken declaration)."""

    def __init__(self, hidden: int = 5, broken: bool = False) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(3, hidden), nn.Linear(hidden, 2)
        self.broken = broken

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))  # type: ignore[no-any-return]

    def weight_permutations(self) -> PermutationSpec:
        reads = [] if self.broken else columns("fc2")  # broken: fc2 does not follow the units
        return PermutationSpec({"h": Permutation(self.fc1.out_features, (*rows("fc1"), *reads))})

    def symmetry_inputs(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(n, 3, generator=generator, dtype=torch.float64)

    def symmetry_outputs(self, inputs: torch.Tensor) -> torch.Tensor:
        return self(inputs)  # type: ignore[no-any-return]


def test_permute_gathers_rows_and_columns() -> None:
    """Unit ``i`` of the permuted model is unit ``p(i)`` of the original, on every axis."""
    model = _TwoLayer(hidden=3)
    state = model.state_dict()
    p = torch.tensor([2, 0, 1])
    out = model.weight_permutations().permute({"h": p}, state)
    assert torch.equal(out["fc1.weight"], state["fc1.weight"][p])
    assert torch.equal(out["fc1.bias"], state["fc1.bias"][p])
    assert torch.equal(out["fc2.weight"], state["fc2.weight"][:, p])
    assert out["fc2.bias"] is state["fc2.bias"]  # untouched parameters are shared
    assert not torch.equal(out["fc1.weight"], state["fc1.weight"])  # the input is not modified
    assert torch.equal(state["fc1.weight"], model.fc1.weight.detach())


def test_views_move_blocks_and_spans() -> None:
    """``(outer, size, inner)`` moves blocks of ``inner`` entries in each of ``outer`` copies
    (heads of a fused qkv); a span moves only its own entries (one half of a concatenation)."""
    w = torch.arange(24.0).reshape(12, 2)  # rows: 3 copies (q, k, v) x 2 heads x 2 dims
    heads = PermutationSpec({"heads": Permutation(2, (Axis("w", 0, outer=3, inner=2),))})
    out = heads.permute({"heads": torch.tensor([1, 0])}, {"w": w})["w"]
    want = w.reshape(3, 2, 2, 2)[:, [1, 0]].reshape(12, 2)
    assert torch.equal(out, want)
    v = torch.arange(7.0)[None]  # (1, 7): [h_i (2) | h_j (2) | extra (3)]
    halves = PermutationSpec({"h": Permutation(2, (Axis("v", 1, outer=2, span=(0, 4)),))})
    got = halves.permute({"h": torch.tensor([1, 0])}, {"v": v})["v"]
    assert got.tolist() == [[1.0, 0.0, 3.0, 2.0, 4.0, 5.0, 6.0]]


@pytest.mark.parametrize(
    "axes, shapes, message",
    [
        (rows("fc"), {"fc.weight": (4, 3)}, "h: no parameter 'fc.bias' in the state dict"),
        (columns("fc"), {"fc.weight": (3, 5)}, "h: fc.weight axis 1: 5 entries are not outer 1 x size 4 x inner 1"),
        ([Axis("w", 0, outer=3, inner=2)], {"w": (20, 1)}, "h: w axis 0: 20 entries are not outer 3 x size 4"),
        ([Axis("w", 2)], {"w": (4, 4)}, "h: w axis 2: the parameter has shape [4, 4]"),
        ([Axis("w", 0, span=(2, 6))], {"w": (5,)}, "h: w axis 0: span (2, 6) is not inside the axis's 5"),
        ([Axis("w", 0, span=(0, 4)), Axis("w", 0, span=(2, 6))], {"w": (8,)}, "h: w axis 0: entries (2, 6) are also moved by h"),
    ],
)  # fmt: skip
def test_validation_names_the_key_and_axis(axes, shapes, message: str) -> None:
    spec = PermutationSpec({"h": Permutation(4, tuple(axes))})
    with pytest.raises(PermutationSpecError) as err:
        spec.validate(shapes)
    assert str(err.value).startswith(message)


def test_disjoint_spans_of_one_axis_and_other_axes_are_fine() -> None:
    spec = PermutationSpec(
        {
            "a": Permutation(2, (Axis("w", 1, span=(0, 2)), Axis("w", 0))),
            "b": Permutation(3, (Axis("w", 1, span=(2, 5)),)),
        }
    )
    spec.validate({"w": (2, 5)})
    assert spec.keys == ("w",) and [n for n, _ in spec.axes_of("w")] == ["a", "a", "b"]


def test_permute_refuses_unknown_names_and_sizes() -> None:
    spec = _TwoLayer(hidden=3).weight_permutations()
    state = _TwoLayer(hidden=3).state_dict()
    with pytest.raises(PermutationSpecError, match="unknown permutation 'x'"):
        spec.permute({"x": torch.arange(3)}, state)
    with pytest.raises(PermutationSpecError, match="h: a permutation of 3 units, got \\[4\\]"):
        spec.permute({"h": torch.arange(4)}, state)
    assert spec.permute({}, state) == state  # names left out stay put


def test_prefixed_spec_fits_a_wrapping_module() -> None:
    inner = _TwoLayer()
    outer = nn.Sequential(inner)
    spec = inner.weight_permutations().prefixed("0.")
    spec.validate(outer.state_dict())
    assert spec.keys == ("0.fc1.weight", "0.fc1.bias", "0.fc2.weight")


def test_group_of_a_model() -> None:
    """Elements as dicts and back, the state-dict action agrees with the vector action, and a
    module without a declaration is refused."""
    model = _TwoLayer(hidden=4)
    group = WeightPermutations.of(model)
    assert repr(group) == "WeightPermutations(h=4)" and group.num_params == 4 * 3 + 4 + 2 * 4
    g = group.sample(3, torch.Generator().manual_seed(0))
    dicts = [group.perms(g, i) for i in range(3)]
    assert all(torch.equal(a, b) for a, b in zip(group.element(*dicts), g, strict=True))
    state = model.state_dict()
    theta = group.flatten(state)[None]  # (1, P)
    moved = group.act(group.select(g, torch.tensor([1])), theta)[0]
    want = group.permute(dicts[1], state)
    assert all(torch.equal(t, want[k]) for k, t in group.unflatten(moved).items())
    with pytest.raises(PermutationSpecError, match="Linear declares no weight permutations"):
        WeightPermutations.of(nn.Linear(2, 2))
    assert declared_weight_permutations(nn.Linear(2, 2)) is None


def test_check_passes_a_true_declaration_and_fails_a_broken_one() -> None:
    torch.manual_seed(0)
    (good,) = check_weight_symmetry(_TwoLayer(), n=3, seed=1, tol=1e-10)
    assert good.passed and good.relation == "invariant" and good.label == "weight-permutation"
    (bad,) = check_weight_symmetry(_TwoLayer(broken=True), n=3, seed=1)
    assert not bad.passed and bad.max_rel > 1e-3
    assert check_weight_symmetry(nn.Linear(2, 2)) == []


def test_the_check_leaves_the_model_alone() -> None:
    model = _TwoLayer()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    check_weight_symmetry(model, n=2)
    assert model.training and next(model.parameters()).dtype == torch.float32
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_check_symmetry_prints_the_weight_row(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-symmetry", "--ckpt", "bq-kp", "--group", "weight-permutation"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[3].startswith("weight-permutation: ") and out[3].endswith("pass")
    assert "FF units, heads, residual stream" in out[3]
    assert out[-1] == "1 of 1 symmetries hold"


class WeightsOnly(_TwoLayer):
    """A registered model that declares the symmetry of its parameters only."""

    def __init__(self, hidden: int = 5) -> None:
        super().__init__(hidden)


def test_a_model_declaring_only_weight_permutations_is_checked(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    import types

    import symco

    mod = types.ModuleType("weights_only_plugin")
    mod.symco_register = symco.hookimpl(lambda registry: registry.add_model(WeightsOnly))  # type: ignore[attr-defined]
    config = tmp_path / "w.yaml"
    config.write_text(
        f"model:\n  class_path: {WeightsOnly.__module__}.WeightsOnly\n  init_args: {{hidden: 3}}\n"
    )
    assert main(["check-symmetry", "--config", str(config)], plugins=[("w", mod)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[3].startswith("weight-permutation ") and out[-1] == "1 of 1 symmetries hold"
