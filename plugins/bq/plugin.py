"""The built-in BQ-NCO plugin (entry point ``bq`` in the ``symco`` group)."""

from __future__ import annotations

from symco import hookimpl
from symco.core.registry import Registry

BQ = "symco.plugins.bq"


@hookimpl
def symco_register(registry: Registry) -> None:
    # by path: listing the registry (`symco plugins`) imports no torch
    for target, name, problem in (
        (f"{BQ}.tsp:BQTSPReducer", "bq", "tsp"),
        (f"{BQ}.tsp:BQTSPDistanceReducer", "bq-dist", "tsp"),
        (f"{BQ}.cvrp:BQCVRPReducer", "bq", "cvrp"),
        (f"{BQ}.cvrp:BQCVRPPlainReducer", "bq-plain", "cvrp"),
        (f"{BQ}.op:BQOPReducer", "bq", "op"),
        (f"{BQ}.kp:BQKPReducer", "bq", "kp"),
    ):
        registry.add_lazy("reducer", target, name=name, problem=problem)
    registry.add_lazy("policy", f"{BQ}.policy:BQTransformer", name="transformer")
    registry.add_lazy("policy", f"{BQ}.perceiver:BQPerceiver", name="perceiver")
    registry.add_lazy("importer", f"{BQ}.importer:BQNCOImporter", name="bq-nco")
    registry.add_lazy("model", f"{BQ}.lightning:BQModule", name="BQModule")
    registry.add_lazy("datamodule", f"{BQ}.lightning:BQDataModule", name="BQDataModule")


@hookimpl
def symco_models() -> dict[str, str]:
    from symco.plugins.bq.models import shipped_models

    return shipped_models()
