"""SPE against no PE / LapPE / RWPE (/ SignNet): ZINC test MAE, encoding throughput, stability.

    python benchmarks/spe.py mae          # writes benchmarks/results/spe_mae.json
    python benchmarks/spe.py speed        # writes benchmarks/results/spe_speed.json
    python benchmarks/spe.py stability    # writes benchmarks/results/spe_stability.json

MAE: the GINE regressor of ``symco.plugins.zinc`` on the MOSES (ZINC) molecules, penalized logP
(normalized terms), the same model size, epochs, optimizer and seed for every encoding; test MAE
of the best-validation checkpoint. The default budget (ZINC-12k sizes: 10k train / 1k val / 1k
test molecules, 20 epochs, one torch thread) takes ~15-20 min on one CPU core, SPE about half of
it; ``--epochs 100`` or more is closer to the usual ZINC training length.
Needs ``pip install --no-deps molsets==0.3.1`` (or ``--source rdkit-nci``/a SMILES file).
Speed: graphs/s of SPE (eval, no grad) on molecules, one batched call per 128 graphs (random or
size-bucketed batches) against a Python loop calling it on one graph at a time; eigenpairs
precomputed and batches collated outside the timing for both.
Threads: one by default. For molecule-sized tensors extra threads mostly add synchronization,
and on a loaded machine (as this one was) they slow everything several-fold (and inflate the
batched/loop ratio, since the loop pays the per-op synchronization most).
Stability: for graphs with repeated eigenvalues (cycles) and molecules, random edge-weight
perturbations ``w = 1 + eps * U(-1, 1)``; the ratio ``||PE(w) - PE(1)||_F / ||L(w) - L(1)||_F``
(median and max over trials) for each encoding at random initialization (eval mode). LapPE's
eigenvector signs are aligned to the unperturbed ones first (its best case): what remains is the
basis rotation inside (near-)repeated eigenspaces.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from symco.core.dataset import atomic_path
from symco.core.table import format_table

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ENCODINGS = {
    "none": ("none", {}),
    "lappe": ("lappe", {"k": 8}),
    "rwpe": ("rwpe", {"walk_length": 16}),
    "spe": ("spe", {"num_eigs": 32, "m": 16, "phi_hidden": 16, "rho_hidden": 32, "out_dim": 32}),
    "signnet": ("signnet", {"num_eigs": 16, "hidden": 16, "out_dim": 32}),
}


def _write(name: str, payload: dict[str, Any]) -> Path:
    payload["machine"] = {"platform": platform.platform(), "torch": torch.__version__,
                          "threads": torch.get_num_threads(), "cpus": os.cpu_count()}  # fmt: skip
    out = RESULTS / f"spe_{name}.json"
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {out}")
    return out


# -- MAE -----------------------------------------------------------------------------------------


def run_mae(args: argparse.Namespace) -> None:
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint

    from symco.plugins.zinc.lightning import ZincDataModule, ZincModule

    rows, results = [], {}
    for key in args.encodings:
        name, enc_args = ENCODINGS[key]
        L.seed_everything(args.seed, verbose=False)
        model = ZincModule(encoding=name, encoding_args=enc_args or None, hidden=args.hidden,
                           num_layers=args.layers, lr=args.lr)  # fmt: skip
        data = ZincDataModule(source=args.source, train_size=args.train, val_size=args.val,
                              test_size=args.test, seed=args.seed, cache_dir=args.cache_dir,
                              batch_size=args.batch_size)  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            ckpt = ModelCheckpoint(dirpath=tmp, monitor="val/mae", mode="min")
            trainer = L.Trainer(accelerator="cpu", max_epochs=args.epochs, logger=False,
                                callbacks=[ckpt], enable_progress_bar=False,
                                enable_model_summary=False, default_root_dir=tmp)  # fmt: skip
            t0 = time.perf_counter()
            trainer.fit(model, datamodule=data)
            fit_s = time.perf_counter() - t0
            test = trainer.test(model, datamodule=data, ckpt_path="best", verbose=False)[0]
        params = sum(p.numel() for p in model.parameters())
        best_val = float(ckpt.best_model_score)
        results[key] = {"test_mae": test["test/mae"], "best_val_mae": best_val, "params": params,
                        "fit_seconds": fit_s, "encoding_args": enc_args}  # fmt: skip
        rows.append([key, f"{test['test/mae']:.4f}", f"{best_val:.4f}",
                     f"{params / 1e3:.1f}k", f"{fit_s:.0f}"])  # fmt: skip
        print(format_table(["encoding", "test MAE", "best val MAE", "params", "fit s"], rows))
    _write("mae", {"budget": {k: getattr(args, k) for k in ("source", "train", "val", "test",
                   "epochs", "hidden", "layers", "lr", "batch_size", "seed")},
                   "target": "penalized logP, normalized terms", "results": results})  # fmt: skip


# -- speed ---------------------------------------------------------------------------------------


def _molecules(source: str, num: int, cache_dir: str, seed: int) -> list[Any]:
    from symco.plugins.zinc.dataset import load_split, penalized_logp
    from symco.plugins.zinc.lightning import graphs_from_arrays

    arrays = load_split(cache_dir, source, {"train": num, "val": 1, "test": 1}, seed)
    y = penalized_logp(arrays["logp"], arrays["sa"], arrays["cycle"], "raw")
    return graphs_from_arrays(arrays, y, 0)


def run_speed(args: argparse.Namespace) -> None:
    from torch_geometric.data import Batch

    from symco.encodings import SPE

    torch.manual_seed(0)
    spe = SPE(**ENCODINGS["spe"][1]).eval()
    t = spe.transform()
    graphs = [t(g) for g in _molecules(args.source, args.num, args.cache_dir, args.seed)]

    def batched_by(order: list[Any]) -> list[Any]:
        return [Batch.from_data_list(order[i : i + args.batch_size])
                for i in range(0, len(order), args.batch_size)]  # fmt: skip

    batches = batched_by(graphs)  # random molecules per batch, as a shuffling loader gives
    # size-bucketed batches (a sorting sampler): almost no padding in the dense (B, n, n) layout
    bucketed = batched_by(sorted(graphs, key=lambda g: g.num_nodes))
    singles = [Batch.from_data_list([g]) for g in graphs]

    def timed(items: list[Any]) -> float:
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            with torch.no_grad():
                for b in items:
                    spe(b)
            best = min(best, time.perf_counter() - t0)
        return len(graphs) / best

    with torch.no_grad():  # the two paths compute the same encodings
        one_by_one = torch.cat([spe(s) for s in singles[: args.batch_size]])
        torch.testing.assert_close(spe(batches[0]), one_by_one, atol=1e-4, rtol=0)
    batched, bucket, loop = timed(batches), timed(bucketed), timed(singles)
    rows = [["batched (random batches)", f"{batched:.0f}", f"{batched / loop:.1f}x"],
            ["batched (size-bucketed batches)", f"{bucket:.0f}", f"{bucket / loop:.1f}x"],
            ["per-graph loop", f"{loop:.0f}", "1.0x"]]  # fmt: skip
    print(format_table(["SPE encoding (eval, no grad)", "graphs/s", "vs loop"], rows))
    _write("speed", {"graphs": len(graphs), "batch_size": args.batch_size, "source": args.source,
                     "mean_nodes": float(np.mean([g.num_nodes for g in graphs])),
                     "max_nodes": max(g.num_nodes for g in graphs),
                     "batched_graphs_per_s": batched, "bucketed_graphs_per_s": bucket,
                     "loop_graphs_per_s": loop, "speedup": batched / loop,
                     "speedup_bucketed": bucket / loop, "threads": args.threads,
                     "spe": ENCODINGS["spe"][1]})  # fmt: skip


# -- stability -----------------------------------------------------------------------------------


def _perturbed(data: Any, eps: float, gen: torch.Generator) -> Any:
    """``data`` with symmetric edge weights ``1 + eps * U(-1, 1)``."""
    ei = data.edge_index
    lo = torch.minimum(ei[0], ei[1]) * data.num_nodes + torch.maximum(ei[0], ei[1])
    uniq, inv = torch.unique(lo, return_inverse=True)
    u = torch.rand(len(uniq), generator=gen, dtype=torch.float64) * 2 - 1
    out = data.clone()
    out.edge_weight = (1 + eps * u[inv]).float()  # RWPE (torch_geometric) needs float32
    return out


def run_stability(args: argparse.Namespace) -> None:
    import networkx as nx
    from torch_geometric.data import Batch

    from symco.encodings import RWPE, SPE, LapPE, SignNet, normalized_laplacian, to_data

    graphs = {f"cycle{n}": to_data(nx.cycle_graph(n)) for n in (8, 16)}
    graphs["hypercube3"] = to_data(nx.hypercube_graph(3))
    for i, g in enumerate(_molecules(args.source, 4, args.cache_dir, args.seed)[:2]):
        graphs[f"molecule{i}"] = g.__class__(edge_index=g.edge_index, num_nodes=g.num_nodes)

    def encoders(n: int) -> dict[str, Any]:
        torch.manual_seed(0)
        return {
            "lappe": LapPE(k=min(8, n - 1), sign_flip=False).eval(),
            "rwpe": RWPE(16).eval(),
            "signnet": SignNet(num_eigs=n, hidden=16, out_dim=32).eval(),
            "spe": SPE(num_eigs=n, m=16, phi_hidden=16, rho_hidden=32, out_dim=32).eval(),
        }

    def encode(enc: Any, data: Any) -> torch.Tensor:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            d = enc.transform()(data.clone())
        with torch.no_grad():
            return enc(Batch.from_data_list([d])).double()

    rows, results = [], {}
    gen = torch.Generator().manual_seed(args.seed)
    for gname, base in graphs.items():
        n = base.num_nodes
        encs = encoders(n)
        lap0 = normalized_laplacian(base)
        base_pe = {k: encode(e, base) for k, e in encs.items()}
        for eps in args.eps:
            ratios: dict[str, list[float]] = {k: [] for k in encs}
            for _ in range(args.trials):
                pert = _perturbed(base, eps, gen)
                dl = float(np.linalg.norm(normalized_laplacian(pert) - lap0))
                for k, e in encs.items():
                    pe = encode(e, pert)
                    if k == "lappe":  # align signs column by column: LapPE's best case
                        pe = pe * torch.where((pe * base_pe[k]).sum(0) < 0, -1.0, 1.0)
                    ratios[k].append(float((pe - base_pe[k]).norm()) / dl)
            res = {
                k: {"median": float(np.median(v)), "max": float(np.max(v))}
                for k, v in ratios.items()
            }
            results.setdefault(gname, {})[f"{eps:g}"] = res
            rows.append(
                [
                    gname,
                    f"{eps:g}",
                    *(f"{res[k]['median']:.3g} / {res[k]['max']:.3g}" for k in encs),
                ]
            )
    print(format_table(["graph", "eps", *(f"{k} med/max" for k in encoders(8))], rows))
    _write("stability", {"trials": args.trials, "eps": args.eps, "ratio": "||dPE||_F / ||dL||_F",
                         "note": "random-init encoders, eval mode; LapPE signs aligned",
                         "results": results})  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", default="moses", help="molecules: moses | rdkit-nci | a SMILES file")
    p.add_argument("--cache-dir", default="data/zinc")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: see the docstring)")
    sub = p.add_subparsers(dest="what", required=True)
    m = sub.add_parser("mae", help="test MAE per encoding at one budget")
    m.add_argument(
        "--encodings", nargs="+", default=["none", "lappe", "rwpe", "spe"], choices=list(ENCODINGS)
    )
    m.add_argument("--train", type=int, default=10000)
    m.add_argument("--val", type=int, default=1000)
    m.add_argument("--test", type=int, default=1000)
    m.add_argument("--epochs", type=int, default=20)
    m.add_argument("--hidden", type=int, default=64)
    m.add_argument("--layers", type=int, default=4)
    m.add_argument("--lr", type=float, default=2e-3)
    m.add_argument("--batch-size", type=int, default=64)
    s = sub.add_parser("speed", help="batched SPE vs a per-graph loop")
    s.add_argument("--num", type=int, default=512)
    s.add_argument("--batch-size", type=int, default=128)
    s.add_argument("--repeats", type=int, default=3)
    t = sub.add_parser("stability", help="encoding change / Laplacian change under perturbations")
    t.add_argument("--eps", type=float, nargs="+", default=[1e-1, 1e-2, 1e-3, 1e-4])
    t.add_argument("--trials", type=int, default=10)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    {"mae": run_mae, "speed": run_speed, "stability": run_stability}[args.what](args)


if __name__ == "__main__":
    main()
