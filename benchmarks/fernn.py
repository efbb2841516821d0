"""FERNN against the G-RNN on moving MNIST digits, and the cost of the velocity channels.

    python benchmarks/fernn.py            # -> benchmarks/results/fernn.json + fernn*.png
    python benchmarks/fernn.py --quick    # few sequences, few timings: a smoke run

In one run, for the shipped ``fernn-mnist`` and ``grnn-mnist`` (or ``--fernn``/``--grnn``
checkpoints), on the seeded test digits (never seen in training):

* next-frame MSE per predicted step: 10 predicted (as trained) and 30 (length generalization),
  sequences with the training velocities;
* the velocity-generalization grid: every digit at one fixed velocity ``(vx, 0)``,
  ``vx in [-2, 2]`` (the models were trained with ``|vx| <= 1``, horizontal: what fits the CPU);
* the training curves of the two runs (validation MSE vs training seconds) from their CSV logs,
  when ``runs/`` has them (they were trained side by side, one thread each: equal CPU time);
* step time (forward + backward) and peak memory vs ``|V|``, the vectorised cell against the
  per-velocity loop, each configuration in a fresh process (peak RSS above the idle process);
* a PNG of predicted frames beside the truth at an unseen velocity.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from symco.core.dataset import atomic_path
from symco.core.table import format_table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def load(name: str) -> Any:
    from symco.core.manager import load_registry, shipped_models
    from symco.core.training.checkpoints import load_model

    pm, registry = load_registry()
    return load_model(name, shipped_models(pm), registry).module.eval()


def test_data(args: argparse.Namespace, *, frames: int, velocity: tuple[int, int] | None) -> Any:
    from symco.plugins.fernn.lightning import MovingDigitsDataModule

    dm = MovingDigitsDataModule(
        test_size=args.sequences, predict_frames=frames, axes="x", max_speed=1,
        test_velocity=velocity, eval_batch_size=args.batch,
    )  # fmt: skip
    dm.setup("test")
    return dm.test_dataloader()


@torch.no_grad()
def per_step_mse(module: Any, loader: Any) -> list[float]:
    """Mean squared error of each predicted frame over the loader's sequences."""
    from symco.plugins.fernn.lightning import rollout_mse

    total, count = None, 0
    for batch in loader:
        mse = rollout_mse(module.model, batch) * len(batch[0])
        total = mse if total is None else total + mse
        count += len(batch[0])
    assert total is not None
    return (total / count).tolist()  # type: ignore[no-any-return]


def training_curve(run: Path) -> list[dict[str, float]]:
    """``[{step, seconds, cpu_seconds, val_mse}]`` from a run's CSV logs (every version)."""
    points = []
    for path in sorted(run.glob("csv/version_*/metrics.csv")):
        with path.open() as f:
            for row in csv.DictReader(f):
                if row.get("val/mse"):
                    points.append({"step": int(row["step"]), "seconds": float(row["val/seconds"]),
                                   "cpu_seconds": float(row["val/cpu_seconds"]),
                                   "val_mse": float(row["val/mse"])})  # fmt: skip
    return sorted(points, key=lambda p: p["step"])


TIMING_CODE = """
import sys, time, torch
torch.set_num_threads(int(sys.argv[5]))
from symco.plugins.fernn.model import FERNN
from symco.plugins.fernn.velocities import velocity_set
radius, axes, looped, batch = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1", int(sys.argv[4])
gen = torch.Generator().manual_seed(0)
model = FERNN(velocity_set(radius, axes), hidden=16, looped=looped)
x = torch.rand((batch, 10, 1, 28, 28), generator=gen)
y = torch.rand((batch, 10, 1, 28, 28), generator=gen)
saved = {}
def pack(t):
    saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    return t
with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
    loss = ((model(x, 10) - y) ** 2).mean()
loss.backward()
times = []
for _ in range(int(sys.argv[6])):
    t = time.perf_counter()
    loss = ((model(x, 10) - y) ** 2).mean()
    loss.backward()
    times.append(time.perf_counter() - t)
print(min(times), sum(saved.values()) / 2**20)
"""


def step_cost(
    radius: int, axes: str, looped: bool, batch: int, args: argparse.Namespace
) -> dict[str, float]:
    """Best-of-``repeats`` training step seconds (forward + backward) and the MiB of tensors
    autograd keeps for the backward pass (what grows with ``|V|``), in a fresh process."""
    cmd = [sys.executable, "-c", TIMING_CODE, str(radius), axes, "1" if looped else "0",
           str(batch), str(args.threads), str(args.repeats)]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()
    return {"seconds": float(out[0]), "saved_mib": float(out[1])}


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(20, 4.2))
    for name, color in (("fernn", "C0"), ("grnn", "C1")):
        m = result["models"][name]
        axes[0].semilogy(range(1, 31), m["mse_per_step_30"], color=color, label=m["label"])
        axes[0].semilogy(range(1, 11), m["mse_per_step_10"], "o", color=color, ms=3)
        grid = result["velocity_grid"]
        axes[1].semilogy(grid["vx"], [m["velocity_mse"][str(v)] for v in grid["vx"]], "o-",
                         color=color, label=m["label"])  # fmt: skip
        curve = result["training_curves"].get(name) or []
        if curve:
            axes[2].semilogy([p["cpu_seconds"] for p in curve], [p["val_mse"] for p in curve],
                             color=color, label=m["label"])  # fmt: skip
    axes[0].axvline(10.5, color="gray", ls=":")
    axes[0].set(xlabel="predicted step", ylabel="MSE", title="next-frame MSE (trained on 10)")
    axes[1].axvspan(-1, 1, color="gray", alpha=0.15, label="training |vx|")
    axes[1].set(xlabel="test velocity vx (vy = 0)", ylabel="MSE", title="velocity generalization")
    axes[2].set(xlabel="training CPU seconds", ylabel="validation MSE", title="training curves")
    cost = result["step_cost"]
    sizes = sorted({c["velocities"] for c in cost})
    for k, batch in enumerate(sorted({c["batch"] for c in cost}, reverse=True)):
        for looped, style in ((False, "o-"), (True, "s--")):
            pts = [c for c in cost if c["looped"] == looped and c["batch"] == batch]
            axes[3].loglog([c["velocities"] for c in pts], [c["seconds"] for c in pts], style,
                           color=f"C{k}", label=f"batch {batch}, " + ("per-velocity loop" if looped else "vectorised"))  # fmt: skip
    axes[3].set(xlabel="|V|", ylabel="s / training step", xticks=sizes, xticklabels=sizes,
                title=f"step time ({result['threads']} thread, C = 16, 10+10 frames)")  # fmt: skip
    for ax in axes:
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


@torch.no_grad()
def plot_frames(fernn: Any, grnn: Any, args: argparse.Namespace, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    inputs, targets = next(iter(test_data(args, frames=10, velocity=(2, 0))))
    rows = [("truth", targets[0])] + [
        (name, m.model(inputs[:1], 10)[0].clamp(0, 1)) for name, m in (("FERNN", fernn), ("G-RNN", grnn))
    ]  # fmt: skip
    fig, axes = plt.subplots(3, 10, figsize=(13, 4.2))
    for r, (name, frames) in enumerate(rows):
        for t in range(10):
            axes[r, t].imshow(frames[t, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            axes[r, t].set_xticks([])
            axes[r, t].set_yticks([])
            if t == 0:
                axes[r, t].set_ylabel(name)
            if r == 0:
                axes[r, t].set_title(f"t+{t + 1}", fontsize=8)
    fig.suptitle("predicted frames at the unseen velocity (vx, vy) = (2, 0), test digits")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


RECORDED = 8


def record(models: dict[str, Any]) -> None:
    """Write each model's test MSE on the first ``RECORDED`` sequences of the default test set."""
    from symco.plugins.fernn.lightning import recorded_test_mse

    path = ROOT / "plugins" / "fernn" / "models" / "recorded.json"
    out = {name: recorded_test_mse(m, RECORDED) for name, m in models.items()}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}: {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fernn", default="fernn-mnist", help="model name or checkpoint")
    parser.add_argument("--grnn", default="grnn-mnist", help="model name or checkpoint")
    parser.add_argument("--sequences", type=int, default=500, help="test sequences per set")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--timing-batch", default="32,4", help="batch sizes timed")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--sizes", default="0xy,1x,2x,1xy,2xy", help="velocity sets timed: radius+axes"
    )
    parser.add_argument("--runs", default=str(ROOT / "runs"), help="where the training runs are")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--record",
        action="store_true",
        help=f"only write the shipped models' MSE on the first {RECORDED} test sequences to "
        "plugins/fernn/models/recorded.json (what tests/plugins/fernn reproduces)",
    )
    parser.add_argument("--out", default=str(HERE / "results" / "fernn.json"))
    args = parser.parse_args()
    if args.quick:
        args.sequences, args.repeats, args.sizes = 20, 1, "0xy,1x"
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    models = {"fernn": load(args.fernn), "grnn": load(args.grnn)}
    if args.record:
        return record({args.fernn: models["fernn"], args.grnn: models["grnn"]})
    result: dict[str, Any] = {
        "machine": {"cpu": platform.processor() or platform.machine(), "torch": torch.__version__},
        "threads": args.threads, "sequences": args.sequences, "quick": args.quick,
        "timing_batch": args.timing_batch, "models": {}, "training_curves": {},
        "velocity_grid": {"vx": [-2, -1, 0, 1, 2], "vy": 0},
    }  # fmt: skip
    for name, module in models.items():
        hp = module.hparams
        label = "G-RNN" if hp["radius"] == 0 else f"FERNN (V: |vx| <= {hp['radius']})"
        entry: dict[str, Any] = {"label": label, "hparams": dict(hp),
                                 "parameters": sum(p.numel() for p in module.parameters())}  # fmt: skip
        entry["mse_per_step_10"] = per_step_mse(module, test_data(args, frames=10, velocity=None))
        entry["mse_per_step_30"] = per_step_mse(module, test_data(args, frames=30, velocity=None))
        entry["velocity_mse"] = {
            str(vx): sum(per_step_mse(module, test_data(args, frames=10, velocity=(vx, 0)))) / 10
            for vx in result["velocity_grid"]["vx"]
        }
        result["models"][name] = entry
        result["training_curves"][name] = training_curve(Path(args.runs) / name)
        print(f"{label}: evaluated ({time.perf_counter() - t0:.0f} s)", flush=True)
    cost = []
    for batch in (int(b) for b in args.timing_batch.split(",")):
        for spec in args.sizes.split(","):
            radius, axes = int(spec[0]), spec[1:]
            for looped in (False, True) if radius > 0 else (False,):
                c = step_cost(radius, axes, looped, batch, args)
                cost.append({"radius": radius, "axes": axes, "looped": looped, "batch": batch,
                             "velocities": (2 * radius + 1) ** (2 if axes == "xy" else 1), **c})  # fmt: skip
                print(f"timed batch {batch}, |V| = {cost[-1]['velocities']}, looped={looped}: {c}",
                      flush=True)  # fmt: skip
    result["step_cost"] = cost
    f, g = result["models"]["fernn"], result["models"]["grnn"]
    result["ratios"] = {
        "grnn_over_fernn_mse_at_vx2": g["velocity_mse"]["2"] / f["velocity_mse"]["2"],
        "grnn_over_fernn_mse_at_vx-2": g["velocity_mse"]["-2"] / f["velocity_mse"]["-2"],
        "fernn_better_at_every_step_of_30": all(
            a < b for a, b in zip(f["mse_per_step_30"], g["mse_per_step_30"])
        ),
        "loop_over_vectorised_step": {
            f"batch {c['batch']}, |V| {c['velocities']}": next(
                d["seconds"] for d in cost
                if d["looped"] and d["velocities"] == c["velocities"] and d["batch"] == c["batch"]
            ) / c["seconds"]
            for c in cost if not c["looped"] and c["radius"] > 0
        },
    }  # fmt: skip
    result["seconds"] = time.perf_counter() - t0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(result, indent=1))
    plot(result, out.with_suffix(".png"))
    plot_frames(models["fernn"], models["grnn"], args, out.with_name(out.stem + "_frames.png"))
    rows = [[m["label"], f"{sum(m['mse_per_step_10']) / 10:.2e}", f"{sum(m['mse_per_step_30']) / 30:.2e}",
             *(f"{m['velocity_mse'][str(v)]:.2e}" for v in result["velocity_grid"]["vx"])]
            for m in result["models"].values()]  # fmt: skip
    head = ["model", "MSE 10", "MSE 30", *(f"vx={v}" for v in result["velocity_grid"]["vx"])]
    print(format_table(head, rows))
    rows = [[c["batch"], c["velocities"], "loop" if c["looped"] else "vectorised",
             f"{c['seconds']:.3f}", f"{c['saved_mib']:.0f}"] for c in cost]  # fmt: skip
    print(format_table(["batch", "|V|", "cell", "s/step", "saved MiB"], rows))
    print(json.dumps(result["ratios"], indent=1))
    print(f"wrote {out}, {out.with_suffix('.png')} and {out.stem}_frames.png")


if __name__ == "__main__":
    main()
