"""N-body (EGNN paper's charged 5-body): Linear, GNN, EGNN, FA-GNN and the soft-equivariance GNN
trained for the same CPU-time budget each; test MSE at the best validation, samples/s.

    python benchmarks/nbody.py                       # ~10 min: 60 s of training per run
    python benchmarks/nbody.py --budget 600          # closer to a real (still short) comparison
    python benchmarks/nbody.py --runs egnn gnn --budget 30 --out /tmp/nbody.json

Writes ``benchmarks/results/nbody.json`` (after every run, atomically) with the EGNN paper's
published test MSEs beside ours (theirs: 10,000 epochs, ~5.5 CPU hours for EGNN; ours: the
budget), and two plots: validation MSE against training CPU time for every run
(``nbody_mse.png``) and the soft model's weights λ_j and penalties R_j on the external-field
data (``nbody_soft.png``).

Runs (``--runs``): ``linear``, ``gnn``, ``egnn``, ``fa_gnn`` on the plain data, and
``gnn-field``, ``egnn-field``, ``soft_gnn-field``, ``rpp-field`` and ``soft_rpp-field`` on the
data with a constant field along z (``--field``; O(3) broken to O(2) about z): the EGNN cannot
represent the push along z itself (it sees the field only through what it did to the input
velocities), the GNN and the soft GNN can; ``rpp`` is an EGNN plus a learned multiple of a
GNN's displacement (:class:`~symco.plugins.nbody.residual_pathway.ResidualPathway`), ``soft_rpp``
the same with the regularizer on its free pathway. The budget is the CPU time of the training
steps (``time.process_time`` of this single-threaded process; validation excluded), so a loaded
machine slows every run alike.
Data: 3,000 / 2,000 / 2,000 samples by default, simulated once under ``--data-dir`` (resumable).
The soft model's weights are tuned once, after ``--tune-frac`` of the budget (from the minima
over the preceding quarter of it), as Kim et al. tune at 2,000 of 8,000 epochs.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from symco.core.dataset import atomic_path
from symco.core.table import format_table

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PUBLISHED = {  # test MSE, Satorras et al. (ICML 2021), Table 2
    "Linear": 0.0819, "SE(3)-Transformer": 0.0244, "TFN": 0.0155, "GNN": 0.0107,
    "Radial Field": 0.0104, "EGNN": 0.0071,
}  # fmt: skip
LR = {"linear": 1e-2, "gnn": 1e-3, "egnn": 5e-4, "fa_gnn": 1e-3, "soft_gnn": 1e-3, "rpp": 5e-4,
      "soft_rpp": 5e-4}  # fmt: skip
RUNS = ("linear", "gnn", "egnn", "fa_gnn", "gnn-field", "egnn-field", "soft_gnn-field",
        "rpp-field", "soft_rpp-field")  # fmt: skip


def build(model: str, hidden: int, layers: int) -> nn.Module:
    from symco.plugins.nbody.egnn import EGNN
    from symco.plugins.nbody.frame_averaging import FrameAveraging
    from symco.plugins.nbody.gnn import GNN
    from symco.plugins.nbody.linear import Linear
    from symco.plugins.nbody.residual_pathway import ResidualPathway

    if model == "linear":
        return Linear()
    if model == "egnn":
        return EGNN(hidden, layers)
    if model in ("gnn", "soft_gnn"):
        return GNN(hidden, layers)
    if model == "fa_gnn":
        return FrameAveraging(GNN(hidden, layers))
    if model in ("rpp", "soft_rpp"):  # EGNN + alpha * GNN displacement
        return ResidualPathway(EGNN(hidden, layers), GNN(hidden, layers, residual=False))
    raise SystemExit(f"unknown model {model!r}")


def load_data(args: argparse.Namespace, field: float) -> dict[str, dict[str, Tensor]]:
    from symco.plugins.nbody.data import NBodyDataModule

    dm = NBodyDataModule(data_dir=args.data_dir, train_size=args.train, val_size=args.val,
                         test_size=args.test, field=(0.0, 0.0, field), seed=args.seed,
                         workers=args.workers)  # fmt: skip
    start = time.perf_counter()
    dm.prepare_data()
    dm.setup("fit")
    print(f"data {dm.spec.name}: {time.perf_counter() - start:.1f} s", flush=True)
    return dm.splits


def evaluate(model: nn.Module, split: dict[str, Tensor], batch: int = 500) -> float:
    from symco.plugins.nbody.lightning import mse

    model.eval()
    total, n = 0.0, len(split["loc"])
    with torch.no_grad():
        for i in range(0, n, batch):
            part = {k: v[i : i + batch] for k, v in split.items()}
            total += float(mse(model, part)) * len(part["loc"])
    model.train()
    return total / n


def train_run(
    name: str, data: dict[str, dict[str, Tensor]], args: argparse.Namespace, seed: int | None = None
) -> dict[str, Any]:
    """Train one model for ``args.budget`` CPU seconds; the curve and the best-validation test.

    ``seed`` seeds the weights, the batch order and the regularizer's group elements (default
    ``args.seed``; the data are always those of ``args.seed``)."""
    from symco.plugins.nbody.data import Batches
    from symco.plugins.nbody.lightning import penalized, rotate_inputs, rotate_outputs
    from symco.plugins.nbody.soft import SoftEquivariance

    model_name = name.removesuffix("-field")
    seed = args.seed if seed is None else seed
    torch.manual_seed(seed)
    model = build(model_name, args.hidden, args.layers)
    soft = model_name.startswith("soft_")
    reg = SoftEquivariance(tune_step=None, seed=seed, batch=args.soft_batch) if soft else None
    fn, is_model = penalized(model)
    opt = torch.optim.Adam(model.parameters(), lr=LR[model_name], weight_decay=1e-12)
    batches = Batches(data["train"], args.batch_size, shuffle=True, seed=seed)
    curve: list[list[float]] = []
    trace: list[dict[str, float]] = []
    best: tuple[float, dict[str, Tensor] | None, int] = (float("inf"), None, 0)
    cpu = 0.0  # training CPU seconds
    step = samples = 0
    next_eval = 0.0

    def check(step: int) -> None:
        nonlocal best
        val = evaluate(model, data["val"])
        curve.append([round(cpu, 3), step, val])
        if val < best[0]:
            best = (val, copy.deepcopy(model.state_dict()), step)

    check(0)
    while cpu < args.budget:
        for batch in batches:
            t0 = time.process_time()
            inputs = (batch["loc"], batch["vel"], batch["charges"])
            pred = model(*inputs)
            loss = ((pred - batch["target"]) ** 2).mean()
            if reg is not None:
                penalties = reg.penalties(fn, inputs, reg.step_generator(step),
                                          act_input=rotate_inputs, act_output=rotate_outputs,
                                          outputs=pred if is_model else None)  # fmt: skip
                loss = loss + reg.weighted(penalties)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if reg is not None:
                if reg.tune_step is None and cpu >= 0.02 * args.budget and step >= 10:
                    rate = step / cpu  # steps per CPU second: tune after tune_frac of the budget
                    reg.tune_step = max(step + 2, int(args.tune_frac * args.budget * rate))
                    reg.window = max(1, reg.tune_step // 4)
                reg.observe(step, penalties.detach())
                if step % 10 == 0:
                    trace.append({"step": step, "cpu_s": round(cpu, 3),
                                 **reg.log_values(penalties)})  # fmt: skip
            cpu += time.process_time() - t0
            step += 1
            samples += len(batch["loc"])
            if cpu >= next_eval:
                check(step)
                next_eval = cpu + args.eval_every
            if cpu >= args.budget:
                break
    check(step)
    assert best[1] is not None
    model.load_state_dict(best[1])
    out: dict[str, Any] = {
        "model": model_name, "data": "field" if name.endswith("-field") else "plain",
        "steps": step, "epochs": round(samples / len(data["train"]["loc"]), 2),
        "train_cpu_s": round(cpu, 2), "samples_per_s": round(samples / max(cpu, 1e-9), 1),
        "ms_per_step": round(1000 * cpu / max(step, 1), 2),
        "parameters": sum(p.numel() for p in model.parameters()),
        "best_val_mse": best[0], "best_step": best[2], "test_mse": evaluate(model, data["test"]),
        "curve": curve, "seed": seed,
    }  # fmt: skip
    if reg is not None:
        out["soft"] = {"groups": reg.names, "tune_step": reg.tune_step, "trace": trace,
                       "final_lambdas": dict(zip(reg.names, reg.lambdas.tolist()))}  # fmt: skip
    return out


def ranking(run: dict[str, Any]) -> list[str]:
    """The candidate groups of a soft run, largest tuned weight first."""
    lambdas = run["soft"]["final_lambdas"]
    return sorted(lambdas, key=lambda g: -lambdas[g])


def soft_seeds(
    payload: dict[str, Any], data: dict[str, dict[str, Tensor]], args: argparse.Namespace
) -> None:
    """More seeds of the soft model on the field data: the λ ranking per seed, and how often the
    preserved subgroup (O(2) about the field's axis z) comes first."""
    name = next(n for n in args.runs if n.startswith("soft_"))
    runs = [payload["runs"][name]]
    for seed in range(args.seed + 1, args.seed + args.soft_seeds):
        run = train_run(name, data, args, seed=seed)
        run.pop("curve")
        run["soft"].pop("trace")
        runs.append(run)
        print(f"{name} seed {seed}: ranking {ranking(run)}, test {run['test_mse']:.5f}",
              flush=True)  # fmt: skip
        summary = [{"seed": r["seed"], "ranking": ranking(r), "test_mse": r["test_mse"],
                    "final_lambdas": r["soft"]["final_lambdas"]} for r in runs]  # fmt: skip
        payload["soft_seeds"] = {
            "run": name,
            "per_seed": summary,
            "o2-z_first": sum(r["ranking"][0] == "o2-z" for r in summary),
            "seeds": len(summary),
        }
        write(args.out, payload)


def write(out: Path, payload: dict[str, Any]) -> None:
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(payload, indent=1) + "\n")


def plot(out: Path, runs: dict[str, dict[str, Any]]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []

    def save(fig: Any, path: Path) -> None:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(path)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, run in runs.items():
        t, _, val = zip(*run["curve"])
        ax.plot(t, val, label=f"{name} (test {run['test_mse']:.4f})",
                linestyle="--" if run["data"] == "field" else "-")  # fmt: skip
    ax.axhline(PUBLISHED["EGNN"], color="grey", linewidth=0.8, linestyle=":")
    ax.set(xlabel="training CPU time (s)", ylabel="validation MSE", yscale="log",
           title="n-body: validation MSE vs training time (dashed: field data)")  # fmt: skip
    ax.legend(fontsize=8)
    save(fig, out.with_name(out.stem + "_mse.png"))
    name, soft = next(((n, r) for n, r in runs.items() if "soft" in r), ("", None))
    if soft is not None and soft["soft"]["trace"]:
        trace, groups = soft["soft"]["trace"], soft["soft"]["groups"]
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
        steps = [row["step"] for row in trace]
        for g in groups:
            a1.plot(steps, [row[f"soft/lambda_{g}"] for row in trace], label=g,
                    drawstyle="steps-post")  # fmt: skip
            a2.plot(steps, [row[f"soft/R_{g}"] for row in trace], label=g, linewidth=0.8)
        if soft["soft"]["tune_step"] is not None:
            for a in (a1, a2):
                a.axvline(soft["soft"]["tune_step"], color="grey", linestyle=":")
        a1.set(xlabel="step", ylabel="λ_j", yscale="log", title=f"{name}, field along z: weights")
        a2.set(xlabel="step", ylabel="R_j", yscale="log", title="equivariance penalties")
        a1.legend()
        save(fig, out.with_name(out.stem + "_soft.png"))
    return written


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", nargs="+", default=list(RUNS), choices=RUNS)
    p.add_argument("--budget", type=float, default=60.0, help="training CPU seconds per run")
    p.add_argument("--eval-every", type=float, default=5.0, help="CPU seconds between validations")
    p.add_argument("--train", type=int, default=3000)
    p.add_argument("--val", type=int, default=2000)
    p.add_argument("--test", type=int, default=2000)
    p.add_argument("--field", type=float, default=0.5, help="field along z of the *-field runs")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--tune-frac", type=float, default=0.25, help="soft model: tune λ here")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--soft-seeds",
        type=int,
        default=5,
        help="the first soft run of --runs is trained with this many seeds (args.seed, "
        "args.seed + 1, ...): how often the tuned weights rank the preserved O(2) about z first",
    )
    p.add_argument(
        "--soft-batch",
        type=int,
        default=None,
        help="soft runs: penalties on this many examples of each batch (default all)",
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--workers", type=int, default=None, help="simulation processes")
    p.add_argument("--data-dir", default="data/nbody")
    p.add_argument("--out", type=Path, default=RESULTS / "nbody.json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    datasets: dict[str, dict[str, dict[str, Tensor]]] = {}
    machine = {"platform": platform.platform(), "torch": torch.__version__,
               "threads": torch.get_num_threads(), "cpus": os.cpu_count()}  # fmt: skip
    payload: dict[str, Any] = {
        "published_test_mse": PUBLISHED,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": machine,
        "runs": {},
    }
    loaders: dict[str, Callable[[], dict[str, dict[str, Tensor]]]] = {
        "plain": lambda: load_data(args, 0.0), "field": lambda: load_data(args, args.field),
    }  # fmt: skip
    for name in args.runs:
        kind = "field" if name.endswith("-field") else "plain"
        if kind not in datasets:
            datasets[kind] = loaders[kind]()
        start = time.perf_counter()
        run = train_run(name, datasets[kind], args)
        run["wall_s"] = round(time.perf_counter() - start, 1)
        payload["runs"][name] = run
        write(args.out, payload)
        print(f"{name}: test MSE {run['test_mse']:.5f} (best val {run['best_val_mse']:.5f} at "
              f"step {run['best_step']} of {run['steps']}), {run['samples_per_s']:.0f} samples/s",
              flush=True)  # fmt: skip
    if any(n.startswith("soft_") for n in args.runs) and args.soft_seeds > 1:
        soft_seeds(payload, datasets["field"], args)
    rows = [[n, r["data"], r["steps"], f"{r['epochs']:.1f}", f"{r['ms_per_step']:.1f}",
             f"{r['samples_per_s']:.0f}", f"{r['best_val_mse']:.5f}", f"{r['test_mse']:.5f}"]
            for n, r in payload["runs"].items()]  # fmt: skip
    print(format_table(["run", "data", "steps", "epochs", "ms/step", "samples/s", "best val",
                        "test MSE"], rows))  # fmt: skip
    print("published (10,000 epochs): " + ", ".join(f"{k} {v}" for k, v in PUBLISHED.items()))
    for path in plot(args.out, payload["runs"]):
        print(f"wrote {path}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
