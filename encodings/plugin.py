"""Built-in plugin: registers the graph encodings (``spe``, ``signnet``, ``lappe``, ``rwpe``)."""

from __future__ import annotations

from symco import hookimpl
from symco.core.registry import Registry


@hookimpl
def symco_register(registry: Registry) -> None:
    from symco.encodings import RWPE, SPE, LapPE, SignNet

    for cls in (SPE, SignNet, LapPE, RWPE):
        registry.add_encoding(cls)
