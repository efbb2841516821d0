"""Built-in plugin: interatomic potentials on GFN2-xTB-labelled molecules
(:mod:`symco.plugins.mlip.lightning`).

It registers the module and the data module (``symco fit`` configs name them by class path;
checkpoints are rebuilt only for registered modules) and the ``symco md`` command. The
potentials (Transformer, Facet-style GNN, EGNN, the MACE adapter) and TransIP's objective are
given by class path in configs.
"""

from __future__ import annotations

import argparse

from symco import hookimpl
from symco.core.registry import Registry


@hookimpl
def symco_register(registry: Registry) -> None:
    # by path: listing the registry imports neither torch nor Lightning
    registry.add_lazy(
        "model", "symco.plugins.mlip.lightning:PotentialModule", name="PotentialModule"
    )
    registry.add_lazy("datamodule", "symco.plugins.mlip.data:MLIPDataModule", name="MLIPDataModule")


@hookimpl
def symco_add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from .commands import add_mlip_commands

    add_mlip_commands(subparsers)
