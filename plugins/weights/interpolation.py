"""The straight line between two parameter vectors (linear mode connectivity)."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor


def interpolate(a: Mapping[str, Tensor], b: Mapping[str, Tensor], t: float) -> dict[str, Tensor]:
    """``(1 - t) θ_a + t θ_b``, key by key; integer buffers (BatchNorm's batch counter) come from
    ``a``. ``a`` and ``b`` must have the same keys and shapes — align ``b`` to ``a`` first
    (:func:`~.weight_matching.weight_matching`) to interpolate between functionally matched
    units rather than between whatever units happen to share an index.
    """
    if a.keys() != b.keys():
        raise ValueError(f"the state dicts differ in keys: {sorted(a.keys() ^ b.keys())}")
    out = {}
    for key, wa in a.items():
        wb = b[key]
        if wa.shape != wb.shape:
            raise ValueError(f"{key}: shapes {list(wa.shape)} and {list(wb.shape)} differ")
        out[key] = (1 - t) * wa + t * wb if wa.is_floating_point() else wa
    return out
