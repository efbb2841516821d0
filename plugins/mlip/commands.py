"""``symco md`` (dynamics with a trained potential) and ``symco label`` (GFN2-xTB labels for
your own molecules)."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pluggy

from symco.core.errors import DataFileError, InvalidInstanceError, UsageError
from symco.core.registry import Registry


def read_structure(path: str, index: int) -> Any:
    """Structure ``index`` of ``path``: a symco chunk (``.npz``: ``numbers``, ``positions``,
    ``atoms``) or any file ASE reads (``.xyz``, ``.extxyz``, ``.pdb``, ...); one line on bad
    input."""
    import numpy as np
    from ase import Atoms

    file = Path(path)
    if not file.is_file():
        raise DataFileError(f"{path}: no such structure file")
    if file.suffix == ".npz":
        from symco.core.dataset import read_npz

        arrays = read_npz(file)
        for key in ("numbers", "positions", "atoms"):
            if key not in arrays:
                raise DataFileError(
                    f"{path}: no array {key!r} (a structure file holds numbers, positions, atoms)"
                )
        numbers, pos, counts = arrays["numbers"], arrays["positions"], arrays["atoms"]
        if pos.ndim != 2 or pos.shape != (len(numbers), 3):
            raise InvalidInstanceError(
                f"{path}: positions has shape {pos.shape}, expected ({len(numbers)}, 3)"
            )
        if counts.ndim != 1 or int(counts.sum()) != len(numbers):
            raise InvalidInstanceError(
                f"{path}: atoms sums to {int(counts.sum())}, numbers has {len(numbers)}"
            )
        if not 0 <= index < len(counts):
            raise UsageError(f"--index: {path} holds {len(counts)} structures, got {index}")
        start = int(counts[:index].sum())
        sl = slice(start, start + int(counts[index]))
        atoms = Atoms(numbers=numbers[sl], positions=pos[sl])
    else:
        from ase.io import read

        try:
            atoms = read(file, index=index)
        except Exception as exc:  # ASE raises many types for unreadable files
            raise DataFileError(
                f"{path}: ASE cannot read structure {index} ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
            ) from None
    if not np.isfinite(atoms.get_positions()).all():
        raise InvalidInstanceError(
            f"{path}: structure {index} has non-finite coordinates (NaN or inf)"
        )
    return atoms


def run_md_command(args: argparse.Namespace, pm: pluggy.PluginManager, registry: Registry) -> int:
    import torch

    from symco.core.manager import shipped_models
    from symco.core.training.checkpoints import load_model
    from symco.plugins.mlip.md import SymcoCalculator, run_md
    from symco.plugins.mlip.sampling import conformer

    if args.steps < 1 or args.timestep <= 0 or args.temperature < 0:
        raise UsageError(
            "--steps/--timestep/--temperature: need steps >= 1, timestep > 0, temperature >= 0"
        )
    if (args.smiles is None) == (args.structure is None):
        raise UsageError("--smiles/--structure: give exactly one of them")
    module = load_model(args.ckpt, shipped_models(pm), registry).module
    if not callable(getattr(module, "energy", None)):
        raise UsageError(
            f"--ckpt: {type(module).__name__} is not a potential (it has no energy(z, pos))"
        )
    atoms = (
        conformer(args.smiles, args.seed)
        if args.smiles
        else read_structure(args.structure, args.index)
    )
    calc = SymcoCalculator(module, torch.float64 if args.float64 else torch.float32)
    calc.get_potential_energy(atoms)  # unknown elements fail here, in one line
    if args.relax:
        from ase.optimize import BFGS

        atoms.calc = calc
        BFGS(atoms, logfile=None).run(fmax=0.05, steps=200)
    report, _ = run_md(atoms, calc, steps=args.steps, timestep_fs=args.timestep,
                       temperature=args.temperature, seed=args.seed)  # fmt: skip
    if args.json:
        print(json.dumps(report.as_dict()))
    else:
        r = report
        print(f"{r.steps} steps of {r.timestep_fs} fs ({r.time_ps:.2f} ps), {r.atoms} atoms, "
              f"{r.steps_per_second:.0f} steps/s")  # fmt: skip
        print(f"energy drift {r.drift_mev_atom_ps:+.3f} meV/atom/ps, largest excursion "
              f"{r.max_deviation_mev_atom:.3f} meV/atom, mean T {r.mean_temperature:.0f} K")  # fmt: skip
        print(f"exploded: {r.reason}" if r.exploded else "stable: no bond broke, no atoms collided")
    return 1 if report.exploded else 0


def run_label(args: argparse.Namespace, pm: pluggy.PluginManager, registry: Registry) -> int:
    from symco.plugins.mlip.chunks import MoleculeSetSpec, ineligible
    from symco.plugins.mlip.data import generate
    from symco.plugins.mlip.sampling import Sampling
    from symco.plugins.zinc.dataset import read_smiles, source_path

    if args.frames < 1 or args.chunk_size < 1:
        raise UsageError(
            f"--frames/--chunk-size: need at least 1, got {args.frames}, {args.chunk_size}"
        )
    spec = MoleculeSetSpec(kind="molecules", source=args.smiles, seed=args.seed, min_heavy=1,
                           max_heavy=10_000, sampling=Sampling(frames=args.frames))  # fmt: skip
    smiles = read_smiles(source_path(args.smiles))
    unique = sorted(set(smiles))
    rejected = [f"{s}: {why}" for s in unique if (why := ineligible(s, spec))]
    count = len(unique) - len(rejected)
    spec = replace(spec, splits=(count, 0, 0))
    folder, failed = Path(args.out), []
    if count > 0:
        folder, failed = generate(spec, {"train": count}, args.out, chunk_size=args.chunk_size,
                                  workers=args.workers, progress=True)  # fmt: skip
    if rejected:  # recorded beside the chunks, atomically
        from symco.core.dataset import atomic_path

        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / "rejected.txt") as tmp:
            tmp.write_text("".join(line + "\n" for line in rejected))
    failed = rejected + failed
    labelled = count - (len(failed) - len(rejected))
    print(f"{folder}: {labelled} of {len(unique)} molecules labelled")
    if failed:
        for reason in failed[1:]:
            print(f"skipped: {reason}")
        raise InvalidInstanceError(f"skipped (recorded in {folder}): {failed[0]}")
    return 0


def add_mlip_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "md", help="molecular dynamics (NVE) with a trained potential; reports the energy drift"
    )
    p.add_argument("--ckpt", required=True, help="a potential's checkpoint or model file")
    p.add_argument("--smiles", help="start from this molecule's ETKDG conformer")
    p.add_argument("--structure", help="start from a structure file (.npz chunk, .xyz, ...)")
    p.add_argument("--index", type=int, default=0, help="which structure of --structure")
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--timestep", type=float, default=0.5, help="fs")
    p.add_argument("--temperature", type=float, default=300.0, help="K, of the initial velocities")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--relax", action="store_true", help="relax the start with BFGS first")
    p.add_argument("--float64", action="store_true", help="evaluate the potential in float64")
    p.add_argument("--json", action="store_true", help="print the report as one JSON line")
    p.set_defaults(handler=run_md_command)
    p = sub.add_parser(
        "label", help="GFN2-xTB energies and forces for the molecules of a SMILES file"
    )
    p.add_argument("--smiles", required=True, help="a .smi/.csv/.txt file (first token: SMILES)")
    p.add_argument("--out", required=True, help="data folder (chunks + manifest; resumes)")
    p.add_argument("--frames", type=int, default=4, help="configurations per molecule (MD)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chunk-size", type=int, default=25)
    p.add_argument("--workers", type=int, default=None)
    p.set_defaults(handler=run_label)
