"""Built-in plugin: flow-equivariant RNNs on moving digits (:mod:`symco.plugins.fernn`).

It registers the module and the data module (``symco fit`` configs name them by class path;
checkpoints are rebuilt only for registered modules) and ships the trained ``fernn-mnist`` and
``grnn-mnist`` models.
"""

from __future__ import annotations

from pathlib import Path

from symco import hookimpl
from symco.core.registry import Registry

MODELS_DIR = Path(__file__).with_name("models")


@hookimpl
def symco_register(registry: Registry) -> None:
    # by path: listing the registry imports no torch
    registry.add_lazy("model", "symco.plugins.fernn.lightning:FERNNModule", name="FERNNModule")
    registry.add_lazy(
        "datamodule",
        "symco.plugins.fernn.lightning:MovingDigitsDataModule",
        name="MovingDigitsDataModule",
    )


@hookimpl
def symco_models() -> dict[str, str]:
    return {p.stem: str(p) for p in sorted(MODELS_DIR.glob("*.pt"))}
