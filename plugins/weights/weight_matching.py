"""Weight matching (Ainsworth, Hayase & Srinivasa, *Git Re-Basin*, ICLR 2023): the weight
permutation of model B that brings its parameters closest to model A's.

It maximizes :math:`\\langle \\theta_A, \\pi \\cdot \\theta_B \\rangle` (equivalently
minimizes :math:`\\lVert \\theta_A - \\pi \\cdot \\theta_B \\rVert^2`, permutations keeping norms)
over the product of the spec's symmetric groups. That is NP-hard jointly, so it runs coordinate
descent: each step fixes every permutation but one, ``p``, whose objective is then linear,

.. math::

    \\max_{p} \\sum_i S_{i, p(i)}, \\qquad
    S_{ij} = \\sum_{\\text{axes of } p} \\langle A_{\\cdot, i, \\cdot},
             (\\pi_{-p} \\cdot B)_{\\cdot, j, \\cdot} \\rangle ,

a linear assignment problem (``scipy.optimize.linear_sum_assignment``); ``A_{·,i,·}`` is every
entry unit ``i`` owns on that axis (:func:`~symco.core.symmetry.weights.unit_view`), over the
axes of weights only (``Axis.weight``: BatchNorm running statistics move with their channels but
are not compared). Sweeps visit
the permutations in a random order and stop when none improves (each accepted step strictly
increases the objective, so it terminates).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from symco.core.symmetry.weights import PermutationSpec, permute_axis, unit_view


def weight_matching(
    spec: PermutationSpec,
    state_a: Mapping[str, Tensor],
    state_b: Mapping[str, Tensor],
    *,
    generator: torch.Generator | None = None,
    max_sweeps: int = 100,
    init: Mapping[str, Tensor] | None = None,
) -> dict[str, Tensor]:
    """The permutations ``π`` (``name -> (size,)`` long) such that ``spec.permute(π, state_b)``
    is closest to ``state_a``: unit ``i`` of aligned B is unit ``π(i)`` of B.

    :param generator: draws each sweep's order (default: seed 0).
    :param max_sweeps: a bound on the sweeps (in practice a few suffice).
    :param init: where the descent starts (default: the identity).
    :raises PermutationSpecError: the spec does not fit one of the state dicts.
    """
    spec.validate(state_a)
    spec.validate(state_b)
    a = {key: state_a[key].detach().to("cpu", torch.float64) for key in spec.keys}
    b = {key: state_b[key].detach().to("cpu", torch.float64) for key in spec.keys}
    for key in spec.keys:
        if a[key].shape != b[key].shape:
            raise ValueError(f"{key}: shapes {list(a[key].shape)} and {list(b[key].shape)} differ")
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    perms = spec.identity()
    if init is not None:
        perms.update({name: p.to("cpu", torch.long) for name, p in init.items()})
    names = spec.names
    for _ in range(max_sweeps):
        improved = False
        for k in torch.randperm(len(names), generator=gen).tolist():
            name = names[k]
            sim = similarity(spec, name, a, b, perms)  # (size, size)
            rows = np.arange(len(sim))
            _, cols = linear_sum_assignment(sim, maximize=True)
            old, new = sim[rows, perms[name].numpy()].sum(), sim[rows, cols].sum()
            if new > old + 1e-12 * max(1.0, abs(old)):
                perms[name] = torch.as_tensor(cols, dtype=torch.long)
                improved = True
        if not improved:
            break
    return perms


def similarity(
    spec: PermutationSpec,
    name: str,
    a: Mapping[str, Tensor],
    b: Mapping[str, Tensor],
    perms: Mapping[str, Tensor],
) -> np.ndarray:
    """``S`` ``(size, size)``: ``S[i, j]`` the inner product of A's unit ``i`` with B's unit
    ``j`` of permutation ``name``, over all its axes, with every *other* axis entry of those
    parameters of B permuted by ``perms`` (the same permutation's entries on other axes included,
    as for a square hidden-to-hidden weight)."""
    perm = spec.perms[name]
    sim = torch.zeros(perm.size, perm.size, dtype=torch.float64)
    for ax in perm.axes:
        if not ax.weight:  # moved with the units, not compared (BatchNorm running statistics)
            continue
        wb = b[ax.key]
        for other, other_ax in spec.axes_of(ax.key):
            if (other, other_ax) != (name, ax):
                wb = permute_axis(wb, other_ax, perms[other])
        sim += unit_view(a[ax.key], ax) @ unit_view(wb, ax).T
    return sim.numpy()
