"""Importing and building e3nn 0.4.4 (the version mace-torch pins) under torch >= 2.6.

e3nn 0.4.4 reads its Wigner constants with a bare ``torch.load``, which now defaults to
``weights_only=True``; the file holds :class:`slice` objects, so that builtin is allowed first
(safe: it runs no code; nothing else is allowed). Its tensor products and linears compile their
generated code with the deprecated ``torch.jit.script``, at construction and again whenever
they are deep-copied (which warns). :class:`TensorProduct` and :class:`Linear` keep
that code as plain ``torch.fx`` modules (same maths) when built and deep-copied.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import torch
from torch import nn


def import_o3() -> ModuleType:
    """``e3nn.o3``, imported after allowing :class:`slice` in ``torch.load(weights_only=True)``."""
    torch.serialization.add_safe_globals([slice])
    from e3nn import o3

    return o3


o3 = import_o3()


@contextmanager
def unscripted() -> Iterator[None]:
    """Build e3nn modules inside this block without TorchScript (``jit_script_fx=False``);
    e3nn's global defaults are restored on exit."""
    import e3nn

    saved = e3nn.get_optimization_defaults()
    e3nn.set_optimization_defaults(jit_script_fx=False)
    try:
        yield
    finally:
        e3nn.set_optimization_defaults(**saved)


class FxCodegen:
    """Mixin for e3nn's code-generating modules: built without TorchScript and deep-copied as
    ordinary modules (their ``torch.fx`` submodules copy themselves), where e3nn's
    ``CodeGenMixin`` would script them. symco never pickles modules (weights travel as state
    dicts), so e3nn's own pickling path is left as it is."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        with unscripted():
            super().__init__(*args, **kwargs)

    def __deepcopy__(self, memo: dict[int, Any]) -> FxCodegen:
        twin = self.__class__.__new__(self.__class__)
        memo[id(self)] = twin
        state = nn.Module.__getstate__(self)  # type: ignore[arg-type]
        nn.Module.__setstate__(twin, copy.deepcopy(state, memo))  # type: ignore[arg-type]
        return twin


class TensorProduct(FxCodegen, o3.TensorProduct):
    """``e3nn.o3.TensorProduct`` (same arguments) as plain ``torch.fx`` code."""


class Linear(FxCodegen, o3.Linear):
    """``e3nn.o3.Linear`` (same arguments) as plain ``torch.fx`` code."""


__all__ = ["FxCodegen", "Linear", "TensorProduct", "import_o3", "unscripted"]
