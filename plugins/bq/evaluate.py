"""``symco evaluate``: decode instances with a trained model, next to baselines, per size."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from symco.core.problem import Instances, Problem
from symco.core.solver import Solver

GROUP_LABELS = {"square-dihedral": "d4"}
"""Short labels of augmentation groups in method names."""


@dataclass
class Item:
    """One instance to evaluate."""

    name: str
    problem: Problem
    instance: Instances  # B = 1
    reference: float | None
    reference_by: str | None = None  # what the reference is: a solver's name, or "file"
    results: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # method -> cost, solution, time_s


@dataclass
class Improvement:
    """``--improve``: the improvers (taking turns, as a :class:`~symco.core.improver.Chain`), the
    step limit per batch, the time limit in seconds per instance (construction included) and the
    seed of the improvers' generator."""

    members: list[Any]
    steps: int | None = None
    time_limit: float | None = None
    seed: int = 0

    @property
    def improver(self) -> Any:
        from symco.core.improver import Chain

        return self.members[0] if len(self.members) == 1 else Chain(self.members)

    @property
    def label(self) -> str:
        return " +" + "+".join(m.name for m in self.members)

    def run(self, tensors: Any, sols: list[np.ndarray], built_s: float, chunk: int) -> Any:
        """Improve the ``chunk`` solutions decoded in ``built_s`` seconds: the time limit is the
        batch's share, ``chunk * time_limit`` seconds, less the construction."""
        limit = None
        if self.time_limit is not None:
            limit = max(self.time_limit * chunk - built_s, 1e-9)  # spent: no step runs
        gen = torch.Generator().manual_seed(self.seed)
        return self.improver.improve(tensors, sols, generator=gen, steps=self.steps,
                                     time_limit=limit)  # fmt: skip


def view_group(registry: Any, problem: Problem) -> Any:
    """The first finite group the problem's objective is declared invariant under (a learned
    improver decodes each sub-problem in a random image of it), or ``None``."""
    for name in problem.invariances:
        group = registry.get("group", name)()
        if group.elements() is not None:
            return group
    return None


def build_improver(registry: Any, module: Any, name: str, knn: int | None) -> Any:
    """The registered improver ``name`` of the module's problem, as ``--improve`` builds it: a
    learned one gets the module's policy and reducer and, where it takes ``views``, a random
    image per sub-problem under :func:`view_group` (d4 images of every segment measured slower
    for the same gap than more segments; one random image costs nothing)."""
    import inspect

    problem = module.problem
    cls = registry.get("improver", name, problem.name)
    options: dict[str, Any] = {"knn": knn}
    if cls.needs_policy:
        options |= {"policy": module.policy, "reducer": module.reducer}
        if "views" in inspect.signature(cls).parameters:
            options["views"] = view_group(registry, problem)
    return cls(problem, **options)


def parse_decode(text: str) -> tuple[str, int]:
    """``greedy`` or ``beam:W``."""
    if text == "greedy":
        return "greedy", 1
    kind, _, width = text.partition(":")
    if kind == "beam" and width.isdigit() and int(width) >= 1:
        return "beam", int(width)
    raise ValueError(f"--decode must be 'greedy' or 'beam:W' with W >= 1, got {text!r}")


def decoder(module: Any, decode: str, knn: int | None, augment: Any = None) -> Any:
    """``instances -> solutions`` for a policy-plus-reducer module: greedy or beam search, over
    every image under the finite group ``augment`` when given (best image kept)."""
    from symco.core.decoding import beam_search, decode_augmented, greedy

    kind, width = parse_decode(decode)
    policy, reducer, problem = module.policy, module.reducer, module.problem

    def run(tensors: Any) -> list[np.ndarray]:
        if kind == "greedy":
            return greedy(policy, reducer, tensors, knn=knn)
        return beam_search(policy, reducer, problem, tensors, width, knn=knn)

    if augment is None:
        return run
    return lambda tensors: decode_augmented(run, problem, augment, tensors)


def decode_items(
    model: Any,
    items: Sequence[Item],
    decode: str,
    *,
    knn: int | None,
    batch_size: int,
    label: str,
    augment: Any = None,
    improvement: Improvement | None = None,
    quiet: bool = True,
) -> None:
    """Decode every item with the model, batching instances of equal size; fills ``results[label]``.

    With ``augment`` (a finite group) each batch carries every image of its instances; with
    ``improvement`` each batch's solutions are improved after decoding (``time_s`` counts both)."""
    problem = model.module.problem
    run = decoder(model.module, decode, knn, augment)
    device = next(model.module.parameters()).device  # decode where the model is
    groups: dict[tuple[int, tuple[str, ...]], list[Item]] = {}
    for it in items:
        key = (it.problem.size(it.instance), tuple(sorted(it.instance)))
        groups.setdefault(key, []).append(it)
    from symco.core.progress import progress

    with progress(len(items), label, quiet=quiet) as done:
        for group in groups.values():
            _decode_group(group, run, problem, device, batch_size, label, done, improvement)


def _decode_group(
    group: list[Item],
    run: Any,
    problem: Problem,
    device: Any,
    batch_size: int,
    label: str,
    done: Any,
    improvement: Improvement | None = None,
) -> None:
    """Decode (and improve) one group of equal-size items in chunks of ``batch_size``."""
    for start in range(0, len(group), batch_size):
        chunk = group[start : start + batch_size]
        arrays = {k: np.concatenate([it.instance[k] for it in chunk]) for k in chunk[0].instance}
        tensors = {k: torch.as_tensor(v).to(device) for k, v in arrays.items()}
        t0 = time.perf_counter()
        sols = run(tensors)
        extra: list[dict[str, Any]] = [{} for _ in chunk]
        if improvement is not None:
            built = problem.objective(arrays, sols)
            res = improvement.run(tensors, sols, time.perf_counter() - t0, len(chunk))
            sols = res.solutions
            extra = [{"start_cost": float(c), "improve_steps": res.steps} for c in built]
        per = (time.perf_counter() - t0) / len(chunk)
        problem.check_solution(arrays, sols)
        costs = problem.objective(arrays, sols)
        for it, sol, cost, more in zip(chunk, sols, costs, extra):
            it.results[label] = {"cost": float(cost), "solution": sol, "time_s": per, **more}
        done(len(chunk))


def solve_items(
    solver_cls: type[Solver],
    options: dict[str, Any],
    items: Sequence[Item],
    workers: int,
    label: str,
    quiet: bool = True,
) -> None:
    """Solve every item with a registered solver (baselines, references)."""
    from symco.core.labels import Pool
    from symco.core.progress import progress

    with Pool(workers) as pool, progress(len(items), label, quiet=quiet) as done:
        futs = [pool.submit(solver_cls, options, it.instance) for it in items]
        for it, fut in zip(items, futs):
            sol, seconds = fut.result()
            done(1)
            it.problem.check_solution(it.instance, [sol])
            cost = float(it.problem.objective(it.instance, [sol])[0])
            it.results[label] = {"cost": cost, "solution": sol, "time_s": seconds}


def gap_header(items: Sequence[Item]) -> str:
    """``gap % vs lkh`` when every reference comes from one source, else ``gap % vs reference``."""
    sources = {it.reference_by for it in items if it.reference is not None}
    return f"gap % vs {sources.pop()}" if len(sources) == 1 else "gap % vs reference"


def shown(method: str, n: int, knn: int | None) -> str:
    """A method's label for instances of ``n`` nodes: the kNN tag only where a view was truncated."""
    tag = f" knn{knn}"
    return method.replace(tag, "") if knn is not None and n <= knn and tag in method else method


def gap_spread(gaps: Sequence[float]) -> str:
    """``median / p90 / max`` of per-instance gaps (percent), for the summary table."""
    if not gaps:
        return "-"
    med, p90, top = np.median(gaps), np.percentile(gaps, 90), np.max(gaps)
    return f"{med:.3f} / {p90:.3f} / {top:.3f}"


def summary_rows(
    items: Sequence[Item], methods: Sequence[str], knn: int | None = None, spread: bool = False
) -> list[list[Any]]:
    """One row per (problem, size) and method: mean cost, mean gap to the reference, s/instance.

    :param knn: the kNN view size the methods decoded with; rows of sizes it never truncated
        (``n <= knn``) drop the tag.
    :param spread: add a column of the per-instance gaps' median, 90th percentile and maximum
        (what ``--improve`` shows: a mean hides the instances that stall)."""
    rows = []
    groups: dict[tuple[str, int], list[Item]] = {}
    for it in items:
        groups.setdefault((it.problem.name, it.problem.size(it.instance)), []).append(it)
    for (pname, n), group in sorted(groups.items()):
        for m in methods:
            rs = [it for it in group if m in it.results]
            if not rs:
                continue
            cost = float(np.mean([it.results[m]["cost"] for it in rs]))
            gaps = [
                float(it.problem.gap(it.results[m]["cost"], it.reference))
                for it in rs
                if it.reference is not None
            ]
            gap = float(np.mean(gaps)) if gaps else None
            t = float(np.mean([it.results[m]["time_s"] for it in rs]))
            row = [pname, n, len(rs), shown(m, n, knn), cost, gap, t]
            rows.append([*row, gap_spread(gaps)] if spread else row)
    return rows


def plot_items(items: Sequence[Item], label: str, outdir: Any, limit: int) -> list[str]:
    """PNG drawings of the model's tours (first ``limit`` instances per size)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from symco.core.dataset import atomic_path

    written: list[str] = []
    counts: dict[int, int] = {}
    for it in items:
        if label not in it.results or "coords" not in it.instance:
            continue
        n = it.problem.size(it.instance)
        if counts.get(n, 0) >= limit:
            continue
        counts[n] = counts.get(n, 0) + 1
        xy = np.asarray(it.instance["coords"])[0]
        path = it.problem.drawing_path(np.asarray(it.results[label]["solution"]))
        fig, ax = plt.subplots(figsize=(5, 5))
        ax.plot(xy[path, 0], xy[path, 1], "-", lw=0.8, color="tab:blue")
        ax.scatter(xy[:, 0], xy[:, 1], s=6, color="black", zorder=3)
        gap = (
            ""
            if it.reference is None
            else f", gap {float(it.problem.gap(it.results[label]['cost'], it.reference)):.2f}%"
        )
        ax.set_title(f"{it.name}: {label} {it.results[label]['cost']:.3f}{gap}", fontsize=9)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        safe = it.name.replace(":", "_").replace("/", "_")
        target = outdir / f"{safe}.png"
        with atomic_path(target) as tmp:
            fig.savefig(tmp, dpi=100, bbox_inches="tight")
        plt.close(fig)
        written.append(str(target))
    return written


def run_methods(
    model: Any,
    registry: Any,
    items: Sequence[Item],
    decodes: Sequence[str],
    *,
    knn: int | None,
    batch_size: int,
    baselines: bool,
    baseline_time_limit: float,
    workers: int,
    augment: Any = None,
    improvement: Improvement | None = None,
    quiet: bool = True,
) -> list[str]:
    """Decode ``items`` with each decoding of the model, then run the problem's baseline solvers.

    Beam search batches ``batch_size // 8`` instances (each carries W beams); augmentation by a
    group of K elements batches ``batch_size // K`` instances (each carries K images).
    :return: the method labels, in table order.
    """
    methods = []
    module = model.module
    knn = knn if module.reducer.supports_knn else None  # not shown in labels where it does nothing
    images = 1 if augment is None else len(augment.elements())
    for decode in decodes:
        label = f"{model.name} {decode}" + (f" knn{knn}" if knn else "")
        label += f" +{GROUP_LABELS.get(augment.name, augment.name)}" if augment is not None else ""
        label += improvement.label if improvement is not None else ""
        bs = batch_size if decode == "greedy" else max(1, batch_size // 8)
        bs = max(1, bs // images)
        decode_items(model, items, decode, knn=knn, batch_size=bs, label=label, augment=augment,
                     improvement=improvement, quiet=quiet)  # fmt: skip
        methods.append(label)
    if baselines:
        problem = module.problem
        for name in problem.baselines:
            cls = registry.solver_class(problem.name, name)
            if cls.available():
                options = {"seed": 0, "time_limit": baseline_time_limit}
                solve_items(cls, options, items, workers, name, quiet=quiet)
                methods.append(name)
    return methods
