"""PLeaS merging (Nasery, Hayase, Koh & Oh, *PLeaS — Merging Models with Permutations and Least
Squares*, 2024) for the plugin's :class:`~.mlp.MLP` (Linear + ReLU stacks), to any target width.

Two models A and B of one architecture are merged layer by layer, in order through the network:

1. **Partial matching** (:func:`~.partial.partial_matching`): hidden layer ``l``'s units of A and
   B are matched on their activation correlations on the data into :math:`W_l` merged units —
   :math:`k_l = n_A + n_B - W_l` merged pairs, the other units kept from their own model.
2. **Targets**: the merged layer's unit ``u`` should compute, on every input ``x``, what the
   endpoint units it stands for compute on ``x`` in their own networks — for a pair ``(i, j)``
   both :math:`z^A_{l,i}(x)` and :math:`z^B_{l,j}(x)` (a least squares fit to two targets is a fit
   to their mean), for a kept unit its own model's. With pre-activations
   :math:`Z^A_l, Z^B_l` ``(N, n)``:

   .. math::

       T_l = \\big[\\tfrac12 (Z^A_{l, \\text{pairs}_A} + Z^B_{l, \\text{pairs}_B}),\\;
       Z^A_{l, \\text{only}_A},\\; Z^B_{l, \\text{only}_B}\\big] \\in \\mathbb{R}^{N \\times W_l},

   and for the output layer (not permuted) :math:`T_L = \\tfrac12 (Z^A_L + Z^B_L)`, the mean
   of the logits, when the two share a label space (``heads="shared"``), or
   :math:`T_L = [Z^A_L, Z^B_L]`, both heads side by side, when they do not (``heads="separate"``:
   PLeaS's models trained on different label spaces — say digits 0-4 and 5-9 — give one model
   with A's outputs followed by B's).
3. **Least squares**: with :math:`H_{l-1}` the *merged* network's features on the same inputs
   (its layers ``< l`` already solved; :math:`H_0 = X`), the merged layer is

   .. math::

       (W^M_l, b^M_l) = \\arg\\min_{W, b} \\big\\lVert H_{l-1} W^\\top + \\mathbf 1 b^\\top - T_l
       \\big\\rVert_F^2 + \\lambda \\lVert W \\rVert_F^2, \\qquad
       H_l = \\operatorname{ReLU}(H_{l-1} {W^M_l}^\\top + \\mathbf 1 {b^M_l}^\\top),

   solved in float64 (minimum-norm where :math:`H` is rank deficient, e.g. dead units).
   Solving in order lets each layer correct the error its inputs already carry, which plain
   averaging of the (permuted) weights cannot.

**Data.** ``inputs`` is what both the matching and the least squares see: data from both
endpoints' domains (concatenate them) or from one only — PLeaS's setting where the other
model's training data is unavailable; the targets are then B's features on A's domain. Use at
least as many samples as the widest layer's fan-in (plus one) for a determined fit.

Not done here: convolutional layers (the ResNets are merged by weight matching and averaging).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from .mlp import MLP
from .partial import PartialMatch, partial_matching


def widths_of(model: MLP) -> list[int]:
    """The hidden layers' widths."""
    return [int(layer.out_features) for layer in model.layers[:-1]]


def _targets(z_a: Tensor, z_b: Tensor, match: PartialMatch) -> Tensor:
    merged = (z_a[:, match.pairs_a] + z_b[:, match.pairs_b]) / 2
    return torch.cat([merged, z_a[:, match.only_a], z_b[:, match.only_b]], dim=1)


def least_squares_layer(h: Tensor, target: Tensor, ridge: float = 0.0) -> tuple[Tensor, Tensor]:
    """``(W, b)`` minimizing :math:`\\lVert h W^\\top + \\mathbf 1 b^\\top - T \\rVert^2 + \\lambda
    \\lVert W \\rVert^2` for ``h`` ``(N, d)`` and ``target`` ``(N, W)``, in float64 (``gelsd``: the
    minimum-norm solution when ``h`` is rank deficient)."""
    h, target = h.to(torch.float64), target.to(torch.float64)
    n, d = h.shape
    design = torch.cat([h, torch.ones(n, 1, dtype=torch.float64)], dim=1)
    rhs = target
    if ridge > 0:
        reg = torch.zeros(d, d + 1, dtype=torch.float64)
        reg[:, :d] = torch.eye(d, dtype=torch.float64) * ridge**0.5
        design = torch.cat([design, reg])
        rhs = torch.cat([target, torch.zeros(d, target.shape[1], dtype=torch.float64)])
    sol = torch.linalg.lstsq(design, rhs, driver="gelsd").solution  # (d + 1, W)
    return sol[:d].T.contiguous(), sol[d].contiguous()


@torch.no_grad()
def pleas_merge(
    model_a: MLP,
    model_b: MLP,
    inputs: Tensor,
    widths: int | Sequence[int] | None = None,
    *,
    ridge: float = 0.0,
    pre: bool = True,
    heads: Literal["shared", "separate"] = "shared",
) -> tuple[MLP, list[PartialMatch]]:
    """Merge two MLPs of one architecture into one of hidden ``widths`` (one width for every
    layer, a list, or ``None``: A's widths) by PLeaS (see the module's docstring).

    :param inputs: ``(N, in_dim)`` data the matching and the least squares use.
    :param ridge: :math:`\\lambda`, the weights' ridge penalty (0: plain least squares).
    :param pre: match units on pre-activations (default; no ties between dead ReLU units) or
        on post-ReLU activations.
    :param heads: ``"shared"``: one label space, the merged logits fit the endpoints' mean;
        ``"separate"``: the merged model has A's outputs then B's (input sizes must agree only).
    :return: the merged MLP (float64, eval mode) and each hidden layer's match.
    :raises ValueError: the models differ in shape, or a width is out of its range.
    """
    wa, wb = widths_of(model_a), widths_of(model_b)
    dims_a = (model_a.layers[0].in_features, model_a.layers[-1].out_features)
    dims_b = (model_b.layers[0].in_features, model_b.layers[-1].out_features)
    if heads not in ("shared", "separate"):
        raise ValueError(f"heads: 'shared' or 'separate', got {heads!r}")
    same_outputs = heads == "separate" or dims_a[1] == dims_b[1]
    if len(wa) != len(wb) or dims_a[0] != dims_b[0] or not same_outputs:
        raise ValueError(
            f"the models differ: {dims_a[0]} -> {wa} -> {dims_a[1]} and "
            f"{dims_b[0]} -> {wb} -> {dims_b[1]}"
        )
    if widths is None:
        target_widths = list(wa)
    elif isinstance(widths, int):
        target_widths = [widths] * len(wa)
    else:
        target_widths = [int(w) for w in widths]
    if len(target_widths) != len(wa):
        raise ValueError(f"widths: {len(wa)} hidden layers, got {len(target_widths)} widths")
    a, b = (copy.deepcopy(m).double().eval() for m in (model_a, model_b))
    x = inputs.to(torch.float64).flatten(1)  # (N, in_dim): images are flattened
    pre_a, pre_b = a.activations(x, pre=True), b.activations(x, pre=True)
    post_a, post_b = (pre_a, pre_b) if pre else (a.activations(x), b.activations(x))
    out_a, out_b = a(x), b(x)

    out_dim = dims_a[1] + dims_b[1] if heads == "separate" else dims_a[1]
    merged = MLP(dims_a[0], target_widths, out_dim).double().eval()
    matches: list[PartialMatch] = []
    h = x
    for i, layer in enumerate(merged.layers):
        if i < len(wa):
            name = f"hidden{i}"
            match = partial_matching(post_a[name], post_b[name], target_widths[i])
            matches.append(match)
            target = _targets(pre_a[name], pre_b[name], match)
        elif heads == "separate":
            target = torch.cat([out_a, out_b], dim=1)
        else:
            target = (out_a + out_b) / 2
        weight, bias = least_squares_layer(h, target, ridge)
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
        z = layer(h)
        h = torch.relu(z) if i < len(wa) else z
    return merged, matches


def feature_mismatch(model: MLP, model_a: MLP, model_b: MLP, inputs: Tensor) -> float:
    """Mean squared difference of ``model``'s outputs from the mean of the endpoints' outputs
    on ``inputs`` (what the last least squares fits)."""
    with torch.no_grad():
        x = inputs.to(torch.float64).flatten(1)  # (N, in_dim): images are flattened
        f, fa, fb = (copy.deepcopy(m).double().eval() for m in (model, model_a, model_b))
        return float((f(x) - (fa(x) + fb(x)) / 2).pow(2).mean())


__all__ = ["feature_mismatch", "least_squares_layer", "pleas_merge", "widths_of"]
