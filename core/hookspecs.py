"""The hooks a symco plugin can implement.

A plugin is a module (or object) with functions named like the specs below and decorated with
:data:`symco.hookimpl`. It is found through the ``symco`` entry-point group, exactly like the
built-in plugins (see ``pyproject.toml``)::

    [project.entry-points.symco]
    knapsack2 = "my_package.plugin"

and in ``my_package/plugin.py``::

    import symco

    @symco.hookimpl
    def symco_register(registry):
        registry.add_problem(MyProblem)
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from symco.core.problem import Problem
    from symco.core.registry import Registry

PROJECT = "symco"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def symco_add_kinds(registry: Registry) -> None:
    """Declare new kinds of pluggable things with ``registry.add_kind(name, doc, per_problem=...,
    base=...)`` (an ``improver``, an ``augmentation``, a ``regularizer``, a ``dataset``...).

    Called for every plugin before any ``symco_register``, so a kind declared by one plugin can
    be filled by any other. The core declares its own kinds (problem, solver, reducer, policy,
    encoding, group, frame, model) through this same hook. ``symco plugins`` lists every kind.

    :param registry: the registry being built.
    """


@hookspec
def symco_register(registry: Registry) -> None:
    """Add this plugin's classes to ``registry``.

    Call ``registry.add_problem``, ``add_solver``, ``add_reducer``, ``add_improver``, ``add_policy``,
    ``add_encoding``, ``add_group``, ``add_frame``, ``add_model``, or ``registry.add(kind, cls)``
    for any declared kind, with classes (not instances). Each is recorded with the plugin that
    added it, so two plugins claiming one name fail with an error naming both.

    :param registry: the registry being built; the hook adds to it and returns nothing.
    """


@hookspec
def symco_add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add subcommands to the ``symco`` command line.

    Create a parser with ``subparsers.add_parser(name, help=...)`` and bind the function that runs
    it with ``parser.set_defaults(handler=fn)``. The CLI calls ``fn(args, pm, registry)`` — the
    parsed ``argparse.Namespace``, the plugin manager and the registry, both built once per
    process — and exits with the integer it returns (``None`` means 0). Raise a
    :class:`~symco.core.errors.SymcoError` for bad input: the CLI prints it as one line and exits
    with status 2. The built-in commands (``plugins``, ``data``, ``solve``, ``fit``, ...) are
    added through this same hook. Keep heavy imports (torch) inside ``fn``: ``symco --help``
    imports every plugin's command module.

    :param subparsers: the ``symco`` top-level subparser collection.
    """


@hookspec
def symco_models() -> dict[str, str] | None:
    """Trained models this plugin ships, as ``{name: file path}`` (``None``: none).

    ``symco models`` lists them and ``symco evaluate --ckpt NAME`` loads them by name; a name
    claimed by two plugins is an error naming both.
    """


@hookspec(firstresult=True)
def symco_default_solver(problem: Problem, registry: Registry) -> str | None:
    """Name the solver that labels ``problem`` when the user gives no ``--solver``.

    The first plugin returning a name wins; returning ``None`` defers to the others. When every
    plugin defers, symco picks the strongest *installed* solver (highest ``Solver.strength``).

    :param problem: the problem being labelled.
    :param registry: the registry, to look at the solvers that are registered.
    :return: a solver name registered for ``problem``, or ``None``.
    """
