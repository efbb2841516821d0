"""The digits classifier end to end: ``symco fit`` from YAML, then ``symco digits``, ``barrier``,
``align`` and ``merge --method pleas`` on its checkpoints, and the ResNet's refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from symco.core.cli import main
from symco.core.manager import load_registry
from symco.core.training.checkpoints import load_model, write_model_file

CONFIG = Path(__file__).resolve().parents[3] / "configs" / "weights" / "tiny.yaml"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """Two 4-step tiny MLPs (seeds 0 and 1) and the test split as a --data file."""
    root = tmp_path_factory.mktemp("digits")
    paths = []
    for seed in (0, 1):
        out = root / f"seed{seed}"
        argv = ["fit", "--config", str(CONFIG), "--seed_everything", str(seed),
                "--trainer.default_root_dir", str(out)]  # fmt: skip
        assert main(argv) == 0
        paths.append(str(out / "checkpoints" / "last.ckpt"))
    assert main(["digits", "--split", "test", "--out", str(root / "test.pt")]) == 0
    return root, paths[0], paths[1]


def test_barrier_align_and_pleas(
    trained: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, a, b = trained
    data = str(root / "test.pt")
    curve = root / "curve.json"
    assert main(["barrier", a, b, "--data", data, "--points", "3", "--out", str(curve)]) == 0
    record = json.loads(curve.read_text())
    assert len(record["loss"]) == 3 and record["loss_barrier"] >= 0
    _, registry = load_registry()
    module = load_model(a, {}, registry).module
    loss, acc = module.weight_evaluate(torch.load(data, weights_only=True))
    assert record["loss"][0] == pytest.approx(loss) and record["accuracy"][0] == pytest.approx(acc)

    out = root / "merged.pt"
    argv = ["merge", a, b, "--method", "pleas", "--width", "20", "--data", data, "--out", str(out)]
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("(hidden widths [20, 20, 20])")
    merged = load_model(str(out), {}, registry).module
    assert [layer.out_features for layer in merged.network.layers] == [20, 20, 20, 10]
    argv = [
        "merge",
        a,
        b,
        "--method",
        "pleas",
        "--heads",
        "separate",
        "--data",
        data,
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    assert load_model(str(out), {}, registry).module.network.layers[-1].out_features == 20


def test_pleas_refuses_a_resnet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from symco.plugins.weights.classifier import DigitsClassifier
    from symco.plugins.weights.resnet import ResNet

    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        module = DigitsClassifier(ResNet(widths=(4, 8)))
        network = {"class_path": "symco.plugins.weights.resnet.ResNet",
                   "init_args": {"widths": [4, 8]}}  # fmt: skip
        path = tmp_path / f"r{seed}.pt"
        write_model_file(path, "symco.plugins.weights.classifier.DigitsClassifier",
                         {"network": network}, module.state_dict())  # fmt: skip
        paths.append(str(path))
    data = tmp_path / "d.pt"
    torch.save({"x": torch.rand(8, 1, 28, 28), "y": torch.zeros(8, dtype=torch.long)}, data)
    argv = ["merge", *paths, "--method", "pleas", "--data", str(data), "--out", str(tmp_path / "m")]
    assert main(argv) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        "symco: error: --method pleas: ResNet networks have no PLeaS merge (the MLP has); "
        "use weights-average"
    )
    torch.save([1, 2], data)
    assert main(["barrier", *paths, "--data", str(data), "--out", str(tmp_path / "c.json")]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        "symco: error: --data: a dict with 'x' and 'y' tensors (symco digits --out), got list"
    )
    # the ResNet is aligned by its activations (BatchNorm and residual streams included)
    torch.save({"x": torch.rand(8, 1, 28, 28), "y": torch.zeros(8, dtype=torch.long)}, data)
    assert main(["barrier", *paths, "--data", str(data), "--align", "activations",
                 "--points", "2", "--out", str(tmp_path / "c.json")]) == 0  # fmt: skip


def test_check_symmetry_passes_on_a_trained_classifier(
    trained: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``symco check-symmetry`` finds the network's weight permutations through the module."""
    _, a, _ = trained
    assert main(["check-symmetry", "--ckpt", a]) == 0
    out = capsys.readouterr().out
    assert "weight-permutation: 3 hidden layers' units" in out and "1 of 1 symmetries hold" in out
