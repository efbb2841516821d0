"""``symco align``, ``merge`` and ``barrier`` on two checkpoints of a registered toy module.

The ``weights`` plugin is added explicitly where its entry point is not installed yet."""

from __future__ import annotations

import json
import types
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import symco
from symco.core.cli import main
from symco.core.symmetry import WeightPermutations
from symco.core.symmetry.weights import PermutationSpec
from symco.core.training.checkpoints import write_model_file
from symco.plugins.weights import plugin as weights_plugin
from symco.plugins.weights.mlp import MLP


class Toy(nn.Module):
    """A classifier over the plugin's MLP, with the data methods the commands use."""

    def __init__(self, width: int = 16, depth: int = 2) -> None:
        super().__init__()
        self.net = MLP(4, [width] * depth, 3).double()

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)  # type: ignore[no-any-return]

    def weight_permutations(self) -> PermutationSpec:
        return self.net.weight_permutations().prefixed("net.")

    def weight_activations(self, data: dict[str, Tensor]) -> dict[str, Tensor]:
        return self.net.activations(data["x"], pre=True)

    def weight_evaluate(self, data: dict[str, Tensor]) -> tuple[float, float]:
        logits = self.net(data["x"])
        loss = nn.functional.cross_entropy(logits, data["y"])
        return float(loss), float((logits.argmax(1) == data["y"]).double().mean())


class Undeclared(nn.Module):
    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.layer = nn.Linear(width, width)


def _register(registry: Any) -> None:
    registry.add_model(Toy)
    registry.add_model(Undeclared)


def _plugins() -> list[tuple[str, object]]:
    toy = types.ModuleType("toy_plugin")
    toy.symco_register = symco.hookimpl(_register)  # type: ignore[attr-defined]
    installed = {ep.name for ep in entry_points(group="symco")}
    return [("toy", toy)] + ([] if "weights" in installed else [("weights", weights_plugin)])


def _save(path: Path, module: nn.Module, **hp: Any) -> str:
    cls = type(module)
    write_model_file(path, f"{cls.__module__}.{cls.__qualname__}", hp, module.state_dict())
    return str(path)


def _run(argv: list[str]) -> int:
    return main(argv, plugins=_plugins())


@pytest.fixture
def pair(tmp_path: Path) -> tuple[str, str, str, Toy, Toy]:
    """A trained-looking toy, a copy with permuted units, and data."""
    torch.manual_seed(0)
    a = Toy()
    group = WeightPermutations.of(a)
    g = group.perms(group.sample(1, torch.Generator().manual_seed(1)))
    b = Toy()
    b.load_state_dict(group.permute(g, a.state_dict()))
    gen = torch.Generator().manual_seed(2)
    data = {"x": torch.randn(64, 4, generator=gen, dtype=torch.float64),
            "y": torch.randint(0, 3, (64,), generator=gen)}  # fmt: skip
    torch.save(data, tmp_path / "data.pt")
    return _save(tmp_path / "a.pt", a), _save(tmp_path / "b.pt", b), str(tmp_path / "data.pt"), a, b


@pytest.mark.parametrize("method", ["weights", "activations"])
def test_align_recovers_a_permuted_copy(
    pair: tuple[str, str, str, Toy, Toy], tmp_path: Path, method: str
) -> None:
    a_path, b_path, data, a, _ = pair
    out = tmp_path / "b_aligned.pt"
    argv = ["align", a_path, b_path, "--out", str(out), "--method", method, "--data", data]
    assert _run(argv) == 0
    aligned = torch.load(out, map_location="cpu", weights_only=True)
    assert aligned["class_path"].endswith(".Toy")
    for key, value in a.state_dict().items():
        assert torch.equal(aligned["state_dict"][key], value), key


def test_merge_and_barrier(pair: tuple[str, str, str, Toy, Toy], tmp_path: Path) -> None:
    a_path, b_path, data, a, _ = pair
    out = tmp_path / "m.pt"
    assert _run(["merge", a_path, b_path, "--width", "16", "--out", str(out)]) == 0
    merged = torch.load(out, map_location="cpu", weights_only=True)["state_dict"]
    assert all(torch.allclose(merged[k], v) for k, v in a.state_dict().items())
    curve, plot = tmp_path / "curve.json", tmp_path / "curve.png"
    argv = ["barrier", a_path, b_path, "--points", "3", "--out", str(curve), "--data", data]
    assert _run([*argv, "--plot", str(plot)]) == 0
    record = json.loads(curve.read_text())
    assert record["t"] == [0.0, 0.5, 1.0] and record["loss_barrier"] == pytest.approx(0, abs=1e-9)
    assert plot.stat().st_size > 0
    assert _run([*argv, "--align", "none"]) == 0
    assert len(json.loads(curve.read_text())["loss"]) == 3


def _first_error(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().err.strip().splitlines()[0]


def test_the_one_line_errors(
    pair: tuple[str, str, str, Toy, Toy], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_path, b_path, _, _, _ = pair
    out = str(tmp_path / "x.pt")
    wide = _save(tmp_path / "wide.pt", Toy(width=20), width=20)
    assert _run(["align", a_path, wide, "--out", out]) == 2
    assert _first_error(capsys) == (
        f"symco: error: {wide}: not the architecture of {a_path}: 'net.layers.0.weight' has "
        "shape [20, 4], not [16, 4]; both must be checkpoints of one architecture"
    )
    deep = _save(tmp_path / "deep.pt", Toy(depth=3), depth=3)
    assert _run(["align", a_path, deep, "--out", out]) == 2
    assert _first_error(capsys) == (
        f"symco: error: {deep}: not the architecture of {a_path}: 'net.layers.2.weight' has "
        "shape [16, 16], not [3, 16]; both must be checkpoints of one architecture"
    )
    bare = _save(tmp_path / "bare.pt", Undeclared())
    assert _run(["merge", bare, bare, "--out", out]) == 2
    assert _first_error(capsys) == (
        f"symco: error: {bare}: Undeclared declares no weight permutations "
        "(a weight_permutations() method)"
    )
    assert _run(["align", a_path, bare, "--out", out]) == 2
    assert _first_error(capsys) == (
        f"symco: error: {bare}: a Undeclared, {a_path} is a Toy; "
        "both must be checkpoints of one architecture"
    )
    assert _run(["align", a_path, b_path, "--out", out, "--method", "activations"]) == 2
    assert _first_error(capsys) == (
        "symco: error: --method activations: needs --data (a .pt file the module's "
        "weight_activations reads)"
    )
    assert _run(["barrier", a_path, b_path, "--out", out]) == 2
    assert _first_error(capsys) == (
        "symco: error: barrier: needs --data (a .pt file the module's weight_evaluate reads)"
    )
    assert _run(["merge", a_path, b_path, "--width", "20", "--out", out]) == 2
    assert _first_error(capsys) == (
        "symco: error: --width: weights-average keeps the endpoints' widths (16), got 20"
    )
    assert _run(["merge", a_path, b_path, "--method", "pleas", "--out", out]) == 2
    assert _first_error(capsys) == (
        "symco: error: --method pleas: Toy has no weight_merge(other, data, width, heads) method"
    )
    assert _run(["merge", a_path, b_path, "--heads", "separate", "--out", out]) == 2
    assert _first_error(capsys) == "symco: error: --heads separate: only with --method pleas"
    assert not Path(out).exists()
