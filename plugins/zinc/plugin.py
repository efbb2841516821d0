"""Built-in plugin: ZINC graph regression (:mod:`symco.plugins.zinc.lightning`).

It registers nothing by name: ``symco fit`` finds ``ZincModule``/``ZincDataModule`` by class
path, and the encodings they use come from the ``encodings`` plugin.
"""

from __future__ import annotations

from symco import hookimpl
from symco.core.registry import Registry


@hookimpl
def symco_register(registry: Registry) -> None:
    pass
