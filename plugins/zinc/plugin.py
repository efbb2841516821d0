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
    from symco.plugins.zinc.lightning import ZincDataModule, ZincModule

    registry.add_model(ZincModule)
    registry.add("datamodule", ZincDataModule, name="ZincDataModule")
