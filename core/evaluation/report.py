"""What ``symco evaluate`` writes: the summary table, one JSON line per instance, drawings."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from symco.core.evaluation.inputs import Item

__all__ = ["gap_header", "gap_spread", "jsonl_records", "plot_items", "shown", "summary_rows"]


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
        groups.setdefault((it.problem.name, it.size), []).append(it)
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


def jsonl_records(
    items: Sequence[Item], method: str, others: Sequence[str]
) -> list[dict[str, Any]]:
    """One record per item: ``method``'s result in full, the ``others``' cost and time under
    ``baselines``."""
    lines = []
    for it in items:
        r = it.results[method]
        gap = None if it.reference is None else float(it.problem.gap(r["cost"], it.reference))
        lines.append({
            "name": it.name, "n": it.size, "cost": r["cost"],
            "solution": it.problem.solution_to_json(r["solution"]), "time_s": r["time_s"],
            "method": method, "reference": it.reference, "gap_percent": gap,
            **({"start_cost": r["start_cost"], "improve_steps": r["improve_steps"]} if "start_cost" in r else {}),
            "baselines": {m: {"cost": it.results[m]["cost"], "time_s": it.results[m]["time_s"]} for m in others},
        })  # fmt: skip
    return lines


def plot_items(items: Sequence[Item], label: str, outdir: Path, limit: int) -> list[str]:
    """PNG drawings of ``label``'s solutions (the first ``limit`` instances per size) of
    instances with coordinates, each drawn along the problem's ``drawing_path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from symco.core.dataset import atomic_path

    written: list[str] = []
    counts: dict[int, int] = {}
    for it in items:
        if label not in it.results or "coords" not in it.instance:
            continue
        if it.results[label].get("solution") is None:  # resumed from --out: not drawn again
            continue
        n = it.size
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
