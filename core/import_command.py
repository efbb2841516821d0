"""``symco import``: convert another codebase's dataset file to a symco ``.npz`` dataset.

``symco import --from rl4co --problem cvrp IN.npz --out OUT.npz`` reads an rl4co-style file
(see :mod:`symco.core.importers`), checks the converted instances against the problem's rules and
writes them atomically; ``symco solve``, ``symco evaluate`` and ``symco data``'s readers take the
result as any other dataset. Only ``.npz`` arrays are read: pickled files (``.pkl``, ``.pt``, as
LEHD and Kool et al. ship) are never loaded.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from symco.core.errors import DataFileError, InvalidInstanceError

if TYPE_CHECKING:
    from symco.core.manager import PluginManager
    from symco.core.registry import Registry

SOURCES = ("rl4co",)
"""Layouts ``--from`` accepts."""


def cmd_import(args: argparse.Namespace, pm: PluginManager, registry: Registry) -> int:
    """Convert ``args.path`` to ``args.out``; one line on success, a ``SymcoError`` otherwise."""
    from symco.core.dataset import save_npz
    from symco.core.importers import import_rl4co
    from symco.core.problem import integral_as_int64

    problem = registry.problem(args.problem)
    out = Path(args.out)
    if out.suffix != ".npz":
        raise InvalidInstanceError(f"--out: dataset files end in .npz, got '{out}'")
    if out.exists() and not args.force:
        raise DataFileError(f"{out}: exists; pass --force to overwrite it")
    arrays = import_rl4co(args.path, problem.name)
    b, n = problem.validate(arrays, str(args.path))
    save_npz(out, integral_as_int64(problem.instance_spec, arrays))
    print(f"wrote {out}: {b} {problem.name}{n} instances from {args.source} file {args.path}")
    return 0


def add_import_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``symco import`` to ``subparsers`` (the ``symco_add_commands`` hook's argument)."""
    p = subparsers.add_parser(
        "import",
        help="convert another codebase's dataset file (rl4co .npz) to a symco .npz dataset",
        description=(
            "Convert an rl4co-style .npz (tsp: locs; cvrp: depot, locs, demand, capacity; op:"
            " depot, locs, prize, max_length) to symco's arrays: the depot first in coords,"
            " demands stored as fractions of the capacity multiplied back to integers."
            " Pickled files (.pkl, .pt) are never read."
        ),
    )
    p.add_argument("path", metavar="IN", help="the file to convert (.npz)")
    p.add_argument(
        "--from", dest="source", required=True, choices=SOURCES, help="layout of the input file"
    )
    p.add_argument(
        "--problem", required=True, help="symco problem of the instances (tsp, cvrp, op)"
    )
    p.add_argument("--out", required=True, help="output .npz (written atomically)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(handler=cmd_import)
