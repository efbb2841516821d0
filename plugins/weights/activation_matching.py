"""Activation matching (Ainsworth et al., *Git Re-Basin*, ICLR 2023; Li et al. 2016, *Convergent
Learning*): pair the units of two models that respond alike to the same data.

For one layer with activations ``A`` and ``B`` ``(samples, units)`` of the two models on the same
inputs, the correlation matrix :math:`C_{ij} = \\operatorname{corr}(A_{:, i}, B_{:, j})` is a
linear assignment problem, :math:`\\max_p \\sum_i C_{i, p(i)}`, solved per layer
(``scipy.optimize.linear_sum_assignment``). Unlike weight matching the layers do not interact:
each is matched on what its units compute, whatever the other layers' order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

Activations = Callable[[Any], Mapping[str, Tensor]]
"""model -> ``name -> (samples, units)`` activations of each permutation's units on the same
data for every model (a convolution's spatial positions folded into the samples)."""


def correlation_matching(acts_a: Tensor, acts_b: Tensor, eps: float = 1e-12) -> Tensor:
    """The permutation ``p`` ``(units,)`` maximizing :math:`\\sum_i \\operatorname{corr}(a_i,
    b_{p(i)})` for activations ``(samples, units)``: unit ``i`` of A is matched to unit
    ``p(i)`` of B (as weight matching, ``p`` gathers B's units into A's order). A unit that never
    varies (a dead ReLU) correlates 0 with every other."""
    if acts_a.shape != acts_b.shape or acts_a.dim() != 2:
        raise ValueError(
            f"need two (samples, units) activations of one shape, got "
            f"{list(acts_a.shape)} and {list(acts_b.shape)}"
        )
    za, zb = _standardize(acts_a, eps), _standardize(acts_b, eps)
    corr = za.T @ zb / acts_a.shape[0]  # (units, units)
    _, cols = linear_sum_assignment(corr.numpy(), maximize=True)
    return torch.as_tensor(cols, dtype=torch.long)


def _standardize(x: Tensor, eps: float) -> Tensor:
    x = x.detach().to("cpu", torch.float64)
    x = x - x.mean(dim=0)
    return x / x.pow(2).mean(dim=0).sqrt().clamp_min(eps)


@torch.no_grad()
def activation_matching(model_a: Any, model_b: Any, activations: Activations) -> dict[str, Tensor]:
    """The permutations (``name -> (units,)`` long) that align ``model_b``'s units to
    ``model_a``'s, one per name ``activations`` returns; apply them with
    ``spec.permute(perms, model_b.state_dict())`` (names it leaves out stay put)."""
    acts_a, acts_b = activations(model_a), activations(model_b)
    if acts_a.keys() != acts_b.keys():
        raise ValueError(
            f"the models' activations differ in names: {sorted(acts_a.keys() ^ acts_b.keys())}"
        )
    return {name: correlation_matching(acts_a[name], acts_b[name]) for name in acts_a}
