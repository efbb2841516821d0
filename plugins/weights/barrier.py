"""The loss barrier on the straight line between two solutions (linear mode connectivity), whole
and layer by layer.

Along :math:`\\theta(t) = (1 - t)\\,\\theta_A + t\\,\\theta_B` the loss :math:`L(\\theta(t))` is
compared with the straight line between the endpoints' losses; the barrier is the largest excess
(the definition of Entezari, Sedghi, Saukh & Neyshabur, *The Role of Permutation Invariance in
Linear Mode Connectivity*, ICLR 2022):

.. math::

    B_L = \\max_{t \\in T} \\Big[ L(\\theta(t)) - \\big((1 - t) L(\\theta_A) + t\\, L(\\theta_B)\\big)
          \\Big], \\qquad
    B_{acc} = \\max_{t \\in T} \\Big[ \\big((1 - t) A(\\theta_A) + t\\, A(\\theta_B)\\big)
          - A(\\theta(t)) \\Big],

over the grid :math:`T` of ``points`` evenly spaced values of :math:`t \\in [0, 1]` (endpoints
included, where the excess is 0, so both are :math:`\\ge 0`). Frankle et al. (*Linear Mode
Connectivity and the Lottery Ticket Hypothesis*, ICML 2020) subtract the endpoints' *mean*
instead of the line through them; the two agree when the endpoints' losses are equal.
:attr:`BarrierCurve.mean_barrier` gives theirs.

The layer-wise account (in the spirit of *Landscaping Linear Mode Connectivity*, which asks
which layers the barrier arises in): for a group of parameters ``S`` (one module's parameters,
or every parameter one permutation moves), only ``S`` moves along the line, every other
parameter stays at :math:`\\theta_A`:

.. math::

    \\theta_S(t)_k = \\begin{cases} (1 - t)\\,\\theta_{A,k} + t\\,\\theta_{B,k} & k \\in S \\\\
    \\theta_{A,k} & k \\notin S \\end{cases}

and its barrier is measured against the line between :math:`L(\\theta_A)` and
:math:`L(\\theta_S(1))` (the model with ``S`` swapped for B's, which need not be a good model:
``B`` must be aligned to ``A`` first for the swap to mean anything). A group with barrier 0 is one
the two solutions agree on up to linear interpolation.

The loss and accuracy come from a caller's ``evaluate(state_dict) -> (loss, accuracy)``: any model
and data. Models with BatchNorm need their running statistics recomputed at each point (the
interpolated statistics are not those of the interpolated network: Jordan et al., *REPAIR*, ICLR
2023, reset them on data); :func:`reset_batchnorm` does it, passed as ``renormalize``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .interpolation import interpolate

Evaluate = Callable[[Mapping[str, Tensor]], tuple[float, float]]
"""state dict -> ``(loss, accuracy)`` of the model with those parameters on fixed data."""

Renormalize = Callable[[Mapping[str, Tensor]], Mapping[str, Tensor]]
"""state dict -> the same state dict with (say) BatchNorm statistics recomputed."""


@dataclass(frozen=True)
class BarrierCurve:
    """Loss and accuracy at ``t`` (``points`` values from 0 to 1) along one path."""

    t: list[float]
    loss: list[float]
    accuracy: list[float]

    @staticmethod
    def _excess(values: Sequence[float], t: Sequence[float], sign: float) -> float:
        a, b = values[0], values[-1]
        excess = max(sign * (v - ((1 - s) * a + s * b)) for s, v in zip(t, values, strict=True))
        return excess + 0.0  # -0.0 (the endpoints' own excess, negated) reads as 0

    @property
    def loss_barrier(self) -> float:
        """:math:`B_L`: the largest excess of the loss over the line between the endpoints'."""
        return self._excess(self.loss, self.t, 1.0)

    @property
    def accuracy_barrier(self) -> float:
        """:math:`B_{acc}`: the largest shortfall of accuracy under the line between the
        endpoints'."""
        return self._excess(self.accuracy, self.t, -1.0)

    @property
    def mean_barrier(self) -> float:
        """Frankle et al.'s loss barrier: :math:`\\max_t L(\\theta(t)) - (L_A + L_B)/2`."""
        return max(self.loss) - (self.loss[0] + self.loss[-1]) / 2

    def as_dict(self) -> dict[str, Any]:
        """Plain values (for JSON): the curve and its barriers."""
        return {
            "t": list(self.t),
            "loss": list(self.loss),
            "accuracy": list(self.accuracy),
            "loss_barrier": self.loss_barrier,
            "accuracy_barrier": self.accuracy_barrier,
            "mean_loss_barrier": self.mean_barrier,
        }


def grid(points: int) -> list[float]:
    """``points`` (>= 2) evenly spaced values of ``t`` from 0 to 1, both included."""
    if points < 2:
        raise ValueError(f"points: at least 2 (the endpoints), got {points}")
    return [i / (points - 1) for i in range(points)]


def _check_same(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> None:
    if a.keys() != b.keys():
        raise ValueError(f"the state dicts differ in keys: {sorted(a.keys() ^ b.keys())}")


def linear_path(
    state_a: Mapping[str, Tensor],
    state_b: Mapping[str, Tensor],
    evaluate: Evaluate,
    points: int = 11,
    *,
    keys: Iterable[str] | None = None,
    renormalize: Renormalize | None = None,
) -> BarrierCurve:
    """The loss and accuracy at ``θ(t)`` for ``points`` values of ``t``.

    :param keys: only these parameters move (the others stay at A's): one layer's path; every
        floating-point entry when ``None``.
    :param renormalize: applied to each interpolated state dict before it is evaluated (e.g.
        :func:`reset_batchnorm`); the endpoints are renormalized too, so the path is measured
        between like and like.
    """
    _check_same(state_a, state_b)
    moving = set(state_a) if keys is None else set(keys)
    if unknown := sorted(moving - set(state_a)):
        raise ValueError(f"keys not in the state dicts: {unknown}")
    ts = grid(points)
    losses, accs = [], []
    for t in ts:
        mixed = interpolate(state_a, state_b, t)
        state = {k: (mixed[k] if k in moving else v) for k, v in state_a.items()}
        if renormalize is not None:
            state = dict(renormalize(state))
        loss, acc = evaluate(state)
        losses.append(float(loss))
        accs.append(float(acc))
    return BarrierCurve(ts, losses, accs)


def module_groups(state: Mapping[str, Tensor]) -> dict[str, list[str]]:
    """The floating-point parameters of ``state`` grouped by the module that owns them (the key
    up to its last dot: ``layers.0.weight`` and ``layers.0.bias`` are ``layers.0``), in order."""
    groups: dict[str, list[str]] = {}
    for key, value in state.items():
        if value.is_floating_point():
            groups.setdefault(key.rpartition(".")[0] or key, []).append(key)
    return groups


def layerwise_barriers(
    state_a: Mapping[str, Tensor],
    state_b: Mapping[str, Tensor],
    evaluate: Evaluate,
    points: int = 11,
    *,
    groups: Mapping[str, Sequence[str]] | None = None,
    renormalize: Renormalize | None = None,
) -> dict[str, BarrierCurve]:
    """The path of each group of parameters alone (:math:`\\theta_S(t)`, the rest at A), one
    curve per group: by default one per module (:func:`module_groups`); pass
    ``{name: spec.perms[name] keys}`` to move what one permutation moves."""
    groups = module_groups(state_a) if groups is None else groups
    return {
        name: linear_path(state_a, state_b, evaluate, points, keys=keys, renormalize=renormalize)
        for name, keys in groups.items()
    }


@torch.no_grad()
def reset_batchnorm(
    model: nn.Module, state: Mapping[str, Tensor], batches: Iterable[Any]
) -> dict[str, Tensor]:
    """``state`` with every BatchNorm layer's running mean and variance recomputed on
    ``batches`` (REPAIR's reset: the statistics of the network these parameters make, the
    cumulative average over all batches, not an exponential one).

    ``model`` is loaded with ``state``, run on each batch (``model(batch)``) in train mode with
    its BatchNorm layers reset, and put back in the mode it was in; its state dict is returned. A model
    without BatchNorm gets ``state`` back unchanged.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return dict(state)
    model.load_state_dict(dict(state))
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    was_training = model.training
    model.train()
    try:
        for batch in batches:
            model(batch)
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        model.train(was_training)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


__all__ = [
    "BarrierCurve",
    "Evaluate",
    "grid",
    "layerwise_barriers",
    "linear_path",
    "module_groups",
    "reset_batchnorm",
]
