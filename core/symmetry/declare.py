"""How a model declares its symmetries, and the check that verifies a declaration.

A model (a ``LightningModule``, a policy, an encoding, any ``nn.Module``) declares its
symmetries by implementing three methods (the :class:`Symmetric` protocol):

* ``symmetry_inputs(n, generator)`` — a random input batch of ``n`` examples, drawn from
  ``generator`` only, in float64 (the check runs the model in float64);
* ``symmetries(inputs)`` — a list of :class:`Symmetry` on those inputs (groups sized for them):
  a group, how an element acts on the model's input, and how the output must transform
  (``None``: it must not change — invariance);
* ``symmetry_outputs(inputs)`` — the output tensor the declaration speaks about, or a tuple
  of tensors (say predictions and a hidden state) whose parts each :class:`Symmetry` selects
  with ``output``.

:func:`check_symmetries` draws ``n`` elements of each group with a seeded generator, runs the
batch and its transformed copy, and compares ``f(g·x)`` with ``g·f(x)`` — the way e3nn's
``assert_equivariant`` checks its networks. ``symco check-symmetry`` prints its rows.

A model may also declare the symmetry of its own parameters, ``weight_permutations()`` (see
:mod:`.weights`): :func:`check_weight_symmetry` permutes its state dict and compares the outputs
on the same ``symmetry_inputs``, one more row of the report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import torch
from torch import Tensor

from symco.core.errors import SymcoError
from symco.core.symmetry.group import Group

Relation = Literal["invariant", "equivariant", "permuted"]


@dataclass(frozen=True)
class Symmetry:
    """One declared symmetry of a model.

    :param group: the group (sized for the inputs ``symmetry_inputs`` makes).
    :param act_input: ``(g, inputs) -> g·inputs`` for a batch of elements ``g`` (one per example).
    :param act_output: ``(g, y) -> g·y``; ``None`` declares invariance (``f(g·x) = f(x)``).
    :param relation: how the output transforms, for the report: ``invariant``, ``equivariant``
        (by a group action on the output), ``permuted`` (the output's rows permute with the
        input's nodes).
    :param description: what acts on what, one line (e.g. "nodes of the reduced instance").
    :param output: which part of a tuple output this row checks (``None``: the whole output,
        which must then be a tensor).
    :param exact: ``False`` declares a symmetry that is learned, not built in (a loss or
        augmentation teaches it): its error is measured and reported (``measured``), never a
        failure.
    """

    group: Group
    act_input: Callable[[Any, Any], Any]
    act_output: Callable[[Any, Tensor], Tensor] | None = None
    relation: Relation = "invariant"
    description: str = ""
    output: int | None = None
    exact: bool = True

    @property
    def label(self) -> str:
        """``group: description``, the row label of a report."""
        return f"{self.group.name}: {self.description}" if self.description else self.group.name


@runtime_checkable
class Symmetric(Protocol):
    """What :func:`check_symmetries` asks of a model (see the module docstring)."""

    def symmetry_inputs(self, n: int, generator: torch.Generator) -> Any: ...

    def symmetries(self, inputs: Any) -> Sequence[Symmetry]: ...

    def symmetry_outputs(self, inputs: Any) -> Tensor | tuple[Tensor, ...]: ...


class NoSymmetriesError(SymcoError):
    """A model that declares no symmetry (reported, never passed)."""


@dataclass(frozen=True)
class SymmetryResult:
    """The check of one declared symmetry: errors of ``f(g·x)`` against ``g·f(x)``.

    ``max_rel`` is the largest absolute error divided by the largest ``|g·f(x)|`` (a scale-free
    error); the row passes when ``max_rel <= tol``. Entries that are ``-inf`` (masked logits)
    must be ``-inf`` in both and are left out of the errors. A learned symmetry (``exact``
    false) always passes: its errors are what the check measured.
    """

    label: str
    relation: str
    max_abs: float
    mean_abs: float
    max_rel: float
    mean_rel: float
    tol: float
    exact: bool = True

    @property
    def passed(self) -> bool:
        return not self.exact or self.max_rel <= self.tol

    def row(self) -> list[Any]:
        """The report row: label, relation, max/mean absolute and relative errors, and
        pass/FAIL (``measured`` for a learned symmetry)."""
        verdict = "measured" if not self.exact else "pass" if self.passed else "FAIL"
        errors = [f"{e:.2e}" for e in (self.max_abs, self.mean_abs, self.max_rel, self.mean_rel)]
        return [self.label, self.relation, *errors, verdict]


def compare(got: Tensor, want: Tensor) -> tuple[float, float, float, float]:
    """``(max abs, mean abs, max rel, mean rel)`` error of ``got`` against ``want``.

    Relative errors divide by the largest finite ``|want|``. Mismatched shapes or ``-inf``
    entries that moved (a mask that does not transform) count as an infinite error.
    """
    if got.shape != want.shape:
        return (float("inf"),) * 4
    inf_got, inf_want = torch.isinf(got), torch.isinf(want)
    if not torch.equal(inf_got, inf_want) or not torch.equal(got[inf_got], want[inf_want]):
        return (float("inf"),) * 4
    finite = ~inf_want
    diff = (got - want).abs()[finite]  # (K,)
    if diff.numel() == 0:
        return (0.0,) * 4
    scale = want.abs()[finite].max().clamp_min(1e-300)
    rel = diff / scale
    return float(diff.max()), float(diff.mean()), float(rel.max()), float(rel.mean())


def check_symmetries(
    model: Any, *, n: int = 4, seed: int = 0, tol: float = 1e-6, device: str = "cpu"
) -> list[SymmetryResult]:
    """Check every symmetry ``model`` declares, in float64, with elements drawn from ``seed``.

    An ``nn.Module`` is moved to ``device`` and float64 and runs in eval mode; its dtype and
    mode are restored afterwards.

    :raises NoSymmetriesError: the model declares nothing (no :class:`Symmetric` methods, or an
        empty ``symmetries()``).
    """
    name = type(model).__name__
    if not isinstance(model, Symmetric):
        raise NoSymmetriesError(f"{name} declares no symmetries (it has no symmetries() method)")
    module = model if isinstance(model, torch.nn.Module) else None
    if module is not None:
        was_training = module.training
        dtype = next((p.dtype for p in module.parameters()), torch.float32)
        module.to(device=device, dtype=torch.float64).eval()
    results = []
    try:
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            inputs = _to(model.symmetry_inputs(n, gen), device)
            declared = list(model.symmetries(inputs))
            if not declared:
                raise NoSymmetriesError(f"{name} declares no symmetries (symmetries() is empty)")
            outputs = model.symmetry_outputs(inputs)
            for sym in declared:
                g = _to(sym.group.sample(n, gen, dtype=torch.float64), device)
                y = _part(outputs, sym)
                y_g = _part(model.symmetry_outputs(sym.act_input(g, inputs)), sym)
                want = y if sym.act_output is None else sym.act_output(g, y)
                errors = compare(y_g.double(), want.double())
                results.append(SymmetryResult(sym.label, sym.relation, *errors, tol, sym.exact))
    finally:
        if module is not None:
            module.to(dtype=dtype).train(was_training)
    return results


def check_weight_symmetry(
    model: Any,
    inputs: Any = None,
    *,
    n: int = 4,
    seed: int = 0,
    tol: float = 1e-6,
    device: str = "cpu",
) -> list[SymmetryResult]:
    """Check the weight permutations ``model`` declares (``weight_permutations()``, see
    :mod:`.weights`): :math:`f_{g \\cdot \\theta}(x) = f_\\theta(x)`, in float64.

    A copy of the model (the model itself is untouched) is moved to ``device`` and float64 and
    put in eval mode; ``n`` elements drawn from ``seed`` each permute its state dict, and its
    ``symmetry_outputs`` on ``inputs`` (default: ``symmetry_inputs(n, generator)``, drawn
    first) are compared with the unpermuted ones — every part of a tuple output.

    :return: one row (``weight-permutation: <the spec's description>``, invariant) with the
        largest errors over the elements; ``[]`` when the model declares no weight permutation.
    """
    import copy

    from .weights import WeightPermutations, declared_weight_permutations

    spec = declared_weight_permutations(model)
    if spec is None:
        return []
    twin = copy.deepcopy(model)
    if isinstance(twin, torch.nn.Module):
        twin.to(device=device, dtype=torch.float64).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        inputs = _to(twin.symmetry_inputs(n, gen) if inputs is None else inputs, device)
        state = {k: v.clone() for k, v in twin.state_dict().items()}  # loading writes in place
        group = WeightPermutations(spec, state)
        want = _flat(twin.symmetry_outputs(inputs))
        g = group.sample(n, gen)
        errors = []
        for i in range(n):
            twin.load_state_dict(group.permute(group.perms(g, i), state))
            errors.append(compare(_flat(twin.symmetry_outputs(inputs)), want))
    max_abs, mean_abs, max_rel, mean_rel = zip(*errors, strict=True)
    label = f"{group.name}: {spec.description}" if spec.description else group.name
    return [
        SymmetryResult(
            label,
            "invariant",
            max(max_abs),
            sum(mean_abs) / n,
            max(max_rel),
            sum(mean_rel) / n,
            tol,
        )
    ]


def _flat(outputs: Tensor | tuple[Tensor, ...]) -> Tensor:
    """Every part of an output as one float64 vector."""
    parts = outputs if isinstance(outputs, tuple) else (outputs,)
    return torch.cat([p.double().reshape(-1) for p in parts])


def _part(outputs: Tensor | tuple[Tensor, ...], sym: Symmetry) -> Tensor:
    """The output tensor ``sym`` speaks about (``sym.output`` of a tuple, else the tensor)."""
    if isinstance(outputs, tuple):
        if sym.output is None:
            raise TypeError(f"{sym.label}: the outputs are a tuple; say which part (output=)")
        return outputs[sym.output]
    if sym.output is not None:
        raise TypeError(f"{sym.label}: output={sym.output}, but the output is one tensor")
    return outputs


def _to(obj: Any, device: str) -> Any:
    """Move a tensor (anything with ``.to``, or a tuple of them) to ``device``."""
    if isinstance(obj, tuple):
        return tuple(_to(o, device) for o in obj)
    return obj.to(device) if hasattr(obj, "to") else obj
