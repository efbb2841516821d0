"""PerceiverIO vs transformer policy: decoding cost per step against N, and training samples/s.

    python benchmarks/perceiver.py          # -> benchmarks/results/perceiver.json
    python benchmarks/perceiver.py --quick  # smaller sizes, fewer steps: a smoke run

Side by side in one run, on ``--threads`` torch threads, with weights at their initialisation
(timing does not depend on them):

* ``perceiver``: the published BQ-NCO PerceiverIO architecture (64 latents of width 48, 9 latent
  layers, node width 192; 0.90M parameters), the shape ``symco import-model --from bq-nco``
  builds;
* ``transformer 5x128``: the shipped ``bq-tsp`` architecture (0.66M);
* ``transformer 7x128``: a transformer of the perceiver's parameter count (0.92M).

Decoding: greedy TSP steps on one instance of N = 100, 1,000 and 5,000 nodes, with the full
view and with ``--knn 100``; the median seconds of ``--steps`` steps from the start (the first
steps are the largest reduced instances), and the whole greedy decode where it takes less than
``--full-limit`` seconds (estimated from the per-step time otherwise). Training: forward, backward
and an AdamW step on BQ TSP100 samples (``bq`` reducer, batch 64, the same sub-problem sizes for
every policy), samples per second.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from symco.core.dataset import atomic_path
from symco.core.table import format_table
from symco.plugins.bq.perceiver import BQPerceiver
from symco.plugins.bq.policy import BQTransformer
from symco.plugins.bq.tsp import BQTSPReducer
from symco.problems.tsp.problem import TSP

HERE = Path(__file__).resolve().parent
POLICIES: dict[str, tuple[type, dict[str, int]]] = {
    "perceiver": (BQPerceiver, {}),
    "transformer 5x128": (BQTransformer, {"num_layers": 5, "dim": 128, "heads": 8, "ff_dim": 256}),
    "transformer 7x128": (BQTransformer, {"num_layers": 7, "dim": 128, "heads": 8, "ff_dim": 256}),
}


def build(name: str, device: str = "cpu") -> torch.nn.Module:
    cls, options = POLICIES[name]
    torch.manual_seed(0)
    return cls(2, 3, 1, **options).eval().to(device)


def sync(device: str) -> None:
    """Wait for queued GPU work (timings of CUDA kernels)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


@torch.inference_mode()
def step_times(
    policy: Any, reducer: Any, coords: torch.Tensor, knn: int | None, steps: int
) -> list[float]:
    """Seconds of each of the first ``steps`` greedy steps (reduce + policy + step)."""
    from symco.core.decoding import greedy_choice

    state = reducer.init_state({"coords": coords})
    device = str(coords.device)
    times = []
    for _ in range(steps):
        sync(device)
        t0 = time.perf_counter()
        batch = reducer.reduce(state, knn=knn)
        with torch.autocast(coords.device.type, torch.bfloat16, enabled=AUTOCAST[0]):
            logits = policy(batch)
        node, action = greedy_choice(logits.float(), batch)
        state = reducer.step(state, node, action)
        sync(device)
        times.append(time.perf_counter() - t0)
    return times


AUTOCAST = [False]
"""Whether the timed forward passes run under bf16 autocast (``--bf16``, GPUs)."""


def decoding(args: argparse.Namespace) -> list[dict[str, Any]]:
    from symco.core.decoding import greedy

    reducer = BQTSPReducer()
    rows = []
    for n in args.sizes:
        inst = TSP().generate(args.batch_decode, n, rng=np.random.default_rng(n))
        coords = torch.as_tensor(inst["coords"]).to(args.device)
        for knn in (None, args.knn):
            if knn is not None and n <= knn:
                continue
            for name in POLICIES:
                policy = build(name, args.device)
                step_times(policy, reducer, coords, knn, 2)  # warm-up
                per_step = statistics.median(step_times(policy, reducer, coords, knn, args.steps))
                estimate = per_step * n  # first steps are the largest: an upper bound
                full = None
                if estimate <= args.full_limit:
                    sync(args.device)
                    t0 = time.perf_counter()
                    with torch.autocast(coords.device.type, torch.bfloat16, enabled=args.bf16):
                        greedy(policy, reducer, {"coords": coords}, knn=knn)
                    sync(args.device)
                    full = time.perf_counter() - t0
                rows.append({"policy": name, "n": n, "knn": knn, "ms_per_step": 1e3 * per_step,
                             "decode_s": full, "decode_s_estimate": estimate})  # fmt: skip
                took = f"{full:.2f} s" if full is not None else f"~{estimate:.0f} s (est.)"
                print(f"n={n} knn={knn} {name}: {1e3 * per_step:.2f} ms/step, decode {took}",
                      flush=True)  # fmt: skip
    return rows


def training(args: argparse.Namespace) -> list[dict[str, Any]]:
    from symco.plugins.bq.lightning import imitation_loss

    problem, reducer = TSP(), BQTSPReducer()
    inst = problem.generate(args.batch, 100, rng=np.random.default_rng(0))
    tours = torch.stack([torch.randperm(100, generator=torch.Generator().manual_seed(i))
                         for i in range(args.batch)])  # fmt: skip
    tensors = {"coords": torch.as_tensor(inst["coords"]).to(args.device)}
    tours = tours.to(args.device)
    rows = []
    for name in POLICIES:
        policy = build(name, args.device).train()
        opt = torch.optim.AdamW(policy.parameters(), lr=1e-4)
        times = []
        for i in range(args.train_steps + 2):
            gen = torch.Generator().manual_seed(i)  # the same sub-problems for every policy
            sync(args.device)
            t0 = time.perf_counter()
            samples = reducer.expand(tensors, tours, generator=gen)
            with torch.autocast(tours.device.type, torch.bfloat16, enabled=args.bf16):
                loss, _ = imitation_loss(policy, samples)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sync(args.device)
            times.append(time.perf_counter() - t0)
        per_step = statistics.median(times[2:])  # without the warm-up
        params = sum(p.numel() for p in policy.parameters())
        rows.append({"policy": name, "params": params, "batch": args.batch,
                     "s_per_step": per_step, "samples_per_s": args.batch / per_step})  # fmt: skip
        print(f"train {name} ({params / 1e6:.2f}M): {args.batch / per_step:.0f} samples/s",
              flush=True)  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--knn", type=int, default=100)
    parser.add_argument("--steps", type=int, default=10, help="timed greedy steps per case")
    parser.add_argument("--full-limit", type=float, default=60.0,
                        help="decode whole instances whose estimate is below this (s)")  # fmt: skip
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--train-steps", type=int, default=20)
    parser.add_argument("--batch-decode", type=int, default=1, help="instances decoded together")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (GPUs)")
    parser.add_argument("--out", default=str(HERE / "results" / "perceiver.json"))
    args = parser.parse_args()
    AUTOCAST[0] = args.bf16
    if args.quick:
        args.sizes, args.steps, args.train_steps, args.full_limit = [100, 300], 3, 3, 5.0
    torch.set_num_threads(args.threads)
    dec = decoding(args)
    train = training(args)
    gpu = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None
    out = {"machine": {"cpu": platform.processor() or platform.machine(), "gpu": gpu,
                       "threads": args.threads, "torch": torch.__version__},
           "device": args.device, "bf16": args.bf16, "batch_decode": args.batch_decode,
           "quick": args.quick, "decoding": dec, "training": train}  # fmt: skip
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(out, indent=1))
    rows = [[r["policy"], r["n"], r["knn"] or "-", f"{r['ms_per_step']:.2f}",
             f"{r['decode_s']:.2f}" if r["decode_s"] is not None else f"~{r['decode_s_estimate']:.0f}"]
            for r in dec]  # fmt: skip
    print(format_table(["policy", "n", "knn", "ms/step", "greedy s"], rows))
    print(format_table(["policy", "params", "samples/s"],
                       [[r["policy"], f"{r['params'] / 1e6:.2f}M", f"{r['samples_per_s']:.0f}"]
                        for r in train]))  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
