"""The ``symco`` command line.

Every command comes through the ``symco_add_commands`` hook: the core's own plugin adds
``plugins``, ``data`` and ``solve`` (:func:`add_core_commands`), the training plugin ``fit``,
``validate``, ``test``, ``predict``, ``models``, ``export-model`` and ``check-symmetry``. User errors (:class:`~symco.core.errors.SymcoError`) print one line
``symco: error: ...`` and exit with status 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from symco.core.cluster import add_cluster_option, cluster_of
from symco.core.errors import DataFileError, SymcoError, UnknownNameError, UsageError
from symco.core.manager import PluginManager, build_registry, get_plugin_manager
from symco.core.options import (
    ArgumentParser,
    add_threads_option,
    nonneg_int,
    positive_float,
    positive_int,
)
from symco.core.problem import Problem
from symco.core.registry import Registry
from symco.core.solver import default_solver, resolve_solver
from symco.core.table import format_table
from symco.core.threads import apply_threads, passive_wait, resolve_threads, usable_cores

# public homes of what this module once kept private (plugins import them from there)
__all__ = [
    "add_core_commands",
    "add_threads_option",
    "build_parser",
    "default_solver",
    "main",
    "problem_option",
]


# -- symco plugins ---------------------------------------------------------------------------------


def _default_at(pm: PluginManager, registry: Registry, problem: str | None, size: int) -> str:
    """The name of the solver ``symco data`` uses for ``problem`` at ``size`` ("" if none)."""
    try:
        return default_solver(pm, registry, registry.problem(problem or ""), size).name
    except SymcoError:
        return ""


def cmd_plugins(args: argparse.Namespace, pm: PluginManager, registry: Registry) -> int:
    defaults: dict[str, str] = {}
    for e in registry.entries("problem"):
        with contextlib.suppress(SymcoError):
            defaults[e.name] = default_solver(pm, registry, e.obj()).name
    rows = []
    for e in registry.entries():
        note = ""
        if e.kind == "solver":
            if not e.obj.available():
                note = f"not installed: {e.obj.install_hint or ', '.join(e.obj.requires)}"
            elif defaults.get(e.problem or "") == e.name:
                note = "default label solver"
            elif e.obj.max_size and _default_at(pm, registry, e.problem, e.obj.max_size) == e.name:
                # what `symco data` picks on small instances: size-limited exact solvers win there
                note = f"default label solver for N <= {e.obj.max_size}"
            elif e.obj.max_size:
                note = f"N <= {e.obj.max_size}"
        rows.append([e.kind, e.name, e.problem or "", e.plugin, e.package, note])
    kinds = [[k.name, len(registry.entries(k.name)), k.plugin, k.doc] for k in registry.kinds()]
    if args.json:
        keys = ["kind", "name", "problem", "plugin", "package", "note"]
        out = {
            "kinds": [dict(zip(["kind", "entries", "plugin", "doc"], k)) for k in kinds],
            "entries": [dict(zip(keys, r)) for r in rows],
            "failed": pm.failed,
        }
        print(json.dumps(out, indent=1))
        return 0
    print(format_table(["kind", "entries", "declared by", "what"], kinds))
    print()
    print(format_table(["kind", "name", "problem", "plugin", "package", "note"], rows))
    for name, reason in sorted(pm.failed.items()):
        print(f"plugin '{name}' failed to load: {reason}")
    return 0


# -- symco data ------------------------------------------------------------------------------------


def problem_option(registry: Registry, name: str, flag: str = "--problem") -> Problem:
    """The registered problem ``name`` given on the command line.

    :raises UsageError: an unknown name, naming the flag and the registered problems.
    """
    try:
        return registry.problem(name)
    except UnknownNameError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def cmd_data(args: argparse.Namespace, pm: PluginManager, registry: Registry) -> int:
    from symco.core.labels import DataSpec, build_dataset, parts_dir

    problem = problem_option(registry, args.problem)
    solver_cls = (
        None
        if args.solver == "none"
        else resolve_solver(pm, registry, problem, args.solver, args.size)
    )
    distribution = args.distribution or problem.distributions[0]
    if distribution not in problem.distributions:
        raise UsageError(
            f"--distribution: unknown {problem.name} distribution '{distribution}'; known: {', '.join(problem.distributions)}"
        )
    if args.size < problem.min_size:
        raise UsageError(
            f"--size: {problem.name} needs at least {problem.min_size} nodes, got {args.size}"
        )
    if (
        solver_cls is not None
        and solver_cls.max_size is not None
        and args.size > solver_cls.max_size
    ):
        raise UsageError(
            f"--size: solver '{solver_cls.name}' handles at most {solver_cls.max_size} nodes, got {args.size}"
        )
    out = Path(args.out)
    if out.suffix != ".npz":
        raise UsageError(f"--out: dataset files end in .npz, got '{out}'")
    if out.exists() and not parts_dir(out).exists() and not args.force:
        raise DataFileError(f"{out}: exists; pass --force to overwrite it")
    options: dict[str, Any] = {"seed": args.seed}
    if args.time_limit is not None:
        options["time_limit"] = args.time_limit
    spec = DataSpec(
        problem=problem.name,
        size=args.size,
        num=args.num,
        seed=args.seed,
        distribution=distribution,
        solver=solver_cls.name if solver_cls else None,
        solver_options=options,
        chunk_size=args.chunk_size,
    )
    if solver_cls is not None and not solver_cls(**options).reproducible():
        print(
            f"note: {solver_cls.name} with these options is not deterministic: the labels depend "
            "on the machine's speed and load (the instances do not)",
            file=sys.stderr,
        )
    from symco.core.progress import progress

    label = f"{problem.name}{args.size} " + (
        f"solving with {solver_cls.name}" if solver_cls else "generating"
    )
    if args.cluster is not None:
        with cluster_of(args) as cluster:
            summary = build_dataset(problem, spec, out, solver_cls=solver_cls,
                                    workers=args.workers, cluster=cluster, quiet=args.quiet)  # fmt: skip
    else:
        with progress(args.num, label, quiet=args.quiet) as done:  # a bar on terminals only
            summary = build_dataset(
                problem, spec, out, solver_cls=solver_cls, workers=args.workers, progress=done
            )
    msg = f"wrote {out}: {spec.num} {problem.name}{args.size} instances"
    if solver_cls is not None:
        msg += f" labelled by {solver_cls.name} ({summary['solver_seconds'] / spec.num:.3f} s/instance)"
    if summary["chunks_reused"]:
        msg += f"; resumed, {summary['chunks_reused']} of {spec.num_chunks} chunks kept"
    print(msg)
    return 0


# -- symco solve -----------------------------------------------------------------------------------


def cmd_solve(args: argparse.Namespace, pm: PluginManager, registry: Registry) -> int:
    from symco.core.dataset import atomic_path
    from symco.core.evaluation.inputs import load_inputs
    from symco.core.labels import Pool

    if args.problem is not None:
        problem_option(registry, args.problem)
    items = load_inputs(registry, args.paths, args.problem)
    if not items:
        raise DataFileError(f"no instances found in {', '.join(args.paths)}")
    options: dict[str, Any] = {"seed": args.seed}
    if args.time_limit is not None:
        options["time_limit"] = args.time_limit
    largest: dict[str, int] = {}
    for x in items:
        largest[x.problem.name] = max(largest.get(x.problem.name, 0), x.problem.size(x.instance))
    solvers = {
        name: resolve_solver(pm, registry, registry.problem(name), args.solver, n)
        for name, n in largest.items()
    }
    for name, n in largest.items():
        solvers[name](**options).check_size(n)
    from symco.core.progress import progress

    rows, records = [], []
    with (
        cluster_of(args) as cluster,
        Pool(args.workers, cluster) as pool,
        progress(len(items), "solving", quiet=args.quiet) as done,
    ):
        futs = [pool.submit(solvers[x.problem.name], options, x.instance) for x in items]
        for x, fut in zip(items, futs):
            name, problem, inst, ref = x.name, x.problem, x.instance, x.reference
            solution, seconds = fut.result()
            done(1)
            problem.check_solution(inst, [solution])
            cost = float(problem.objective(inst, [solution])[0])
            gap = None if ref is None else float(problem.gap(cost, ref))
            n = problem.size(inst)
            rows.append([name, n, solvers[problem.name].name, cost, ref, gap, seconds])
            records.append(
                {
                    "name": name,
                    "n": n,
                    "cost": cost,
                    "solution": problem.solution_to_json(solution),
                    "time_s": seconds,
                    "problem": problem.name,
                    "solver": solvers[problem.name].name,
                    "reference": ref,
                    "gap_percent": gap,
                }
            )
    print(format_table(["name", "n", "solver", "cost", "reference", "gap %", "time s"], rows))
    print()
    print(
        format_table(
            ["problem", "n", "solver", "instances", "mean cost", "mean gap %", "s/instance"],
            _summary(records),
        )
    )
    if args.out:
        with atomic_path(args.out) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
        print(f"wrote {args.out}: {len(records)} lines")
    return 0


def _summary(records: list[dict[str, Any]]) -> list[list[Any]]:
    """One row per (problem, size, solver): means of cost, gap (where a reference exists), time."""
    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["problem"], r["n"], r["solver"]), []).append(r)
    rows = []
    for (problem, n, solver), rs in sorted(groups.items()):
        gaps = [r["gap_percent"] for r in rs if r["gap_percent"] is not None]
        rows.append(
            [
                problem,
                n,
                solver,
                len(rs),
                sum(r["cost"] for r in rs) / len(rs),
                sum(gaps) / len(gaps) if gaps else None,
                sum(r["time_s"] for r in rs) / len(rs),
            ]
        )
    return rows


# -- wiring ----------------------------------------------------------------------------------------


def build_parser(pm: PluginManager) -> argparse.ArgumentParser:
    """The ``symco`` parser: every command comes from a plugin's ``symco_add_commands`` (the
    core's own included)."""
    from symco import __version__

    parser = ArgumentParser(
        prog="symco", description="symco: learning with symmetries — problems, solvers, policies."
    )
    parser.add_argument("--version", action="version", version=f"symco {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    pm.hook.symco_add_commands(subparsers=sub)
    return parser


def add_core_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``symco plugins``, ``symco data`` and ``symco solve`` (added by the core's own plugin)."""
    p = sub.add_parser(
        "plugins", help="list every kind and every registered problem, solver, model, group, ..."
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=cmd_plugins)

    p = sub.add_parser("data", help="generate (and label) a dataset of instances as .npz")
    p.add_argument("--problem", required=True, help="registered problem name (see `symco plugins`)")
    p.add_argument("--size", type=positive_int, required=True, help="nodes (items) per instance")
    p.add_argument("--num", type=positive_int, required=True, help="number of instances")
    p.add_argument(
        "--solver", default=None, help="label solver (default: strongest installed); 'none' to skip"
    )
    p.add_argument(
        "--seed", type=nonneg_int, default=0, help="seed of the instances (and the solver)"
    )
    p.add_argument("--out", required=True, help="output .npz (written atomically)")
    p.add_argument(
        "--workers",
        type=positive_int,
        default=usable_cores(),
        help="solver processes, one thread each (default: the cores this process may use)",
    )
    p.add_argument(
        "--distribution", default=None, help="instance distribution (default: the problem's first)"
    )
    p.add_argument(
        "--time-limit",
        type=positive_float,
        default=None,
        help="seconds per instance for anytime solvers",
    )
    p.add_argument(
        "--chunk-size", type=positive_int, default=256, help="instances per resumable chunk"
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_cluster_option(p)
    add_threads_option(p)
    p.set_defaults(handler=cmd_data)

    p = sub.add_parser(
        "solve", help="solve instance files (TSPLIB, .npz, directories) and print a table"
    )
    p.add_argument(
        "paths", nargs="+", metavar="PATH", help="instance files, .npz datasets or directories"
    )
    p.add_argument("--solver", default=None, help="solver name (default: strongest installed)")
    p.add_argument(
        "--problem", default=None, help="problem of the inputs (default: guessed from each file)"
    )
    p.add_argument(
        "--time-limit",
        type=positive_float,
        default=None,
        help="seconds per instance for anytime solvers",
    )
    p.add_argument("--seed", type=nonneg_int, default=0, help="solver seed")
    p.add_argument("--workers", type=positive_int, default=1, help="solver processes")
    p.add_argument("--out", default=None, help="write one JSON line per instance here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_cluster_option(p)
    add_threads_option(p)
    p.set_defaults(handler=cmd_solve)


def _terminated(signum: int, frame: object) -> None:
    # `kill` (SIGTERM) unwinds like Ctrl-C, so worker pools shut down instead of being orphaned
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None, *, plugins: Sequence[tuple[str, object]] = ()) -> int:
    """Entry point of the ``symco`` console script; returns the exit status.

    :param plugins: extra ``(name, plugin)`` pairs registered beside the installed plugins (a
        notebook or a test adding a problem, reducer or model without packaging it).
    """
    passive_wait()  # before anything imports torch: OpenMP reads it once, at load
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        pm = get_plugin_manager(plugins=plugins)
        parser = build_parser(pm)
        args = parser.parse_args(argv)
        if getattr(args, "handler", None) is None:
            parser.print_help()
            return 2
        if "threads" in vars(args):
            apply_threads(resolve_threads(args.threads))
        registry = build_registry(pm)
        return int(args.handler(args, pm, registry) or 0)
    except SymcoError as exc:
        print(f"symco: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "symco: interrupted (finished chunks are kept: rerun the same command to resume)",
            file=sys.stderr,
        )
        return 130
    except BrokenPipeError:
        return 141
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
