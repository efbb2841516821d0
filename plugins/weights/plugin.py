"""Built-in plugin: weight-space symmetry (entry point ``weights`` in the ``symco`` group).

A library for any model that declares ``weight_permutations()``
(:mod:`symco.core.symmetry.weights`): :func:`~.weight_matching.weight_matching`,
:func:`~.activation_matching.activation_matching`, :func:`~.partial.partial_matching`,
:func:`~.pleas.pleas_merge`, :func:`~.barrier.linear_path` and a small :class:`~.mlp.MLP`; and
the commands ``symco align``, ``symco merge`` and ``symco barrier`` (:mod:`.commands`), added
through ``symco_add_commands`` as the core adds its own.
"""

from __future__ import annotations

import argparse

from symco.core.hookspecs import hookimpl
from symco.core.registry import Registry


@hookimpl
def symco_register(registry: Registry) -> None:
    # by path: listing the registry imports no torch
    registry.add_lazy(
        "model", "symco.plugins.weights.classifier:DigitsClassifier", name="DigitsClassifier"
    )
    registry.add_lazy(
        "datamodule", "symco.plugins.weights.digits:DigitsDataModule", name="DigitsDataModule"
    )


@hookimpl
def symco_add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from .commands import add_weights_commands

    add_weights_commands(subparsers)
