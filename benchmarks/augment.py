"""Dihedral test-time augmentation: greedy vs greedy + d4 (the 8 symmetries of the unit square).

    python benchmarks/augment.py            # -> benchmarks/results/augment.json (+ .log by tee)
    python benchmarks/augment.py --quick    # fewer instances, for a smoke run

Each instance is decoded as its 8 images in one batch and the best tour kept (POMO's x8
augmentation). Measured on seeded test sets labelled once by the reference solver (LKH for TSP,
HGS for CVRP; built under benchmarks/data/): mean gap and seconds per instance of both methods
in the same run, so the gain is reported with its cost. TSP1000 decodes with kNN 100.
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

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bq_problems import test_set

from symco.core.dataset import atomic_path, load_dataset
from symco.core.manager import load_registry, shipped_models
from symco.core.table import format_table

HERE = Path(__file__).resolve().parent
# (model, size, instances, quick instances, knn, batch size, reference solver)
CASES = [
    ("bq-tsp", 100, 128, 16, None, 64, "lkh"),
    ("bq-tsp", 200, 64, 8, None, 32, "lkh"),
    ("bq-tsp", 1000, 8, 2, 100, 8, "lkh"),
    ("bq-cvrp", 100, 64, 8, None, 64, "hgs"),
    ("bq-cvrp", 200, 32, 8, None, 32, "hgs"),
]


def run_case(
    registry: Any, models: dict[str, Any], case: tuple[Any, ...], quick: bool
) -> list[dict[str, Any]]:
    from symco.core.evaluation import Item, decode_items, summary_rows

    name, size, num, num_quick, knn, batch, solver = case
    module = models[name].module
    problem = module.problem
    n = num_quick if quick else num
    path = test_set(
        registry, problem, size, n, solver, 1.0 if solver == "hgs" else None, os.cpu_count() or 1
    )
    ds = load_dataset(path, problem)
    items = [Item(f"{path.name}:{i}", problem, problem.select(ds.instances, i), float(ds.objectives[i]))
             for i in range(len(ds))]  # fmt: skip
    group = registry.get("group", "square-dihedral")()
    decoder = module.decoder("greedy", knn=knn)
    labels = []
    for augment in (None, group):
        label = f"{name} {decoder.label}" + (f" +{group.short_name}" if augment else "")
        bs = batch if augment is None else max(1, batch // 8)
        t0 = time.perf_counter()
        decode_items(decoder, problem, items, label=label, batch_size=bs, augment=augment)
        print(f"{label} n={size}: {time.perf_counter() - t0:.1f} s", flush=True)
        labels.append(label)
    rows = summary_rows(items, labels)
    print(
        format_table(["problem", "n", "inst", "method", "mean cost", "gap %", "s/inst"], rows),
        flush=True,
    )
    base, aug = rows
    return [{"problem": problem.name, "size": size, "instances": base[2], "knn": knn, "reference": solver,
             "greedy_gap_percent": base[5], "greedy_s_per_instance": base[6],
             "d4_gap_percent": aug[5], "d4_s_per_instance": aug[6],
             "gap_ratio": base[5] / aug[5] if aug[5] else None, "time_ratio": aug[6] / base[6]}]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(HERE / "results" / "augment.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from symco.core.training.checkpoints import load_model

    pm, registry = load_registry()
    models = {m: load_model(m, shipped_models(pm), registry) for m in sorted({c[0] for c in CASES})}
    results = [r for case in CASES for r in run_case(registry, models, case, args.quick)]
    out = {"machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                       "torch": torch.__version__}, "quick": args.quick, "results": results}  # fmt: skip
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
