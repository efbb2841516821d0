"""Every command of the docs' ``bash`` blocks (README.md and docs/**/*.md) is either run here,
from a fresh copy of what a clone has (``configs/``, ``benchmarks/instances/``), or listed as too
costly for a test with the reason; a new command fails this test until it is put in one of the
two lists, and an entry no page uses any more fails it too."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .sources import ROOT, code_blocks

SYMCO = str(Path(sys.executable).with_name("symco"))
QUICK_START = "symco evaluate --ckpt bq-tsp --generate 100:16 --augment d4 --improve rrc+2opt --time-limit 2 --stages --baselines"  # fmt: skip

# docs command -> the argv run here (scaled down where the docs' sizes take minutes)
RUN: dict[str, list[str]] = {
    QUICK_START: [
        "evaluate", "--ckpt", "bq-tsp", "--generate", "100:2", "--augment", "d4", "--improve",
        "rrc+2opt", "--time-limit", "0.5", "--stages", "--baselines", "--baseline-time-limit",
        "0.5", "--reference", "farthest", "--workers", "1", "--quiet"],
    "symco plugins": ["plugins"],
    "symco evaluate --ckpt bq-tsp --generate 100:4 --improve rrc+2opt --time-limit 1 --quiet": [
        "evaluate", "--ckpt", "bq-tsp", "--generate", "100:4", "--improve", "rrc+2opt",
        "--time-limit", "1", "--quiet", "--reference", "farthest", "--workers", "1",
    ],
    "symco models": ["models"],
    "symco info bq-tsp": ["info", "bq-tsp"],
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
    "symco fit --config configs/mlip/tiny.yaml": ["fit", "--config", "configs/mlip/tiny.yaml"],
    "symco check-symmetry --config configs/mlip/tiny.yaml": [
        "check-symmetry", "--config", "configs/mlip/tiny.yaml"],
    "symco check-symmetry --config configs/mlip/transip.yaml": [
        "check-symmetry", "--config", "configs/mlip/transip.yaml"],
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
    "symco evaluate --ckpt bq-tsp --generate 1000:8 --knn 100 --baselines --plot plots/ --out tsp1000.jsonl": [
        "evaluate", "--ckpt", "bq-tsp", "--generate", "200:2", "--knn", "100", "--baselines",
        "--plot", "plots/", "--out", "tsp1000.jsonl"],
    "symco evaluate --ckpt bq-cvrp --instances benchmarks/instances/X-n101-k25.vrp --generate 100:32,200:16 --baselines": [
        "evaluate", "--ckpt", "bq-cvrp", "--instances", "benchmarks/instances/X-n101-k25.vrp",
        "--generate", "100:2", "--baselines", "--reference", "savings"],
    "symco evaluate --ckpt bq-kp --generate 100:64,200:64,500:16,1000:8 --baselines": [
        "evaluate", "--ckpt", "bq-kp", "--generate", "100:2,200:2", "--baselines"],
    "symco data --problem tsp --size 50 --num 512 --solver lkh --out tsp50.npz --cluster local:2": [
        "data", "--problem", "tsp", "--size", "50", "--num", "8", "--chunk-size", "4", "--solver",
        "lkh", "--out", "tsp50.npz", "--cluster", "local:2"],
    "symco fit --config configs/tsp/tiny.yaml --trainer.strategy ddp --trainer.devices 2 --trainer.accelerator cpu": [
        "fit", "--config", "configs/tsp/tiny.yaml", "--trainer.strategy", "ddp",
        "--trainer.devices", "2", "--trainer.accelerator", "cpu"],
    "symco digits --split test --out test.pt": ["digits", "--split", "test", "--out", "test.pt"],
    "symco digits --split train --out train.pt": ["digits", "--split", "train", "--out", "train.pt"],
    "symco import --from rl4co --problem cvrp IN.npz --out OUT.npz": [
        "import", "--from", "rl4co", "--problem", "cvrp", "IN.npz", "--out", "OUT.npz"],
}  # fmt: skip

EXIT_CODE = {  # docs commands whose documented exit status is not 0
    "symco check-symmetry --config configs/fernn/grnn.yaml": 1,  # the G-RNN fails the flow check
    "symco check-symmetry --config configs/nbody/gnn.yaml": 1,  # the GNN fails the E(3) check
}

COSTLY = {  # docs command prefix -> why no test runs it as such
    "symco evaluate --ckpt bq-cvrp --instances benchmarks/instances/X-n101-k25.vrp --improve": "10 s of improvement (tests/plugins/bq/test_cli.py runs --improve rrc on CVRP)",
    "pip install": "installs packages (the test suite runs on the installed package)",
    "python3 -m pip install tox": "the CI command itself",
    "tox -e tests": "the CI command itself",
    "tox -e docs": "the CI's docs build (tests/docs/test_benchmark_tables.py builds the site when mkdocs is installed)",
    "symco data --problem tsp --size 100 --num 4": "tens of thousands of LKH labels (symco data is tested at small sizes)",
    "symco data --problem tsp --size 100 --num 1": "thousands of LKH labels",
    "symco data --problem tsp --size 100 --num 256": "256 LKH labels (the 4-instance run above covers the command)",
    "symco data --problem cvrp": "thousands of HGS labels (tests/core/test_cli.py labels small sets)",
    "symco fit --config configs/tsp/cpu": "hours of training (the tiny configs train in tests/plugins/*/test_cli.py)",
    "symco evaluate --ckpt runs/": "needs a trained checkpoint (test_fit_then_evaluate does this)",
    "symco export-model --ckpt runs/": "needs trained checkpoints (tested in tests/core/training)",
    "python benchmarks/": "a benchmark (minutes to hours)",
    "symco plugins                    # lists partition": "tests/docs/test_plugin_guide.py",
    "symco fit --config configs/tsp/paper": "the paper's model on 4 GPUs",
    "symco fit --config configs/cvrp/": "hours of training (the tiny configs train in tests)",
    "symco fit --config configs/zinc/": "minutes to hours of training (tests/plugins/zinc)",
    "symco fit --config configs/fernn/fernn.yaml": "40 minutes of training (the tiny config trains here)",
    "symco fit --config configs/nbody/egnn.yaml": "30 minutes to hours of training (the tiny config trains here)",
    "symco test --config configs/nbody/egnn.yaml": "needs the trained checkpoint (tests/plugins/nbody/test_cli.py tests a tiny one)",
    "symco data --problem partition": "tests/docs/test_plugin_guide.py",
    "dask scheduler": "starts a scheduler that runs until stopped (tests/core/test_cluster.py starts one, with two workers, in the test process)",
    "dask worker": "a worker that runs until stopped (tests/core/test_cluster.py)",
    "symco fit --config configs/weights/mlp.yaml": "a minute of training each (tests/plugins/weights/test_classifier.py trains configs/weights/tiny.yaml and runs barrier and merge on it)",
    "symco fit --config configs/mlip/facet.yaml": "10 minutes of training (the tiny config trains here)",
    "symco md --ckpt runs/mlip-tiny": "needs the tiny run's checkpoint (tests/plugins/mlip/test_cli.py trains it and runs md)",
    "symco label --smiles my_molecules.smi": "needs your SMILES file (tests/plugins/mlip/test_cli.py labels one)",
    "symco barrier runs/": "needs trained checkpoints (tests/plugins/weights/test_classifier.py)",
    "symco merge runs/": "needs trained checkpoints (tests/plugins/weights/test_classifier.py)",
    "symco solve partition12.npz": "tests/docs/test_plugin_guide.py",
    "python -m pytest tests/core/test_problem.py": "tests/docs/test_plugin_guide.py runs the contract tests' checks",
    "symco data --problem hampath": "tests/docs/test_method_guide.py (the method guide's package)",
    "symco fit --config symco-hampath/": "tests/docs/test_method_guide.py",
    "symco check-symmetry --config symco-hampath/": "tests/docs/test_method_guide.py",
    "symco evaluate --ckpt runs/hampath": "tests/docs/test_method_guide.py",
    "python -m pytest tests/core/test_reducer.py": "tests/docs/test_method_guide.py runs them on the package",
    "symco import-model --from bq-nco": "needs the user's copy of the official checkpoints (tests/plugins/bq/test_peer_models.py with SYMCO_PEER_MODELS; test_importer.py on synthetic ones)",
    "symco info bq-nco-tsp.pt": "needs an imported official checkpoint (test_importer.py runs info on a synthetic one)",
    "symco evaluate --ckpt bq-nco-tsp.pt": "needs an imported official checkpoint (test_importer.py evaluates a synthetic one)",
    "symco check-symmetry --ckpt bq-nco-tsp.pt": "needs an imported official checkpoint (test_importer.py checks a synthetic one)",
}  # fmt: skip


def doc_commands() -> list[tuple[str, str]]:
    """``(file, command line)`` of the docs' bash blocks (comments and blank lines left out)."""
    return [
        (where, line.strip())
        for where, block in code_blocks("bash")
        for line in block.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def _bare(line: str) -> str:
    return line.split("  #")[0].strip()


def _classified(line: str) -> bool:
    return _bare(line) in RUN or any(line.startswith(p) for p in COSTLY)


def test_every_doc_command_is_run_or_explained() -> None:
    unclassified = [f"{where}: {line}" for where, line in doc_commands() if not _classified(line)]
    assert not unclassified, f"classify these docs commands in {__file__}: {unclassified}"


def test_every_entry_is_still_documented() -> None:
    lines = [line for _, line in doc_commands()]
    bare = {_bare(line) for line in lines}
    stale = [c for c in RUN if c not in bare]
    stale += [p for p in COSTLY if not any(line.startswith(p) for line in lines)]
    assert not stale, f"no page documents these any more; drop them from {__file__}: {stale}"


def test_quick_start_is_in_the_readme() -> None:
    assert ("README.md", QUICK_START) in [(w, _bare(c)) for w, c in doc_commands()]


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What a fresh clone offers the commands: configs and the shipped instances; plus the
    rl4co-style file ``IN.npz`` the import example names (the user's own file)."""
    root = tmp_path_factory.mktemp("clone")
    shutil.copytree(ROOT / "configs", root / "configs")
    shutil.copytree(ROOT / "benchmarks" / "instances", root / "benchmarks" / "instances")
    rng = np.random.default_rng(0)
    np.savez(
        root / "IN.npz",
        depot=rng.random((2, 2)),
        locs=rng.random((2, 10, 2)),
        demand=rng.integers(1, 10, (2, 10)) / 50.0,
        capacity=np.array(50.0),
    )
    return root


@pytest.mark.slow
@pytest.mark.parametrize("command", list(RUN), ids=list(RUN))
def test_doc_command_runs(command: str, clone: Path) -> None:
    argv = RUN[command]
    proc = subprocess.run(
        [SYMCO, *argv, *(["--quiet"] if argv[0] in ("data",) else [])],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=600,
    )
    want = EXIT_CODE.get(command, 0)
    assert proc.returncode == want, f"{command}: exit {proc.returncode}\n{proc.stderr[-2000:]}"
    assert "Traceback" not in proc.stderr
