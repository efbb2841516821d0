"""`symco fit` on the tiny ZINC config (a few steps), encodings by class path and by name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from symco.core.cli import main

ROOT = Path(__file__).resolve().parents[3]
TINY = ROOT / "configs" / "zinc" / "tiny.yaml"


def _code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # LightningCLI / argparse exit through SystemExit
        return int(exc.code or 0)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh clone's view: a copy of the configs and nothing else (no data), as the cwd."""
    shutil.copytree(TINY.parent, tmp_path / "configs" / "zinc")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.slow
def test_fit_tiny_config_from_a_fresh_clone(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The tiny config needs no file of its own: its molecules are the ones RDKit ships."""
    config = "configs/zinc/tiny.yaml"
    assert _code(["fit", "--config", config]) == 0  # SPE given by class_path
    assert (workdir / "runs" / "zinc-tiny" / "checkpoints" / "last.ckpt").is_file()
    metrics = next((workdir / "runs" / "zinc-tiny" / "csv").glob("version_*/metrics.csv"))
    text = metrics.read_text()
    assert "train/mae" in text and "val/mae" in text
    assert list((workdir / "data" / "zinc").glob("zinc-rdkit-nci-*.npz"))  # the cached split
    capsys.readouterr()
    assert _code(["check-symmetry", "--config", config]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "1 of 1 symmetries hold"


@pytest.mark.slow
def test_fit_encoding_by_registry_name(workdir: Path) -> None:
    code = _code(["fit", "--config", str(TINY), "--model.init_args.encoding", "rwpe",
                  "--model.init_args.encoding_args", "{walk_length: 4}", "--trainer.max_steps", "2",
                  "--trainer.default_root_dir", "runs/zinc-tiny-rwpe"])  # fmt: skip
    assert code == 0


def test_unknown_encoding_fails_clearly(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _code(["fit", "--config", str(TINY), "--model.init_args.encoding", "nope"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown encoding 'nope'" in err and "Traceback" not in err


@pytest.mark.slow
def test_fit_and_check_without_the_bq_plugin(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Training, checkpoints and the symmetry check are the core's: they work with BQ disabled."""
    monkeypatch.setenv("SYMCO_DISABLE_PLUGINS", "bq")
    assert _code(["fit", "--config", str(TINY), "--trainer.max_steps", "2"]) == 0
    last = workdir / "runs" / "zinc-tiny" / "checkpoints" / "last.ckpt"
    capsys.readouterr()
    assert _code(["check-symmetry", "--ckpt", str(last)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("ZincModule (") and out[-1] == "1 of 1 symmetries hold"
    assert _code(["export-model", "--ckpt", str(last), "--out", "zinc.pt"]) == 0
    assert _code(["check-symmetry", "--ckpt", "zinc.pt"]) == 0
