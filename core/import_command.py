"""``symco import`` and ``symco import-model``: other projects' files through the ``importer`` kind.

``symco import --from rl4co --problem cvrp IN.npz --out OUT.npz`` reads an rl4co-style file
(see :mod:`symco.core.importers`), checks the converted instances against the problem's rules and
writes them atomically; ``symco solve``, ``symco evaluate`` and ``symco data``'s readers take the
result as any other dataset. Only ``.npz`` arrays are read: pickled files (``.pkl``, ``.pt``, as
LEHD and Kool et al. ship) are never loaded.

``symco import-model --from bq-nco --problem tsp FILE --out OUT.pt`` converts a checkpoint with a
model importer into a symco model file that ``symco evaluate --ckpt``, ``check-symmetry`` and
``info`` take; the file records where it came from and its licence.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from symco.core.errors import DataFileError, UnknownNameError, UsageError

if TYPE_CHECKING:
    from symco.core.manager import PluginManager
    from symco.core.registry import Registry


def importer(registry: Registry, name: str, produces: str) -> Any:
    """An instance of the importer ``name`` that makes ``produces`` (``dataset`` or ``model``).

    :raises UnknownNameError: no such importer, listing those that make ``produces``.
    """
    entries = registry.entries("importer")
    found = [e for e in entries if e.name == name]
    if not found or found[0].obj.produces != produces:
        known = ", ".join(e.name for e in entries if e.obj.produces == produces) or "none"
        raise UnknownNameError(f"--from: no {produces} importer '{name}'; registered: {known}")
    return found[0].obj()


def _check_out(out: Path, suffix: str, force: bool, what: str) -> None:
    if out.suffix != suffix:
        raise UsageError(f"--out: {what} files end in {suffix}, got '{out}'")
    if out.exists() and not force:
        raise DataFileError(f"{out}: exists; pass --force to overwrite it")


def cmd_import(args: argparse.Namespace, pm: PluginManager, registry: Registry) -> int:
    """Convert ``args.path`` to ``args.out``; one line on success, a ``SymcoError`` otherwise."""
    from symco.core.dataset import save_npz
    from symco.core.problem import integral_as_int64

    problem = registry.problem(args.problem)
    source = importer(registry, args.source, "dataset")
    source.check_problem(problem.name)
    out = Path(args.out)
    _check_out(out, ".npz", args.force, "dataset")
    arrays = source.read(Path(args.path), problem)
    b, n = problem.validate(arrays, str(args.path))
    save_npz(out, integral_as_int64(problem.instance_spec, arrays))
    print(f"wrote {out}: {b} {problem.name}{n} instances from {args.source} file {args.path}")
    return 0


def cmd_import_model(args: argparse.Namespace, pm: PluginManager, registry: Registry) -> int:
    """Convert a checkpoint to a symco model file, rebuilt and checked before it is written."""
    from symco.core.importers import licence_beside
    from symco.core.training.checkpoints import import_model

    problem = registry.problem(args.problem)
    source = importer(registry, args.source, "model")
    source.check_problem(problem.name)
    out, path = Path(args.out), Path(args.path)
    _check_out(out, ".pt", args.force, "model")
    if args.licence is not None:
        lic = Path(args.licence)
        if not lic.is_file():
            raise DataFileError(f"--licence: {lic}: no such file")
        text = lic.read_text(errors="replace")
    else:
        text = licence_beside(path)
    loaded, slim = import_model(source, path, problem, out, registry, text)
    params = sum(p.numel() for p in loaded.module.parameters())
    lic_name = slim["source"]["licence"]
    kept = "licence text recorded" if text else "no licence file found beside it (--licence FILE)"
    print(
        f"wrote {out}: {args.source} {problem.name} model, {params / 1e6:.2f}M parameters, "
        f"{lic_name} ({kept})"
    )
    return 0


def cmd_info(args: argparse.Namespace, pm: PluginManager, registry: Registry) -> int:
    """What a model file or shipped model is: class, problem, size, notes, source, licence."""
    import textwrap

    from symco.core.manager import shipped_models
    from symco.core.training.checkpoints import module_config, read_checkpoint, resolve_model_path
    from symco.core.training.config import problem_name

    path = resolve_model_path(args.model, shipped_models(pm))
    obj = read_checkpoint(path)
    class_path, hp = module_config(obj, path)
    params = sum(v.numel() for v in obj["state_dict"].values() if v.is_floating_point())
    rows = [
        ("model", args.model),
        ("file", f"{path} ({path.stat().st_size / 1e6:.1f} MB)"),
        ("class", class_path),
        ("problem", problem_name(hp.get("problem")) or "-"),
        ("parameters", f"{params / 1e6:.2f}M"),
    ]
    for part in ("reducer", "policy"):
        spec = hp.get(part)
        if isinstance(spec, dict) and "class_path" in spec:
            args_ = ", ".join(f"{k}={v}" for k, v in (spec.get("init_args") or {}).items())
            rows.append((part, f"{spec['class_path'].rpartition('.')[2]}({args_})"))
    if obj.get("notes"):
        rows.append(("notes", str(obj["notes"])))
    source = obj.get("source")
    if isinstance(source, dict):
        rows += [
            ("source", str(source.get("name", ""))),
            ("imported", f"--from {source.get('importer', '')} {source.get('file', '')}"),
            ("sha256", str(source.get("sha256", ""))),
            ("licence", f"{source.get('licence', '')} {source.get('licence_url', '')}".strip()),
            ("copyright", str(source.get("copyright", ""))),
        ]
        text = str(source.get("licence_text", ""))
        rows.append(
            ("licence text", f"{len(text.splitlines())} lines (--licence-text)" if text else "none")
        )
    else:
        rows.append(("source", "trained with symco"))
    for key, value in rows:
        lines = textwrap.wrap(value, 88) or [""]
        print(f"{key:<13} {lines[0]}")
        for line in lines[1:]:
            print(f"{'':<13} {line}")
    if args.licence_text and isinstance(source, dict) and source.get("licence_text"):
        print()
        print(source["licence_text"])
    return 0


def add_import_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``symco import``, ``import-model`` and ``info`` to ``subparsers`` (the
    ``symco_add_commands`` hook's argument)."""
    p = subparsers.add_parser(
        "import",
        help="convert another codebase's dataset file (rl4co .npz) to a symco .npz dataset",
        description=(
            "Convert another project's dataset with a registered dataset importer (`symco "
            "plugins` lists them). rl4co: a .npz (tsp: locs; cvrp: depot, locs, demand, "
            "capacity; op: depot, locs, prize, max_length) to symco's arrays: the depot first in "
            "coords, demands stored as fractions of the capacity multiplied back to integers."
            " Pickled files (.pkl, .pt) are never read."
        ),
    )
    p.add_argument("path", metavar="IN", help="the file to convert (.npz)")
    p.add_argument(
        "--from", dest="source", required=True, help="the importer (layout of the input file)"
    )
    p.add_argument(
        "--problem", required=True, help="symco problem of the instances (tsp, cvrp, op)"
    )
    p.add_argument("--out", required=True, help="output .npz (written atomically)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(handler=cmd_import)

    p = subparsers.add_parser(
        "import-model",
        help="convert another project's trained model (bq-nco) to a symco model file",
        description=(
            "Convert a checkpoint with a registered model importer (bq-nco: the official BQ-NCO "
            "PerceiverIO files). The result runs in `symco evaluate --ckpt OUT.pt` and records "
            "its source and licence (`symco info OUT.pt`). Files are read with "
            "torch.load(weights_only=True)."
        ),
    )
    p.add_argument("path", metavar="FILE", help="the checkpoint to convert")
    p.add_argument("--from", dest="source", required=True, help="the importer (bq-nco, ...)")
    p.add_argument("--problem", required=True, help="symco problem the model solves (tsp, cvrp)")
    p.add_argument("--out", required=True, help="output .pt (written atomically)")
    p.add_argument(
        "--licence",
        default=None,
        metavar="FILE",
        help="the source's licence text to record (default: a LICENCE/LICENSE file beside FILE)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(handler=cmd_import_model)

    p = subparsers.add_parser(
        "info", help="what a model is: class, problem, parameters, notes, source and licence"
    )
    p.add_argument("model", metavar="MODEL", help="a model file, checkpoint or shipped model name")
    p.add_argument(
        "--licence-text", action="store_true", help="also print the recorded licence text"
    )
    p.set_defaults(handler=cmd_info)
