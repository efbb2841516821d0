"""`symco fit` / `check-symmetry` / `md` on the tiny config, `symco label`, and the one-line
errors (exit 2) for bad structures, unknown elements and unlabellable molecules."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from symco.core.cli import main
from symco.core.dataset import read_npz, save_npz

ROOT = Path(__file__).resolve().parents[3]
TINY = ROOT / "configs" / "mlip" / "tiny.yaml"
LAST = "runs/mlip-tiny/checkpoints/last.ckpt"


def _code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # LightningCLI / argparse exit through SystemExit
        return int(exc.code or 0)


def _error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("symco: error")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def trained(tiny_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder where tiny.yaml has been trained (its data copied in)."""
    root = tmp_path_factory.mktemp("mlip-cli")
    shutil.copytree(tiny_data_dir, root / "data" / "mlip")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        assert _code(["fit", "--config", str(TINY)]) == 0
    return root


@pytest.mark.slow
def test_fit_check_symmetry_and_md_on_the_tiny_config(
    trained: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(trained)
    assert (trained / LAST).is_file()
    capsys.readouterr()
    assert _code(["check-symmetry", "--ckpt", LAST]) == 0
    out = capsys.readouterr().out
    assert "4 of 4 symmetries hold" in out and "rigid motions: forces rotate" in out
    assert (
        _code(["md", "--ckpt", LAST, "--smiles", "CCO", "--steps", "50", "--timestep", "0.2"]) == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("50 steps of 0.2 fs (0.01 ps), 9 atoms")
    assert lines[-1].startswith("stable")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda a: {**a, "positions": a["positions"][:, :2]}, "positions has shape"),
        (lambda a: {**a, "positions": np.full_like(a["positions"], np.nan)}, "non-finite coordinates"),
        (lambda a: {**a, "numbers": np.where(a["numbers"] == 6, 14, a["numbers"])},
         "element Si is not one this model knows"),
        (lambda a: {k: v for k, v in a.items() if k != "atoms"}, "no array 'atoms'"),
    ],
)  # fmt: skip
def test_md_on_bad_structures_fails_in_one_line(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], edit, message: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(trained)
    chunk = next((trained / "data" / "mlip").glob("*/train-000000-000004.npz"))
    bad = tmp_path / "bad.npz"
    save_npz(bad, edit(read_npz(chunk)))
    capsys.readouterr()
    assert _code(["md", "--ckpt", LAST, "--structure", str(bad), "--steps", "5"]) == 2
    assert message in _error(capsys.readouterr().err)


def test_md_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert _code(["md", "--ckpt", "x.ckpt", "--steps", "0", "--smiles", "C"]) == 2
    assert "--steps" in _error(capsys.readouterr().err)
    assert _code(["md", "--ckpt", "x.ckpt"]) == 2
    assert "exactly one" in _error(capsys.readouterr().err)


@pytest.mark.slow
def test_label_records_what_it_cannot_label_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    smi = tmp_path / "mine.smi"
    smi.write_text("CCO\nC[Si](C)(C)C\nO\n")
    out = tmp_path / "labels"
    assert _code(["label", "--smiles", str(smi), "--out", str(out), "--frames", "1",
                  "--workers", "1"]) == 2  # fmt: skip
    captured = capsys.readouterr()
    assert "2 of 3 molecules labelled" in captured.out
    assert "C[Si](C)(C)C: unknown element Si" in _error(captured.err)
    folder = next(out.iterdir())
    assert (folder / "rejected.txt").read_text().startswith("C[Si](C)(C)C")
    chunk = read_npz(next(folder.glob("train-*.npz")))
    assert len(chunk["energy"]) == 2  # the two good molecules, one frame each
