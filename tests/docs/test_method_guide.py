"""The docs' reducer guide (docs/extending/method.md), executed: the hampath package is
installed, labelled, trained by ``symco fit``, checked by ``symco check-symmetry``, evaluated, and
run through the contract tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .sources import ROOT
from .test_plugin_guide import SYMCO, install_guide_package


@pytest.fixture(scope="module")
def hampath(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    """The environment that sees symco-hampath, and the folder holding ``symco-hampath/``."""
    root = tmp_path_factory.mktemp("guide")
    return install_guide_package(root, "symco-hampath"), root


def _symco(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([SYMCO, *args], env=env, cwd=cwd, capture_output=True, text=True)
    assert res.returncode == 0, f"symco {' '.join(args)}:\n{res.stdout}\n{res.stderr}"
    return res


@pytest.mark.slow
def test_hampath_labels_trains_checks_and_evaluates(
    hampath: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    env, root = hampath
    config = str(root / "symco-hampath" / "hampath.yaml")
    for name, num, seed in (("train", 32, 0), ("val", 8, 1)):
        out = f"data/hampath8_{name}.npz"
        _symco(env, tmp_path, "data", "--problem", "hampath", "--size", "8", "--num", str(num),
               "--seed", str(seed), "--out", out, "--workers", "2", "--quiet")  # fmt: skip
        with np.load(tmp_path / out) as f:
            assert f["coords"].shape == (num, 9, 2) and f["paths"].shape == (num, 8)
            assert (np.sort(f["paths"], axis=1) == np.arange(1, 9)).all()
    _symco(env, tmp_path, "fit", "--config", config, "--trainer.max_steps", "4",
           "--trainer.val_check_interval", "2")  # fmt: skip
    last = tmp_path / "runs" / "hampath" / "checkpoints" / "last.ckpt"
    assert last.is_file()
    sym = _symco(env, tmp_path, "check-symmetry", "--config", config)
    assert "node-permutation" in sym.stdout and "pass" in sym.stdout
    ev = _symco(env, tmp_path, "evaluate", "--ckpt", str(last), "--generate", "8:2",
                "--reference", "dp", "--quiet")  # fmt: skip
    assert "hampath" in ev.stdout and "vs dp" in ev.stdout


@pytest.mark.slow
def test_hampath_passes_the_contract_tests(hampath: tuple[dict[str, str], Path]) -> None:
    env, _ = hampath
    tests = [
        "tests/core/test_reducer.py",
        "tests/core/test_problem.py",
        "tests/core/test_solver.py",
    ]
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests, "-k", "hampath"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert " passed" in res.stdout
    assert "no equivalent_partial witness" not in res.stdout  # the quotient test ran
