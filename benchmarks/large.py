"""Generalization at scale: the shipped ``bq-tsp`` on 1,000 to 100,000 nodes, greedy with kNN
views and then the candidate-list local search, with seconds per instance and peak memory.

    python benchmarks/large.py                          # 1k x 4, 10k x 2, 100k x 1
    python benchmarks/large.py --sizes 1000:4 --out /tmp/large.json

Each size runs in a fresh process (``symco evaluate --generate N:K --knn 100 --improve ls
--stages --out ...``), so its peak resident memory (``ru_maxrss``) is its own. References: LKH-3
given ``--reference-time-limit`` seconds per instance below 100,000 nodes (its preprocessing
alone takes too long there), none at 100,000 — those rows report tour lengths only. Seconds per
node of the greedy decoding are reported beside each other to show how decoding cost grows
with ``N``. Results are written after every size, so an interrupted run keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(size: int, num: int, knn: int, ref_limit: float | None, threads: int) -> dict:
    """One size in this process: evaluate, then read the JSONL and the peak memory."""
    from symco.core.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.jsonl"
        argv = ["evaluate", "--ckpt", "bq-tsp", "--generate", f"{size}:{num}", "--knn", str(knn),
                "--improve", "ls", "--stages", "--batch-size", "1", "--threads", str(threads),
                "--workers", "1", "--quiet", "--out", str(out)]  # fmt: skip
        argv += (
            ["--reference", "none"]
            if ref_limit is None
            else ["--reference-time-limit", str(ref_limit)]
        )
        t0 = time.perf_counter()
        code = main(argv)
        wall = time.perf_counter() - t0
        records = [json.loads(line) for line in out.read_text().splitlines()] if code == 0 else []
    rows = []
    for r in records:
        greedy = next(iter(r["baselines"].values()))
        rows.append({"name": r["name"], "greedy_cost": greedy["cost"], "greedy_s": greedy["time_s"],
                     "ls_cost": r["cost"], "ls_s": r["time_s"], "reference": r["reference"]})  # fmt: skip
    return {
        "size": size, "instances": num, "knn": knn, "exit": code, "wall_s": wall,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rows": rows,
    }  # fmt: skip


def summarize(case: dict) -> dict:
    """Means and the spread of the per-instance gaps (where there are references)."""
    import numpy as np

    rows = case["rows"]
    out = {k: case[k] for k in ("size", "instances", "knn", "exit", "wall_s", "peak_mib")}
    for m in ("greedy", "ls"):
        out[f"{m}_cost"] = float(np.mean([r[f"{m}_cost"] for r in rows])) if rows else None
        out[f"{m}_s_per_instance"] = float(np.mean([r[f"{m}_s"] for r in rows])) if rows else None
        gaps = [100 * (r[f"{m}_cost"] / r["reference"] - 1) for r in rows if r["reference"]]
        if gaps:
            out[f"{m}_gap"] = {"mean": float(np.mean(gaps)), "median": float(np.median(gaps)),
                               "max": float(np.max(gaps))}  # fmt: skip
    if rows:
        out["greedy_ms_per_node"] = 1000 * out["greedy_s_per_instance"] / case["size"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000:4,10000:2,100000:1", help="SIZE:NUM,...")
    ap.add_argument("--knn", type=int, default=100)
    ap.add_argument("--reference-time-limit", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/large.json"))
    ap.add_argument("--worker", nargs=2, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        size, num = args.worker
        limit = None if size >= 100_000 else args.reference_time_limit
        print(json.dumps(worker(size, num, args.knn, limit, args.threads)))
        return
    result = {"benchmark": "large", "model": "bq-tsp", "threads": args.threads,
              "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "reference": f"lkh, {args.reference_time_limit:g} s per instance below 100,000 nodes",
              "cases": []}  # fmt: skip
    for part in args.sizes.split(","):
        size, num = (int(x) for x in part.split(":"))
        proc = subprocess.run(
            [sys.executable, __file__, "--worker", str(size), str(num), "--knn", str(args.knn),
             "--threads", str(args.threads), "--reference-time-limit", str(args.reference_time_limit)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        case = summarize(json.loads(proc.stdout.strip().splitlines()[-1]))
        result["cases"].append(case)
        print(json.dumps(case), flush=True)
        tmp = Path(args.out).with_suffix(".json.tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(result, indent=1) + "\n")
        tmp.replace(args.out)  # after every size: an interrupted run keeps what it measured
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
