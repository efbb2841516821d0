"""`symco fit` on the tiny n-body configs, `symco check-symmetry` on the shipped configs, and the
one-line errors (exit 2) for bad data files and an unknown candidate group."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from symco.core.cli import main
from symco.core.dataset import read_npz, save_npz

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = ROOT / "configs" / "nbody"
TINY = CONFIGS / "tiny.yaml"
CHUNK = Path("data/nbody/charged5-seed0/train-000000-000032.npz")


def _code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # LightningCLI / argparse exit through SystemExit
        return int(exc.code or 0)


@pytest.fixture(scope="session")
def tiny_config_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data tiny.yaml asks for, simulated once."""
    from symco.plugins.nbody.data import NBodyDataModule

    root = tmp_path_factory.mktemp("nbody-cli")
    NBodyDataModule(data_dir=str(root / "data" / "nbody"), train_size=32, val_size=8,
                    test_size=8, workers=1).prepare_data()  # fmt: skip
    return root / "data"


@pytest.fixture
def workdir(tiny_config_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(tiny_config_data, tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.slow
def test_fit_test_and_check_the_tiny_config(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _code(["fit", "--config", str(TINY)]) == 0
    last = workdir / "runs" / "nbody-tiny" / "checkpoints" / "last.ckpt"
    assert last.is_file()
    assert _code(["test", "--config", str(TINY), "--ckpt_path", str(last)]) == 0
    text = "".join(
        p.read_text() for p in (workdir / "runs" / "nbody-tiny" / "csv").glob("*/metrics.csv")
    )
    assert all(k in text for k in ("train/mse", "val/mse", "test/mse"))
    capsys.readouterr()
    assert _code(["check-symmetry", "--ckpt", str(last)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("NBodyModule (") and out[-1] == "3 of 3 symmetries hold"  # + weights


@pytest.mark.slow
def test_fit_the_soft_model_on_field_data(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """tiny-soft.yaml simulates field data (its own folder) and tunes the weights at step 4."""
    assert _code(["fit", "--config", str(CONFIGS / "tiny-soft.yaml")]) == 0
    assert (workdir / "data" / "nbody" / "charged5-field0_0_0.5-seed0" / "manifest.json").is_file()
    metrics = next((workdir / "runs" / "nbody-tiny-soft" / "csv").glob("*/metrics.csv"))
    head = metrics.read_text().splitlines()[0].split(",")
    assert {f"soft/lambda_{g}" for g in ("o3", "o2-x", "o2-y", "o2-z")} <= set(head)
    assert "tuned to" in capsys.readouterr().out
    path = workdir / "runs" / "nbody-tiny-soft" / "checkpoints" / "last.ckpt"
    ckpt = torch.load(path, weights_only=True)
    assert bool(ckpt["state_dict"]["regularizer.tuned"])
    lam = ckpt["state_dict"]["regularizer.lambdas"]
    assert float(lam.max()) == 1.0 and float(lam.min()) < 1.0


@pytest.mark.parametrize(("config", "code"), [("egnn", 0), ("fa_gnn", 0), ("gnn", 1)])
def test_check_symmetry_of_the_configs(
    config: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _code(["check-symmetry", "--config", str(CONFIGS / f"{config}.yaml")]) == code
    rows = capsys.readouterr().out.splitlines()
    e3 = next(r for r in rows if r.startswith("euclidean"))
    assert e3.endswith("FAIL" if code else "pass")
    assert next(r for r in rows if r.startswith("node-permutation")).endswith("pass")


def _first_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("symco: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    ("key", "edit", "message"),
    [
        ("loc", lambda a: a[:, :4], "loc has 4 particles, the data module expects 5"),
        ("vel", lambda a: a[..., :2],
         "vel has shape (32, 5, 2), expected (samples, 5, 3): positions and velocities are 3-D"),
        ("loc", lambda a: np.where(np.arange(32)[:, None, None] == 7, np.nan, a),
         "loc of sample 7 is not finite (NaN or inf)"),
    ],
)  # fmt: skip
def test_bad_data_files_fail_with_one_line(  # type: ignore[no-untyped-def]
    workdir: Path, capsys: pytest.CaptureFixture[str], key: str, edit, message: str
) -> None:
    arrays = read_npz(CHUNK)
    arrays[key] = edit(arrays[key])
    save_npz(CHUNK, arrays)
    assert _code(["fit", "--config", str(TINY)]) == 2
    assert _first_error(capsys.readouterr().err) == f"symco: error: {CHUNK}: {message}"


def test_unknown_candidate_group_fails_with_one_line(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reg = '{"class_path": "symco.plugins.nbody.soft.SoftEquivariance", "init_args": {"groups": ["o3", "o4-z"]}}'
    assert _code(["fit", "--config", str(TINY), "--model.init_args.regularizer", reg]) == 2
    assert _first_error(capsys.readouterr().err) == (
        "symco: error: unknown candidate group 'o4-z'; known: o3, o2-x, o2-y, o2-z"
    )


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty")
@pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before the epoch")
def test_a_resumed_run_trains_like_an_uninterrupted_one(workdir: Path) -> None:
    """Stopped after 3 of 6 steps (mid-epoch: 4 batches per epoch) and resumed from last.ckpt:
    the same batches, the same regularizer state, the same weights."""
    soft = str(CONFIGS / "tiny-soft.yaml")
    assert _code(["fit", "--config", soft]) == 0
    ckpts = workdir / "runs" / "nbody-tiny-soft" / "checkpoints"
    whole = torch.load(ckpts / "last.ckpt", weights_only=True)["state_dict"]
    shutil.rmtree(workdir / "runs")
    assert _code(["fit", "--config", soft, "--trainer.max_steps", "3"]) == 0
    assert _code(["fit", "--config", soft, "--ckpt_path", str(ckpts / "last.ckpt")]) == 0
    resumed = torch.load(ckpts / "last.ckpt", weights_only=True)["state_dict"]
    assert whole.keys() == resumed.keys()
    assert all(torch.allclose(whole[k].double(), resumed[k].double()) for k in whole)
