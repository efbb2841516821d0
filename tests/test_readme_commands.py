"""Every command of the README's ``bash`` blocks is either run here, from a fresh copy of what a
clone has (``configs/``, ``benchmarks/instances/``), or listed as too costly for a test with the
reason; a new README command fails this test until it is put in one of the two lists."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SYMCO = str(Path(sys.executable).with_name("symco"))

# README command -> the argv run here (scaled down where the README's sizes take minutes)
RUN: dict[str, list[str]] = {
    "symco plugins": ["plugins"],
    "symco evaluate --ckpt bq-tsp --generate 100:4 --improve rrc+2opt --time-limit 1 --quiet": [
        "evaluate", "--ckpt", "bq-tsp", "--generate", "100:4", "--improve", "rrc+2opt",
        "--time-limit", "1", "--quiet", "--reference", "farthest", "--workers", "1",
    ],
    "symco models": ["models"],
    "symco fit --config configs/tsp/tiny.yaml": ["fit", "--config", "configs/tsp/tiny.yaml"],
    "symco check-symmetry --ckpt bq-tsp": ["check-symmetry", "--ckpt", "bq-tsp"],
    "symco check-symmetry --config configs/zinc/tiny.yaml": [
        "check-symmetry", "--config", "configs/zinc/tiny.yaml"],
    "symco fit --config configs/fernn/tiny.yaml": ["fit", "--config", "configs/fernn/tiny.yaml"],
    "symco check-symmetry --config configs/fernn/fernn.yaml": [
        "check-symmetry", "--config", "configs/fernn/fernn.yaml"],
    "symco check-symmetry --config configs/fernn/grnn.yaml": [
        "check-symmetry", "--config", "configs/fernn/grnn.yaml"],
    "symco fit --config configs/nbody/tiny.yaml": ["fit", "--config", "configs/nbody/tiny.yaml"],
    "symco check-symmetry --config configs/nbody/egnn.yaml": [
        "check-symmetry", "--config", "configs/nbody/egnn.yaml"],
    "symco check-symmetry --config configs/nbody/fa_gnn.yaml": [
        "check-symmetry", "--config", "configs/nbody/fa_gnn.yaml"],
    "symco check-symmetry --config configs/nbody/gnn.yaml": [
        "check-symmetry", "--config", "configs/nbody/gnn.yaml"],
    "symco data --problem tsp --size 100 --num 10000 --solver lkh --seed 1 --out data/tsp100.npz": [
        "data", "--problem", "tsp", "--size", "100", "--num", "4", "--solver", "lkh", "--seed",
        "1", "--out", "data/tsp100.npz"],
    "symco solve --solver lkh benchmarks/instances/d1291.tsp data/tsp100.npz --out results.jsonl": [
        "solve", "--solver", "lkh", "--time-limit", "2", "benchmarks/instances/d1291.tsp",
        "data/tsp100.npz", "--out", "results.jsonl"],
    "symco evaluate --ckpt bq-tsp --generate 1000:8 --knn 100 --baselines --plot plots/ --out results.jsonl": [
        "evaluate", "--ckpt", "bq-tsp", "--generate", "200:2", "--knn", "100", "--baselines",
        "--plot", "plots/", "--out", "results.jsonl"],
    "symco evaluate --ckpt bq-cvrp --instances benchmarks/instances/X-n101-k25.vrp --generate 100:32,200:16 --baselines": [
        "evaluate", "--ckpt", "bq-cvrp", "--instances", "benchmarks/instances/X-n101-k25.vrp",
        "--generate", "100:2", "--baselines", "--reference", "savings"],
    "symco evaluate --ckpt bq-kp --generate 100:64,200:64,500:16,1000:8 --baselines": [
        "evaluate", "--ckpt", "bq-kp", "--generate", "100:2,200:2", "--baselines"],
}  # fmt: skip

EXIT_CODE = {  # README commands whose documented exit status is not 0
    "symco check-symmetry --config configs/fernn/grnn.yaml": 1,  # the G-RNN fails the flow check
    "symco check-symmetry --config configs/nbody/gnn.yaml": 1,  # the GNN fails the E(3) check
}

COSTLY = {  # README command prefix -> why no test runs it as such
    "symco evaluate --ckpt bq-cvrp --instances benchmarks/instances/X-n101-k25.vrp --improve": "10 s of improvement (tests/plugins/bq/test_cli.py runs --improve rrc on CVRP)",
    "pip install": "installs packages (the test suite runs on the installed package)",
    "python3 -m pip install tox": "the CI command itself",
    "tox -e tests": "the CI command itself",
    "symco data --problem tsp --size 100 --num 4": "tens of thousands of LKH labels (symco data is tested at small sizes)",
    "symco data --problem tsp --size 100 --num 1": "thousands of LKH labels",
    "symco data --problem tsp --size 100 --num 256": "256 LKH labels (the 4-instance run above covers the command)",
    "symco data --problem cvrp": "thousands of HGS labels (tests/core/test_cli.py labels small sets)",
    "symco fit --config configs/tsp/cpu": "hours of training (the tiny configs train in tests/plugins/*/test_cli.py)",
    "symco evaluate --ckpt runs/": "needs a trained checkpoint (test_fit_then_evaluate does this)",
    "symco export-model --ckpt runs/": "needs trained checkpoints (tested in tests/core/training)",
    "symco evaluate --ckpt bq-tsp --generate 100:32": "the quick start: minutes of references and baselines",
    "python benchmarks/": "a benchmark (minutes to hours)",
    "symco plugins                    # lists partition": "tests/test_readme_plugin.py",
    "symco fit --config configs/tsp/paper": "the paper's model on 4 GPUs",
    "symco fit --config configs/cvrp/": "hours of training (the tiny configs train in tests)",
    "symco fit --config configs/zinc/": "minutes to hours of training (tests/plugins/zinc)",
    "symco fit --config configs/fernn/fernn.yaml": "40 minutes of training (the tiny config trains here)",
    "symco fit --config configs/nbody/egnn.yaml": "30 minutes to hours of training (the tiny config trains here)",
    "symco test --config configs/nbody/egnn.yaml": "needs the trained checkpoint (tests/plugins/nbody/test_cli.py tests a tiny one)",
    "symco data --problem partition": "tests/test_readme_plugin.py",
    "symco solve partition12.npz": "tests/test_readme_plugin.py",
    "python -m pytest tests/core/test_problem.py": "tests/test_readme_plugin.py runs the contract tests' checks",
    "symco data --problem hampath": "tests/test_readme_method.py (the method guide's package)",
    "symco fit --config symco-hampath/": "tests/test_readme_method.py",
    "symco check-symmetry --config symco-hampath/": "tests/test_readme_method.py",
    "symco evaluate --ckpt runs/hampath": "tests/test_readme_method.py",
    "python -m pytest tests/core/test_reducer.py": "tests/test_readme_method.py runs them on the package",
    "symco import-model --from bq-nco": "needs the user's copy of the official checkpoints (tests/plugins/bq/test_peer_models.py with SYMCO_PEER_MODELS; test_importer.py on synthetic ones)",
    "symco info bq-nco-tsp.pt": "needs an imported official checkpoint (test_importer.py runs info on a synthetic one)",
    "symco evaluate --ckpt bq-nco-tsp.pt": "needs an imported official checkpoint (test_importer.py evaluates a synthetic one)",
    "symco check-symmetry --ckpt bq-nco-tsp.pt": "needs an imported official checkpoint (test_importer.py checks a synthetic one)",
}  # fmt: skip


def readme_commands() -> list[str]:
    """Each command line of the README's bash blocks (comments and blank lines left out)."""
    text = (ROOT / "README.md").read_text()
    lines = [line.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S) for line in b.splitlines()]  # fmt: skip
    return [line for line in lines if line and not line.startswith("#")]


def _bare(line: str) -> str:
    return line.split("  #")[0].strip()


def test_every_readme_command_is_run_or_explained() -> None:
    unclassified = [
        line for line in readme_commands()
        if _bare(line) not in RUN and not any(line.startswith(p) for p in COSTLY)
    ]  # fmt: skip
    assert not unclassified, f"classify these README commands in {__file__}: {unclassified}"


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What a fresh clone offers the commands: configs and the shipped instances."""
    root = tmp_path_factory.mktemp("clone")
    shutil.copytree(ROOT / "configs", root / "configs")
    shutil.copytree(ROOT / "benchmarks" / "instances", root / "benchmarks" / "instances")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("command", list(RUN))
def test_readme_command_runs(command: str, clone: Path) -> None:
    proc = subprocess.run(
        [SYMCO, *RUN[command], *(["--quiet"] if RUN[command][0] in ("data",) else [])],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=600,
    )
    want = EXIT_CODE.get(command, 0)
    assert proc.returncode == want, f"{command}: exit {proc.returncode}\n{proc.stderr[-2000:]}"
    assert "Traceback" not in proc.stderr
