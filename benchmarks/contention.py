"""Slowdown under CPU contention, against the fair share, before and after symco's thread policy.

    python benchmarks/contention.py           # -> benchmarks/results/contention.json
    python benchmarks/contention.py --quick   # fewer repeats, smaller workloads

Workloads (each in a fresh child process, so OpenMP reads its environment at torch's import):
greedy decoding of 32 TSP200 instances with the shipped ``bq-tsp``; training steps (forward,
backward, Adam) of the tiny config's and the cpu config's policy on their batch sizes. Each runs
with 0, 1 and 3 busy processes beside it (single-threaded Python loops the benchmark starts and
stops itself, each bounded in time), under two policies:

* ``before``: torch's defaults — as many threads as cores, OpenMP's active (spinning) waits;
* ``after``: symco's policy (:mod:`symco.core.threads`): ``OMP_WAIT_POLICY=PASSIVE`` and the
  usable cores (``os.sched_getaffinity``).

The fair share for ``T`` threads on ``C`` cores beside ``k`` busy processes is the slowdown of a
fair scheduler, ``max(1, (T + k) / C) / max(1, T / C)``; the report is each measured slowdown
divided by it (the target: <= 1.3).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BUSY = "import time\nend = time.time() + {seconds}\nwhile time.time() < end:\n    pass\n"
WORKLOADS = {
    # name: (policy kwargs, problem size, batch, steps)
    "decode-tsp200": (None, 200, 32, 0),
    "train-tiny": ({"num_layers": 2, "dim": 32, "heads": 4, "ff_dim": 64}, 10, 8, 40),
    "train-cpu": ({"num_layers": 5, "dim": 128, "heads": 8, "ff_dim": 256}, 100, 64, 4),
}


def child(workload: str, repeats: int, quick: bool) -> None:
    """Run one workload ``repeats`` times in this process; print the median seconds as JSON."""
    import numpy as np
    import torch

    from symco.core.decoding import greedy
    from symco.core.manager import load_registry, shipped_models
    from symco.core.training.checkpoints import load_model

    pm, registry = load_registry()
    policy_args, n, batch, steps = WORKLOADS[workload]
    if quick:
        batch, steps = max(4, batch // 4), max(1, steps // 4)
    problem = registry.problem("tsp")
    inst = problem.generate(batch, n, rng=np.random.default_rng(0))
    tensors = {k: torch.as_tensor(v) for k, v in inst.items()}
    times = []
    if policy_args is None:
        module = load_model("bq-tsp", shipped_models(pm), registry).module.eval()
        for _ in range(repeats):
            t0 = time.perf_counter()
            greedy(module.policy, module.reducer, tensors)
            times.append((time.perf_counter() - t0) / batch)  # s per instance
    else:
        from symco.plugins.bq.lightning import imitation_loss

        reducer = registry.get("reducer", "bq", "tsp")()
        torch.manual_seed(0)
        policy = registry.get("policy", "transformer")(
            reducer.num_features, reducer.num_node_types, reducer.actions_per_node, **policy_args
        )
        opt = torch.optim.Adam(policy.parameters(), lr=1e-4)
        tours = torch.as_tensor(
            np.stack([np.random.default_rng(i).permutation(n) for i in range(batch)])
        )
        gen = torch.Generator().manual_seed(0)
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(steps):
                samples = reducer.expand(tensors, tours, generator=gen)
                loss, _ = imitation_loss(policy, samples)
                opt.zero_grad()
                loss.backward()
                opt.step()
            times.append((time.perf_counter() - t0) / steps)  # s per step
    print(json.dumps({"seconds": float(np.median(times)), "threads": torch.get_num_threads()}))


def measure(workload: str, policy: str, busy: int, repeats: int, quick: bool) -> dict[str, Any]:
    env = dict(os.environ)
    for name in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "SYMCO_THREADS"):
        env.pop(name, None)
    if policy == "after":
        from symco.core.threads import resolve_threads

        env["OMP_WAIT_POLICY"] = "PASSIVE"
        env["OMP_NUM_THREADS"] = str(resolve_threads(None))
    hogs = [subprocess.Popen([sys.executable, "-c", BUSY.format(seconds=600)]) for _ in range(busy)]
    try:
        time.sleep(0.5 if busy else 0)  # let the busy loops start
        out = subprocess.run(
            [sys.executable, __file__, "--child", workload, "--repeats", str(repeats)]
            + (["--quick"] if quick else []),
            env=env, capture_output=True, text=True, timeout=1800, check=True,
        )  # fmt: skip
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    return json.loads(out.stdout.strip().splitlines()[-1])


def fair_share(threads: int, cores: int, busy: int) -> float:
    return max(1.0, (threads + busy) / cores) / max(1.0, threads / cores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--busy", type=int, nargs="+", default=[0, 1, 3])
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS))
    parser.add_argument("--out", default=str(HERE / "results" / "contention.json"))
    args = parser.parse_args()
    if args.child:
        child(args.child, args.repeats, args.quick)
        return
    from symco.core.dataset import atomic_path
    from symco.core.table import format_table
    from symco.core.threads import usable_cores

    cores = usable_cores()
    rows, results = [], []
    for workload in args.workloads:
        for policy in ("before", "after"):
            idle = None
            for busy in sorted(args.busy):
                r = measure(workload, policy, busy, args.repeats, args.quick)
                idle = r["seconds"] if busy == 0 else idle
                slow = r["seconds"] / idle if idle else None
                fair = fair_share(r["threads"], cores, busy)
                res = {"workload": workload, "policy": policy, "busy": busy, "threads": r["threads"],
                       "seconds": r["seconds"], "slowdown": slow, "fair_share": fair,
                       "ratio_to_fair": slow / fair if slow else None}  # fmt: skip
                results.append(res)
                rows.append([workload, policy, busy, r["threads"], r["seconds"], slow, fair,
                             res["ratio_to_fair"]])  # fmt: skip
                print(format_table(["workload", "policy", "busy", "threads", "s", "slowdown", "fair", "ratio"], rows[-1:]), flush=True)  # fmt: skip
    print(
        format_table(
            ["workload", "policy", "busy", "threads", "s", "slowdown", "fair", "ratio"], rows
        )
    )
    out = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": cores},
           "quick": args.quick, "results": results}  # fmt: skip
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
