"""``symco evaluate`` for any method: inputs, references, baselines, the summary table, JSONL and
plots. A model takes part by declaring :meth:`~symco.core.evaluation.methods.EvaluatedModel.decoder`
(as it declares ``symmetries()``)."""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    **dict.fromkeys(("Item", "LoadedInstance", "generate_inputs", "load_inputs", "problem_for_npz"), "inputs"),
    **dict.fromkeys(("EvaluatedModel", "Improvement", "decode_items", "improvers_for", "run_methods", "solve_items", "view_group"), "methods"),
    **dict.fromkeys(("gap_header", "gap_spread", "jsonl_records", "plot_items", "shown", "summary_rows"), "report"),
}  # fmt: skip


def __getattr__(name: str) -> Any:
    # lazy: building the command line imports this package, and torch must wait for a command
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)


__all__ = [
    "EvaluatedModel",
    "Improvement",
    "Item",
    "LoadedInstance",
    "decode_items",
    "gap_header",
    "gap_spread",
    "generate_inputs",
    "improvers_for",
    "jsonl_records",
    "load_inputs",
    "plot_items",
    "problem_for_npz",
    "run_methods",
    "shown",
    "solve_items",
    "summary_rows",
    "view_group",
]
