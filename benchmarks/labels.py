"""Label quality and throughput of the TSP solvers, side by side in one run.

For each size, every solver labels the same instances on ``--workers`` processes; the table shows
instances per second (wall clock) and the mean gap to a 3-run LKH reference (``lkh`` with
``runs=3``), or to the best tour found by any solver when elkai is not installed.

    python benchmarks/labels.py --sizes 100 200 --num 32 --workers 2 --json benchmarks/results/labels.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from symco.core.dataset import atomic_path
from symco.core.labels import Pool
from symco.core.manager import load_registry
from symco.core.table import format_table


def label(
    pool: Pool, solver_cls: Any, options: dict[str, Any], problem: Any, inst: dict[str, np.ndarray]
) -> tuple[np.ndarray, float]:
    """Costs of every instance and the wall-clock seconds for the whole batch."""
    b = len(inst["coords"])
    start = time.perf_counter()
    futs = [pool.submit(solver_cls, options, problem.select(inst, i)) for i in range(b)]
    sols = [f.result()[0] for f in futs]
    wall = time.perf_counter() - start
    problem.check_solution(inst, sols)
    return problem.objective(inst, sols), wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 200])
    ap.add_argument("--num", type=int, nargs="+", default=[32, 16], help="instances per size")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--json", type=Path, default=Path("benchmarks/results/labels.json"))
    args = ap.parse_args()

    _, registry = load_registry()
    tsp = registry.problem("tsp")
    cls = {name: registry.solver_class("tsp", name) for name in registry.names("solver", "tsp")}
    have_lkh = cls["lkh"].available()
    configs = [
        ("lkh (1 run)", "lkh", {"runs": 1}),
        ("ortools GLS 1 s", "ortools", {"time_limit": 1.0}),
        ("ortools GLS 5 s", "ortools", {"time_limit": 5.0}),
        ("hgs (pyvrp)", "hgs", {}),
    ]
    if not have_lkh:
        configs = [c for c in configs if c[1] != "lkh"]
    rows, results = [], []
    with Pool(args.workers) as pool:
        for size, num in zip(args.sizes, args.num + args.num[-1:] * len(args.sizes)):
            inst = tsp.generate(num, size, rng=np.random.default_rng([args.seed, size]))
            costs: dict[str, np.ndarray] = {}
            walls: dict[str, float] = {}
            if have_lkh:
                costs["ref"], walls["ref"] = label(
                    pool, cls["lkh"], {"runs": 3, "seed": 7}, tsp, inst
                )
            for title, name, opts in configs:
                costs[title], walls[title] = label(pool, cls[name], {**opts, "seed": 0}, tsp, inst)
            ref = costs["ref"] if have_lkh else np.min(np.stack(list(costs.values())), axis=0)
            ref_name = "LKH 3 runs" if have_lkh else "best of all"
            for title, _, _ in configs:
                gap = float(np.mean(tsp.gap(costs[title], ref)))
                ips = num / walls[title]
                rows.append(
                    [f"TSP{size}", title, num, ips, gap, float(np.max(tsp.gap(costs[title], ref)))]
                )
                results.append(
                    {
                        "size": size,
                        "solver": title,
                        "instances": num,
                        "instances_per_s": ips,
                        "mean_gap_percent": gap,
                        "reference": ref_name,
                    }
                )
    print(
        f"reference: {'3-run LKH' if have_lkh else 'best tour of any solver'}; {args.workers} worker processes"
    )
    print(format_table(["set", "solver", "n inst", "inst/s", "mean gap %", "max gap %"], rows))
    by = {(r["size"], r["solver"]): r for r in results}
    for size in args.sizes:
        if (size, "lkh (1 run)") in by and (size, "ortools GLS 1 s") in by:
            a, b = by[(size, "lkh (1 run)")], by[(size, "ortools GLS 1 s")]
            print(
                f"TSP{size}: LKH labels {a['instances_per_s'] / b['instances_per_s']:.1f}x faster than OR-Tools 1 s"
                f" and {b['mean_gap_percent'] - a['mean_gap_percent']:.2f} points closer to the reference"
            )
    meta = {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "workers": args.workers,
        "seed": args.seed,
    }
    with atomic_path(args.json) as tmp:
        tmp.write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
