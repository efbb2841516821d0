"""Anytime curves of improvement at inference: gap vs seconds per instance.

    python benchmarks/improve.py           # -> benchmarks/results/improve.json + improve.png
    python benchmarks/improve.py --quick   # few instances, short limits: a smoke run

For each set (seeded uniform test sets labelled once by LKH for TSP and HGS for CVRP, under
benchmarks/data/, and the CVRPLIB file X-n101-k25 with its best known solution), in one run:

* ``greedy +rrc``: the shipped model's greedy tours, then random re-construction with the same
  model until the largest time limit; the improver's trace gives the whole curve;
* ``greedy +rrc+2opt`` (TSP): re-construction and 2-opt taking turns;
* ``greedy +2opt`` (TSP): 2-opt to its local optimum (one point);
* ``ortools``: OR-Tools guided local search given each time limit (one run per limit);
* the official BQ-NCO checkpoint's points measured on this machine earlier (REFERENCE.md).

Times are seconds per instance: the model's batch wall time divided by its instances
(construction included), on ``--threads`` torch threads; OR-Tools solves one instance per process
on ``--workers`` processes, each with the whole time limit.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bq_problems import test_set

from symco.core.dataset import atomic_path, load_dataset
from symco.core.manager import load_registry, shipped_models
from symco.core.table import format_table

HERE = Path(__file__).resolve().parent
# (model, size, instances, knn, batch, reference, time limits per instance, improvers)
CASES: list[tuple[str, int, int, int | None, int, str, list[float], list[str]]] = [
    ("bq-tsp", 100, 32, None, 32, "lkh", [0.5, 1, 2, 5], ["rrc", "rrc+2opt", "2opt"]),
    ("bq-tsp", 200, 16, None, 16, "lkh", [1, 2, 4, 8], ["rrc", "rrc+2opt", "2opt"]),
    ("bq-tsp", 500, 4, 100, 4, "lkh", [2, 5, 10, 20], ["rrc", "rrc+2opt", "2opt"]),
    ("bq-tsp", 1000, 4, 100, 4, "lkh", [5, 10, 30, 60], ["rrc", "rrc+2opt", "2opt"]),
    ("bq-cvrp", 100, 16, None, 16, "hgs", [1, 2, 5, 10], ["rrc"]),
    ("bq-cvrp", 200, 8, None, 8, "hgs", [2, 5, 10, 20], ["rrc"]),
]
FILES = [("bq-cvrp", HERE / "instances" / "X-n101-k25.vrp", [1, 2, 5, 10], ["rrc"])]
# the official BQ-NCO checkpoint on this machine (REFERENCE.md): (gap %, s/instance)
OFFICIAL = {
    ("tsp", 100): {"beam16": (0.27, 5.8)},
    ("tsp", 200): {"beam16": (1.12, 8.6)},
    ("tsp", 1000): {"greedy knn250": (8.6, 6.3)},
    ("cvrp", 100): {"greedy": (4.29, None), "beam16": (1.66, 5.5)},
    ("cvrp", 200): {"greedy": (6.50, None)},
}
TARGETS = {("tsp", 100): [(1.0, 1.0), (0.25, 5.0)], ("tsp", 200): [(1.0, 8.0)],
           ("tsp", 1000): [(3.0, 60.0)], ("cvrp", 100): [(3.0, 10.0)],
           ("cvrp", 200): [(4.0, 20.0)]}  # fmt: skip
"""Issue 17's targets: (gap %, within seconds per instance)."""


def improver_chain(registry: Any, module: Any, spec: str, knn: int | None) -> Any:
    from symco.core.improver import Chain

    members = []
    for name in spec.split("+"):
        cls = registry.get("improver", name, module.problem.name)
        extra = {"policy": module.policy, "reducer": module.reducer} if cls.needs_policy else {}
        members.append(cls(module.problem, knn=knn, **extra))
    return members[0] if len(members) == 1 else Chain(members)


def curve(trace: list[tuple[float, np.ndarray]], built: float, b: int, refs: np.ndarray,
          problem: Any, limits: list[float]) -> list[dict[str, float]]:  # fmt: skip
    """The gap reached by each time limit (s/instance), from an improver's trace."""
    points = []
    for limit in limits:
        reached = [c for t, c in trace if (built + t) / b <= limit * 1.02]
        if reached:
            gap = float(np.mean(problem.gap(reached[-1], refs)))
            points.append({"s_per_instance": limit, "gap_percent": gap})
    return points


def run_case(registry: Any, models: dict[str, Any], name: str, items: list[Any],
             knn: int | None, limits: list[float], improvers: list[str], workers: int,
             seed: int, ortools: bool = True) -> dict[str, Any]:  # fmt: skip
    from symco.core.decoding import greedy
    from symco.plugins.bq.evaluate import solve_items

    module = models[name].module
    problem = module.problem
    refs = np.array([it.reference for it in items])
    arrays = {k: np.concatenate([it.instance[k] for it in items]) for k in items[0].instance}
    tensors = {k: torch.as_tensor(v) for k, v in arrays.items()}
    b, n = len(items), problem.size(items[0].instance)
    t0 = time.perf_counter()
    sols = greedy(module.policy, module.reducer, tensors, knn=knn if knn and n > knn else None)
    built = time.perf_counter() - t0
    greedy_gap = float(np.mean(problem.gap(problem.objective(arrays, sols), refs)))
    out: dict[str, Any] = {"problem": problem.name, "size": n, "instances": b, "knn": knn,
                           "greedy": {"gap_percent": greedy_gap, "s_per_instance": built / b},
                           "methods": {}}  # fmt: skip
    print(f"{problem.name}{n}: greedy {greedy_gap:.2f}% in {built / b:.3f} s/inst", flush=True)
    for spec in improvers:
        imp = improver_chain(registry, module, spec, knn)
        limit = None if imp.stops else max(limits) * b - built
        res = imp.improve(tensors, sols, generator=torch.Generator().manual_seed(seed),
                          time_limit=limit)  # fmt: skip
        problem.check_solution(arrays, res.solutions)
        if imp.stops:  # a local search: one point, where it stopped
            gap = float(np.mean(problem.gap(res.costs, refs)))
            pts = [{"s_per_instance": (built + res.seconds) / b, "gap_percent": gap}]
        else:
            pts = curve(res.trace, built, b, refs, problem, limits)
        out["methods"][f"greedy +{spec}"] = {"points": pts, "steps": res.steps}
        print(f"  +{spec}: " + ", ".join(f"{p['gap_percent']:.3f}% @ {p['s_per_instance']:.2f}s"
                                         for p in pts), flush=True)  # fmt: skip
    cls = registry.solver_class(problem.name, "ortools")
    pts = []
    for limit in limits if ortools else []:
        solve_items(cls, {"seed": 0, "time_limit": limit}, items, workers, "ortools")
        costs = np.array([it.results["ortools"]["cost"] for it in items])
        pts.append(
            {"s_per_instance": limit, "gap_percent": float(np.mean(problem.gap(costs, refs)))}
        )
    if ortools:
        out["methods"]["ortools gls"] = {"points": pts}
        print("  ortools: " + ", ".join(f"{p['gap_percent']:.3f}% @ {p['s_per_instance']}s"
                                        for p in pts), flush=True)  # fmt: skip
    official = OFFICIAL.get((problem.name, n), {})
    out["official_bq_nco"] = {
        k: {"gap_percent": g, "s_per_instance": s} for k, (g, s) in official.items()
    }
    out["targets"] = [
        {"gap_percent": g, "within_s": s, "met_by": sorted(
            m for m, r in out["methods"].items() if m != "ortools gls" and any(
                p["gap_percent"] <= g and p["s_per_instance"] <= s * 1.02 for p in r["points"]))}
        for g, s in TARGETS.get((problem.name, n), [])
    ]  # fmt: skip
    return out


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 4
    rows = (len(results) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.3 * rows), squeeze=False)
    for ax, r in zip(axes.flat, results):
        for m, data in r["methods"].items():
            xs = [p["s_per_instance"] for p in data["points"]]
            ys = [p["gap_percent"] for p in data["points"]]
            ax.plot(xs, ys, "o-" if len(xs) > 1 else "s", label=m, ms=4)
        for m, p in r["official_bq_nco"].items():
            if p["s_per_instance"]:
                ax.plot(
                    [p["s_per_instance"]], [p["gap_percent"]], "k*", ms=9, label=f"official {m}"
                )
        ax.plot([r["greedy"]["s_per_instance"]], [r["greedy"]["gap_percent"]], "kx", label="greedy")
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=0.1)
        ax.set_title(
            f"{r.get('name', r['problem'] + str(r['size']))} ({r['instances']} inst)", fontsize=9
        )
        ax.set_xlabel("s / instance")
        ax.set_ylabel("gap %")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(results) :]:
        ax.axis("off")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="OR-Tools processes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default=None, help="comma-separated sets, e.g. tsp100,cvrp100")
    parser.add_argument(
        "--improvers", default=None, help="comma-separated, e.g. rrc+2opt (default: each set's)"
    )
    parser.add_argument("--no-ortools", action="store_true", help="skip the OR-Tools curves")
    parser.add_argument("--out", default=str(HERE / "results" / "improve.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from symco.core.training.checkpoints import load_model
    from symco.plugins.bq.evaluate import Item

    pm, registry = load_registry()
    models = {m: load_model(m, shipped_models(pm), registry) for m in ("bq-tsp", "bq-cvrp")}
    only = set(args.only.split(",")) if args.only else None
    results = []
    for name, size, num, knn, _, solver, limits, improvers in CASES:
        problem = models[name].module.problem
        if only and f"{problem.name}{size}" not in only:
            continue
        if args.quick:
            num, limits = min(num, 2), [x / 10 for x in limits]
        cached = sorted(
            (HERE / "data").glob(f"{problem.name}{size}_n*_seed{2024 + size}_{solver}.npz")
        )
        path = cached[-1] if cached else test_set(registry, problem, size, num, solver,
                                                  1.0 if solver == "hgs" else None, os.cpu_count() or 1)  # fmt: skip
        ds = load_dataset(path, problem)
        items = [Item(f"{path.name}:{i}", problem, problem.select(ds.instances, i),
                      float(ds.objectives[i])) for i in range(min(num, len(ds)))]  # fmt: skip
        improvers = args.improvers.split(",") if args.improvers else improvers
        results.append(run_case(registry, models, name, items, knn, limits, improvers,
                                args.workers, args.seed, not args.no_ortools))  # fmt: skip
        save(results, args)
    for name, file, limits, improvers in FILES:
        problem = models[name].module.problem
        if (only and file.stem not in only) or not file.exists():
            continue
        inst, known = problem.read(file)  # the best known cost, from NAME.sol
        if known is None:
            continue
        ref = float(np.asarray(known).reshape(-1)[0])
        limits = [x / 10 for x in limits] if args.quick else limits
        item = Item(file.stem, problem, inst, ref)
        res = run_case(registry, models, name, [item], None, limits, improvers, 1, args.seed)
        # the official points and targets are of uniform random sets, not of this file
        results.append(res | {"name": file.stem, "official_bq_nco": {}, "targets": []})
    save(results, args)
    rows = [[r.get("name", f"{r['problem']}{r['size']}"), m, p["s_per_instance"], p["gap_percent"]]
            for r in results for m, d in r["methods"].items() for p in d["points"]]  # fmt: skip
    print(format_table(["set", "method", "s/inst", "gap %"], rows))
    print(f"wrote {args.out} and {Path(args.out).with_suffix('.png')}")


def save(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """The JSON and the plot of the sets measured so far (after every set: a crash keeps them)."""
    out = {"machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                       "torch": torch.__version__}, "quick": args.quick, "results": results}  # fmt: skip
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(out, indent=1))
    plot(results, Path(args.out).with_suffix(".png"))


if __name__ == "__main__":
    main()
