"""The built-in groups, collected in :data:`BUILTIN_GROUPS` (the core registers them)."""

from __future__ import annotations

from .dihedral import SquareDihedral
from .eigen import EigenBasis, EigenSigns
from .group import Group
from .orthogonal import AxisRotation, Euclidean, Orthogonal
from .permutation import NodePermutation
from .torus import TorusFlow, TorusTranslation

BUILTIN_GROUPS: tuple[type[Group], ...] = (
    NodePermutation,
    SquareDihedral,
    Orthogonal,
    Euclidean,
    AxisRotation,
    EigenSigns,
    EigenBasis,
    TorusTranslation,
    TorusFlow,
)
"""Every built-in group class; each is constructible with no arguments."""

__all__ = [
    "BUILTIN_GROUPS",
    "AxisRotation",
    "EigenBasis",
    "EigenSigns",
    "Euclidean",
    "NodePermutation",
    "Orthogonal",
    "SquareDihedral",
    "TorusFlow",
    "TorusTranslation",
]
