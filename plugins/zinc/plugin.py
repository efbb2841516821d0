"""Built-in plugin: ZINC graph regression (:mod:`symco.plugins.zinc.lightning`).

It registers its module and data module (``symco fit`` configs name them by class path;
checkpoints are rebuilt only for registered modules); the encodings they use come from the
``encodings`` plugin.
"""

from __future__ import annotations

from symco import hookimpl
from symco.core.registry import Registry


@hookimpl
def symco_register(registry: Registry) -> None:
    # by path: listing the registry imports neither torch nor RDKit
    registry.add_lazy("model", "symco.plugins.zinc.lightning:ZincModule", name="ZincModule")
    registry.add_lazy(
        "datamodule", "symco.plugins.zinc.lightning:ZincDataModule", name="ZincDataModule"
    )
