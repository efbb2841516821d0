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
    assert (tmp_path / "runs" / "tsp-tiny" / "checkpoints" / "last.ckpt").is_file()
    # without the plugin, the same config names a problem nobody registered: one line, exit 2
    assert _code(["fit", "--config", "ring.yaml"], ()) == 2


def test_checkpoint_summary_names_the_files_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The line `symco fit` ends with: best (with the monitored value), latest, last; files that
    were not written are left out; only rank 0 prints it."""
    import torch

    from symco.core.training.cli import _cli_class, checkpoint_summary

    ckpts = tmp_path / "runs" / "x" / "checkpoints"
    ckpts.mkdir(parents=True)
    for name in ("best.ckpt", "step8.ckpt", "last.ckpt"):
        (ckpts / name).write_bytes(b"")
    best = types.SimpleNamespace(
        monitor="val/gap", best_model_score=torch.tensor(1.25), best_model_path=str(ckpts / "best.ckpt"),
        last_model_path="",
    )  # fmt: skip
    rolling = types.SimpleNamespace(
        monitor=None, best_model_score=None, best_model_path=str(ckpts / "step8.ckpt"),
        last_model_path=str(ckpts / "last.ckpt"),
    )  # fmt: skip
    assert checkpoint_summary([best, rolling], cwd=tmp_path) == (
        "checkpoints: best runs/x/checkpoints/best.ckpt (val/gap 1.25), "
        "latest runs/x/checkpoints/step8.ckpt, last runs/x/checkpoints/last.ckpt"
    )
    outside = checkpoint_summary([best], cwd=tmp_path / "runs" / "elsewhere")
    assert outside == f"checkpoints: best {(ckpts / 'best.ckpt').resolve()} (val/gap 1.25)"
    unsaved = types.SimpleNamespace(
        monitor="val/gap", best_model_score=None, best_model_path="", last_model_path=""
    )
    assert checkpoint_summary([unsaved], cwd=tmp_path) == "checkpoints: none written"
    assert checkpoint_summary([], cwd=tmp_path) == "checkpoints: none written"

    for rank0, printed in ((True, True), (False, False)):
        trainer = types.SimpleNamespace(is_global_zero=rank0, checkpoint_callbacks=[best])
        _cli_class().after_fit(types.SimpleNamespace(trainer=trainer))
        assert bool(capsys.readouterr().out) is printed
