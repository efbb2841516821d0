"""BQ-NCO on TSP: quality (gaps of a model next to baselines) and speed (training, decoding).

    python benchmarks/bq_tsp.py quality --ckpt bq-tsp            # writes benchmarks/results/bq_tsp_quality.json
    python benchmarks/bq_tsp.py speed                            # writes benchmarks/results/bq_tsp_speed.json

Quality: greedy and beam-16 on 128 uniform TSP100 and TSP200 instances and greedy/beam on 16
TSP500 and TSP1000 instances (kNN), against 1-run LKH references, beside farthest insertion and
OR-Tools GLS (1 s), all in one run. Test sets are generated once (`symco data`, seed 2024+size)
into benchmarks/data/ and reused.
Speed: training samples/s (batch 64, BQ sub-path sampling) and greedy decoding ms/instance at
TSP100 and TSP1000, fp32 vs bf16 autocast, for the paper-size and the CPU-size models.
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
import torch

from symco.core.dataset import atomic_path, load_dataset
from symco.core.manager import load_registry
from symco.core.table import format_table

HERE = Path(__file__).resolve().parent


def test_set(registry: Any, size: int, num: int, workers: int) -> Path:
    from symco.core.labels import DataSpec, build_dataset

    out = HERE / "data" / f"tsp{size}_n{num}_seed{2024 + size}.npz"
    if not out.exists():
        tsp = registry.problem("tsp")
        spec = DataSpec("tsp", size, num, 2024 + size, "uniform", "lkh", {"seed": 0}, 16)
        build_dataset(
            tsp, spec, out, solver_cls=registry.solver_class("tsp", "lkh"), workers=workers
        )
    return out


def quality(args: argparse.Namespace) -> dict[str, Any]:
    from symco.plugins.bq.evaluate import Item, decode_items, solve_items, summary_rows
    from symco.plugins.bq.models import all_models, load_model

    pm, registry = load_registry()
    model = load_model(args.ckpt, all_models(pm))
    tsp = model.problem
    rows: list[list[Any]] = []
    results: list[dict[str, Any]] = []
    plan = [(100, 128, None), (200, 128, None), (500, 16, args.knn), (1000, 16, args.knn)]
    for size, num, knn in plan:
        if size not in args.sizes:
            continue
        ds = load_dataset(test_set(registry, size, num, args.workers), tsp)
        items = [
            Item(f"tsp{size}:{i}", tsp, tsp.select(ds.instances, i), float(ds.objectives[i]))
            for i in range(num)
        ]
        methods = []
        for decode in args.decodes:
            label = f"bq {decode}" + (f" knn{knn}" if knn else "")
            bs = args.batch_size if decode == "greedy" else max(1, args.batch_size // 8)
            decode_items(model, items, decode, knn=knn, batch_size=bs, label=label)
            methods.append(label)
        for name in tsp.baselines:
            solve_items(
                registry.solver_class("tsp", name),
                {"seed": 0, "time_limit": 1.0},
                items,
                args.workers,
                name,
            )
            methods.append(name)
        for r in summary_rows(items, methods):
            rows.append(r)
            results.append({"size": r[1], "instances": r[2], "method": r[3], "mean_cost": r[4],
                            "mean_gap_percent": r[5], "s_per_instance": r[6]})  # fmt: skip
        print(
            format_table(
                ["problem", "n", "inst", "method", "mean cost", "gap %", "s/inst"],
                rows[-len(methods) :],
            ),
            flush=True,
        )
    tsplib = HERE / "data" / "tsplib"
    if tsplib.is_dir() and not args.no_tsplib:  # python benchmarks/fetch_tsplib.py
        items = []
        for f in sorted(tsplib.glob("*.tsp")):
            inst, ref = tsp.read(f)
            items.append(Item(f.stem, tsp, inst, float(ref[0]) if ref is not None else None))
        methods = []
        for decode in args.decodes:
            decode_items(model, items, decode, knn=None, batch_size=1, label=f"bq {decode}")
            methods.append(f"bq {decode}")
        for name in tsp.baselines:
            solve_items(
                registry.solver_class("tsp", name),
                {"seed": 0, "time_limit": 1.0},
                items,
                args.workers,
                name,
            )
            methods.append(name)
        trows = []
        for m in methods:
            gaps = [float(tsp.gap(it.results[m]["cost"], it.reference)) for it in items]
            trows.append(
                ["tsplib 100-200", len(items), m, float(np.mean(gaps)), float(np.max(gaps))]
            )
            results.append({"size": "tsplib", "instances": len(items), "method": m, "mean_gap_percent": float(np.mean(gaps)),
                            "per_instance": {it.name: float(tsp.gap(it.results[m]["cost"], it.reference)) for it in items}})  # fmt: skip
        print(format_table(["set", "inst", "method", "mean gap %", "max gap %"], trows))
    print(
        "\nreference: LKH-3 (1 run); TSPLIB: proven optima; decode times are per instance within a batch"
    )
    print(format_table(["problem", "n", "inst", "method", "mean cost", "gap %", "s/inst"], rows))
    return {"model": args.ckpt, "knn": args.knn, "results": results}


def speed(args: argparse.Namespace) -> dict[str, Any]:
    from symco.plugins.bq.decode import greedy
    from symco.plugins.bq.lightning import build_components, imitation_loss

    _, registry = load_registry()
    tsp = registry.problem("tsp")
    rng = np.random.default_rng(0)
    presets = {"paper (9x192)": dict(num_layers=9, dim=192, heads=12, ff_dim=512),
               "cpu (5x128)": dict(num_layers=5, dim=128, heads=8, ff_dim=256)}  # fmt: skip
    inst100 = tsp.generate(256, 100, rng=rng)
    from symco.problems.tsp.solvers import FarthestInsertionTSP

    # any valid tours give the same training cost; farthest insertion is fast
    tours = torch.as_tensor(
        np.stack([FarthestInsertionTSP().solve(tsp.select(inst100, i)) for i in range(256)])
    )
    coords = torch.as_tensor(inst100["coords"])
    rows, results = [], []
    for label, preset in presets.items():
        _, red, pol = build_components("tsp", "bq", "transformer", {}, preset)
        opt = torch.optim.Adam(pol.parameters(), 1e-4)
        for prec in ("fp32", "bf16"):
            auto = dict(device_type="cpu", dtype=torch.bfloat16, enabled=prec == "bf16")
            gen = torch.Generator().manual_seed(0)
            n, start = 0, 0.0
            for it in range(args.train_steps + 2):
                if it == 2:
                    n, start = 0, time.perf_counter()
                idx = torch.randint(0, 256, (64,), generator=gen)
                batch = red.expand({"coords": coords[idx]}, tours[idx], generator=gen)
                with torch.autocast(**auto):
                    loss, _ = imitation_loss(pol, batch)
                loss.backward()
                opt.step()
                opt.zero_grad()
                n += 64
            train_sps = n / (time.perf_counter() - start)
            dec = {}
            pol.eval()
            for size, num, knn in ((100, 64, None), (1000, 4, 250)):
                inst = {
                    k: torch.as_tensor(v)
                    for k, v in tsp.generate(num, size, rng=np.random.default_rng(1)).items()
                }
                t0 = time.perf_counter()
                with torch.autocast(**auto):
                    greedy(pol, red, inst, knn=knn)
                dec[size] = 1000 * (time.perf_counter() - t0) / num
            pol.train()
            rows.append([label, prec, train_sps, dec[100], dec[1000]])
            results.append({"model": label, "precision": prec, "train_samples_per_s": train_sps,
                            "greedy_ms_per_instance_tsp100_batch64": dec[100],
                            "greedy_ms_per_instance_tsp1000_knn250_batch4": dec[1000]})  # fmt: skip
            print(rows[-1], flush=True)
    print(
        format_table(
            [
                "model",
                "precision",
                "train samples/s",
                "greedy ms/inst TSP100",
                "greedy ms/inst TSP1000 kNN250",
            ],
            rows,
        )
    )
    print("peer (official BQ code, this CPU): 9-layer training 76 samples/s (batch 64, fp32);"
          " greedy 200 ms/inst TSP100, 6.3 s/inst TSP1000 kNN250 (PerceiverIO checkpoint)")  # fmt: skip
    return {"results": results}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--ckpt", default="bq-tsp")
    q.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 500, 1000])
    q.add_argument("--decodes", nargs="+", default=["greedy", "beam:16"])
    q.add_argument("--knn", type=int, default=100)
    q.add_argument("--batch-size", type=int, default=128)
    q.add_argument("--workers", type=int, default=2)
    q.add_argument("--no-tsplib", action="store_true", help="skip benchmarks/data/tsplib")
    s = sub.add_parser("speed")
    s.add_argument("--train-steps", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(2)
    report = quality(args) if args.what == "quality" else speed(args)
    report["meta"] = {"machine": platform.machine(), "cpus": os.cpu_count(), "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "argv": vars(args)}  # fmt: skip
    out = HERE / "results" / f"bq_tsp_{args.what}.json"
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
