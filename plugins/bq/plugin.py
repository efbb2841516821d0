"""The built-in BQ-NCO plugin (entry point ``bq`` in the ``symco`` group)."""

from __future__ import annotations

import argparse

from symco import hookimpl
from symco.core.registry import Registry


@hookimpl
def symco_register(registry: Registry) -> None:
    from symco.plugins.bq.cvrp import BQCVRPReducer
    from symco.plugins.bq.kp import BQKPReducer
    from symco.plugins.bq.lightning import BQDataModule, BQModule
    from symco.plugins.bq.op import BQOPReducer
    from symco.plugins.bq.policy import BQTransformer
    from symco.plugins.bq.tsp import BQTSPDistanceReducer, BQTSPReducer

    registry.add_reducer(BQTSPReducer)
    registry.add_reducer(BQTSPDistanceReducer)
    registry.add_reducer(BQCVRPReducer)
    registry.add_reducer(BQOPReducer)
    registry.add_reducer(BQKPReducer)
    registry.add_policy(BQTransformer)
    registry.add_model(BQModule)
    registry.add("datamodule", BQDataModule, name="BQDataModule")


@hookimpl
def symco_add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from symco.plugins.bq.cli import add_commands

    add_commands(subparsers)


@hookimpl
def symco_models() -> dict[str, str]:
    from symco.plugins.bq.models import shipped_models

    return shipped_models()
