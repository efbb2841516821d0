"""``symco fit`` under DDP (two CPU processes, gloo), for real: each run is a ``symco`` subprocess
whose Lightning launcher starts the second rank.

- the same global batch gives the same model: DDP with 2 ranks of batch 16 trains what one
  process with batch 32 trains (the digits MLP: a mean loss, the ranks' batches are the
  single-process batches), to float round-off;
- a DDP run resumed from a mid-epoch checkpoint ends with exactly the weights of the
  uninterrupted DDP run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

CONFIG = Path(__file__).resolve().parents[3] / "configs" / "weights" / "tiny.yaml"
SYMCO = str(Path(sys.executable).with_name("symco"))
DDP = ["--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "cpu"]

pytestmark = pytest.mark.slow


def _config(tmp: Path) -> Path:
    """The tiny digits config, 8 steps, no validation, a checkpoint every 4 steps (kept)."""
    config = yaml.safe_load(CONFIG.read_text())
    config["trainer"].update(max_steps=8, limit_val_batches=0, val_check_interval=None)
    config["trainer"]["callbacks"] = [{
        "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
        "init_args": {"every_n_train_steps": 4, "save_top_k": -1, "save_last": True,
                      "filename": "step{step}", "auto_insert_metric_name": False},
    }]  # fmt: skip
    path = tmp / "tiny8.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _fit(config: Path, root: Path, *extra: str) -> dict[str, torch.Tensor]:
    argv = [SYMCO, "fit", "--config", str(config), "--trainer.default_root_dir", str(root), *extra]
    proc = subprocess.run(argv, cwd=root.parent, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    if "ddp" in extra:  # both ranks joined the process group
        assert "MEMBER: 1/2" in proc.stderr and "MEMBER: 2/2" in proc.stderr, proc.stderr[-3000:]
    ckpt = torch.load(root / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    return ckpt["state_dict"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("ddp")
    return tmp, _config(tmp)


def test_ddp_trains_what_one_process_trains_on_the_same_global_batch(
    runs: tuple[Path, Path],
) -> None:
    tmp, config = runs
    single = _fit(config, tmp / "single", "--data.init_args.batch_size", "32")
    ddp = _fit(config, tmp / "ddp", "--data.init_args.batch_size", "16", *DDP)
    halfway = torch.load(tmp / "single" / "checkpoints" / "step4.ckpt", weights_only=True)
    assert single.keys() == ddp.keys()
    moved = max(float((single[k] - v).abs().max()) for k, v in halfway["state_dict"].items())
    diff = max(float((single[k] - ddp[k]).abs().max()) for k in single)
    assert moved > 5e-4  # the last 4 steps changed the weights...
    assert diff < 1e-6  # ...and both runs changed them alike (float round-off only)


def test_a_resumed_ddp_run_is_the_uninterrupted_one(runs: tuple[Path, Path]) -> None:
    tmp, config = runs
    whole = _fit(config, tmp / "whole", "--data.init_args.batch_size", "16", *DDP)
    middle = tmp / "whole" / "checkpoints" / "step4.ckpt"  # mid-epoch: 109 batches per epoch
    assert middle.is_file()
    resumed = _fit(config, tmp / "resumed", "--data.init_args.batch_size", "16", *DDP,
                   "--ckpt_path", str(middle))  # fmt: skip
    for key, value in whole.items():
        assert torch.equal(resumed[key], value), key
