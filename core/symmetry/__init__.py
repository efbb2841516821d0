"""The symmetry layer: groups acting on tensors and frames that canonicalize point sets.

* :class:`Group` and the built-in groups (:data:`BUILTIN_GROUPS`): node permutations, the
  square's dihedral group, O(d)/SO(d), E(d)/SE(d), rotations about an axis, eigenvector signs
  and bases, torus translations and flows.
* :class:`Frame` and the built-in frames (:data:`BUILTIN_FRAMES`): translation-scale, kNN
  neighbourhood and PCA frames (for frame averaging).
* :class:`Symmetry` declarations and :func:`check_symmetries` (from :mod:`.declare`).
* Weight-space symmetry (:mod:`.weights`): a model's :class:`PermutationSpec` (which parameter
  axes move together when a layer's units are permuted), the group :class:`WeightPermutations`
  acting on its parameters, and :func:`check_weight_symmetry`.
"""

from __future__ import annotations

from .declare import (
    NoSymmetriesError,
    Symmetric,
    Symmetry,
    SymmetryResult,
    check_symmetries,
    check_weight_symmetry,
)
from .frames import (
    BUILTIN_FRAMES,
    DegenerateFrameError,
    Frame,
    NeighbourhoodFrame,
    PCAFrame,
    PCAFrames,
    ScaleParams,
    TranslationScaleFrame,
    bounding_square,
    neighbourhood_frame,  # deprecated alias of NeighbourhoodFrame().canonicalize
    normalize_coords,  # deprecated alias of TranslationScaleFrame().canonicalize
)
from .group import Element, Group
from .groups import (
    BUILTIN_GROUPS,
    AxisRotation,
    EigenBasis,
    EigenSigns,
    Euclidean,
    NodePermutation,
    Orthogonal,
    SquareDihedral,
    TorusFlow,
    TorusTranslation,
)
from .orthogonal import haar_orthogonal
from .torus import roll2d
from .weights import (
    Axis,
    Permutation,
    PermutationSpec,
    PermutationSpecError,
    WeightPermutations,
    batchnorm,
    columns,
    declared_weight_permutations,
    rows,
)

__all__ = [
    "BUILTIN_FRAMES",
    "BUILTIN_GROUPS",
    "Axis",
    "AxisRotation",
    "DegenerateFrameError",
    "EigenBasis",
    "EigenSigns",
    "Element",
    "Euclidean",
    "Frame",
    "Group",
    "NeighbourhoodFrame",
    "NoSymmetriesError",
    "NodePermutation",
    "Orthogonal",
    "PCAFrame",
    "PCAFrames",
    "Permutation",
    "PermutationSpec",
    "PermutationSpecError",
    "ScaleParams",
    "SquareDihedral",
    "Symmetric",
    "Symmetry",
    "SymmetryResult",
    "TorusFlow",
    "TorusTranslation",
    "TranslationScaleFrame",
    "WeightPermutations",
    "batchnorm",
    "bounding_square",
    "check_symmetries",
    "check_weight_symmetry",
    "columns",
    "declared_weight_permutations",
    "haar_orthogonal",
    "neighbourhood_frame",
    "normalize_coords",
    "roll2d",
    "rows",
]
