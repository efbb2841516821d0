"""Anytime curves of improvement at inference: gap vs seconds per instance.

    python benchmarks/improve.py           # -> benchmarks/results/improve.json + improve.png
    python benchmarks/improve.py --quick   # few instances, short limits: a smoke run
    python benchmarks/improve.py --official --peer-models DIR --out benchmarks/results/improve_official.json
    python benchmarks/improve.py --stall --out benchmarks/results/improve_stall.json

For each set (seeded uniform test sets labelled once by LKH for TSP and HGS for CVRP, under
benchmarks/data/, and the CVRPLIB file X-n101-k25 with its best known solution), in one run:

* ``greedy +rrc``: the shipped model's greedy tours, then random re-construction with the same
  model until the largest time limit; the improver's trace gives the whole curve;
* ``greedy +rrc+2opt`` (TSP): re-construction and 2-opt taking turns;
* ``greedy +2opt`` (TSP): 2-opt to its local optimum (one point);
* ``ortools``: OR-Tools guided local search given each time limit (one run per limit);
* the official BQ-NCO checkpoint's points measured on this machine earlier (REFERENCE.md).

``--official``: the published BQ-NCO PerceiverIO checkpoints, imported from ``--peer-models``
(``$SYMCO_PEER_MODELS``; a user's own copy, never shipped) with ``symco import-model``, on 64 /
32 / 8 TSP100 / 200 / 1000 and 32 / 16 CVRP100 / 200 instances: greedy, ``greedy +d4``
(every image of the square's dihedral group, best kept), beam search of width 16 (the authors'
decoding, with their weights) and the improvers' curves, in the same run. ``--stall``: the shipped
``bq-tsp`` on the 64 fresh TSP100 instances of ``symco evaluate --generate 100:64`` (seed 0) and
on 64 of seed 1, 5 s per instance.

Times are seconds per instance: the model's batch wall time divided by its instances
(construction included), on ``--threads`` torch threads; OR-Tools solves one instance per process
on ``--workers`` processes, each with the whole time limit. Every point records the mean gap
and the per-instance distribution (median, p90, max): a mean hides the instances that stall.
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


# (model, size, instances, knn, reference solver, time limits per instance, improvers,
#  beam width or None, d4)
OFFICIAL_CASES: list[
    tuple[str, int, int, int | None, str, list[float], list[str], int | None, bool]
] = [
    ("bq-nco-tsp", 100, 64, None, "lkh", [1, 2, 5], ["rrc", "rrc+2opt"], 16, True),
    ("bq-nco-tsp", 200, 32, None, "lkh", [2, 4, 8], ["rrc", "rrc+2opt"], 16, True),
    (
        "bq-nco-tsp",
        1000,
        8,
        248,
        "lkh",
        [10, 30, 60],
        ["rrc+2opt"],
        None,
        False,
    ),  # official kNN 250
    ("bq-nco-cvrp", 100, 32, None, "hgs", [2, 5, 10], ["rrc"], 16, True),
    ("bq-nco-cvrp", 200, 16, None, "hgs", [5, 10, 20], ["rrc"], None, True),
]
OFFICIAL_TARGETS = {("tsp", 100): [(0.05, 5.0)], ("tsp", 200): [(0.3, 8.0)],
                    ("tsp", 1000): [(1.0, 60.0)], ("cvrp", 100): [(1.0, 10.0)],
                    ("cvrp", 200): [(2.0, 20.0)]}  # fmt: skip
"""Issue 26's targets for the official checkpoints: (gap %, within seconds per instance)."""


def improver_chain(registry: Any, module: Any, spec: str, knn: int | None) -> Any:
    """The improvers of ``spec`` (``rrc+2opt``) as ``symco evaluate --improve`` builds them."""
    from symco.core.evaluation import Improvement, improvers_for

    return Improvement(improvers_for(registry, module, spec.split("+"), knn)).improver


def spread(gaps: np.ndarray) -> dict[str, float]:
    """Mean and per-instance distribution of gaps (percent)."""
    return {"gap_percent": float(np.mean(gaps)), "median": float(np.median(gaps)),
            "p90": float(np.percentile(gaps, 90)), "max": float(np.max(gaps))}  # fmt: skip


def curve(trace: list[tuple[float, np.ndarray]], built: float, b: int, refs: np.ndarray,
          problem: Any, limits: list[float]) -> list[dict[str, float]]:  # fmt: skip
    """The gap reached by each time limit (s/instance), from an improver's trace."""
    points = []
    for limit in limits:
        reached = [c for t, c in trace if (built + t) / b <= limit * 1.02]
        if reached:
            points.append({"s_per_instance": limit, **spread(problem.gap(reached[-1], refs))})
    return points


def run_case(registry: Any, models: dict[str, Any], name: str, items: list[Any],
             knn: int | None, limits: list[float], improvers: list[str], workers: int,
             seed: int, ortools: bool = True, beam: int | None = None, augment: bool = False,
             from_d4: bool = False,
             targets: dict[tuple[str, int], list[tuple[float, float]]] = TARGETS,
             ) -> dict[str, Any]:  # fmt: skip
    """One set: greedy (and ``greedy +d4``, ``beam W``), each improver's anytime curve from the
    greedy solutions, OR-Tools at each limit; every point with its gap distribution."""
    from symco.core.decoding import beam_search, decode_augmented, greedy, pad_packed
    from symco.core.evaluation import solve_items
    from symco.core.symmetry import SquareDihedral

    module = models[name].module
    problem = module.problem
    refs = np.array([it.reference for it in items])
    arrays = {k: np.concatenate([it.instance[k] for it in items]) for k in items[0].instance}
    tensors = {k: torch.as_tensor(v) for k, v in arrays.items()}
    b, n = len(items), problem.size(items[0].instance)
    view = knn if knn and n > knn else None

    def unpacked(packed: torch.Tensor) -> list[np.ndarray]:
        """Packed ``(B, L)`` solutions in the problem's NumPy format."""
        return problem.unpack_solutions(packed.cpu().numpy())

    t0 = time.perf_counter()
    sols = greedy(module.policy, module.reducer, tensors, knn=view)  # packed (B, L)
    built = time.perf_counter() - t0
    greedy_pt = {
        "s_per_instance": built / b,
        **spread(problem.gap(problem.objective(arrays, unpacked(sols)), refs)),
    }
    out: dict[str, Any] = {"problem": problem.name, "size": n, "instances": b, "knn": knn,
                           "model": name, "greedy": greedy_pt, "methods": {}}  # fmt: skip
    print(f"{name} {problem.name}{n}: greedy {greedy_pt['gap_percent']:.2f}% in {built / b:.3f} s/inst",
          flush=True)  # fmt: skip

    def decoded(label: str, run: Any, chunk: int) -> tuple[torch.Tensor, float]:
        t = time.perf_counter()
        parts = [run({k: v[i : i + chunk] for k, v in tensors.items()}) for i in range(0, b, chunk)]
        width = max(p.shape[1] for p in parts)
        found = torch.cat([pad_packed(p, width) for p in parts])  # packed (B, L)
        pt = {"s_per_instance": (time.perf_counter() - t) / b,
              **spread(problem.gap(problem.objective(arrays, unpacked(found)), refs))}  # fmt: skip
        out["methods"][label] = {"points": [pt]}
        print(f"  {label}: {pt['gap_percent']:.3f}% (max {pt['max']:.2f}) @ {pt['s_per_instance']:.2f}s",
              flush=True)  # fmt: skip
        return found, pt["s_per_instance"] * b

    start, start_label = sols, "greedy"
    if augment:
        group = SquareDihedral()
        d4 = decoded(
            "greedy +d4",
            lambda t: decode_augmented(
                lambda x: greedy(module.policy, module.reducer, x, knn=view), problem, group, t
            ),
            8,
        )
        if from_d4:  # the improvers start from the d4 solutions, their time counted
            (start, built), start_label = d4, "greedy +d4"
    if beam:
        decoded(f"beam {beam}", lambda t: beam_search(module.policy, module.reducer, problem, t,
                                                       beam, knn=view), 4)  # fmt: skip
    for spec in improvers:
        imp = improver_chain(registry, module, spec, knn)
        limit = None if imp.stops else max(limits) * b - built
        res = imp.improve(tensors, start, generator=torch.Generator().manual_seed(seed),
                          time_limit=limit)  # fmt: skip
        problem.check_solution(arrays, unpacked(res.solutions))
        if imp.stops:  # a local search: one point, where it stopped
            pts = [
                {
                    "s_per_instance": (built + res.seconds) / b,
                    **spread(problem.gap(res.costs, refs)),
                }
            ]
        else:
            pts = curve(res.trace, built, b, refs, problem, limits)
        out["methods"][f"{start_label} +{spec}"] = {"points": pts, "steps": res.steps}
        print(f"  +{spec}: " + ", ".join(
            f"{p['gap_percent']:.3f}% (med {p['median']:.3f}, p90 {p['p90']:.3f}, max {p['max']:.3f}) "
            f"@ {p['s_per_instance']:.2f}s" for p in pts), flush=True)  # fmt: skip
    cls = registry.solver_class(problem.name, "ortools")
    pts = []
    for limit in limits if ortools else []:
        solve_items(cls, {"seed": 0, "time_limit": limit}, items, workers, "ortools")
        costs = np.array([it.results["ortools"]["cost"] for it in items])
        pts.append({"s_per_instance": limit, **spread(problem.gap(costs, refs))})
    if ortools:
        out["methods"]["ortools gls"] = {"points": pts}
        print("  ortools: " + ", ".join(f"{p['gap_percent']:.3f}% @ {p['s_per_instance']}s"
                                        for p in pts), flush=True)  # fmt: skip
    official = OFFICIAL.get((problem.name, n), {}) if targets is TARGETS else {}
    out["official_bq_nco"] = {
        k: {"gap_percent": g, "s_per_instance": s} for k, (g, s) in official.items()
    }
    out["targets"] = [
        {"gap_percent": g, "within_s": s, "met_by": sorted(
            m for m, r in out["methods"].items() if m != "ortools gls" and any(
                p["gap_percent"] <= g and p["s_per_instance"] <= s * 1.02 for p in r["points"]))}
        for g, s in targets.get((problem.name, n), [])
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
    parser.add_argument("--official", action="store_true",
                        help="the imported official BQ-NCO checkpoints (see --peer-models)")  # fmt: skip
    parser.add_argument("--peer-models", default=os.environ.get("SYMCO_PEER_MODELS"),
                        help="folder with tsp_perceiver.best and cvrp_perceiver.best")  # fmt: skip
    parser.add_argument("--from-d4", action="store_true",
                        help="--official: improve the d4-augmented solutions instead of greedy")  # fmt: skip
    parser.add_argument("--stall", action="store_true",
                        help="bq-tsp on evaluate's --generate 100:64 sets (seeds 0, 1), 5 s each")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from symco.core.evaluation import Item
    from symco.core.training.checkpoints import load_model

    pm, registry = load_registry()
    if args.official:
        return official(args, registry)
    if args.stall:
        return stall(args, pm, registry)
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


def labelled_items(registry: Any, problem: Any, size: int, num: int, solver: str) -> list[Any]:
    """The seeded test set of the default benchmark (built and labelled once, cached)."""
    from symco.core.evaluation import Item

    path = test_set(registry, problem, size, num, solver, 1.0 if solver == "hgs" else None,
                    os.cpu_count() or 1)  # fmt: skip
    ds = load_dataset(path, problem)
    return [Item(f"{path.name}:{i}", problem, problem.select(ds.instances, i),
                 float(ds.objectives[i])) for i in range(min(num, len(ds)))]  # fmt: skip


def official(args: argparse.Namespace, registry: Any) -> None:
    """The imported official checkpoints on the sets of :data:`OFFICIAL_CASES`."""
    from symco.core.importers import licence_beside
    from symco.core.training.checkpoints import import_model

    if not args.peer_models or not Path(args.peer_models).is_dir():
        raise SystemExit("--official: give --peer-models DIR (or $SYMCO_PEER_MODELS)")
    peers, models = Path(args.peer_models), {}
    for problem_name in ("tsp", "cvrp"):
        src = peers / f"{problem_name}_perceiver.best"
        out = HERE / "data" / f"bq-nco-{problem_name}.pt"
        out.parent.mkdir(exist_ok=True)
        importer = registry.get("importer", "bq-nco")()
        loaded, _ = import_model(importer, src, registry.problem(problem_name), out, registry,
                                 licence_beside(src))  # fmt: skip
        models[f"bq-nco-{problem_name}"] = loaded
    only = set(args.only.split(",")) if args.only else None
    results = []
    for name, size, num, knn, solver, limits, improvers, beam, d4 in OFFICIAL_CASES:
        problem = models[name].module.problem
        if only and f"{problem.name}{size}" not in only:
            continue
        if args.quick:
            num, limits, beam = min(num, 2), [x / 10 for x in limits], None
        items = labelled_items(registry, problem, size, num, solver)
        improvers = args.improvers.split(",") if args.improvers else improvers
        results.append(run_case(registry, models, name, items, knn, limits, improvers, args.workers,
                                args.seed, ortools=False, beam=beam and not args.from_d4,
                                augment=d4 or args.from_d4, from_d4=args.from_d4,
                                targets=OFFICIAL_TARGETS))  # fmt: skip
        save(results, args)
    print(f"wrote {args.out}")


def stall(args: argparse.Namespace, pm: Any, registry: Any) -> None:
    """bq-tsp on the instances of ``symco evaluate --generate 100:64`` (seed 0, the set the
    stall was found on, and seed 1, a fresh one), 5 s per instance, LKH references."""
    from symco.core.evaluation import Item, solve_items
    from symco.core.training.checkpoints import load_model

    models = {"bq-tsp": load_model("bq-tsp", shipped_models(pm), registry)}
    problem = models["bq-tsp"].module.problem
    num = 4 if args.quick else 64
    results = []
    for seed in (0, 1):
        inst = problem.generate(num, 100, rng=np.random.default_rng([seed, 100]))  # = --generate
        items = [Item(f"tsp100-seed{seed}:{i}", problem, problem.select(inst, i), None)
                 for i in range(num)]  # fmt: skip
        cache = HERE / "data" / f"stall_tsp100_n{num}_seed{seed}_lkh.npy"
        if cache.exists():
            refs = np.load(cache)
        else:
            solve_items(registry.solver_class("tsp", "lkh"), {"seed": 0}, items, 2, "lkh")
            refs = np.array([it.results["lkh"]["cost"] for it in items])
            cache.parent.mkdir(exist_ok=True)
            np.save(cache, refs)
        for it, ref in zip(items, refs):
            it.reference = float(ref)
        improvers = args.improvers.split(",") if args.improvers else ["rrc", "rrc+2opt"]
        res = run_case(registry, models, "bq-tsp", items, None, [1.0, 2.0, 5.0], improvers, 2,
                       args.seed, ortools=False, targets={})  # fmt: skip
        results.append(res | {"name": f"tsp100 --generate seed {seed}"})
        save(results, args)
    print(f"wrote {args.out}")


def save(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """The JSON and the plot of the sets measured so far (after every set: a crash keeps them)."""
    out = {"machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                       "torch": torch.__version__}, "quick": args.quick, "results": results}  # fmt: skip
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(out, indent=1))
    plot(results, Path(args.out).with_suffix(".png"))


if __name__ == "__main__":
    main()
