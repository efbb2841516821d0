"""Soft equivariance under mixed symmetries (Kim et al., ICML 2023), in sampled form.

Kim, Lee, Park, Kim & Song, *Regularizing Towards Soft Equivariance Under Mixed Symmetries*
(ICML 2023): when the data respects an unknown subgroup of several candidate groups, penalise
the equivariance error of each candidate and let the weights follow what the model (trained on
the data) manages to respect.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from symco.core.errors import InvalidInstanceError, SymcoError, UnknownNameError
from symco.core.symmetry.group import Element, Group
from symco.core.symmetry.orthogonal import AxisRotation, Orthogonal

CANDIDATES: dict[str, Callable[[], Group]] = {
    "o3": lambda: Orthogonal(3),
    "o2-x": lambda: AxisRotation(axis=0),
    "o2-y": lambda: AxisRotation(axis=1),
    "o2-z": lambda: AxisRotation(axis=2),
}
"""Candidate group names: :math:`O(3)` and the :math:`O(2)` about each coordinate axis (rotations
about it and reflections in planes containing it), acting on points by :math:`x R^\\top`."""


def candidate_group(name: str) -> Group:
    """The core group called ``name`` among :data:`CANDIDATES` (one error line otherwise)."""
    if name not in CANDIDATES:
        raise UnknownNameError(f"unknown candidate group '{name}'; known: {', '.join(CANDIDATES)}")
    return CANDIDATES[name]()


def _check_options(
    names: list[str],
    lambdas: float | Sequence[float],
    samples: int,
    batch: int | None,
    tune_step: int | None,
    window: int,
    power: float,
) -> list[float]:
    """The initial weights, one per group; one error line for a bad option."""
    if not names:
        raise InvalidInstanceError("regularizer: groups is empty; name at least one candidate")
    if len(set(names)) != len(names):
        raise InvalidInstanceError(f"regularizer: groups {names} name a group twice")
    weights = [float(lambdas)] * len(names) if isinstance(lambdas, (int, float)) else list(lambdas)
    if len(weights) != len(names) or any(not math.isfinite(w) or w < 0 for w in weights):
        raise InvalidInstanceError(
            f"regularizer: lambdas must be one finite weight >= 0 or one per group "
            f"({len(names)}), got {lambdas!r}"
        )
    if samples < 1 or window < 1 or power < 0 or (tune_step is not None and tune_step < 1):
        raise InvalidInstanceError(
            "regularizer: need samples >= 1, window >= 1, power >= 0 and tune_step >= 1 "
            f"(or null), got {samples}, {window}, {power}, {tune_step}"
        )
    if batch is not None and batch < 1:
        raise InvalidInstanceError(f"regularizer: batch must be >= 1 (or null), got {batch}")
    return [float(w) for w in weights]


ActInput = Callable[[Group, Element, Any], Any]
"""``(group, g, inputs) -> g·inputs`` for a batch of elements ``g`` (one per example)."""
ActOutput = Callable[[Group, Element, Tensor], Tensor]
"""``(group, g, y) -> g·y``."""


def act_tensor(group: Group, g: Element, x: Tensor) -> Tensor:
    """The group's own action (inputs and outputs that are the group's objects)."""
    return group.act(g, x)


def head(inputs: Any, n: int) -> Any:
    """The first ``n`` examples of a tensor or of a tuple/list of tensors (batch first)."""
    if isinstance(inputs, Tensor):
        return inputs[:n]
    if isinstance(inputs, (tuple, list)):
        return type(inputs)(head(x, n) for x in inputs)
    raise TypeError(f"regularizer: cannot take a sub-batch of {type(inputs).__name__} inputs")


class SoftEquivariance(nn.Module):
    """The soft-equivariance regularizer with automatic weights, for any model and data whose
    group actions are given (:meth:`penalties`).

    For every candidate group :math:`G_j` (names from :data:`CANDIDATES`) the sampled
    equivariance error of the model :math:`f` on a batch, with one element
    :math:`g_b \\sim G_j` drawn per example (``samples`` draws averaged) from the generator
    passed in:

    .. math::

        R_j = \\frac{1}{B N} \\sum_{b, i} \\big\\lVert f(g_b \\cdot x_b)_i
              - g_b \\cdot f(x_b)_i \\big\\rVert^2, \\qquad
        \\mathcal{L} = \\mathcal{L}_{task} + \\sum_j \\lambda_j R_j .

    (Kim et al. penalise the distance of an EMLP's weights to the :math:`G_j`-equivariant
    subspace; the sampled error measures the same thing for any backbone.)

    **Automatic λ** (:meth:`observe`, called once per training step): the minimum of each
    :math:`R_j` over the ``window`` steps before ``tune_step`` is tracked; at ``tune_step``

    .. math::

        \\lambda_j \\leftarrow \\lambda_j \\Big/ \\Big(\\frac{\\min R_j}{\\min_k \\min R_k}\\Big)^p

    once: the candidate the model respects best keeps its weight, those it had to break (the
    data does not have them) are relaxed by the power ``p`` of how much worse they are.
    ``tune_step=None`` keeps the weights fixed. The weights, minima and the tuned flag are
    buffers: a checkpoint resumes them.

    :param groups: candidate names, e.g. ``["o3", "o2-x", "o2-y", "o2-z"]``.
    :param lambdas: initial weights, one for all or one per group.
    :param batch: evaluate the penalties on the first ``batch`` examples of each training batch
        only (``None``: all). The batches are shuffled, so this is an unbiased estimate of
        :math:`R_j` at a fraction of the cost (each candidate costs a forward and backward pass
        of the model on the sub-batch).
    :param seed: seeds the group elements of each step (see :meth:`step_generator`).

    A bad option (an unknown group name, ...) is raised by :meth:`check` and by the first
    :meth:`penalties`, not by the constructor (so that ``symco fit`` prints it as one line).
    """

    def __init__(
        self,
        groups: Sequence[str] = ("o3", "o2-x", "o2-y", "o2-z"),
        lambdas: float | Sequence[float] = 1.0,
        samples: int = 1,
        batch: int | None = None,
        tune_step: int | None = 1000,
        window: int = 200,
        power: float = 2.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        names = list(groups)
        self.config_error: SymcoError | None = None
        try:
            weights = _check_options(names, lambdas, samples, batch, tune_step, window, power)
            self.groups = [candidate_group(n) for n in names]
        except SymcoError as exc:
            # LightningCLI (jsonargparse) turns a constructor error into pages of nested
            # messages: keep it for the first use (`check`, which NBodyModule.setup calls), where
            # `symco fit` prints it as one line
            self.config_error, weights, self.groups = exc, [1.0] * len(names), []
        self.names = names
        self.samples, self.tune_step, self.window, self.power = samples, tune_step, window, power
        self.batch = batch
        self.seed = seed
        self.register_buffer("lambdas", torch.tensor(weights, dtype=torch.float64))
        self.register_buffer("r_min", torch.full((len(names),), math.inf, dtype=torch.float64))
        self.register_buffer("tuned", torch.tensor(False))

    lambdas: Tensor
    r_min: Tensor
    tuned: Tensor

    def check(self) -> None:
        """Raise the configuration error (unknown group, bad option) found by the constructor."""
        if self.config_error is not None:
            raise self.config_error

    def step_generator(self, step: int, device: torch.device | str = "cpu") -> torch.Generator:
        """The generator of training step ``step``: a function of ``(seed, step)`` only, so a
        resumed run draws the elements an uninterrupted one would."""
        return torch.Generator(device=device).manual_seed(self.seed * 1_000_003 + step)

    def penalties(
        self,
        fn: Callable[[Any], Tensor],
        inputs: Any,
        generator: torch.Generator,
        *,
        act_input: ActInput = act_tensor,
        act_output: ActOutput = act_tensor,
        outputs: Tensor | None = None,
    ) -> Tensor:
        """``(J,)`` sampled equivariance errors :math:`R_j` of ``fn`` on ``inputs``.

        :param fn: the model, ``inputs -> (B, N, d)`` outputs.
        :param act_input: how an element batch acts on ``inputs`` (default: ``group.act``).
        :param act_output: how it acts on the outputs (default: ``group.act``).
        :param outputs: ``fn(inputs)`` if already computed (the task loss's forward pass).
        """
        self.check()
        if self.batch is not None:
            inputs = head(inputs, self.batch)
            outputs = None if outputs is None else outputs[: self.batch]
        y = fn(inputs) if outputs is None else outputs  # (B, N, d)
        batch = y.shape[0]
        out = []
        for group in self.groups:
            total = y.new_zeros(())
            for _ in range(self.samples):
                g = group.sample(batch, generator, dtype=y.dtype, device=y.device)
                err = fn(act_input(group, g, inputs)) - act_output(group, g, y)  # (B, N, d)
                total = total + (err**2).sum(-1).mean()
            out.append(total / self.samples)
        return torch.stack(out)  # (J,)

    def weighted(self, penalties: Tensor) -> Tensor:
        """:math:`\\sum_j \\lambda_j R_j` (a scalar in ``penalties``' dtype)."""
        return (self.lambdas.to(penalties.dtype) * penalties).sum()

    def observe(self, step: int, penalties: Tensor) -> bool:
        """Record step ``step``'s penalties ``(J,)``; tune the weights at ``tune_step``.

        Returns whether the weights were tuned by this call.
        """
        if self.tune_step is None or bool(self.tuned):
            return False
        if step < self.tune_step:
            if step >= self.tune_step - self.window:
                r = penalties.detach().to(self.r_min)
                self.r_min.copy_(torch.minimum(self.r_min, r))
            return False
        self.tune()
        return True

    def tune(self) -> None:
        """Apply the rule once (see the class docstring); minima never observed count as the
        largest observed (so an unobserved group is not favoured)."""
        r = self.r_min.clone()
        seen = torch.isfinite(r)
        if not bool(seen.any()):
            self.tuned.fill_(True)
            return
        r[~seen] = r[seen].max()
        tiny = torch.finfo(r.dtype).tiny
        ratio = r.clamp_min(tiny) / r.min().clamp_min(tiny)  # (J,) >= 1
        self.lambdas.copy_(self.lambdas / ratio**self.power)
        self.tuned.fill_(True)

    def log_values(self, penalties: Tensor) -> dict[str, float]:
        """``{"soft/lambda_<name>": ..., "soft/R_<name>": ...}`` for a logger."""
        out: dict[str, float] = {}
        for name, lam, r in zip(self.names, self.lambdas.tolist(), penalties.detach().tolist()):
            out[f"soft/lambda_{name}"] = lam
            out[f"soft/R_{name}"] = r
        return out

    def extra_repr(self) -> str:
        return (
            f"groups={self.names}, samples={self.samples}, batch={self.batch}, "
            f"tune_step={self.tune_step}, "
            f"window={self.window}, power={self.power}"
        )


__all__ = ["CANDIDATES", "SoftEquivariance", "act_tensor", "candidate_group", "head"]
