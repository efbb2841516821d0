"""A problem, a solver and a reducer registered programmatically (no package, no entry point)
train through `symco fit`: the registry the CLI builds is the one training resolves names in."""

from __future__ import annotations

import types
from pathlib import Path
from typing import ClassVar

import pytest

import symco
from symco.core.cli import main
from symco.plugins.bq.tsp import BQTSPReducer
from symco.problems.tsp.problem import TSP
from symco.problems.tsp.solvers import ExactTSP

ROOT = Path(__file__).resolve().parents[3]


class Ring(TSP):
    """A TSP under another name: a problem symco does not ship."""

    name: ClassVar[str] = "ring"


class RingExact(ExactTSP):
    problem: ClassVar[str] = "ring"


class RingReducer(BQTSPReducer):
    problem: ClassVar[str] = "ring"


def _plugin() -> types.ModuleType:
    mod = types.ModuleType("ring_plugin")

    def symco_register(registry) -> None:
        registry.add_problem(Ring)
        registry.add_solver(RingExact)
        registry.add_reducer(RingReducer)

    mod.symco_register = symco.hookimpl(symco_register)  # type: ignore[attr-defined]
    return mod


def _code(argv: list[str], plugins) -> int:
    try:
        return main(argv, plugins=plugins)
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.mark.slow
def test_programmatic_plugin_trains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    plugins = [("ring", _plugin())]
    for name, num, seed in (("tsp10_train", 16, 0), ("tsp10_val", 4, 9)):
        assert _code(["data", "--problem", "ring", "--size", "8", "--num", str(num), "--seed",
                      str(seed), "--workers", "1", "--quiet", "--out", f"data/{name}.npz"], plugins) == 0  # fmt: skip
    config = (
        (ROOT / "configs" / "tsp" / "tiny.yaml")
        .read_text()
        .replace("problem: tsp", "problem: ring")
    )
    assert config.count("problem: ring") == 2  # the model's and the data's
    (tmp_path / "ring.yaml").write_text(config)
    assert _code(["fit", "--config", "ring.yaml", "--trainer.max_steps", "2"], plugins) == 0
    assert (tmp_path / "runs" / "tiny" / "checkpoints" / "last.ckpt").is_file()
    # without the plugin, the same config names a problem nobody registered: one line, exit 2
    assert _code(["fit", "--config", "ring.yaml"], ()) == 2
