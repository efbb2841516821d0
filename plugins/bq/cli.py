"""``symco evaluate``: decode instances with a trained policy-plus-reducer model, beside baselines.

Training, ``models`` and ``export-model`` are the core's generic commands
(:mod:`symco.core.training`); this module imports no torch until the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

GROUP_ALIASES = {"d4": "square-dihedral"}
"""Short names of ``--augment`` groups."""


def _generate(problem: Any, spec: str, seed: int) -> list[Any]:
    import numpy as np

    from symco.core.errors import InvalidInstanceError
    from symco.plugins.bq.evaluate import Item

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


def _items(args: argparse.Namespace, registry: Any, problem: Any) -> list[Any]:
    """The instances to evaluate: files/datasets, then generated ones; all of the model's problem."""
    from symco.core.cli import load_inputs
    from symco.core.errors import InvalidInstanceError
    from symco.plugins.bq.evaluate import Item

    if not args.instances and not args.generate:
        raise InvalidInstanceError("give instance files with --instances, or --generate SIZE:NUM")
    items = [Item(*x) for x in load_inputs(registry, args.instances, problem.name)]
    for it in items:
        it.reference_by = "file" if it.reference is not None else None
    if args.generate:
        items += _generate(problem, args.generate, args.seed)
    wrong = [it.name for it in items if it.problem.name != problem.name]
    if wrong:
        raise InvalidInstanceError(
            f"{wrong[0]}: not a {problem.name} instance (the model solves {problem.name})"
        )
    return items


def _fill_references(args: argparse.Namespace, pm: Any, registry: Any, items: list[Any]) -> None:
    """Solve the instances without a known reference with the reference solver."""
    from symco.core.cli import _resolve_solver
    from symco.plugins.bq.evaluate import solve_items

    todo = [it for it in items if it.reference is None]
    if args.reference == "none" or not todo:
        return
    problem = todo[0].problem
    largest = max(it.problem.size(it.instance) for it in todo)
    ref_cls = _resolve_solver(pm, registry, problem, args.reference, largest)
    solve_items(ref_cls, {"seed": 0}, todo, args.workers, "reference", quiet=args.quiet)
    for it in todo:
        it.reference = it.results.pop("reference")["cost"]
        it.reference_by = ref_cls.name


def _augment_group(name: str | None, registry: Any, problem: Any) -> Any:
    """The ``--augment`` group (a registered group name or an alias), checked against the problem."""
    if name is None:
        return None
    from symco.core.decoding import augmentation_key

    group = registry.get("group", GROUP_ALIASES.get(name, name))()
    augmentation_key(problem, group)  # refuses a group the problem is not invariant under
    return group


def _improvement(args: argparse.Namespace, registry: Any, module: Any) -> Any:
    """The ``--improve`` chain, built for the model's problem, policy and reducer; ``None``
    without ``--improve``.

    :raises InvalidInstanceError: limits without ``--improve``, an improver the problem does not
        have, or a randomized improver with neither ``--improve-steps`` nor ``--time-limit``.
    """
    from symco.core.errors import InvalidInstanceError
    from symco.plugins.bq.evaluate import Improvement, build_improver

    if args.improve is None:
        for flag, value in (
            ("--improve-steps", args.improve_steps),
            ("--time-limit", args.time_limit),
        ):
            if value is not None:
                raise InvalidInstanceError(f"{flag}: only with --improve NAME")
        return None
    problem = module.problem
    known = registry.names("improver", problem.name)
    members = []
    for name in args.improve.split("+"):
        if name not in known:
            have = ", ".join(known) or "none"
            raise InvalidInstanceError(
                f"--improve: no improver {name!r} for {problem.name} (its improvers: {have})"
            )
        members.append(build_improver(registry, module, name, args.knn))
    improvement = Improvement(members, args.improve_steps, args.time_limit, args.seed)
    if args.improve_steps is None and args.time_limit is None and not improvement.improver.stops:
        raise InvalidInstanceError(
            f"--improve {args.improve}: give --improve-steps N or --time-limit S (it does not "
            "stop on its own)"
        )
    return improvement


def _write_jsonl(path: str, items: list[Any], methods: list[str]) -> None:
    import json

    from symco.core.dataset import atomic_path

    label, lines = methods[0], []
    for it in items:
        r = it.results[label]
        gap = None if it.reference is None else float(it.problem.gap(r["cost"], it.reference))
        lines.append({
            "name": it.name, "n": it.problem.size(it.instance), "cost": r["cost"],
            "solution": it.problem.solution_to_json(r["solution"]), "time_s": r["time_s"],
            "method": label, "reference": it.reference, "gap_percent": gap,
            **({"start_cost": r["start_cost"], "improve_steps": r["improve_steps"]} if "start_cost" in r else {}),
            "baselines": {m: {"cost": it.results[m]["cost"], "time_s": it.results[m]["time_s"]} for m in methods[1:]},
        })  # fmt: skip
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(x) + "\n" for x in lines))
    print(f"wrote {path}: {len(lines)} lines")


def run_evaluate(args: argparse.Namespace, pm: Any, registry: Any) -> int:
    import torch

    from symco.core.errors import InvalidInstanceError
    from symco.core.manager import shipped_models
    from symco.core.table import format_table
    from symco.core.training.checkpoints import load_model
    from symco.plugins.bq.evaluate import (
        gap_header,
        parse_decode,
        plot_items,
        run_methods,
        summary_rows,
    )

    try:
        parse_decode(args.decode)
    except ValueError as exc:
        raise InvalidInstanceError(str(exc)) from None
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidInstanceError(f"--device: {args.device} requested, but CUDA is not available")
    model = load_model(args.ckpt, shipped_models(pm), registry)
    model.module.to(args.device)
    problem = model.module.problem
    group = _augment_group(args.augment, registry, problem)
    improvement = _improvement(args, registry, model.module)
    items = _items(args, registry, problem)
    _fill_references(args, pm, registry, items)
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
        augment=group,
        improvement=improvement,
        quiet=args.quiet,
    )
    head = ["problem", "n", "instances", "method", "mean cost", gap_header(items), "s/instance"]
    knn = args.knn if model.module.reducer.supports_knn else None
    spread = improvement is not None  # where instances can stall: the distribution, not the mean
    head += ["gap median / p90 / max"] if spread else []
    print(format_table(head, summary_rows(items, methods, knn, spread=spread)))
    if args.out:
        _write_jsonl(args.out, items, methods)
    if args.plot:
        files = plot_items(items, methods[0], Path(args.plot), args.plot_max)
        print(f"wrote {len(files)} plots to {args.plot}")
    return 0


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from symco.core.cli import _number, add_threads_option

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
        "--augment",
        default=None,
        metavar="GROUP",
        help="decode every image of each instance under a finite symmetry group of the problem "
        "and keep the best (d4: the 8 symmetries of the unit square)",
    )
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
    p.add_argument(
        "--improve",
        default=None,
        metavar="NAME[+NAME...]",
        help="improve each solution after decoding with the problem's improvers, taking turns "
        "(rrc: random re-construction with the model; tsp also: 2opt, e.g. rrc+2opt)",
    )
    p.add_argument(
        "--improve-steps",
        type=_number(int, 1, strict=False),
        default=None,
        metavar="N",
        help="improvement steps per batch (reproducible with --seed)",
    )
    p.add_argument(
        "--time-limit",
        type=_number(float, 0, strict=True),
        default=None,
        metavar="S",
        help="seconds per instance for decoding plus improvement (whichever of the limits "
        "comes first)",
    )
    add_threads_option(p)
    p.add_argument("--device", default="cpu", help="torch device to decode on (cpu, cuda, ...)")
    p.add_argument("--out", default=None, help="one JSON line per instance")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--plot", default=None, metavar="DIR", help="draw tours as PNG")
    p.add_argument(
        "--plot-max", type=_number(int, 1, strict=False), default=4, help="plots per size"
    )
    p.set_defaults(handler=run_evaluate)
