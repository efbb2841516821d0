"""Positional and structural graph encodings, registered as symco plugins.

``SPE`` (stable and expressive positional encodings), ``SignNet``, and torch_geometric's
Laplacian-eigenvector and random-walk encodings (``LapPE``, ``RWPE``), all behind the
:class:`Encoding` interface; ``EigenPairs`` is the transform the spectral ones read.
Attributes are imported lazily so that ``import symco.encodings`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Encoding": "base",
    "build_encoding": "base",
    "to_data": "base",
    "EigenPairs": "eigenpairs",
    "normalized_laplacian": "eigenpairs",
    "EigenvalueMLPs": "phi",
    "AxisGIN": "gin",
    "SPE": "spe",
    "SignNet": "signnet",
    "LapPE": "lappe",
    "PaddedLaplacianPE": "lappe",
    "RWPE": "rwpe",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'symco.encodings' has no attribute {name!r}")
    return getattr(importlib.import_module(f"symco.encodings.{_EXPORTS[name]}"), name)
