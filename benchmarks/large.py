"""Generalization at scale: the shipped ``bq-tsp`` / ``bq-cvrp`` on 1,000 to 100,000 nodes —
greedy with kNN views, + the candidate-list local search, + a time-limited improvement — against
time-capped LKH-3 (TSP) and HGS (CVRP) references, with the spread of the gaps, seconds per
instance and peak memory.

    python benchmarks/large.py                                   # every case below
    python benchmarks/large.py --cases tsp:1000:4 --out /tmp/large.json
    python benchmarks/large.py --cases tsp:10000:4:runs/bq-nco-tsp.pt    # another model file

Each case is labelled once, as a user labels a test set (``symco data --solver lkh|hgs
--time-limit S``, cached under ``benchmarks/data/``), then evaluated twice, each in a fresh
process so its peak resident memory (``ru_maxrss``) is its own:

1. ``symco evaluate --instances DATA --knn 100 --improve ls --stages``: the greedy rows and +ls;
2. ``symco evaluate --instances DATA --knn 100 --improve M --time-limit T``: M (``rrc+ls`` for the
   TSP, ``rr`` for the CVRP) within T seconds per instance, decoding included.

Results are written after every case, so an interrupted run keeps what it measured; a case
whose JSON is already in ``--out`` is skipped unless ``--again``. All times are wall-clock on
this machine with ``--threads`` torch threads per process.
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
DATA = ROOT / "benchmarks" / "data"

# per (problem, size): the reference solver and its time limit, the improvement and its limit
SETTINGS: dict[tuple[str, int], dict[str, object]] = {
    ("tsp", 1000): {"ref": "lkh", "ref_s": 30, "improve": "rrc+ls", "limit": 60},
    ("tsp", 10000): {"ref": "lkh", "ref_s": 30, "improve": "rrc+ls", "limit": 300},
    ("tsp", 100000): {"ref": "lkh", "ref_s": 300, "improve": "rrc+ls", "limit": 1800},
    ("cvrp", 1000): {"ref": "hgs", "ref_s": 120, "improve": "rr", "limit": 60},
    ("cvrp", 10000): {"ref": "hgs", "ref_s": 600, "improve": "rr", "limit": 600},
}
DEFAULT_CASES = "tsp:1000:4,tsp:10000:4,tsp:100000:1,cvrp:1000:4,cvrp:10000:2"


def dataset(
    problem: str, size: int, num: int, seed: int, ref: str, ref_s: float
) -> tuple[Path, float]:
    """The labelled test set of a case (made once with ``symco data``) and the reference's
    seconds per instance (measured when it was made, kept beside it)."""
    path = DATA / f"{problem}{size}x{num}_seed{seed}_{ref}{ref_s:g}.npz"
    meta = path.with_suffix(".json")
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "symco.core.cli", "data", "--problem", problem, "--size",
             str(size), "--num", str(num), "--seed", str(seed), "--solver", ref, "--time-limit",
             str(ref_s), "--workers", "1", "--quiet", "--out", str(path)],
            check=True,
        )  # fmt: skip
        meta.write_text(json.dumps({"s_per_instance": (time.perf_counter() - t0) / num}))
    seconds = json.loads(meta.read_text())["s_per_instance"] if meta.exists() else float("nan")
    return path, seconds


def worker(argv: list[str]) -> dict:
    """One evaluation in this process: its JSONL records and its peak memory."""
    from symco.core.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.jsonl"
        t0 = time.perf_counter()
        code = main([*argv, "--quiet", "--out", str(out)])
        wall = time.perf_counter() - t0
        records = [json.loads(line) for line in out.read_text().splitlines()] if code == 0 else []
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"exit": code, "wall_s": wall, "peak_mib": peak, "records": records}


def evaluate(argv: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(argv)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(proc.stdout.strip().splitlines()[-1])


def spread(values: list[float]) -> dict[str, float] | None:
    import numpy as np

    if not values:
        return None
    v = np.asarray(values)
    return {"mean": float(v.mean()), "median": float(np.median(v)),
            "p90": float(np.percentile(v, 90)), "max": float(v.max())}  # fmt: skip


def rows(run: dict, final: str, stages: bool) -> list[dict]:
    """Method rows of one evaluation: the construction (from each record's baselines, with
    ``--stages``) and the final method, with gaps to the records' references."""
    per: dict[str, list[tuple[float, float, float | None]]] = {}
    for r in run["records"]:
        if stages:
            for label, b in r["baselines"].items():
                per.setdefault(label, []).append((b["cost"], b["time_s"], r["reference"]))
        per.setdefault(final, []).append((r["cost"], r["time_s"], r["reference"]))
    out = []
    for label, vals in per.items():
        gaps = [100 * (c / ref - 1) for c, _, ref in vals if ref]
        out.append({"method": label, "cost": sum(c for c, _, _ in vals) / len(vals),
                    "gap_percent": spread(gaps), "s_per_instance": spread([s for _, s, _ in vals]),
                    "peak_mib": run["peak_mib"]})  # fmt: skip
    return out


def case(problem: str, size: int, num: int, model: str, seed: int, knn: int, threads: int) -> dict:
    cfg = SETTINGS.get((problem, size), {"ref": "none", "ref_s": 0, "improve": None, "limit": 0})
    ref, ref_s = str(cfg["ref"]), float(cfg["ref_s"])  # type: ignore[arg-type]
    data, ref_seconds = dataset(problem, size, num, seed, ref, ref_s)
    base = ["evaluate", "--ckpt", model, "--instances", str(data), "--knn", str(knn),
            "--batch-size", "1", "--threads", str(threads), "--workers", "1",
            "--reference", "none"]  # fmt: skip
    out: dict = {"problem": problem, "size": size, "instances": num, "model": model, "knn": knn,
                 "reference": {"solver": ref, "time_limit_s": ref_s,
                               "s_per_instance": ref_seconds}, "methods": []}  # fmt: skip
    first = evaluate([*base, "--improve", "ls", "--stages"])
    out["methods"] += rows(first, "+ls", stages=True)
    if cfg["improve"]:
        limit = float(cfg["limit"])  # type: ignore[arg-type]
        second = evaluate([*base, "--improve", str(cfg["improve"]), "--time-limit", str(limit)])
        out["methods"] += rows(second, f"+{cfg['improve']} ({limit:g} s)", stages=False)
    if first["records"]:
        out["greedy_ms_per_node"] = 1000 * out["methods"][0]["s_per_instance"]["mean"] / size
    return out


def _key(c: dict) -> tuple[str, int, str]:
    return c["problem"], c["size"], c.get("model", f"bq-{c['problem']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default=DEFAULT_CASES,
                    help="PROBLEM:SIZE:NUM[:MODEL],... (MODEL: default bq-PROBLEM)")  # fmt: skip
    ap.add_argument("--knn", type=int, default=100)
    ap.add_argument("--seed", type=int, default=7, help="seed of the test sets")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per evaluation")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/large.json"))
    ap.add_argument("--again", action="store_true", help="re-run cases already in --out")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    path = Path(args.out)
    result = json.loads(path.read_text()) if path.exists() else {}
    if result.get("benchmark") != "large" or "settings" not in result:
        result = {"benchmark": "large", "cases": []}
    result.update({"threads": args.threads, "machine": platform.processor() or platform.machine(),
                   "cpus": os.cpu_count(), "seed": args.seed,
                   "settings": {f"{p}:{n}": v for (p, n), v in SETTINGS.items()}})  # fmt: skip
    for part in args.cases.split(","):
        problem, size, num, *rest = part.split(":")
        model = rest[0] if rest else f"bq-{problem}"
        key = (problem, int(size), model)
        done = [c for c in result["cases"] if _key(c) == key]
        if done and not args.again:
            print(f"{part}: in {path} already (--again to re-run)")
            continue
        res = case(problem, int(size), int(num), model, args.seed, args.knn, args.threads)
        print(json.dumps(res), flush=True)
        # re-read: another process may have written other cases meanwhile
        latest = json.loads(path.read_text()) if path.exists() else result
        cases = [c for c in latest.get("cases", []) if _key(c) != key]
        result["cases"] = sorted([*cases, res], key=_key)
        tmp = path.with_suffix(".json.tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(result, indent=1) + "\n")
        tmp.replace(path)  # after every case: an interrupted run keeps what it measured
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
