"""Generic training and model commands: ``symco fit|validate|test|predict`` (LightningCLI),
``symco models``, ``symco export-model`` and ``symco check-symmetry``, for any registered module."""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from symco.core.errors import DataFileError, UsageError
from symco.core.manager import PluginManager, shipped_models
from symco.core.registry import Registry
from symco.core.training.errors import ErrorContext, suggesting_names

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")
_CONFIG_FLAGS = ("--config", "-c")


def _read_yaml(path: Path) -> Any:
    import yaml

    if not path.is_file():
        raise DataFileError(f"{path}: no such config file")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise DataFileError(f"{path}: {at}not valid YAML ({problem})") from None


def _override_fields(
    argv: list[str], config: Mapping[str, Any], registry: Registry, models: Mapping[str, str]
) -> list[str]:
    """Resolve registry names given on the command line (``--model.init_args.reducer bq-dist``)."""
    from symco.core.training.config import import_class, problem_name, resolve_value

    out = list(argv)
    for key in ("model", "data"):
        section = config.get(key)
        path = section.get("class_path") if isinstance(section, Mapping) else None
        cls = import_class(path) if isinstance(path, str) else None
        fields: Mapping[str, str] = getattr(cls, "registry_fields", {}) if cls else {}
        init = section.get("init_args", {}) if isinstance(section, Mapping) else {}
        problem = problem_name(init.get("problem")) if "problem" in init else None
        i = 0
        while i < len(out):
            flag, eq, value = out[i].partition("=")
            arg = next(
                (
                    flag[len(p) :]
                    for p in (f"--{key}.init_args.", f"--{key}.")
                    if flag.startswith(p)
                ),
                "",
            )
            if arg in fields and (eq or i + 1 < len(out)):
                at = i if eq else i + 1  # the token holding the value
                value = value if eq else out[at]
                resolved = resolve_value(fields[arg], value, registry, models, problem, flag)
                # a class becomes a JSON mapping, which LightningCLI parses like YAML
                text = json.dumps(resolved) if isinstance(resolved, Mapping) else str(resolved)
                out[at] = f"{flag}={text}" if eq else text
                i = at
            i += 1
    return out


def resolve_argv(
    argv: Sequence[str],
    registry: Registry,
    models: Mapping[str, str],
    tmp: Path,
    context: ErrorContext | None = None,
) -> list[str]:
    """LightningCLI arguments with every ``--config`` file's registry names resolved into a
    rewritten copy under ``tmp`` (see :mod:`symco.core.training.config`).

    :param context: records which user file each copy stands for and which keys each file and
        override sets, so that errors name the user's file and key.
    """
    import yaml

    from symco.core.training.config import resolve_config

    out: list[str] = []
    merged: dict[str, Any] = {}
    it = iter(range(len(argv)))
    args = list(argv)
    for i in it:
        tok = args[i]
        flag, eq, value = tok.partition("=")
        if flag in _CONFIG_FLAGS and (eq or i + 1 < len(args)):
            if not eq:
                value = args[next(it)]
            path = Path(value)
            config = _read_yaml(path)
            if not isinstance(config, Mapping):
                raise DataFileError(f"{path}: a config must be a YAML mapping")
            resolved = resolve_config(config, registry, models, str(path))
            copy = tmp / f"{len(out)}-{path.name}"
            copy.write_text(yaml.safe_dump(resolved, sort_keys=False))
            if context is not None:
                context.add_config(str(path), copy, resolved)
            for key in ("model", "data"):
                if key in resolved:
                    merged[key] = resolved[key]
            out += ["--config", str(copy)]
        else:
            out.append(tok)
    out = _override_fields(out, merged, registry, models)
    if context is not None:
        context.read_arguments(out)
    return out


@functools.cache
def _cli_class() -> type[Any]:
    """LightningCLI that lets an :class:`ErrorContext` see the parsers it builds (for the
    options a misspelled key may have meant)."""
    from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

    class SymcoLightningCLI(LightningCLI):
        def __init__(self, *args: Any, error_context: ErrorContext, **kwargs: Any) -> None:
            self.error_context = error_context
            super().__init__(*args, **kwargs)

        def init_parser(self, **kwargs: Any) -> LightningArgumentParser:
            parser = super().init_parser(**kwargs)
            self.error_context.parsers.append(parser)
            return parser

        def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
            super().parse_arguments(parser, args)
            # a package or file the data module needs is the first line a user sees: checked
            # from the parsed settings, before the seed, the Trainer and their log lines
            sub = self.config.get("subcommand")
            check_requirements((self.config[sub] if sub else self.config).get("data"))

        def before_fit(self) -> None:
            # missing inputs are reported before Lightning starts (and writes empty log folders)
            check = getattr(self.datamodule, "check_inputs", None)
            if callable(check):
                check()

        def after_fit(self) -> None:
            if self.trainer.is_global_zero:
                print(checkpoint_summary(self.trainer.checkpoint_callbacks))

    return SymcoLightningCLI


def check_requirements(section: Any) -> None:
    """Call ``check_requirements(init_args)`` of the data module class a parsed ``data`` section
    (``class_path`` + ``init_args``) names, if it has one: a classmethod that raises a
    :class:`~symco.core.errors.SymcoError` for a package or file its settings need and lack,
    before anything is built (``symco fit|validate|test|predict`` call it right after parsing)."""
    from symco.core.training.config import import_class

    class_path = getattr(section, "class_path", None)
    cls = import_class(class_path) if isinstance(class_path, str) else None
    check = getattr(cls, "check_requirements", None)
    if callable(check):
        init = getattr(section, "init_args", None)
        as_dict = getattr(init, "as_dict", None)
        check(as_dict() if callable(as_dict) else dict(init or {}))


def checkpoint_summary(callbacks: Sequence[Any], cwd: Path | None = None) -> str:
    """One line naming the checkpoint files that ``callbacks`` (Lightning's ``ModelCheckpoint``)
    wrote: a monitored callback's best (with its metric's value), an unmonitored one's latest,
    and ``last``; paths inside ``cwd`` (default: the working directory) are shown relative."""
    import os

    here = (cwd or Path.cwd()).resolve()

    def show(path: str) -> str:
        p = Path(path).resolve()
        return str(p.relative_to(here)) if p.is_relative_to(here) else str(p)

    parts: list[str] = []
    seen: set[str] = set()
    for cb in callbacks:
        best, last = getattr(cb, "best_model_path", ""), getattr(cb, "last_model_path", "")
        monitor, score = getattr(cb, "monitor", None), getattr(cb, "best_model_score", None)
        entries = []
        if best:
            metric = f" ({monitor} {float(score):.6g})" if monitor and score is not None else ""
            entries.append(("best" if monitor else "latest", best, metric))
        if last:
            entries.append(("last", last, ""))
        for label, path, metric in entries:
            if os.path.isfile(path) and path not in seen:
                seen.add(path)
                parts.append(f"{label} {show(path)}{metric}")
    return "checkpoints: " + ", ".join(parts) if parts else "checkpoints: none written"


def run_lightning(args: argparse.Namespace, pm: PluginManager, registry: Registry) -> int:
    """Hand the command line after ``symco`` to LightningCLI (its parser and help), with
    registry names in the configs resolved against the registry this process built.

    A rejected config or override, and a trainer setting Lightning rejects once training starts
    (``val_check_interval`` beyond the training batches), is one :class:`ConfigError` line that
    names the user's file (or ``command line``) and the key, instead of LightningCLI's usage and
    nested message or a traceback. ``--help`` still prints LightningCLI's help.
    """
    from argparse import ArgumentError

    import lightning as L
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    from symco.core.threads import apply_threads, pop_threads, resolve_threads
    from symco.core.training.quiet import quiet_lightning

    threads, argv = pop_threads(list(args.rest))  # ours, not LightningCLI's
    apply_threads(resolve_threads(threads))
    context = ErrorContext(args.command)
    with tempfile.TemporaryDirectory(prefix="symco-config-") as tmp, quiet_lightning():
        with suggesting_names():
            rest = resolve_argv(argv, registry, shipped_models(pm), Path(tmp), context)
        # LightningCLI reads sys.argv itself (passing `args=` as well makes it warn): show it ours
        # argv[0] is what DDP's launcher re-runs in each further process: the symco script
        saved, sys.argv = sys.argv, [symco_script(), args.command, *rest]
        try:
            _cli_class()(
                L.LightningModule,
                L.LightningDataModule,
                subclass_mode_model=True,
                subclass_mode_data=True,
                # raise instead of printing usage; no abbreviated options (`--trainer.max_step`
                # silently meaning max_steps); the subcommand parsers inherit both
                parser_kwargs={
                    "prog": "symco",
                    "default_env": False,
                    "exit_on_error": False,
                    "allow_abbrev": False,
                },
                save_config_kwargs={"overwrite": True},
                auto_configure_optimizers=False,
                error_context=context,
            )
        except ArgumentError as exc:
            raise context.argument_error(str(exc)) from None
        except (ValueError, MisconfigurationException) as exc:
            error = context.lightning_error(exc)
            if error is None:
                raise
            raise error from None
        finally:
            sys.argv = saved
    return 0


def symco_script() -> str:
    """The ``symco`` console script of this environment (beside the interpreter, else on the
    PATH): Lightning's DDP launcher starts the other processes as ``python ARGV0 ARGV...``, so
    it must be a file that runs symco, whoever called :func:`~symco.core.cli.main` (a test, a
    notebook)."""
    import shutil

    beside = Path(sys.executable).with_name("symco")
    if beside.is_file():
        return str(beside)
    return shutil.which("symco") or "symco"


def run_models(args: argparse.Namespace, pm: PluginManager, registry: Registry) -> int:
    import textwrap

    from symco.core.table import format_table
    from symco.core.training.checkpoints import module_config, read_checkpoint

    rows = []
    for name, path in sorted(shipped_models(pm).items()):
        obj = read_checkpoint(Path(path))
        class_path, hp = module_config(obj, path)
        params = sum(v.numel() for v in obj["state_dict"].values())
        notes = textwrap.wrap(str(obj.get("notes", "")), width=70) or [""]  # whole words
        rows.append([name, class_path.rpartition(".")[2], _problem_of(hp), f"{params / 1e6:.2f}M",
                     f"{Path(path).stat().st_size / 1e6:.1f} MB", notes[0]])  # fmt: skip
        rows += [["", "", "", "", "", line] for line in notes[1:]]
    print(
        format_table(["name", "module", "problem", "parameters", "file", "notes"], rows)
        if rows
        else "no shipped models"
    )
    return 0


def _problem_of(hp: Mapping[str, Any]) -> str:
    from symco.core.training.config import problem_name

    return problem_name(hp.get("problem")) or "" if "problem" in hp else ""


def run_export(args: argparse.Namespace, pm: PluginManager, registry: Registry) -> int:
    from symco.core.training.checkpoints import export_model

    slim = export_model([Path(c) for c in args.ckpt], Path(args.out), args.notes, registry)
    avg = f", mean of {len(args.ckpt)} checkpoints" if len(args.ckpt) > 1 else ""
    size = Path(args.out).stat().st_size / 1e6
    print(f"wrote {args.out} (step {slim['global_step']}{avg}, {size:.1f} MB)")
    return 0


def _module_from_config(path: Path, registry: Registry, models: Mapping[str, str]) -> Any:
    from symco.core.training.checkpoints import build_module
    from symco.core.training.config import resolve_config

    config = _read_yaml(path)
    if not isinstance(config, Mapping) or not isinstance(config.get("model"), Mapping):
        raise DataFileError(f"{path}: no 'model' section with a class_path")
    with suggesting_names():
        model = resolve_config(config, registry, models, str(path))["model"]
    class_path = model.get("class_path")
    if not isinstance(class_path, str):
        raise DataFileError(f"{path}: model: no class_path")
    return build_module(class_path, dict(model.get("init_args") or {}), registry)


def run_check_symmetry(args: argparse.Namespace, pm: PluginManager, registry: Registry) -> int:
    """Build a model (config or checkpoint), check each declared symmetry, print one row each
    (its weight permutations, when it declares them, are one more row)."""
    import torch

    from symco.core.symmetry.declare import (
        NoSymmetriesError,
        check_symmetries,
        check_weight_symmetry,
    )
    from symco.core.symmetry.weights import declared_weight_permutations
    from symco.core.table import format_table
    from symco.core.training.checkpoints import load_model

    if (args.config is None) == (args.ckpt is None):
        raise UsageError("--config/--ckpt: give exactly one of them")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device: {args.device} requested, but CUDA is not available")
    models = shipped_models(pm)
    if args.config is not None:
        module, label = _module_from_config(Path(args.config), registry, models), args.config
    else:
        module, label = load_model(args.ckpt, models, registry).module, args.ckpt
    n, seed, tol, device = args.batch_size, args.seed, args.tol, args.device
    try:
        results = check_symmetries(module, n=n, seed=seed, tol=tol, device=device)
    except NoSymmetriesError:
        if declared_weight_permutations(module) is None:
            raise
        results = []  # it declares the symmetry of its parameters only
    results += check_weight_symmetry(module, n=n, seed=seed, tol=tol, device=device)
    if args.group is not None:
        declared = sorted({r.label.partition(":")[0] for r in results})
        results = [r for r in results if r.label.partition(":")[0] == args.group]
        if not results:
            raise UsageError(
                f"--group: {type(module).__name__} declares no symmetry of group '{args.group}'; "
                f"declared: {', '.join(declared)}"
            )
    print(f"{type(module).__name__} ({label}), float64, seed {args.seed}, tol {args.tol:g}")
    head = ["symmetry", "relation", "max abs", "mean abs", "max rel", "mean rel", "result"]
    print(format_table(head, [r.row() for r in results]))
    failed = [r for r in results if not r.passed]
    print(f"{len(results) - len(failed)} of {len(results)} symmetries hold")
    return 1 if failed else 0


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The generic training commands (added by :mod:`symco.core.training.plugin`)."""
    from symco.core.options import add_threads_option, number

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

    p = subparsers.add_parser("models", help="list the trained models plugins ship")
    p.set_defaults(handler=run_models)

    p = subparsers.add_parser(
        "export-model", help="slim a Lightning checkpoint into a shippable model file"
    )
    p.add_argument(
        "--ckpt",
        required=True,
        nargs="+",
        help="Lightning checkpoint(s) of a registered module; several of one run are averaged",
    )
    p.add_argument("--out", required=True, help="output .pt file")
    p.add_argument("--notes", default="", help="how it was trained (shown by `symco models`)")
    p.set_defaults(handler=run_export)

    p = subparsers.add_parser(
        "check-symmetry",
        help="check every symmetry a model declares, in float64 (exit 1 if one fails)",
    )
    p.add_argument("--config", default=None, help="a `symco fit` YAML config (its model)")
    p.add_argument("--ckpt", default=None, help="a checkpoint, model file or shipped model name")
    p.add_argument("--seed", type=number(int, 0, strict=False), default=0, help="element seed")
    p.add_argument(
        "--tol", type=number(float, 0, strict=True), default=1e-6, help="max relative error"
    )
    p.add_argument(
        "--batch-size", type=number(int, 1, strict=False), default=4, help="examples checked"
    )
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, ...)")
    p.add_argument("--group", default=None, help="check only the symmetries of this group")
    add_threads_option(p)
    p.set_defaults(handler=run_check_symmetry)
