"""The core's own plugin (registered first by :func:`~symco.core.manager.get_plugin_manager`).

It declares the core kinds, registers the built-in groups and frames, and adds the commands
``plugins``, ``data``, ``solve``, ``evaluate``, ``import`` and ``import-model`` — through the same hooks a third-party plugin uses.
"""

from __future__ import annotations

import argparse

from symco.core.hookspecs import hookimpl
from symco.core.registry import Registry

CORE_KINDS: tuple[tuple[str, str, bool], ...] = (
    ("problem", "a problem family: generator, objective, feasibility, files", False),
    ("solver", "ground-truth or baseline solver of one problem", True),
    ("reducer", "canonical reduced states of a problem's constructive MDP", True),
    ("policy", "network scoring the actions of reduced states", False),
    ("encoding", "positional/structural graph encoding", False),
    ("group", "a group acting on data (symco.core.symmetry.Group)", False),
    ("frame", "a frame / canonicalization (symco.core.symmetry.Frame)", False),
    ("improver", "anytime improvement of a problem's solutions (symco evaluate --improve)", True),
    ("model", "a trainable LightningModule (symco fit, checkpoints by class path)", False),
    ("datamodule", "a LightningDataModule feeding registered models", False),
    (
        "importer",
        "another project's datasets or models -> symco (symco import, import-model)",
        False,
    ),
)
"""``(name, doc, per_problem)`` of the kinds the core declares."""


@hookimpl
def symco_add_kinds(registry: Registry) -> None:
    for name, doc, per_problem in CORE_KINDS:
        registry.add_kind(name, doc, per_problem=per_problem)


SYMMETRY = "symco.core.symmetry"
GROUPS: tuple[tuple[str, str], ...] = (
    (f"{SYMMETRY}.permutation:NodePermutation", "node-permutation"),
    (f"{SYMMETRY}.dihedral:SquareDihedral", "square-dihedral"),
    (f"{SYMMETRY}.orthogonal:Orthogonal", "orthogonal"),
    (f"{SYMMETRY}.orthogonal:Euclidean", "euclidean"),
    (f"{SYMMETRY}.orthogonal:AxisRotation", "axis-rotation"),
    (f"{SYMMETRY}.eigen:EigenSigns", "eigen-signs"),
    (f"{SYMMETRY}.eigen:EigenBasis", "eigen-basis"),
    (f"{SYMMETRY}.torus:TorusTranslation", "torus-translation"),
    (f"{SYMMETRY}.torus:TorusFlow", "torus-flow"),
)
"""The built-in groups (``symco.core.symmetry.BUILTIN_GROUPS``), registered by path."""
FRAMES: tuple[tuple[str, str], ...] = (
    (f"{SYMMETRY}.frames:TranslationScaleFrame", "translation-scale"),
    (f"{SYMMETRY}.frames:NeighbourhoodFrame", "neighbourhood"),
    (f"{SYMMETRY}.frames:PCAFrame", "pca"),
)


@hookimpl
def symco_register(registry: Registry) -> None:
    # by path: `symco plugins` lists them without importing torch
    for target, name in GROUPS:
        registry.add_lazy("group", target, name=name)
    for target, name in FRAMES:
        registry.add_lazy("frame", target, name=name)
    registry.add_lazy("importer", "symco.core.importers:RL4COImporter", name="rl4co")


@hookimpl
def symco_add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from symco.core.cli import add_core_commands
    from symco.core.evaluation.command import add_evaluate_command
    from symco.core.import_command import add_import_command

    add_core_commands(subparsers)
    add_evaluate_command(subparsers)
    add_import_command(subparsers)
