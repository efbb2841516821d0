"""``symco evaluate``: any model that declares a decoder, on files, datasets or fresh instances,
beside references and baselines (added by the core's own plugin, like ``fit``).

Arguments are checked before the model loads; the model is rebuilt from its checkpoint's class
path; it decodes through its own :meth:`~symco.core.evaluation.methods.EvaluatedModel.decoder`
(+ augmentation by a finite group of the problem, + improvers); the problem's objective scores
every solution; the table, JSONL and plots are written at the end.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symco.core.cluster import add_cluster_option, cluster_of
from symco.core.errors import SymcoError, UnknownNameError, UsageError
from symco.core.manager import PluginManager
from symco.core.options import (
    add_threads_option,
    nonneg_int,
    parse_sizes,
    positive_float,
    positive_int,
)
from symco.core.registry import Registry

__all__ = ["add_evaluate_command", "cmd_evaluate"]


def _check_limits(args: argparse.Namespace) -> None:
    if args.improve is None:
        for flag, value in (
            ("--improve-steps", args.improve_steps),
            ("--time-limit", args.time_limit),
        ):
            if value is not None:
                raise UsageError(f"{flag}: only with --improve NAME")
    if args.stages and args.augment is None and args.improve is None:
        raise UsageError(
            "--stages: give --augment GROUP and/or --improve NAME (the stages to show)"
        )
    if not args.instances and not args.generate:
        raise UsageError("give instance files with --instances, or --generate SIZE:NUM")


def _augment_group(registry: Registry, name: str | None, problem: Any) -> Any:
    """The ``--augment`` group (a registered name or a group's short name), checked against the
    problem's declared invariances."""
    if name is None:
        return None
    from symco.core.decoding import augmentation_key

    try:
        group = registry.group(name)()
    except UnknownNameError as exc:
        raise UsageError(f"--augment: {exc}") from None
    try:
        augmentation_key(problem, group)
    except SymcoError as exc:
        raise UsageError(f"--augment: {exc}") from None
    return group


def _improvement(args: argparse.Namespace, registry: Registry, model: Any) -> Any:
    """The ``--improve`` chain for the model's problem (``None`` without ``--improve``)."""
    from symco.core.evaluation.methods import Improvement, improvers_for

    if args.improve is None:
        return None
    problem = model.problem
    known = registry.names("improver", problem.name)
    names = args.improve.split("+")
    for name in names:
        if name not in known:
            have = ", ".join(known) or "none"
            raise UsageError(
                f"--improve: no improver {name!r} for {problem.name} (its improvers: {have})"
            )
        learned = registry.get("improver", name, problem.name).needs_policy
        if learned and (
            getattr(model, "policy", None) is None or getattr(model, "reducer", None) is None
        ):
            raise UsageError(
                f"--improve {name}: it re-constructs with the model's policy and reducer, and "
                f"{type(model).__name__} has none"
            )
    members = improvers_for(registry, model, names, args.knn)
    improvement = Improvement(members, args.improve_steps, args.time_limit, args.seed)
    if args.improve_steps is None and args.time_limit is None and not improvement.improver.stops:
        raise UsageError(
            f"--improve {args.improve}: give --improve-steps N or --time-limit S (it does not "
            "stop on its own)"
        )
    return improvement


def _items(args: argparse.Namespace, registry: Registry, problem: Any, sizes: Any) -> list[Any]:
    """Files/datasets, then generated instances; every one of the model's problem."""
    from symco.core.evaluation.inputs import Item, generate_inputs, load_inputs

    loaded = load_inputs(registry, args.instances, problem.name)
    loaded += generate_inputs(problem, sizes, args.seed) if sizes else []
    wrong = [x.name for x in loaded if x.problem.name != problem.name]
    if wrong:
        raise UsageError(
            f"{wrong[0]}: not a {problem.name} instance (the model solves {problem.name})"
        )
    return [Item.of(x) for x in loaded]


def _check_memory(
    args: argparse.Namespace, model: Any, group: Any, improvement: Any, items: list[Any]
) -> None:
    """Refuse, before any work, a run whose largest batch of some size would not fit in the
    memory available: the decoder and the improvers say what they need."""
    from symco.core.evaluation import memory
    from symco.core.symmetry.group import element_size

    available = memory.available_bytes(args.device)
    if available is None:
        return
    decoder = model.decoder(args.decode, knn=args.knn)
    images = 1 if group is None else element_size(group.elements())
    improver = None if improvement is None else improvement.improver
    sizes: dict[int, int] = {}
    for it in items:
        sizes[it.size] = sizes.get(it.size, 0) + 1
    plain = args.stages and group is not None
    for need in memory.needs(decoder, improver, sizes, batch_size=args.batch_size,
                             images=images, plain_stage=plain):  # fmt: skip
        if need.total > available:
            knn_helps = model.decoder(args.decode, knn=args.knn or memory.KNN_HINT).knn is not None
            raise UsageError(
                memory.refusal(need, available, knn=args.knn, knn_helps=knn_helps,
                               augment=args.augment, images=images, improve=args.improve)
            )  # fmt: skip


LARGE = 2000
"""Instances of at least this many nodes get a capped reference solve by default."""
LARGE_REFERENCE_LIMIT = 60.0
"""Seconds per instance for the reference solver at :data:`LARGE` sizes and up, unless
``--reference-time-limit`` says otherwise (an uncapped LKH run on 10,000 nodes takes hours)."""


@dataclass
class ReferenceSolve:
    """How the missing references are solved: the solver class, its options, and whether the
    line saying so was printed."""

    solver: Any
    options: dict[str, Any]
    announced: bool = False


def _reference_solver(
    args: argparse.Namespace, pm: PluginManager, registry: Registry, items: list[Any]
) -> ReferenceSolve | None:
    """The solver for the instances without a known reference (``None``: none needed or
    ``--reference none``), chosen for the largest of them, time-capped by
    ``--reference-time-limit`` or, from :data:`LARGE` nodes on, :data:`LARGE_REFERENCE_LIMIT`."""
    from symco.core.solver import resolve_solver

    todo = [it for it in items if it.reference is None]
    if args.reference == "none" or not todo:
        return None
    largest = max(it.size for it in todo)
    cls = resolve_solver(pm, registry, todo[0].problem, args.reference, largest)
    limit = args.reference_time_limit
    if limit is None and largest >= LARGE:
        limit = LARGE_REFERENCE_LIMIT
    return ReferenceSolve(cls, {"seed": 0} | ({"time_limit": limit} if limit else {}))


def _fill_references(
    args: argparse.Namespace, ref: ReferenceSolve | None, items: list[Any], cluster: Any = None
) -> None:
    """Solve the instances without a known reference, saying what runs (once)."""
    from symco.core.evaluation.methods import solve_items

    todo = [it for it in items if it.reference is None]
    if ref is None or not todo:
        return
    if not ref.announced:  # even under --quiet: a reference solve can take long
        limit = ref.options.get("time_limit")
        each = f"at most {limit:g} s each" if limit else "no time limit"
        print(
            f"reference: {ref.solver.name} on the instances without one ({each}; "
            "--reference none skips it, --references FILE.jsonl supplies them)",
            file=sys.stderr,
        )
        ref.announced = True
    solve_items(ref.solver, ref.options, todo, args.workers, "reference", quiet=args.quiet,
                cluster=cluster)  # fmt: skip
    for it in todo:
        it.reference = it.results.pop("reference")["cost"]
        it.reference_by = ref.solver.name


def read_references(paths: list[str]) -> dict[str, tuple[float, str]]:
    """Reference values by instance name from JSON-lines files: ``symco solve --out`` (each
    line's ``cost``, by its ``solver``) or ``symco evaluate --out`` (each line's ``reference``).

    :raises DataFileError: a missing file or a line that is neither.
    """
    import json

    from symco.core.errors import DataFileError

    refs: dict[str, tuple[float, str]] = {}
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            raise DataFileError(f"{path}: no such file (--references)")
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                if "method" in r:  # symco evaluate --out
                    if r["reference"] is not None:
                        refs[r["name"]] = (float(r["reference"]), "file")
                else:  # symco solve --out
                    refs[r["name"]] = (float(r["cost"]), str(r["solver"]))
            except (ValueError, KeyError, TypeError):
                raise DataFileError(
                    f"{path}: line {number}: neither a symco solve nor a symco evaluate record"
                ) from None
    return refs


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    """Items of one size (and one set of arrays) together, at most ``size`` a chunk, in the
    order the sizes first appear: the unit ``--out`` writes as it finishes."""
    groups: dict[tuple[int, tuple[str, ...]], list[Any]] = {}
    for it in items:
        groups.setdefault((it.size, tuple(sorted(it.instance))), []).append(it)
    return [g[i : i + size] for g in groups.values() for i in range(0, len(g), size)]


def _labels_of(record: dict[str, Any], main: str, name: str) -> list[str]:
    """The table's methods as a finished run had them: the model's stages, then the rest."""
    others = list(record.get("baselines", {}))
    stages = [m for m in others if m.startswith(f"{name} ")]
    return [*stages, main, *(m for m in others if m not in stages)]


def cmd_evaluate(args: argparse.Namespace, pm: PluginManager, registry: Registry) -> int:
    import torch

    from symco.core.evaluation.methods import run_methods, stage_labels
    from symco.core.evaluation.report import gap_header, plot_items, summary_rows
    from symco.core.evaluation.resume import append_lines, read_finished, restore
    from symco.core.manager import shipped_models
    from symco.core.table import format_table
    from symco.core.training.checkpoints import load_model

    sizes = parse_sizes(args.generate) if args.generate else []  # before anything loads
    _check_limits(args)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device: {args.device} requested, but CUDA is not available")
    loaded = load_model(args.ckpt, shipped_models(pm), registry)
    module = loaded.module
    if not callable(getattr(module, "decoder", None)):
        raise UsageError(
            f"--ckpt {args.ckpt}: {type(module).__name__} declares no decoder (symco evaluate "
            "runs models with a decoder() method)"
        )
    module.to(args.device)
    problem = module.problem
    try:
        module.decoder(args.decode, knn=args.knn)
    except ValueError as exc:
        raise UsageError(f"--decode: {exc}") from None
    group = _augment_group(registry, args.augment, problem)
    improvement = _improvement(args, registry, module)
    items = _items(args, registry, problem, sizes)
    _check_memory(args, module, group, improvement, items)
    known = read_references(args.references) if args.references else {}
    for it in items:
        if it.reference is None and it.name in known:
            it.reference, it.reference_by = known[it.name]
    ref_solver = _reference_solver(args, pm, registry, items)
    main = stage_labels(loaded.name, module.decoder(args.decode, knn=args.knn), group, improvement)[
        2
    ]

    with cluster_of(args) as cluster:  # references and baselines solve there

        def run(chunk: list[Any]) -> list[str]:
            _fill_references(args, ref_solver, chunk, cluster)
            return run_methods(module, loaded.name, registry, chunk, [args.decode], knn=args.knn,
                               batch_size=args.batch_size, baselines=args.baselines,
                               baseline_time_limit=args.baseline_time_limit, workers=args.workers,
                               augment=group, improvement=improvement, stages=args.stages,
                               quiet=args.quiet, cluster=cluster)  # fmt: skip

        if args.out:  # a line per instance as its chunk finishes; a re-run resumes
            out = Path(args.out)
            finished = read_finished(out, main)
            for it in items:
                if it.name in finished:
                    solver = None if ref_solver is None else ref_solver.solver.name
                    by = it.reference_by if it.reference is not None else solver
                    restore(it, finished[it.name], main, by)
            todo = [it for it in items if it.name not in finished]
            if finished:
                print(f"resuming {out}: {len(items) - len(todo)} of {len(items)} instances are in it",
                      file=sys.stderr)  # fmt: skip
            methods = (
                _labels_of(next(iter(finished.values())), main, loaded.name) if finished else []
            )
            for chunk in _chunks(todo, args.batch_size):
                methods = run(chunk)
                append_lines(out, chunk, main, [m for m in methods if m != main])
        else:
            methods = run(items)
        head = ["problem", "n", "instances", "method", "mean cost", gap_header(items), "s/instance"]
        knn = module.decoder(args.decode, knn=args.knn).knn
        spread = (
            improvement is not None
        )  # where instances can stall: the distribution, not the mean
        head += ["gap median / p90 / max"] if spread else []
        print(format_table(head, summary_rows(items, methods, knn, spread=spread)))
        if args.out:
            print(f"wrote {args.out}: {len(items)} lines ({len(items) - len(todo)} resumed)"
                  if finished else f"wrote {args.out}: {len(items)} lines")  # fmt: skip
        if args.plot:
            files = plot_items(items, main, Path(args.plot), args.plot_max)
            print(f"wrote {len(files)} plots to {args.plot}")
    return 0


def add_evaluate_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``symco evaluate`` (added by the core's own plugin)."""
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
        help=".npz datasets, instance files (TSPLIB .tsp, CVRPLIB .vrp, ...) or directories",
    )
    p.add_argument(
        "--generate", default=None, metavar="SIZE:NUM,...", help="also evaluate fresh instances"
    )
    p.add_argument("--seed", type=nonneg_int, default=0, help="seed of --generate and --improve")
    p.add_argument("--decode", default="greedy", help="the model's decoding (BQ: greedy or beam:W)")
    p.add_argument(
        "--augment",
        default=None,
        metavar="GROUP",
        help="decode every image of each instance under a finite symmetry group of the problem "
        "and keep the best (d4: the 8 symmetries of the unit square)",
    )
    p.add_argument(
        "--knn", type=positive_int, default=None, help="restrict each state to the K nearest nodes"
    )
    p.add_argument("--batch-size", type=positive_int, default=64, help="instances decoded together")
    p.add_argument(
        "--baselines", action="store_true", help="also run the problem's baseline solvers"
    )
    p.add_argument(
        "--baseline-time-limit",
        type=positive_float,
        default=1.0,
        help="seconds for anytime baselines",
    )
    p.add_argument(
        "--reference",
        default=None,
        help="solver for missing references (default: strongest installed; 'none' to skip)",
    )
    p.add_argument(
        "--references",
        nargs="+",
        default=None,
        metavar="FILE",
        help="reference values by instance name from earlier `symco solve --out` or "
        "`symco evaluate --out` files (computed once, reused)",
    )
    p.add_argument(
        "--reference-time-limit",
        type=positive_float,
        default=None,
        metavar="S",
        help=f"seconds per instance for the reference solver (default: none below {LARGE:,} "
        f"nodes, {LARGE_REFERENCE_LIMIT:g} s from there)",
    )
    p.add_argument("--workers", type=positive_int, default=2, help="solver processes")
    add_cluster_option(p)
    p.add_argument(
        "--improve",
        default=None,
        metavar="NAME[+NAME...]",
        help="improve each solution after decoding with the problem's improvers, taking turns "
        "(rrc: random re-construction with the model; tsp also: 2opt, oropt, ls, e.g. rrc+2opt)",
    )
    p.add_argument(
        "--improve-steps",
        type=positive_int,
        default=None,
        metavar="N",
        help="improvement steps per batch (reproducible with --seed)",
    )
    p.add_argument(
        "--time-limit",
        type=positive_float,
        default=None,
        metavar="S",
        help="seconds per instance for decoding plus improvement (whichever of the limits "
        "comes first)",
    )
    p.add_argument(
        "--stages",
        action="store_true",
        help="one row per stage of the pipeline: the decoding alone, + --augment, + --improve",
    )
    add_threads_option(p)
    p.add_argument("--device", default="cpu", help="torch device to decode on (cpu, cuda, ...)")
    p.add_argument(
        "--out",
        default=None,
        help="one JSON line per instance, appended as each batch finishes; the same command "
        "again resumes (instances already in the file are not evaluated again)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--plot", default=None, metavar="DIR", help="draw solutions as PNG")
    p.add_argument("--plot-max", type=positive_int, default=4, help="plots per size")
    p.set_defaults(handler=cmd_evaluate)
