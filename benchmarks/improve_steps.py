"""Improvement steps per second, this tree against an earlier commit, side by side in one run.

    python benchmarks/improve_steps.py                     # before = 56e3392 (issue 27's start)
    python benchmarks/improve_steps.py --before REF --out benchmarks/results/improve_steps.json

Issue 27 made solutions one packed ``(B, L)`` int64 tensor from the decoder through every
improver (no NumPy round trip per step) and made a ``Chain`` keep each member's state across
rounds (2-opt keeps its distance matrix). This measures what that buys: the shipped ``bq-tsp``
and ``bq-cvrp`` decode greedy solutions of seeded uniform instances, then ``rrc`` and
``rrc+2opt`` (built as ``symco evaluate --improve`` builds them: a random D4 view per segment,
kNN 100 at 1,000 nodes) run a fixed number of steps; steps per second = steps / the improver's
wall time. The earlier commit runs in a subprocess from a ``git worktree`` of it (its own ``symco`` first on
``PYTHONPATH``), on the same instances, seeds and thread count, alternating with this tree
(``--repeats`` times each; the best run of each is reported, the others too).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = [  # (model, nodes, batch, steps, knn, improvers)
    ("bq-tsp", 100, 32, 12, None, ("rrc", "rrc+2opt")),
    ("bq-tsp", 1000, 4, 6, 100, ("rrc",)),  # 2-opt to convergence at 1,000 nodes: minutes
    ("bq-cvrp", 100, 32, 6, None, ("rrc",)),
]


def measure(threads: int) -> list[dict]:
    """Steps/s of every (case, improver) with whatever ``symco`` this process imports."""
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    from symco.core.decoding import greedy
    from symco.core.manager import build_registry, get_plugin_manager, shipped_models
    from symco.core.training.checkpoints import load_model

    pm = get_plugin_manager()
    registry = build_registry(pm)
    try:  # this tree: the core builds improvers
        from symco.core.evaluation import improvers_for

        def build(module, names: list[str], knn: int | None) -> list:
            return improvers_for(registry, module, names, knn)
    except ImportError:  # before: the BQ plugin did
        from symco.plugins.bq.evaluate import build_improver

        def build(module, names: list[str], knn: int | None) -> list:
            return [build_improver(registry, module, n, knn) for n in names]

    from symco.core.improver import Chain

    rows = []
    for model, n, b, steps, knn, improvers in CASES:
        module = load_model(model, shipped_models(pm), registry).module
        inst = module.problem.generate(b, n, rng=np.random.default_rng([7, n]))
        tensors = {k: torch.as_tensor(v) for k, v in inst.items()}
        start = greedy(module.policy, module.reducer, tensors, knn=knn)
        for spec in improvers:
            members = build(module, spec.split("+"), knn)
            imp = members[0] if len(members) == 1 else Chain(members)
            t0 = time.perf_counter()
            res = imp.improve(
                tensors, start, generator=torch.Generator().manual_seed(0), steps=steps
            )
            wall = time.perf_counter() - t0
            costs = np.asarray(res.costs, dtype=float)
            rows.append({
                "model": model, "n": n, "batch": b, "improver": spec, "steps": res.steps, "seconds": wall,
                "steps_per_s": res.steps / wall, "mean_cost": float(costs.mean()),
                "mean_start_cost": float(np.asarray(res.start_costs, dtype=float).mean()),
            })  # fmt: skip
    return rows


def run_before(ref: str, threads: int) -> list[dict]:
    """:func:`measure` in a subprocess importing ``symco`` from a worktree of ``ref``."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), ref],
                       check=True, capture_output=True)  # fmt: skip
        try:
            path = Path(tmp) / "path"
            path.mkdir()
            (path / "symco").symlink_to(tree)  # the package-dir layout: the tree is `symco`
            env = dict(os.environ, PYTHONPATH=str(path))
            out = subprocess.run(
                [sys.executable, __file__, "--worker", "--threads", str(threads)],
                env=env, cwd=tmp, check=True, capture_output=True, text=True,
            )  # fmt: skip
            return json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                           check=False, capture_output=True)  # fmt: skip


def run_after(threads: int) -> list[dict]:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", "--threads", str(threads)],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="56e3392", help="git ref measured as 'before'")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/improve_steps.json"))
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(measure(args.threads)))
        return
    runs: dict[str, list[list[dict]]] = {"before": [], "after": []}
    for _ in range(args.repeats):  # alternate, so drift in machine load hits both
        runs["before"].append(run_before(args.before, args.threads))
        runs["after"].append(run_after(args.threads))
    table = []
    for i, r in enumerate(runs["after"][0]):
        n, b = r["n"], r["batch"]
        best = {k: max(run[i]["steps_per_s"] for run in runs[k]) for k in runs}
        row = runs["after"][0][i]
        table.append({
            "model": row["model"], "n": n, "batch": b, "improver": row["improver"],
            "steps_per_s_before": best["before"], "steps_per_s_after": best["after"],
            "speedup": best["after"] / best["before"],
            "all_before": [run[i]["steps_per_s"] for run in runs["before"]],
            "all_after": [run[i]["steps_per_s"] for run in runs["after"]],
            "mean_cost_before": runs["before"][0][i]["mean_cost"],
            "mean_cost_after": row["mean_cost"],
        })  # fmt: skip
        print(f"{row['model']} n={n} B={b} {row['improver']:9s} steps/s before {best['before']:7.2f}  "
              f"after {best['after']:7.2f}  x{best['after'] / best['before']:.2f}")  # fmt: skip
    result = {
        "benchmark": "improve_steps", "before": args.before, "threads": args.threads,
        "repeats": args.repeats, "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(), "rows": table,
    }  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(args.out).with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    tmp.replace(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
