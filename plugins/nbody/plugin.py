"""Built-in plugin: n-body dynamics with geometric equivariant networks
(:mod:`symco.plugins.nbody.lightning`).

It registers the module and the data module (``symco fit`` configs name them by class path;
checkpoints are rebuilt only for registered modules). Backbones (EGNN, GNN, Linear,
FrameAveraging, ResidualPathway) and the soft-equivariance regularizer are given by class path in
configs: no core kind fits them (``policy`` scores actions of reduced states), so they are not
registered. It ships the trained ``egnn-nbody`` model.
"""

from __future__ import annotations

from pathlib import Path

from symco import hookimpl
from symco.core.registry import Registry

MODELS_DIR = Path(__file__).with_name("models")


@hookimpl
def symco_register(registry: Registry) -> None:
    # by path: listing the registry imports neither torch nor Lightning
    registry.add_lazy("model", "symco.plugins.nbody.lightning:NBodyModule", name="NBodyModule")
    registry.add_lazy(
        "datamodule", "symco.plugins.nbody.data:NBodyDataModule", name="NBodyDataModule"
    )


@hookimpl
def symco_models() -> dict[str, str]:
    return {p.stem: str(p) for p in sorted(MODELS_DIR.glob("*.pt"))}
