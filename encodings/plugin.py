"""Built-in plugin: registers the graph encodings (``spe``, ``signnet``, ``lappe``, ``rwpe``)."""

from __future__ import annotations

from symco import hookimpl
from symco.core.registry import Registry


@hookimpl
def symco_register(registry: Registry) -> None:
    # by path: listing the registry imports no torch
    for target, name in (
        ("symco.encodings.spe:SPE", "spe"),
        ("symco.encodings.signnet:SignNet", "signnet"),
        ("symco.encodings.lappe:LapPE", "lappe"),
        ("symco.encodings.rwpe:RWPE", "rwpe"),
    ):
        registry.add_lazy("encoding", target, name=name)
