"""The built-in random re-construction plugin (entry point ``rrc`` in the ``symco`` group)."""

from __future__ import annotations

from symco import hookimpl
from symco.core.registry import Registry

RRC = "symco.plugins.rrc"


@hookimpl
def symco_register(registry: Registry) -> None:
    # by path: listing the registry (`symco plugins`) imports no torch
    registry.add_lazy("improver", f"{RRC}.tsp:TSPReconstruction", name="rrc", problem="tsp")
    registry.add_lazy("improver", f"{RRC}.cvrp:CVRPReconstruction", name="rrc", problem="cvrp")
