"""Symmetry declarations and the check: every registered model, policy and encoding passes its
own declaration in float64; a model that breaks it fails; one that declares nothing is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from symco.core.cli import main
from symco.core.policy import node_permutation_symmetry, random_reduced_batch
from symco.core.symmetry import NoSymmetriesError, check_symmetries

from ...conftest import registered

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("entry", registered("encoding"))
def test_every_encoding_passes_its_declaration(entry) -> None:
    results = check_symmetries(entry.obj(), n=3, seed=0)
    assert results and all(r.passed for r in results), [r.row() for r in results]


@pytest.mark.parametrize("policy", registered("policy"))
@pytest.mark.parametrize("reducer", registered("reducer"))
def test_every_policy_is_node_permutation_equivariant(policy, reducer, registry) -> None:
    red = reducer.obj()
    pol = policy.obj(red.num_features, red.num_node_types, red.actions_per_node, **_small(policy))
    problem = registry.problem(reducer.problem)

    class Checked(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.policy = pol

        def symmetry_inputs(self, n, generator):
            return random_reduced_batch(problem, red, n, 10, generator)

        def symmetries(self, inputs):
            return [node_permutation_symmetry(inputs.features.shape[1])]

        def symmetry_outputs(self, inputs):
            return self.policy(inputs)

    results = check_symmetries(Checked(), n=3, seed=1)
    assert all(r.passed for r in results), [r.row() for r in results]


def _small(policy) -> dict:
    return (
        {"num_layers": 2, "dim": 16, "heads": 2, "ff_dim": 16}
        if policy.name == "transformer"
        else {}
    )


class _SignDependent(nn.Module):
    """Declares sign invariance of a sum that depends on the signs: must fail."""

    def symmetry_inputs(self, n, generator):
        return torch.randn(n, 8, 4, generator=generator, dtype=torch.float64)

    def symmetries(self, inputs):
        from symco.core.symmetry import EigenSigns, Symmetry

        group = EigenSigns(4)
        return [Symmetry(group, group.act, None, "invariant", "signs")]

    def symmetry_outputs(self, inputs):
        return inputs.sum(dim=1)


class _Positional(nn.Module):
    """A node-wise map plus a position term: not permutation equivariant, must fail."""

    def symmetry_inputs(self, n, generator):
        return torch.randn(n, 6, 2, generator=generator, dtype=torch.float64)

    def symmetries(self, inputs):
        from symco.core.symmetry import NodePermutation, Symmetry

        group = NodePermutation(6)
        return [Symmetry(group, group.act, group.act, "permuted", "nodes")]

    def symmetry_outputs(self, inputs):
        return inputs.tanh() + torch.arange(6, dtype=inputs.dtype)[None, :, None]


@pytest.mark.parametrize("model", [_SignDependent(), _Positional()])
def test_a_broken_symmetry_fails(model) -> None:
    (result,) = check_symmetries(model, n=4, seed=0)
    assert not result.passed and result.max_rel > 0.01


class _LearnedSigns(_SignDependent):
    """The same broken invariance, declared as learned: measured, not failed."""

    def symmetries(self, inputs):
        from symco.core.symmetry import EigenSigns, Symmetry

        group = EigenSigns(4)
        return [Symmetry(group, group.act, None, "invariant", "signs", exact=False)]


def test_a_learned_symmetry_is_measured_not_failed() -> None:
    (result,) = check_symmetries(_LearnedSigns(), n=4, seed=0)
    (broken,) = check_symmetries(_SignDependent(), n=4, seed=0)
    assert result.passed and not result.exact and result.row()[-1] == "measured"
    assert result.max_rel == broken.max_rel > 0.01  # the same error, reported


def test_a_model_without_declarations_is_refused() -> None:
    with pytest.raises(NoSymmetriesError, match="Linear declares no symmetries"):
        check_symmetries(nn.Linear(2, 2))


def test_dtype_and_mode_are_restored() -> None:
    from symco.encodings import SPE

    enc = SPE(num_eigs=4, m=2, phi_hidden=4, rho_hidden=4, out_dim=4)
    check_symmetries(enc, n=2)
    assert next(enc.parameters()).dtype == torch.float32 and enc.training


def test_check_symmetry_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-symmetry", "--ckpt", "bq-kp", "--seed", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "BQModule (bq-kp), float64, seed 3, tol 1e-06"
    assert "node-permutation" in out[3] and out[3].endswith("pass")
    assert out[4].startswith("weight-permutation: ") and out[4].endswith("pass")
    assert out[-1] == "2 of 2 symmetries hold"


@pytest.mark.parametrize(
    "argv, first",
    [
        (
            ["check-symmetry"],
            "symco: error: --config/--ckpt: give exactly one of them",
        ),
        (["check-symmetry", "--ckpt", "nope"], "symco: error: unknown model 'nope'; shipped: "),
        (
            ["check-symmetry", "--config", "missing.yaml"],
            "symco: error: missing.yaml: no such config file",
        ),
        (
            ["check-symmetry", "--ckpt", "bq-tsp", "--tol", "0"],
            "symco check-symmetry: error: argument --tol: must be > 0, got 0",
        ),
        (
            ["check-symmetry", "--ckpt", "bq-op", "--group", "torus-flow"],
            "symco: error: --group: BQModule declares no symmetry of group 'torus-flow'; "
            "declared: node-permutation, weight-permutation",
        ),
    ],
)
def test_check_symmetry_bad_input(argv, first: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith(first)


def test_check_symmetry_of_a_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-symmetry", "--config", str(ROOT / "configs" / "tsp" / "tiny.yaml")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "2 of 2 symmetries hold"  # + weights


@pytest.mark.parametrize(
    "config", sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "configs").glob("*/tiny.yaml"))
)
def test_every_tiny_config_model_passes_check_symmetry(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every model a tiny config builds (one per registered model family) passes its declaration."""
    assert main(["check-symmetry", "--config", str(ROOT / config), "--batch-size", "2"]) == 0
    assert "FAIL" not in capsys.readouterr().out


def test_a_registered_model_without_declarations_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import types

    import symco

    mod = types.ModuleType("bare_plugin")
    mod.symco_register = symco.hookimpl(lambda registry: registry.add_model(Bare))  # type: ignore[attr-defined]
    config = tmp_path / "bare.yaml"
    config.write_text(f"model:\n  class_path: {Bare.__module__}.Bare\n  init_args: {{width: 3}}\n")
    assert main(["check-symmetry", "--config", str(config)], plugins=[("bare", mod)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "symco: error: Bare declares no symmetries (it has no symmetries() method)"
    ]


class Bare(nn.Module):
    """A registered model that declares nothing."""

    def __init__(self, width: int = 2) -> None:
        super().__init__()
        self.layer = nn.Linear(width, width)


class _TwoOutputs(nn.Module):
    """Outputs a tuple: a translation-equivariant sequence and a translation-invariant sum."""

    def __init__(self, broken: bool = False) -> None:
        super().__init__()
        self.broken = broken

    def symmetry_inputs(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.rand((n, 3, 4, 4), generator=generator, dtype=torch.float64)

    def symmetries(self, inputs: torch.Tensor) -> list:
        from symco.core.symmetry import Symmetry, TorusTranslation

        g = TorusTranslation(4, 4)
        return [
            Symmetry(g, g.act, g.act, "equivariant", "images", output=0),
            Symmetry(g, g.act, None, "invariant", "totals", output=1),
        ]

    def symmetry_outputs(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        total = inputs.sum(dim=(-2, -1))
        if self.broken:
            total = total + inputs[..., 0, 0]
        return 2 * inputs, total


def test_tuple_outputs_are_checked_part_by_part() -> None:
    assert all(r.passed for r in check_symmetries(_TwoOutputs()))
    images, totals = check_symmetries(_TwoOutputs(broken=True))
    assert images.passed and not totals.passed


def test_a_tuple_output_needs_a_part() -> None:
    from symco.core.symmetry import Symmetry, TorusTranslation

    class Unsaid(_TwoOutputs):
        def symmetries(self, inputs: torch.Tensor) -> list:
            g = TorusTranslation(4, 4)
            return [Symmetry(g, g.act, g.act, "equivariant", "images")]

    with pytest.raises(TypeError, match="the outputs are a tuple; say which part"):
        check_symmetries(Unsaid())
