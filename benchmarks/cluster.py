"""Beyond one machine (issue 31): labelling through a Dask scheduler against the local process
pool, and DDP step time against one process.

    python benchmarks/cluster.py                      # -> benchmarks/results/cluster.json
    python benchmarks/cluster.py --num 64 --steps 20  # a quick look

1. **Labelling.** The same ``symco data`` command (TSP50 labelled by LKH-3, ``--chunk-size``
   instances per chunk) with ``--workers W`` (the local pool) and with ``--cluster tcp://...`` of
   a scheduler with ``W`` one-thread worker processes (``dask scheduler`` + ``dask worker`` as
   subprocesses, started before the clock), for W = 1, 2, 4. Reported: seconds, instances per
   second, the cluster's overhead per chunk against the local pool of as many workers (ms), and
   the scaling efficiency ``t(1) / (W t(W))``. The files are compared byte for byte.
2. **DDP.** ``symco fit`` of ``configs/tsp/tiny.yaml`` (gloo, CPU) on 1 process with batch 16
   and on 2 processes with batch 8 each (the same global batch): seconds per training step,
   from two run lengths (the difference removes start-up), one torch thread per process.
3. **BQ under DDP** is not the single-process run (each rank draws its own sub-problems): the
   greedy gap of a DDP run against the single-process run of the same seed, beside two
   single-process seeds (``configs/weights/bq-tsp20.yaml``, ``--bq-steps`` steps).

On this 2-core machine W = 4 oversubscribes the cores: its row shows the cost of that, not
scaling.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from symco.core.dataset import atomic_path

ROOT = Path(__file__).resolve().parents[1]
SYMCO = str(Path(sys.executable).with_name("symco"))
DASK = str(Path(sys.executable).with_name("dask"))


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


class Scheduler:
    """``dask scheduler`` and ``dask worker ... --nworkers W --nthreads 1`` as subprocesses."""

    def __init__(self, workers: int, port: int) -> None:
        self.address = f"tcp://127.0.0.1:{port}"
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self.procs = [subprocess.Popen([DASK, "scheduler", "--port", str(port),
                                        "--dashboard-address", ":0"], env=env, **quiet)]  # fmt: skip
        time.sleep(2)
        self.procs.append(subprocess.Popen([DASK, "worker", self.address, "--nworkers",
                                            str(workers), "--nthreads", "1"], env=env, **quiet))  # fmt: skip
        from distributed import Client

        with Client(self.address, timeout=30) as client:
            client.wait_for_workers(workers, timeout=60)

    def close(self) -> None:
        for p in reversed(self.procs):
            p.terminate()
            p.wait(30)


def labelling(num: int, chunk: int, workers: list[int], tmp: Path) -> list[dict[str, Any]]:
    base = [SYMCO, "data", "--problem", "tsp", "--size", "50", "--num", str(num), "--seed", "3",
            "--solver", "lkh", "--chunk-size", str(chunk), "--quiet"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rows = []
    for w in workers:
        local = tmp / f"local{w}.npz"
        t_local = timed([*base, "--workers", str(w), "--out", str(local)], tmp, env)
        sched = Scheduler(w, 8786 + w)
        try:
            remote = tmp / f"cluster{w}.npz"
            t_cluster = timed([*base, "--cluster", sched.address, "--out", str(remote)], tmp, env)
        finally:
            sched.close()
        chunks = -(-num // chunk)
        rows.append({
            "workers": w, "instances": num, "chunks": chunks,
            "local_s": round(t_local, 2), "cluster_s": round(t_cluster, 2),
            "local_inst_per_s": round(num / t_local, 1),
            "cluster_inst_per_s": round(num / t_cluster, 1),
            "overhead_ms_per_chunk": round(1000 * (t_cluster - t_local) / chunks, 1),
            "identical": remote.read_bytes() == local.read_bytes(),
        })  # fmt: skip
        print(rows[-1], flush=True)
    for r in rows:
        first = rows[0]
        r["local_efficiency"] = round(first["local_s"] / (r["workers"] * r["local_s"]), 3)
        r["cluster_efficiency"] = round(first["cluster_s"] / (r["workers"] * r["cluster_s"]), 3)
    return rows


def ddp(steps: int, tmp: Path) -> list[dict[str, Any]]:
    """Seconds per step of the tiny TSP config: 1 process (batch 16) vs 2 DDP processes (8)."""
    config = str(ROOT / "configs" / "tsp" / "tiny.yaml")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SYMCO_THREADS": "1"}
    warm = [SYMCO, "fit", "--config", config, "--trainer.default_root_dir", str(tmp / "warm")]
    timed(warm, tmp, env)  # makes the tiny data in tmp/data
    rows = []
    for devices, batch in ((1, 16), (2, 8)):
        extra = ["--trainer.devices", str(devices), "--data.init_args.batch_size", str(batch),
                 "--trainer.limit_val_batches", "0", "--trainer.val_check_interval", "null"]  # fmt: skip
        if devices > 1:
            extra += ["--trainer.strategy", "ddp", "--trainer.accelerator", "cpu"]
        times = {}
        for n in (steps // 4, steps):
            root = tmp / f"ddp{devices}-{n}"
            argv = [SYMCO, "fit", "--config", config, "--trainer.max_steps", str(n),
                    "--trainer.default_root_dir", str(root), *extra]  # fmt: skip
            times[n] = timed(argv, tmp, env)
        per_step = (times[steps] - times[steps // 4]) / (steps - steps // 4)
        rows.append({"processes": devices, "batch_per_process": batch, "global_batch": 16,
                     "s_per_step": round(per_step, 4),
                     "run_s": {str(k): round(v, 1) for k, v in times.items()}})  # fmt: skip
        print(rows[-1], flush=True)
    return rows


def ddp_bq(steps: int, tmp: Path) -> dict[str, Any]:
    """How far a BQ DDP run lands from the single-process run of the same seed, against how far
    two single-process seeds land apart: BQ draws each micro-batch's sub-problems per rank, so
    DDP is another sample of the training distribution, not the same run. The small TSP20
    policy of ``configs/weights/bq-tsp20.yaml`` for ``steps`` steps, greedy gap on its 128
    validation instances."""
    config = str(ROOT / "configs" / "weights" / "bq-tsp20.yaml")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SYMCO_THREADS": "1"}
    data = ROOT / "data"
    runs = {"single seed 0": (0, 1, 64), "single seed 1": (1, 1, 64), "ddp seed 0": (0, 2, 32)}
    out: dict[str, Any] = {"steps": steps, "global_batch": 64}
    for name, (seed, devices, batch) in runs.items():
        root = tmp / name.replace(" ", "-")
        argv = [SYMCO, "fit", "--config", config, "--seed_everything", str(seed),
                "--model.init_args.seed", str(seed), "--data.init_args.shuffle_seed", str(seed),
                "--trainer.max_steps", str(steps), "--trainer.val_check_interval", "null",
                "--trainer.limit_val_batches", "0", "--data.init_args.batch_size", str(batch),
                "--trainer.devices", str(devices), "--trainer.default_root_dir", str(root)]  # fmt: skip
        if devices > 1:
            argv += ["--trainer.strategy", "ddp", "--trainer.accelerator", "cpu"]
        seconds = timed(argv, ROOT, env)
        evaluate = [SYMCO, "evaluate", "--ckpt", str(root / "checkpoints" / "last.ckpt"),
                    "--instances", str(data / "tsp20_weights_val.npz"), "--quiet", "--threads", "1"]  # fmt: skip
        proc = subprocess.run(evaluate, cwd=ROOT, capture_output=True, text=True, check=True)
        gap = float(proc.stdout.strip().splitlines()[-1].split()[-2])
        out[name] = {"gap_percent": gap, "fit_s": round(seconds, 1)}
        print(name, out[name], flush=True)
    g = {k: v["gap_percent"] for k, v in out.items() if isinstance(v, dict)}
    out["ddp_vs_single"] = round(abs(g["ddp seed 0"] - g["single seed 0"]), 3)
    out["seed_vs_seed"] = round(abs(g["single seed 1"] - g["single seed 0"]), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=512, help="TSP50 instances to label")
    parser.add_argument("--chunk-size", type=int, default=16)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--steps", type=int, default=200, help="DDP: training steps")
    parser.add_argument("--bq-steps", type=int, default=1000, help="BQ DDP vs single: steps")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "cluster.json"))
    args = parser.parse_args()
    if shutil.which(DASK) is None:
        raise SystemExit("needs the cluster extra: pip install -e '.[cluster]'")
    tmp = Path(tempfile.mkdtemp(prefix="symco-cluster-"))
    try:
        workers = [int(w) for w in args.workers.split(",")]
        result = {
            "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
            "labelling": labelling(args.num, args.chunk_size, workers, tmp),
            "ddp": ddp(args.steps, tmp),
            "ddp_bq": ddp_bq(args.bq_steps, tmp),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with atomic_path(args.out) as out:
        out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
