"""BQ-NCO on TSP: quality (gaps of a model next to baselines) and speed (training, decoding).

    python benchmarks/bq_tsp.py quality --ckpt bq-tsp            # writes benchmarks/results/bq_tsp_quality.json
    python benchmarks/bq_tsp.py speed                            # writes benchmarks/results/bq_tsp_speed.json
    python benchmarks/bq_tsp.py compare --ckpt NEW.ckpt --against bq-tsp   # ... bq_tsp_compare.json

Quality: greedy and beam-16 on 128 uniform TSP100 and TSP200 instances and greedy/beam on 16
TSP500 and TSP1000 instances (kNN), against 1-run LKH references, beside farthest insertion and
OR-Tools GLS (1 s), all in one run. Test sets are generated once (`symco data`, seed 2024+size)
into benchmarks/data/ and reused.
Compare: how a stage's model is picked without test data — greedy tour lengths of two models on
the same fresh validation instances (seed 79, no references needed), paired per instance.
Speed: training samples/s (batch 64, BQ sub-path sampling) and greedy decoding ms/instance at
TSP100 and TSP1000, fp32 vs bf16 autocast, for the paper-size and the CPU-size models. Beside
each training rate: the matmul GFLOP per sample and the ceiling this CPU's fp32 GEMM rate puts
on samples/s (what a step made only of matmuls at full GEMM speed would reach).
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
    from symco.core.evaluation import Item, run_methods, summary_rows
    from symco.core.manager import shipped_models
    from symco.core.training.checkpoints import load_model

    pm, registry = load_registry()
    model = load_model(args.ckpt, shipped_models(pm), registry)
    module, name = model.module, model.name
    tsp = module.problem
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
        greedy_first = [d for d in args.decodes if d == "greedy"]
        methods = run_methods(module, name, registry, items, greedy_first, knn=knn, batch_size=args.batch_size,
                              baselines=True, baseline_time_limit=1.0, workers=args.workers)  # fmt: skip
        beams = [d for d in args.decodes if d != "greedy"] if size in args.beam_sizes else []
        if beams:  # beam search on the first --beam-instances only (it costs W times greedy)
            methods[len(greedy_first):len(greedy_first)] = run_methods(
                module, name, registry, items[: args.beam_instances], beams, knn=knn, batch_size=args.batch_size,
                baselines=False, baseline_time_limit=1.0, workers=args.workers)  # fmt: skip
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
        methods = run_methods(module, name, registry, items, args.decodes, knn=None, batch_size=8,
                              baselines=True, baseline_time_limit=1.0, workers=args.workers)  # fmt: skip
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


def _train_rate(
    red: Any, pol: Any, coords: torch.Tensor, tours: torch.Tensor, steps: int, bf16: bool
) -> float:
    """Training samples/s at batch 64 (imitation loss, Adam step), after one warm-up step."""
    from symco.plugins.bq.lightning import imitation_loss

    opt = torch.optim.Adam(pol.parameters(), 1e-4)
    gen = torch.Generator().manual_seed(0)
    n, start = 0, 0.0
    for it in range(steps + 1):
        if it == 1:
            n, start = 0, time.perf_counter()
        idx = torch.randint(0, len(coords), (64,), generator=gen)
        batch = red.expand({"coords": coords[idx]}, tours[idx], generator=gen)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss, _ = imitation_loss(pol, batch)
        loss.backward()
        opt.step()
        opt.zero_grad()
        n += 64
    return n / (time.perf_counter() - start)


def _train_gflop_per_sample(preset: dict[str, int], sizes: str, n: int = 100) -> float:
    """Matmul GFLOP of one training sample (forward + backward = 3x forward), averaged over the
    sub-problem sizes ``expand`` draws: linear layers ``2 M P`` (``P`` MACs per token) and
    attention ``2 * 2 M^2 d`` per layer (scores and weighted sum)."""
    from symco.plugins.bq.common import subproblem_size

    d, ff, layers = preset["dim"], preset["ff_dim"], preset["num_layers"]
    per_token = layers * (d * 3 * d + d * d + 2 * d * ff)  # MACs: qkv, out, feed-forward
    gen = torch.Generator().manual_seed(0)
    m = torch.tensor([float(subproblem_size(4, n + 1, sizes, gen)) for _ in range(20000)])
    fwd = 2 * per_token * m + layers * 2 * 2 * m**2 * d
    return float(3 * fwd.mean()) / 1e9


def _gemm_gflops(preset: dict[str, int], tokens: int = 64 * 52) -> float:
    """Sustained fp32 GEMM rate of this CPU on the model's feed-forward shape, forward and the two
    backward products: the ceiling of any training step made of such matmuls."""
    d, ff = preset["dim"], preset["ff_dim"]
    gen = torch.Generator().manual_seed(0)
    x, w = torch.randn(tokens, d, generator=gen), torch.randn(d, ff, generator=gen)
    g = torch.randn(tokens, ff, generator=gen)
    for _ in range(3):
        x @ w, g @ w.T, x.T @ g
    reps, t0 = 20, time.perf_counter()
    for _ in range(reps):
        x @ w, g @ w.T, x.T @ g
    return reps * 3 * 2 * tokens * d * ff / (time.perf_counter() - t0) / 1e9


def _decode_ms(
    red: Any, pol: Any, tsp: Any, size: int, num: int, knn: int | None, bf16: bool
) -> float:
    from symco.core.decoding import greedy

    inst = {
        k: torch.as_tensor(v)
        for k, v in tsp.generate(num, size, rng=np.random.default_rng(1)).items()
    }
    pol.eval()
    t0 = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        greedy(pol, red, inst, knn=knn)
    pol.train()
    return 1000 * (time.perf_counter() - t0) / num


def speed(args: argparse.Namespace) -> dict[str, Any]:
    from symco.plugins.bq.policy import BQTransformer
    from symco.plugins.bq.tsp import BQTSPReducer
    from symco.problems.tsp.solvers import FarthestInsertionTSP

    _, registry = load_registry()
    tsp = registry.problem("tsp")
    inst100 = tsp.generate(256, 100, rng=np.random.default_rng(0))
    # any valid tours cost the same to train on; farthest insertion makes them fast
    tours = torch.as_tensor(
        np.stack([FarthestInsertionTSP().solve(tsp.select(inst100, i)) for i in range(256)])
    )
    coords = torch.as_tensor(inst100["coords"])
    paper = dict(num_layers=9, dim=192, heads=12, ff_dim=512)
    cpu = dict(num_layers=5, dim=128, heads=8, ff_dim=256)
    runs = [  # (label, policy, sub-problem sizes, bf16, train steps)
        ("paper 9x192", paper, "uniform", False, args.train_steps),
        ("paper 9x192", paper, "loguniform", False, args.train_steps),
        ("paper 9x192", paper, "uniform", True, 2),
        ("cpu 5x128", cpu, "uniform", False, args.train_steps),
        ("cpu 5x128", cpu, "loguniform", False, args.train_steps),
        ("cpu 5x128", cpu, "uniform", True, 2),
    ]
    rows, results = [], []
    gemm: dict[str, float] = {}  # fp32 GEMM GFLOP/s per model shape, measured once
    runs = [r for r in runs if ("bf16" if r[3] else "fp32") in args.precisions]
    for label, preset, sizes, bf16, steps in runs:
        red = BQTSPReducer(sizes=sizes)
        pol = BQTransformer(red.num_features, red.num_node_types, red.actions_per_node, **preset)
        sps = _train_rate(red, pol, coords, tours, steps, bf16)
        gflop = _train_gflop_per_sample(preset, sizes)
        if label not in gemm:
            gemm[label] = _gemm_gflops(preset)
        ceiling = gemm[label] / gflop  # samples/s if the whole step ran at GEMM speed
        d100 = _decode_ms(red, pol, tsp, 100, 64, None, bf16) if sizes == "uniform" else None
        d1000 = (
            _decode_ms(red, pol, tsp, 1000, 4, 250, bf16)
            if sizes == "uniform" and not bf16
            else None
        )
        prec = "bf16" if bf16 else "fp32"
        rows.append([label, sizes, prec, sps, gflop, ceiling, d100, d1000])
        results.append({"model": label, "subproblem_sizes": sizes, "precision": prec, "train_samples_per_s": sps,
                        "train_gflop_per_sample": gflop, "fp32_gemm_ceiling_samples_per_s": ceiling,
                        "greedy_ms_per_instance_tsp100_batch64": d100,
                        "greedy_ms_per_instance_tsp1000_knn250_batch4": d1000})  # fmt: skip
        print(rows[-1], flush=True)
    print(
        format_table(
            [
                "model",
                "sizes",
                "precision",
                "train samples/s",
                "GFLOP/sample",
                "fp32 GEMM ceiling samples/s",
                "greedy ms/inst TSP100",
                "greedy ms/inst TSP1000 kNN250",
            ],
            rows,
        )
    )
    print("peer (official BQ-NCO code, this CPU): 9-layer training 76 samples/s (batch 64, fp32);"
          " greedy 200 ms/inst TSP100, 6300 ms/inst TSP1000 kNN250 (PerceiverIO checkpoint, batched)")  # fmt: skip
    return {"results": results}


def compare(args: argparse.Namespace) -> dict[str, Any]:
    from symco.core.decoding import greedy
    from symco.core.manager import shipped_models
    from symco.core.training.checkpoints import load_model

    pm, registry = load_registry()
    models = {
        name: load_model(name, shipped_models(pm), registry) for name in (args.against, args.ckpt)
    }
    plan = [(100, 512, None), (200, 128, None), (500, 32, args.knn), (1000, 32, args.knn)]
    rows: list[list[Any]] = []
    results: list[dict[str, Any]] = []
    for size, num, knn in plan:
        if size not in args.sizes:
            continue
        tsp = models[args.against].module.problem
        inst = tsp.generate(num, size, rng=np.random.default_rng(args.seed))  # one set, both models
        batch = {k: torch.as_tensor(v) for k, v in inst.items()}
        lengths = {}
        for name, model in models.items():
            sols = greedy(model.module.policy, model.module.reducer, batch, knn=knn)  # packed
            tours = tsp.unpack_solutions(sols.cpu().numpy())
            lengths[name] = np.asarray(tsp.objective(inst, tours), dtype=float)
        rel = 100 * (lengths[args.ckpt] / lengths[args.against] - 1)  # (num,) percent, <0: shorter
        sem = float(rel.std(ddof=1) / np.sqrt(num))
        shorter = int((rel < 0).sum())
        rows.append([size, num, knn or "-", f"{lengths[args.against].mean():.4f}",
                     f"{lengths[args.ckpt].mean():.4f}", f"{rel.mean():+.2f} ± {sem:.2f}",
                     f"{shorter}/{num}"])  # fmt: skip
        results.append({"n": size, "instances": num, "knn": knn, "mean_diff_percent": float(rel.mean()),
                        "sem_percent": sem, "shorter": shorter,
                        "mean_length": {k: float(v.mean()) for k, v in lengths.items()}})  # fmt: skip
        print(f"  n={size} done", flush=True)
    head = ["n", "inst", "knn", f"A={args.against}", f"B={args.ckpt}", "B vs A %", "B shorter"]
    print(format_table(head, rows))
    print(
        f"greedy tour lengths on fresh instances (seed {args.seed}), paired; ± one standard error"
    )
    return {"results": results, "a": args.against, "b": args.ckpt}


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
    q.add_argument(
        "--beam-instances",
        type=int,
        default=128,
        help="beam search on the first K instances per size",
    )
    q.add_argument("--beam-sizes", type=int, nargs="+", default=[100, 200, 500, 1000],
                   help="sizes that get beam search (it costs W times greedy)")  # fmt: skip
    s = sub.add_parser("speed")
    s.add_argument("--train-steps", type=int, default=10)
    s.add_argument("--precisions", nargs="+", choices=["fp32", "bf16"], default=["fp32", "bf16"],
                   help="bf16 autocast is emulated (slow) on CPUs without AVX512-BF16")  # fmt: skip
    c = sub.add_parser("compare", help="paired greedy tour lengths of two models (validation)")
    c.add_argument("--ckpt", required=True, help="the candidate (B)")
    c.add_argument("--against", default="bq-tsp", help="the model to beat (A)")
    c.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 500, 1000])
    c.add_argument("--knn", type=int, default=100, help="for sizes 500 and 1000")
    c.add_argument("--seed", type=int, default=79, help="instances (not the test sets' seeds)")
    for p in (q, s, c):
        p.add_argument(
            "--out", type=Path, default=None, help="JSON path (default: results/bq_tsp_WHAT.json)"
        )
    args = ap.parse_args()
    torch.set_num_threads(2)
    report = {"quality": quality, "speed": speed, "compare": compare}[args.what](args)
    report["meta"] = {"machine": platform.machine(), "cpus": os.cpu_count(), "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "argv": vars(args)}  # fmt: skip
    out = args.out or HERE / "results" / f"bq_tsp_{args.what}.json"
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(report, indent=1, default=str))  # paths in argv
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
