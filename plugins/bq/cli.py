"""``symco fit|validate|test|predict`` (LightningCLI), ``symco evaluate`` and ``symco models``."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")


def run_lightning(args: argparse.Namespace, pm: Any, registry: Any) -> int:
    """Hand the command line after ``symco`` to LightningCLI (its parser, errors and help)."""
    import sys

    import lightning as L
    from lightning.pytorch.cli import LightningCLI

    # LightningCLI reads sys.argv itself (passing `args=` as well makes it warn): show it ours.
    saved, sys.argv = sys.argv, ["symco", args.command, *args.rest]
    try:
        LightningCLI(
            L.LightningModule,
            L.LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            parser_kwargs={"prog": "symco", "default_env": False},
            save_config_kwargs={"overwrite": True},
            auto_configure_optimizers=False,
        )
    finally:
        sys.argv = saved
    return 0


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    helps = {
        "fit": "train a model from a YAML config (LightningCLI: symco fit --config configs/tsp/cpu.yaml)",
        "validate": "validate a checkpoint (LightningCLI)",
        "test": "test a checkpoint (LightningCLI)",
        "predict": "predict with a checkpoint (LightningCLI)",
    }
    for name in LIGHTNING_COMMANDS:
        p = subparsers.add_parser(name, help=helps[name], add_help=False, prefix_chars="\0")
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(handler=run_lightning)
    add_model_commands(subparsers)


def _generate(model: Any, spec: str, seed: int) -> list[Any]:
    from symco.core.errors import InvalidInstanceError
    from symco.plugins.bq.evaluate import Item

    problem = model.problem
    items = []
    for part in spec.split(","):
        size, _, num = part.partition(":")
        if not (size.isdigit() and num.isdigit() and int(num) > 0):
            raise InvalidInstanceError(f"--generate: expected SIZE:NUM[,SIZE:NUM...], got {part!r}")
        inst = problem.generate(int(num), int(size), rng=np.random.default_rng([seed, int(size)]))
        items += [
            Item(f"{problem.name}{size}-seed{seed}:{i}", problem, problem.select(inst, i), None)
            for i in range(int(num))
        ]
    return items


def run_evaluate(args: argparse.Namespace, pm: Any, registry: Any) -> int:
    import json

    from symco.core.cli import _resolve_solver, load_inputs
    from symco.core.dataset import atomic_path
    from symco.core.errors import InvalidInstanceError
    from symco.core.table import format_table
    from symco.plugins.bq.evaluate import (
        Item,
        parse_decode,
        plot_items,
        run_methods,
        solve_items,
        summary_rows,
    )
    from symco.plugins.bq.models import all_models, load_model

    try:
        parse_decode(args.decode)
    except ValueError as exc:
        raise InvalidInstanceError(str(exc)) from None
    if not args.instances and not args.generate:
        raise InvalidInstanceError("give instance files with --instances, or --generate SIZE:NUM")
    torch.set_num_threads(args.threads)
    model = load_model(args.ckpt, all_models(pm))
    items: list[Item] = []
    if args.instances:
        for name, problem, inst, ref in load_inputs(registry, args.instances, model.problem.name):
            items.append(Item(name, problem, inst, ref))
    if args.generate:
        items += _generate(model, args.generate, args.seed)
    wrong = [it.name for it in items if it.problem.name != model.problem.name]
    if wrong:
        raise InvalidInstanceError(
            f"{wrong[0]}: not a {model.problem.name} instance (the model solves {model.problem.name})"
        )
    if args.reference != "none":
        todo = [it for it in items if it.reference is None]
        if todo:
            largest = max(it.problem.size(it.instance) for it in todo)
            ref_cls = _resolve_solver(pm, registry, model.problem, args.reference, largest)
            solve_items(ref_cls, {"seed": 0}, todo, args.workers, "reference")
            for it in todo:
                it.reference = it.results.pop("reference")["cost"]
    methods = run_methods(
        model,
        registry,
        items,
        [args.decode],
        knn=args.knn,
        batch_size=args.batch_size,
        baselines=args.baselines,
        baseline_time_limit=args.baseline_time_limit,
        workers=args.workers,
    )
    label = methods[0]
    rows = summary_rows(items, methods)
    print(
        format_table(
            ["problem", "n", "instances", "method", "mean cost", "mean gap %", "s/instance"], rows
        )
    )
    if args.out:
        lines = []
        for it in items:
            r = it.results[label]
            gap = None if it.reference is None else float(it.problem.gap(r["cost"], it.reference))
            lines.append({
                "name": it.name, "n": it.problem.size(it.instance), "cost": r["cost"],
                "solution": it.problem.solution_to_json(r["solution"]), "time_s": r["time_s"],
                "method": label, "reference": it.reference, "gap_percent": gap,
                "baselines": {m: {"cost": it.results[m]["cost"], "time_s": it.results[m]["time_s"]} for m in methods[1:]},
            })  # fmt: skip
        with atomic_path(args.out) as tmp:
            tmp.write_text("".join(json.dumps(x) + "\n" for x in lines))
        print(f"wrote {args.out}: {len(lines)} lines")
    if args.plot:
        from pathlib import Path

        files = plot_items(items, label, Path(args.plot), args.plot_max)
        print(f"wrote {len(files)} plots to {args.plot}")
    return 0


def run_models(args: argparse.Namespace, pm: Any, registry: Any) -> int:
    from pathlib import Path

    from symco.core.table import format_table
    from symco.plugins.bq.models import all_models, read_checkpoint

    rows = []
    for name, path in sorted(all_models(pm).items()):
        obj = read_checkpoint(Path(path))
        hp = obj["hyper_parameters"]
        params = sum(v.numel() for v in obj["state_dict"].values())
        rows.append([name, hp.get("problem"), f"{params / 1e6:.2f}M", f"{Path(path).stat().st_size / 1e6:.1f} MB",
                     str(obj.get("notes", ""))[:70]])  # fmt: skip
    print(
        format_table(["name", "problem", "parameters", "file", "notes"], rows)
        if rows
        else "no shipped models"
    )
    return 0


def run_export(args: argparse.Namespace, pm: Any, registry: Any) -> int:
    from pathlib import Path

    from symco.plugins.bq.models import export_model

    slim = export_model([Path(c) for c in args.ckpt], Path(args.out), args.notes)
    avg = f", mean of {len(args.ckpt)} checkpoints" if len(args.ckpt) > 1 else ""
    print(
        f"wrote {args.out} (step {slim['global_step']}{avg}, {Path(args.out).stat().st_size / 1e6:.1f} MB)"
    )
    return 0


def add_model_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from symco.core.cli import _number

    p = subparsers.add_parser(
        "evaluate", help="decode instances with a trained model; gaps per size, with baselines"
    )
    p.add_argument(
        "--ckpt", required=True, help="checkpoint path or shipped model name (see `symco models`)"
    )
    p.add_argument(
        "--instances",
        nargs="+",
        default=[],
        metavar="PATH",
        help=".npz datasets, TSPLIB files or directories",
    )
    p.add_argument(
        "--generate",
        default=None,
        metavar="SIZE:NUM,...",
        help="also evaluate fresh uniform instances",
    )
    p.add_argument(
        "--seed", type=_number(int, 0, strict=False), default=0, help="seed of --generate"
    )
    p.add_argument("--decode", default="greedy", help="greedy or beam:W")
    p.add_argument(
        "--knn",
        type=_number(int, 1, strict=False),
        default=None,
        help="restrict each state to the K nearest nodes",
    )
    p.add_argument(
        "--batch-size",
        type=_number(int, 1, strict=False),
        default=64,
        help="instances decoded together",
    )
    p.add_argument(
        "--baselines", action="store_true", help="also run the problem's baseline solvers"
    )
    p.add_argument(
        "--baseline-time-limit",
        type=_number(float, 0, strict=True),
        default=1.0,
        help="seconds for anytime baselines",
    )
    p.add_argument(
        "--reference",
        default=None,
        help="solver for missing references (default: strongest installed; 'none' to skip)",
    )
    p.add_argument(
        "--workers", type=_number(int, 1, strict=False), default=2, help="solver processes"
    )
    p.add_argument("--threads", type=_number(int, 1, strict=False), default=2, help="torch threads")
    p.add_argument("--out", default=None, help="one JSON line per instance")
    p.add_argument("--plot", default=None, metavar="DIR", help="draw tours as PNG")
    p.add_argument(
        "--plot-max", type=_number(int, 1, strict=False), default=4, help="plots per size"
    )
    p.set_defaults(handler=run_evaluate)

    p = subparsers.add_parser("models", help="list the trained models plugins ship")
    p.set_defaults(handler=run_models)

    p = subparsers.add_parser(
        "export-model", help="slim a Lightning checkpoint into a shippable model file"
    )
    p.add_argument(
        "--ckpt",
        required=True,
        nargs="+",
        help="Lightning checkpoint of a BQModule; several of one run are averaged weight by weight",
    )
    p.add_argument("--out", required=True, help="output .pt file")
    p.add_argument("--notes", default="", help="how it was trained (shown by `symco models`)")
    p.set_defaults(handler=run_export)
