"""MkDocs hooks of symco's documentation site.

Two jobs:

- **Benchmark tables from the measured results.** A line ``<!-- benchmark: KIND FILE -->`` in a
  page is replaced, at build time, by a markdown table rendered from
  ``benchmarks/results/FILE`` by the renderer ``KIND`` (see :data:`RENDERERS`), so the tables
  of the docs are the numbers of the JSON files and cannot drift from them. An unknown kind or a
  missing file fails the build.
- **API pages from the sources.** The package ``symco`` is the repository root (setuptools'
  ``package-dir``), and ``core/`` has no ``__init__.py``; mkdocstrings (griffe) finds neither
  through an editable install, so the Python sources are copied into a temporary ``symco/``
  folder (with empty ``__init__.py`` files where a folder has none) that is put on ``sys.path``
  for the build.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PLACEHOLDER = re.compile(r"^<!-- benchmark: (\S+) (\S+) -->$", flags=re.M)
_TEMP: list[str] = []


# --------------------------------------------------------------------------------- formatting


def _pct(x: float | None) -> str:
    return "" if x is None else f"{x:.2f}%"


def _secs(x: float | None) -> str:
    if x is None:
        return ""
    if x < 0.01:
        return f"{x * 1000:.1f} ms"
    return f"{x:.3f} s" if x < 0.1 else f"{x:.2f} s" if x < 10 else f"{x:.1f} s"


def _num(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table; ``|`` inside cells is escaped."""

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), "|" + "---|" * len(header), *map(line, rows)])


def _set_name(problem: str, size: Any, instances: int, knn: Any = None, name: str = "") -> str:
    name = name or f"{problem.upper()}{size} ({instances})"
    return f"{name}, kNN {knn}" if knn else name


# --------------------------------------------------------------------------------- renderers


def render_labels(data: dict) -> str:
    """Solver label quality and throughput (``benchmarks/labels.py``): one row per solver,
    one column per size with the gap to the reference and instances per second."""
    sizes = sorted({r["size"] for r in data["results"]})
    solvers = list(dict.fromkeys(r["solver"] for r in data["results"]))
    cell = {(r["solver"], r["size"]): r for r in data["results"]}
    rows = []
    for s in solvers:
        row = [f"`{s}`"]
        for n in sizes:
            r = cell.get((s, n))
            row.append(f"{_pct(r['mean_gap_percent'])}, {r['instances_per_s']:.1f}/s" if r else "")
        rows.append(row)
    ref = data["results"][0]["reference"]
    header = ["solver", *(f"TSP{n}: gap to {ref}, inst/s" for n in sizes)]
    return table(header, rows)


def render_quality(data: dict) -> str:
    """Model quality against baselines (``benchmarks/bq_tsp.py`` / ``bq_problems.py quality``):
    one row per test set, one column per method (mean gap to the reference, seconds/instance)."""
    results = data["results"]
    methods = list(dict.fromkeys(r["method"].replace(" knn100", "") for r in results))
    problem = data.get("problem", "tsp")
    sets: dict[Any, dict[str, dict]] = {}
    for r in results:
        sets.setdefault(r["size"], {})[r["method"].replace(" knn100", "")] = r
    rows = []
    for size, by_method in sets.items():
        counts = sorted({r["instances"] for r in by_method.values()})
        if isinstance(size, int):
            name = f"{problem.upper()}{size}"
        else:
            name = {"tsplib": "TSPLIB", "files": "CVRPLIB files"}.get(size, str(size))
        name += " (" + " / ".join(map(str, counts)) + ")"
        if any("knn" in r["method"] for r in results if r["size"] == size):
            name += f", kNN {data['knn']}"
        row = [name]
        for m in methods:
            r = by_method.get(m)
            if r is None:
                row.append("")
            elif "s_per_instance" in r:
                row.append(f"{_pct(r['mean_gap_percent'])}, {_secs(r['s_per_instance'])}")
            else:
                row.append(_pct(r["mean_gap_percent"]))
        rows.append(row)
    return table(["set (instances)", *methods], rows)


def render_augment(data: dict) -> str:
    """Greedy against greedy + d4 test-time augmentation (``benchmarks/augment.py``)."""
    rows = [
        [
            _set_name(r["problem"], r["size"], r["instances"], r["knn"]),
            f"{_pct(r['greedy_gap_percent'])}, {_secs(r['greedy_s_per_instance'])}",
            f"{_pct(r['d4_gap_percent'])}, {_secs(r['d4_s_per_instance'])}",
            f"{r['gap_ratio']:.1f}x",
            f"{r['time_ratio']:.1f}x",
        ]
        for r in data["results"]
    ]
    header = ["set", "greedy gap, time/inst", "greedy + d4 gap, time/inst", "gap cut", "time"]
    return table(header, rows)


def render_improve(data: dict) -> str:
    """Anytime improvement (``benchmarks/improve.py``): per set, the greedy start and, per
    method, the mean gap at each time limit (seconds per instance, construction included)."""
    results = data["results"]
    methods = list(dict.fromkeys(m for r in results for m in r["methods"]))
    rows = []
    for r in results:
        model = f" `{r['model']}`" if r.get("model") else ""
        where = _set_name(r["problem"], r["size"], r["instances"], r["knn"], r.get("name", ""))
        row = [where + model]
        row.append(f"{_pct(r['greedy']['gap_percent'])}, {_secs(r['greedy']['s_per_instance'])}")
        for m in methods:
            points = r["methods"].get(m, {}).get("points", [])
            if not points:
                row.append("")
            elif len(points) == 1:
                p = points[0]
                row.append(f"{_pct(p['gap_percent'])}, {_secs(p['s_per_instance'])}")
            else:
                gaps = " / ".join(f"{p['gap_percent']:.2f}" for p in points)
                times = " / ".join(f"{p['s_per_instance']:g}" for p in points)
                row.append(f"{gaps}% at {times} s")
        rows.append(row)
    return table(["set", "greedy", *(m.removeprefix("greedy ") for m in methods)], rows)


def render_fernn(data: dict) -> str:
    """FERNN against the G-RNN on moving digits (``benchmarks/fernn.py``): test MSE x 1e-3,
    mean over the predicted frames, and per test velocity."""
    models = data["models"]
    velocities = sorted({int(v) for m in models.values() for v in m["velocity_mse"]})
    rows = []
    for m in models.values():
        mse10 = sum(m["mse_per_step_10"]) / len(m["mse_per_step_10"])
        mse30 = sum(m["mse_per_step_30"]) / len(m["mse_per_step_30"])
        vel = {int(k): v for k, v in m["velocity_mse"].items()}
        rows.append(
            [m["label"], f"{mse10 * 1e3:.2f}", f"{mse30 * 1e3:.2f}"]
            + [f"{vel[v] * 1e3:.3g}" for v in velocities]
        )
    header = ["model", "10 predicted", "30 predicted", *(f"vx = {v}" for v in velocities)]
    return table(header, rows)


def render_nbody(data: dict) -> str:
    """n-body models at equal CPU time (``benchmarks/nbody.py``): test MSE at the best
    validation, steps made in the budget, throughput."""
    rows = [
        [
            f"`{name}`",
            r["data"],
            f"{r['test_mse']:.5f}",
            f"{r['steps']:,}",
            f"{r['ms_per_step']:.2f}",
            _num(r["samples_per_s"]),
            f"{r['parameters']:,}",
        ]
        for name, r in data["runs"].items()
    ]
    header = ["run", "data", "test MSE", "steps", "ms/step", "samples/s", "parameters"]
    budget = data["settings"]["budget"]
    return f"Budget: {budget:g} CPU seconds of training per run.\n\n" + table(header, rows)


def render_spe(data: dict) -> str:
    """Test MAE of the ZINC regression per positional encoding (``benchmarks/spe.py mae``)."""
    rows = [
        [
            f"`{name}`",
            f"{r['test_mae']:.4f}",
            f"{r['best_val_mae']:.4f}",
            f"{r['params']:,}",
            f"{r['fit_seconds']:.0f}",
        ]
        for name, r in data["results"].items()
    ]
    return table(["encoding", "test MAE", "best val MAE", "parameters", "fit s"], rows)


def render_perceiver(data: dict) -> str:
    """Per-step decoding cost of the policies (``benchmarks/perceiver.py``)."""
    rows = [
        [
            r["policy"],
            f"{r['n']:,}",
            str(r["knn"] or ""),
            f"{r['ms_per_step']:.1f}",
            _secs(r.get("decode_s")) if r.get("decode_s") is not None else "",
        ]
        for r in data["decoding"]
    ]
    return table(["policy", "nodes", "kNN", "ms per step", "greedy decode"], rows)


def render_improve_steps(data: dict) -> str:
    """Improvement steps per second against an earlier commit (``benchmarks/improve_steps.py``):
    the best of the alternating runs of each."""
    rows = [
        [
            r.get("model", "bq-tsp"),
            f"{r['n']:,}",
            str(r["batch"]),
            r["improver"],
            f"{r['steps_per_s_before']:.2f}",
            f"{r['steps_per_s_after']:.2f}",
            f"x{r['speedup']:.2f}",
        ]
        for r in data["rows"]
    ]
    before = f"steps/s at {data['before']}"
    return table(["model", "nodes", "batch", "improver", before, "steps/s now", "speed-up"], rows)


def render_large(data: dict) -> str:
    """Construction and improvement at 1,000 to 100,000 nodes (``benchmarks/large.py``): mean
    cost, the gap to the time-capped reference (median / p90 / max over instances), seconds per
    instance (mean), peak resident memory of the evaluating process."""

    def spread(s: dict | None) -> str:
        return "-" if not s else f"{s['median']:.2f}% / {s['p90']:.2f}% / {s['max']:.2f}%"

    rows = []
    for c in data["cases"]:
        ref = c["reference"]
        name = f"{c['problem'].upper()}{c['size']:,} ({c['instances']}), {Path(c.get('model', 'bq-' + c['problem'])).stem}"
        rows.append([name, f"{ref['solver']} (limit {ref['time_limit_s']:g} s)", "", "reference",
                     _secs(ref["s_per_instance"]), ""])  # fmt: skip
        for m in c["methods"]:
            rows.append([
                name, m["method"], f"{m['cost']:.2f}", spread(m["gap_percent"]),
                _secs(m["s_per_instance"]["mean"]), f"{m['peak_mib']:,.0f}",
            ])  # fmt: skip
    head = ["set", "method", "mean cost", "gap median / p90 / max", "s/instance", "peak MiB"]
    return table(head, rows)


def _range(s: dict, fmt: str = "{:.3f}") -> str:
    """``median [min, max]`` of a spread (a single value when n = 1)."""
    med = fmt.format(s["median"])
    return med if s["n"] == 1 else f"{med} [{fmt.format(s['min'])}, {fmt.format(s['max'])}]"


def render_weights_lmc(data: dict) -> str:
    """Test-loss barrier between two MLPs vs width (``benchmarks/weights.py``): median [min, max]
    over the seed pairs, naive and after weight / activation matching."""
    rows = []
    for width, s in data["lmc"]["summary"].items():
        mine = [r for r in data["lmc"]["rows"] if str(r["width"]) == width]
        acc = sum(r["none"]["accuracy"][0] + r["none"]["accuracy"][-1] for r in mine) / (
            2 * len(mine)
        )
        ratio = s["weights_over_naive"]
        rows.append([width, f"{100 * acc:.1f}%", _range(s["none"]), _range(s["weights"]),
                     _range(s["activations"]), _range(ratio, "{:.0%}")])  # fmt: skip
    head = ["width", "endpoints' accuracy", "naive barrier", "weight matching",
            "activation matching", "WM / naive"]  # fmt: skip
    return table(head, rows)


def render_weights_layers(data: dict) -> str:
    """Layer-wise barriers at width 512 (seeds 0 and 1): one layer moves (or every layer up to
    one), the others stay at A."""
    layers = data["lmc"]["layerwise_512"]
    rows = [[name, f"{layers['none'][name]['loss_barrier']:.3f}",
             f"{layers['weights'][name]['loss_barrier']:.3f}"] for name in layers["none"]]  # fmt: skip
    return table(["layer", "naive", "after weight matching"], rows)


def render_weights_pleas(data: dict) -> str:
    """Merging two width-512 MLPs of one label space: test accuracy, median [min, max] over the
    seed pairs."""
    s = data["pleas"]["summary"]
    names = {"endpoint_a": "endpoint A", "endpoint_b": "endpoint B",
             "endpoints_mean": "endpoints' mean", "average_none": "plain average",
             "average_weights": "weight matching + average",
             "average_activations": "activation matching + average"}  # fmt: skip
    rows = [[label, _range(s[key], "{:.2%}")] for key, label in names.items()]
    rows += [[f"PLeaS at {k[len('pleas_') :]} width", _range(v, "{:.2%}")]
             for k, v in s.items() if k.startswith("pleas_")]  # fmt: skip
    return table(["model", "test accuracy"], rows)


def render_weights_labels(data: dict) -> str:
    """Two label spaces (digits 0-4 and 5-9) merged into one model with both heads: each head on
    its own task's test digits, and the 10-way task (argmax over both heads)."""
    lab = data["labels"]
    rows = [["endpoints (each its own task)", f"{lab['endpoint_a_task']:.2%}",
             f"{lab['endpoint_b_task']:.2%}", f"{lab['endpoints_mean']:.2%}", "-"]]  # fmt: skip
    names = {"ensemble": "both endpoints side by side (2x compute)", "average_none": "plain average",
             "average_weights": "weight matching + average",
             "average_activations": "activation matching + average"}  # fmt: skip
    names |= {k: f"PLeaS, {'both domains' if 'both' in k else 'A' + chr(39) + 's domain only'}, "
              f"{k.rsplit('_', 1)[1]} width" for k in lab if k.startswith("pleas_")}  # fmt: skip
    for key, label in names.items():
        r = lab[key]
        rows.append([label, f"{r['task_a']:.2%}", f"{r['task_b']:.2%}", f"{r['tasks_mean']:.2%}",
                     f"{r['joint']:.2%}"])  # fmt: skip
    return table(["model", "task A (0-4)", "task B (5-9)", "tasks' mean", "10-way"], rows)


def render_weights_resnet(data: dict) -> str:
    """ResNet barriers (test loss / test accuracy), with and without resetting BatchNorm."""
    rows = []
    for r in data["resnet"]["rows"]:
        for key in (
            "none",
            "none+reset",
            "weights",
            "weights+reset",
            "activations",
            "activations+reset",
        ):
            method, _, reset = key.partition("+")
            rows.append(["-".join(map(str, r["widths"])), {"none": "naive"}.get(method, method),
                         "yes" if reset else "no", f"{r[key]['loss_barrier']:.3f}",
                         f"{r[key]['accuracy_barrier']:.2%}"])  # fmt: skip
    return table(["channels", "alignment", "BN reset", "loss barrier", "accuracy barrier"], rows)


def render_weights_bq(data: dict) -> str:
    """Two BQ TSP20 policies: the greedy gap along the line between them."""
    bq = data["bq"]
    rows = []
    for key, label in (("none", "naive"), ("weights", "weight matching")):
        c = bq[key]
        mid = c["loss"][len(c["loss"]) // 2]
        rows.append([label, f"{c['loss'][0]:.2f}%", f"{mid:.2f}%", f"{max(c['loss']):.2f}%",
                     f"{c['loss'][-1]:.2f}%", f"{c['loss_barrier']:.2f}"])  # fmt: skip
    return table(
        ["path", "gap A", "gap at t = 0.5 (merged)", "worst gap", "gap B", "barrier (points)"], rows
    )


def render_cluster(data: dict) -> str:
    """Labelling through a Dask scheduler vs the local process pool (``benchmarks/cluster.py``)."""
    rows = [
        [r["workers"], r["instances"], r["chunks"], f"{r['local_inst_per_s']:.1f}",
         f"{r['cluster_inst_per_s']:.1f}", f"{r['overhead_ms_per_chunk']:.0f}",
         f"{r['local_efficiency']:.0%}", f"{r['cluster_efficiency']:.0%}",
         "yes" if r["identical"] else "NO"]
        for r in data["labelling"]
    ]  # fmt: skip
    head = ["workers", "instances", "chunks", "local inst/s", "cluster inst/s",
            "overhead ms/chunk", "local efficiency", "cluster efficiency", "same bytes"]  # fmt: skip
    return table(head, rows)


def render_ddp(data: dict) -> str:
    """DDP step time against one process at the same global batch (``benchmarks/cluster.py``)."""
    rows = [[r["processes"], r["batch_per_process"], r["global_batch"], f"{1000 * r['s_per_step']:.0f}"]
            for r in data["ddp"]]  # fmt: skip
    return table(["processes", "batch per process", "global batch", "ms per step"], rows)


def _mlip_models(acc: dict, data: str) -> dict[str, list[dict]]:
    """The accuracy rows of one set, grouped by model (in benchmark order)."""
    out: dict[str, list[dict]] = {}
    for row in acc.values():
        if row["set"] == data:
            out.setdefault(row["model"], []).append(row)
    return out


def _spread_of(values: list[float]) -> dict:
    s = sorted(values)
    return {"median": s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2,
            "min": s[0], "max": s[-1], "n": len(s)}  # fmt: skip


def _mlip_table(data: dict, which: str) -> str:
    rows = []
    for model, runs in _mlip_models(data["accuracy"], which).items():
        per_mol = runs[0]["force_mae_per_molecule"]
        equiv = runs[0]["equivariance"]["force_rel"]
        rows.append([
            model, str(len(runs)), f"{runs[0]['minutes']:g}", f"{runs[0]['parameters']:,}",
            f"{min(r['steps'] for r in runs):,}-{max(r['steps'] for r in runs):,}"
            if len(runs) > 1 else f"{runs[0]['steps']:,}",
            _range(_spread_of([r["energy_mae_mev_atom"] for r in runs]), "{:.1f}"),
            _range(_spread_of([r["force_mae_ev_a"] for r in runs]), "{:.3f}"),
            _range(_spread_of([r["val_force_mae_ev_a"] for r in runs]), "{:.3f}"),
            f"{per_mol['median']:.3f} / {per_mol['p90']:.3f} / {per_mol['max']:.3f}",
            f"{equiv['median']:.1e}",
        ])  # fmt: skip
    head = ["model", "seeds", "minutes", "parameters", "steps", "energy MAE (meV/atom)",
            "force MAE (eV/Å)", "validation force MAE",
            "force MAE per molecule: median / p90 / worst (seed 0)",
            "force rotation error (median rel.)"]  # fmt: skip
    return table(head, rows)


def render_mlip_molecules(data: dict) -> str:
    """Held-out molecules (``benchmarks/mlip.py``): every model trained for the same time."""
    return _mlip_table(data, "molecules")


def render_mlip_aspirin(data: dict) -> str:
    """Aspirin's dynamics (the MD17 kind): every model trained for the same time."""
    return _mlip_table(data, "aspirin")


def render_mlip_speed(data: dict) -> str:
    """Inference: energies and forces of 256 test molecules in batches of 32, the best of five
    passes (structures/s)."""
    rows = [[model, f"{r['threads1']:.0f}", f"{r['threads2']:.0f}"]
            for model, r in data["speed"].items()]  # fmt: skip
    return table(["model", "1 thread", "2 threads"], rows)


def render_mlip_md(data: dict) -> str:
    """NVE dynamics of aspirin at 300 K with the most accurate aspirin models."""
    rows = []
    for model, r in data["md"].items():
        verdict = f"exploded: {r['reason']}" if r["exploded"] else "stable"
        rows.append([model, f"{r['force_mae_ev_a']:.3f}", f"{r['steps']:,}",
                     f"{r['time_ps']:.1f}", f"{r['drift_mev_atom_ps']:+.1e}",
                     f"{r['max_deviation_mev_atom']:.2f}", f"{r['mean_temperature']:.0f}",
                     f"{r['steps_per_second']:.0f}", verdict])  # fmt: skip
    head = ["model", "force MAE (eV/Å)", "steps (0.5 fs)", "ps", "drift (meV/atom/ps)",
            "largest excursion (meV/atom)", "mean T (K)", "steps/s", "result"]  # fmt: skip
    return table(head, rows)


RENDERERS: dict[str, Callable[[dict], str]] = {
    "labels": render_labels,
    "quality": render_quality,
    "augment": render_augment,
    "improve": render_improve,
    "fernn": render_fernn,
    "nbody": render_nbody,
    "spe": render_spe,
    "perceiver": render_perceiver,
    "improve_steps": render_improve_steps,
    "large": render_large,
    "weights_lmc": render_weights_lmc,
    "weights_layers": render_weights_layers,
    "weights_pleas": render_weights_pleas,
    "weights_labels": render_weights_labels,
    "weights_resnet": render_weights_resnet,
    "weights_bq": render_weights_bq,
    "cluster": render_cluster,
    "ddp": render_ddp,
    "mlip_molecules": render_mlip_molecules,
    "mlip_aspirin": render_mlip_aspirin,
    "mlip_speed": render_mlip_speed,
    "mlip_md": render_mlip_md,
}


def render(kind: str, filename: str, results: Path = RESULTS) -> str:
    """The table of ``kind`` for ``results/filename``, with a line naming its source."""
    if kind not in RENDERERS:
        raise ValueError(f"unknown benchmark table {kind!r}; known: {sorted(RENDERERS)}")
    path = results / filename
    if path.parent != results or path.suffix != ".json":
        raise ValueError(f"{filename}: must be a .json file of benchmarks/results/")
    data = json.loads(path.read_text())
    source = f"*Generated from `benchmarks/results/{filename}`.*"
    return RENDERERS[kind](data) + "\n\n" + source


def expand(markdown: str, results: Path = RESULTS) -> str:
    """``markdown`` with every ``<!-- benchmark: KIND FILE -->`` line replaced by its table."""
    return PLACEHOLDER.sub(lambda m: render(m.group(1), m.group(2), results), markdown)


# ------------------------------------------------------------------------------ MkDocs events


def on_startup(command: str, dirty: bool) -> None:
    """Copy the Python sources into a temporary ``symco/`` package on ``sys.path``."""
    tmp = tempfile.mkdtemp(prefix="symco-docs-")
    _TEMP.append(tmp)
    pkg = Path(tmp) / "symco"
    pkg.mkdir()
    shutil.copy(ROOT / "__init__.py", pkg / "__init__.py")

    def python_only(folder: str, names: list[str]) -> list[str]:
        return [
            n
            for n in names
            if n == "__pycache__" or not (n.endswith(".py") or (Path(folder) / n).is_dir())
        ]

    for sub in ("core", "problems", "plugins", "encodings"):
        shutil.copytree(ROOT / sub, pkg / sub, ignore=python_only)
    for folder in [p for p in pkg.rglob("*") if p.is_dir()]:
        (folder / "__init__.py").touch()
    sys.path.insert(0, tmp)


def on_shutdown() -> None:
    while _TEMP:
        tmp = _TEMP.pop()
        if tmp in sys.path:
            sys.path.remove(tmp)
        shutil.rmtree(tmp, ignore_errors=True)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return expand(markdown)
