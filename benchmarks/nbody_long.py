"""The record of a long ``symco fit`` n-body run: validation MSE against steps, and the test MSE
of its best-validation checkpoint (the EGNN paper's model selection).

    symco fit --config configs/nbody/egnn.yaml                     # in the background, resumable
    python benchmarks/nbody_long.py --run runs/nbody-egnn --config configs/nbody/egnn.yaml

Reads every ``csv/version_*/metrics.csv`` of the run (a resumed run adds a version), runs
``symco test`` on ``checkpoints/best-*.ckpt`` and writes
``benchmarks/results/nbody_egnn_long.json`` (atomically): the curve, the best step and its
validation and test MSE, beside the paper's 0.0071.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
from pathlib import Path

from symco.core.dataset import atomic_path

HERE = Path(__file__).resolve().parent
PAPER_EGNN = 0.0071


def curve(run: Path) -> list[tuple[int, float]]:
    """``(step, val/mse)`` over every logged version, sorted by step (a resumed run's versions
    continue the step count)."""
    points: dict[int, float] = {}
    for path in sorted(run.glob("csv/version_*/metrics.csv")):
        with path.open() as f:
            for row in csv.DictReader(f):
                if row.get("val/mse"):
                    points[int(row["step"])] = float(row["val/mse"])
    return sorted(points.items())


def best_checkpoint(run: Path) -> Path:
    found = sorted(run.glob("checkpoints/best-*.ckpt"))
    if not found:
        raise SystemExit(f"{run}/checkpoints: no best-*.ckpt")
    # best-step<N>-mse<v>.ckpt: the lowest validation MSE (ModelCheckpoint keeps one by default)
    return min(found, key=lambda p: float(re.search(r"mse([0-9.]+)\.ckpt$", p.name).group(1)))  # type: ignore[union-attr]


def measure_test_mse(config: Path, ckpt: Path) -> float:
    symco = str(Path(sys.executable).with_name("symco"))
    proc = subprocess.run([symco, "test", "--config", str(config), "--ckpt_path", str(ckpt),
                           "--trainer.logger", "false", "--trainer.enable_progress_bar", "false"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    match = re.search(r"test/mse\W+([0-9.eE+-]+)", proc.stdout)
    if proc.returncode != 0 or match is None:
        raise SystemExit(f"symco test failed ({proc.returncode}): {proc.stderr[-500:]}")
    return float(match.group(1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, default=Path("runs/nbody-egnn"))
    p.add_argument("--config", type=Path, default=Path("configs/nbody/egnn.yaml"))
    p.add_argument("--out", type=Path, default=HERE / "results" / "nbody_egnn_long.json")
    args = p.parse_args()
    points = curve(args.run)
    if not points:
        raise SystemExit(f"{args.run}: no validation MSE logged yet")
    ckpt = best_checkpoint(args.run)
    best_step, best_val = min(points, key=lambda t: t[1])
    test = measure_test_mse(args.config, ckpt)
    payload = {
        "config": str(args.config), "checkpoint": ckpt.name, "steps_logged": points[-1][0],
        "best_step": best_step, "best_val_mse": best_val, "test_mse": test,
        "paper_egnn_test_mse": PAPER_EGNN, "ratio_to_paper": round(test / PAPER_EGNN, 3),
        "val_curve": points,
    }  # fmt: skip
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"best val {best_val:.5f} at step {best_step} of {points[-1][0]}; test MSE {test:.5f} "
          f"({test / PAPER_EGNN:.2f}x the paper's {PAPER_EGNN}); wrote {args.out}")  # fmt: skip


if __name__ == "__main__":
    main()
