"""The core's training plugin: ``fit|validate|test|predict``, ``models``, ``export-model`` and
``check-symmetry`` for any registered module, added through ``symco_add_commands`` like any
third-party command (no torch import until a command runs)."""

from __future__ import annotations

import argparse

from symco.core.hookspecs import hookimpl


@hookimpl
def symco_add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from symco.core.training.cli import add_commands

    add_commands(subparsers)
