"""Partial matching of one layer's units to a target width (PLeaS: Nasery, Hayase, Koh &
Oh, *PLeaS — Merging Models with Permutations and Least Squares*, 2024).

Merging a layer of :math:`n_A` units with one of :math:`n_B` into :math:`W` units,
:math:`\\max(n_A, n_B) \\le W \\le n_A + n_B`: :math:`k = n_A + n_B - W` pairs ``(i, j)`` are
*merged* (one unit for A's ``i`` and B's ``j``), every other unit is *kept* from its model, so the
merged layer has :math:`k + (n_A - k) + (n_B - k) = W` units (equal widths :math:`n`: :math:`k =
2n - W`; at :math:`W = n` every unit is paired, a full permutation; at :math:`W = 2n` none is,
the two layers side by side). The pairs are those of the linear assignment on the units'
activation correlations,

.. math::

    p = \\arg\\max_{p} \\sum_i C_{i, p(i)}, \\qquad
    C_{ij} = \\operatorname{corr}(a_i, b_j),

of which the :math:`k` best-correlated pairs are merged (ties broken by A's unit index).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from .activation_matching import _standardize


@dataclass(frozen=True)
class PartialMatch:
    """One layer's merged units, in the merged layer's order: first the ``k`` pairs
    (``pairs_a[i]`` of A with ``pairs_b[i]`` of B), then A's kept units ``only_a``, then B's
    ``only_b`` (each ``(count,)`` long, ascending within the kept parts)."""

    pairs_a: Tensor
    pairs_b: Tensor
    only_a: Tensor
    only_b: Tensor

    @property
    def width(self) -> int:
        """Units of the merged layer."""
        return len(self.pairs_a) + len(self.only_a) + len(self.only_b)


def correlations(acts_a: Tensor, acts_b: Tensor, eps: float = 1e-12) -> Tensor:
    """``C`` ``(n_A, n_B)`` float64: the correlations of A's and B's units over the samples of
    ``(samples, n_A)`` and ``(samples, n_B)`` activations (a unit that never varies: 0)."""
    if acts_a.dim() != 2 or acts_b.dim() != 2 or acts_a.shape[0] != acts_b.shape[0]:
        raise ValueError(
            f"need (samples, units) activations on the same samples, got "
            f"{list(acts_a.shape)} and {list(acts_b.shape)}"
        )
    za, zb = _standardize(acts_a, eps), _standardize(acts_b, eps)
    return za.T @ zb / acts_a.shape[0]


def partial_matching(acts_a: Tensor, acts_b: Tensor, width: int) -> PartialMatch:
    """Match A's and B's units into ``width`` merged units (see the module's docstring).

    :raises ValueError: ``width`` outside ``[max(n_A, n_B), n_A + n_B]``.
    """
    corr = correlations(acts_a, acts_b)
    n_a, n_b = corr.shape
    if not max(n_a, n_b) <= width <= n_a + n_b:
        raise ValueError(
            f"width: between {max(n_a, n_b)} and {n_a + n_b} for layers of {n_a} and {n_b} "
            f"units, got {width}"
        )
    k = n_a + n_b - width
    rows, cols = linear_sum_assignment(corr.numpy(), maximize=True)
    rows_t, cols_t = torch.as_tensor(rows), torch.as_tensor(cols)
    score = corr[rows_t, cols_t]
    # stable sort: equal correlations keep A's order
    best = torch.sort(-score, stable=True).indices[:k]
    pairs_a, pairs_b = rows_t[best].long(), cols_t[best].long()
    only_a = _rest(n_a, pairs_a)
    only_b = _rest(n_b, pairs_b)
    return PartialMatch(pairs_a, pairs_b, only_a, only_b)


def _rest(n: int, taken: Tensor) -> Tensor:
    mask = torch.ones(n, dtype=torch.bool)
    mask[taken] = False
    return torch.arange(n)[mask]


__all__ = ["PartialMatch", "correlations", "partial_matching"]
