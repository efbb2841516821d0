"""BQ-NCO beyond TSP (CVRP, OP, KP, or any problem with a BQ model): quality and speed.

    python benchmarks/bq_problems.py quality --ckpt bq-cvrp   # -> benchmarks/results/bq_cvrp_quality.json
    python benchmarks/bq_problems.py quality --ckpt bq-kp --sizes 100 200 500 1000
    python benchmarks/bq_problems.py speed --ckpt bq-op        # -> benchmarks/results/bq_op_speed.json

Quality: greedy (and beam-16 on the first --beam-instances) of a model on seeded test sets of
each size, labelled once by the problem's reference solver (``--reference``, default: the
strongest installed) into benchmarks/data/, beside the problem's baselines in the same run; for
CVRP also the CVRPLIB X instances of benchmarks/instances (up to 300 customers by default). Nothing here
names a problem: the model's problem says what its baselines and files are.
Speed: training samples/s (batch 64, the reducer's own sub-problem sampling) and greedy decoding
ms/instance, fp32 vs bf16 autocast.
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
SHARED = HERE / "instances"  # the real instances shipped with the repository
HEADER = ["problem", "n", "inst", "method", "mean objective", "gap %", "s/inst"]


def test_set(
    registry: Any,
    problem: Any,
    size: int,
    num: int,
    solver: str,
    time_limit: float | None,
    workers: int,
) -> Path:
    """A seeded test set of ``num`` instances of ``size``, labelled by ``solver`` (built once)."""
    from symco.core.labels import DataSpec, build_dataset

    out = HERE / "data" / f"{problem.name}{size}_n{num}_seed{2024 + size}_{solver}.npz"
    if not out.exists():
        options: dict[str, Any] = {"seed": 0}
        if time_limit:
            options["time_limit"] = time_limit
        spec = DataSpec(
            problem.name, size, num, 2024 + size, problem.distributions[0], solver, options, 16
        )
        cls = registry.solver_class(problem.name, solver)
        build_dataset(problem, spec, out, solver_cls=cls, workers=workers)
    return out


def _rows(items: list[Any], methods: list[str], results: list[dict[str, Any]]) -> list[list[Any]]:
    from symco.core.evaluation import summary_rows

    rows = summary_rows(items, methods)
    for r in rows:
        results.append({"size": r[1], "instances": r[2], "method": r[3], "mean_objective": r[4],
                        "mean_gap_percent": r[5], "s_per_instance": r[6]})  # fmt: skip
    print(format_table(HEADER, rows), flush=True)
    return rows


def quality(args: argparse.Namespace) -> dict[str, Any]:
    from symco.core.evaluation import Item, run_methods
    from symco.core.manager import shipped_models
    from symco.core.solver import resolve_solver
    from symco.core.training.checkpoints import load_model

    pm, registry = load_registry()
    model = load_model(args.ckpt, shipped_models(pm), registry)
    module, name = model.module, model.name
    problem = module.problem
    rows: list[list[Any]] = []
    results: list[dict[str, Any]] = []
    for size in args.sizes:
        num = args.num if size <= 200 else args.num_large
        ref = resolve_solver(pm, registry, problem, args.reference, size).name
        ds = load_dataset(
            test_set(registry, problem, size, num, ref, args.reference_time_limit, args.workers),
            problem,
        )
        items = [
            Item(
                f"{problem.name}{size}:{i}",
                problem,
                problem.select(ds.instances, i),
                float(ds.objectives[i]),
            )
            for i in range(num)
        ]
        knn = args.knn if size > 200 else None
        methods = run_methods(module, name, registry, items, ["greedy"], knn=knn, batch_size=args.batch_size,
                              baselines=True, baseline_time_limit=1.0, workers=args.workers)  # fmt: skip
        beams = [d for d in args.decodes if d != "greedy"]
        if beams and size <= 200:  # beam search costs W times greedy: first --beam-instances only
            methods[1:1] = run_methods(module, name, registry, items[: args.beam_instances], beams, knn=knn,
                                       batch_size=args.batch_size, baselines=False,
                                       baseline_time_limit=1.0, workers=args.workers)  # fmt: skip
        print(f"\n{problem.name}{size}: reference = {ref}")
        rows += _rows(items, methods, results)
    files = sorted(f for f in SHARED.glob("*") if problem.can_read(f)) if SHARED.is_dir() else []
    items = []
    for f in files:
        inst, refv = problem.read(f)
        if problem.size(inst) <= args.max_file_size:
            items.append(Item(f.stem, problem, inst, float(refv[0]) if refv is not None else None))
    if items:
        methods = run_methods(module, name, registry, items, ["greedy", *args.decodes[1:]], knn=None, batch_size=1,
                              baselines=True, baseline_time_limit=1.0, workers=args.workers)  # fmt: skip
        trows = []
        for m in methods:
            gaps = {
                it.name: float(problem.gap(it.results[m]["cost"], it.reference)) for it in items
            }
            trows.append(
                [
                    f"files <= {args.max_file_size}",
                    len(items),
                    m,
                    float(np.mean(list(gaps.values()))),
                    float(np.max(list(gaps.values()))),
                ]
            )
            results.append({"size": "files", "instances": len(items), "method": m,
                            "mean_gap_percent": trows[-1][3], "per_instance": gaps})  # fmt: skip
        print(format_table(["set", "inst", "method", "mean gap %", "max gap %"], trows))
    print("\nsummary (gap: % worse than the reference; decode times per instance within a batch)")
    print(format_table(HEADER, rows))
    return {"model": args.ckpt, "problem": problem.name, "knn": args.knn, "results": results}


def speed(args: argparse.Namespace) -> dict[str, Any]:
    from symco.core.decoding import greedy
    from symco.core.manager import shipped_models
    from symco.core.training.checkpoints import load_model
    from symco.plugins.bq.lightning import imitation_loss

    pm, registry = load_registry()
    model = load_model(args.ckpt, shipped_models(pm), registry)
    problem, red, pol = model.module.problem, model.module.reducer, model.module.policy
    ref = _solve_some(registry, problem, args.sizes[0], 64)
    results = []
    for bf16 in (False, True):
        opt = torch.optim.Adam(pol.parameters(), 1e-5)
        gen = torch.Generator().manual_seed(0)
        pol.train()
        n, start = 0, 0.0
        for it in range(args.train_steps + 1):
            if it == 1:
                n, start = 0, time.perf_counter()
            batch = red.expand(ref[0], ref[1], generator=gen)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss, _ = imitation_loss(pol, batch)
            loss.backward()
            opt.step()
            opt.zero_grad()
            n += len(ref[1])
        rate = n / (time.perf_counter() - start)
        pol.eval()
        for size in args.sizes:
            inst = {
                k: torch.as_tensor(v)
                for k, v in problem.generate(
                    args.decode_instances, size, rng=np.random.default_rng(1)
                ).items()
            }
            t0 = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                greedy(pol, red, inst, knn=args.knn if size > 200 else None)
            ms = 1000 * (time.perf_counter() - t0) / args.decode_instances
            results.append(
                {
                    "bf16": bf16,
                    "train_samples_per_s": rate,
                    "size": size,
                    "greedy_ms_per_instance": ms,
                }
            )
    print(format_table(["bf16", "train samples/s", "n", "greedy ms/inst"],
                       [[r["bf16"], r["train_samples_per_s"], r["size"], r["greedy_ms_per_instance"]] for r in results]))  # fmt: skip
    return {"model": args.ckpt, "problem": problem.name, "results": results}


def _solve_some(
    registry: Any, problem: Any, size: int, num: int
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """``num`` instances labelled by the problem's fastest non-heuristic solver (training batches)."""
    inst = problem.generate(num, size, rng=np.random.default_rng(0))
    solvers = [s for s in registry.solver_classes(problem.name) if s.available() and not s.heuristic
               and (s.max_size or size) >= size]  # fmt: skip
    solver = min(solvers, key=lambda s: s.strength)(time_limit=0.2)
    sols = [solver.solve(problem.select(inst, i)) for i in range(num)]
    return {k: torch.as_tensor(v) for k, v in inst.items()}, torch.as_tensor(
        problem.pack_solutions(sols)
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--ckpt", required=True)
    q.add_argument("--sizes", type=int, nargs="+", default=[100, 200])
    q.add_argument("--num", type=int, default=128, help="instances per size up to 200")
    q.add_argument("--num-large", type=int, default=16, help="instances per size above 200")
    q.add_argument("--decodes", nargs="+", default=["greedy", "beam:16"])
    q.add_argument("--beam-instances", type=int, default=32)
    q.add_argument("--knn", type=int, default=100, help="kNN for sizes above 200")
    q.add_argument(
        "--reference", default=None, help="reference solver (default: strongest installed)"
    )
    q.add_argument("--reference-time-limit", type=float, default=None)
    q.add_argument("--max-file-size", type=int, default=300)
    q.add_argument("--batch-size", type=int, default=128)
    q.add_argument("--workers", type=int, default=2)
    s = sub.add_parser("speed")
    s.add_argument("--ckpt", required=True)
    s.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    s.add_argument("--knn", type=int, default=100)
    s.add_argument("--train-steps", type=int, default=10)
    s.add_argument("--decode-instances", type=int, default=16)
    for p in (q, s):
        p.add_argument(
            "--out", default=None, help="JSON path (default: results/bq_<problem>_<what>.json)"
        )
        p.add_argument("--threads", type=int, default=2, help="torch threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    report = quality(args) if args.what == "quality" else speed(args)
    report["meta"] = {"machine": platform.machine(), "cpus": os.cpu_count(), "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "argv": vars(args)}  # fmt: skip
    out = (
        Path(args.out)
        if args.out
        else HERE / "results" / f"bq_{report['problem']}_{args.what}.json"
    )
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
