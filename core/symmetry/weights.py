"""Weight-space symmetry: the parameter axes that move together when a layer's units are permuted.

Permuting the hidden units of a layer — the rows of the weight and bias that compute them and
the columns of every weight that reads them — leaves the function a network computes unchanged:

.. math::

    f_{g \\cdot \\theta}(x) = f_\\theta(x) \\qquad \\text{for every } g \\in G
    = S_{n_1} \\times \\dots \\times S_{n_K} .

A model declares ``G`` with a method ``weight_permutations() -> PermutationSpec``: named
permutations, each of ``size`` units and the parameter axes (:class:`Axis`) it moves. One
permutation may move many layers: a residual stream ties every layer that writes or reads it,
so it is one permutation listing all their axes. :class:`WeightPermutations` is the group,
acting on parameters; ``symco check-symmetry`` verifies the declaration
(:func:`~symco.core.symmetry.declare.check_weight_symmetry`).

Convention (that of :class:`~symco.core.symmetry.NodePermutation`): a permutation ``p`` of
``size`` units *gathers* along every axis it moves, ``W'[..., i, ...] = W[..., p(i), ...]`` —
unit ``i`` of the permuted model is unit ``p(i)`` of the original — and ``(g h)(i) = h(g(i))``
makes this a left action. A single element is a dict ``name -> (size,)`` long tensor
(what :meth:`PermutationSpec.permute` applies to a state dict); the group's batched elements
are tuples of ``(n, size)`` tensors in the spec's order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from symco.core.errors import SymcoError

from .group import Element, Group, element_parts, rand, randn


class PermutationSpecError(SymcoError, ValueError):
    """A permutation spec that does not fit a model's parameters (the message names the key and
    axis), or a permutation that does not fit its spec."""


@dataclass(frozen=True)
class Axis:
    """One parameter axis a permutation moves.

    The entries ``span = (start, stop)`` of axis ``axis`` of the parameter ``key`` (a state-dict
    key; the whole axis when ``span`` is ``None``) are viewed as ``(outer, size, inner)`` and the
    permutation acts on the middle dimension. Plain channels are ``outer = inner = 1``; the heads
    of a fused ``qkv`` projection are its rows viewed as ``(3, heads, head_dim)``; the ``h_i``
    and ``h_j`` halves of a concatenated input are the span ``(0, 2 F)`` viewed as ``(2, F, 1)``.
    """

    key: str
    axis: int
    outer: int = 1
    inner: int = 1
    span: tuple[int, int] | None = None
    weight: bool = True
    """Whether the entries are learned weights that weight matching compares (``False``: moved
    with the units but not compared, e.g. BatchNorm running statistics)."""

    def prefixed(self, prefix: str) -> Axis:
        return Axis(prefix + self.key, self.axis, self.outer, self.inner, self.span, self.weight)


def rows(layer: str, *, bias: bool = True, outer: int = 1, inner: int = 1) -> list[Axis]:
    """The units a linear or convolutional ``layer`` computes: axis 0 of ``layer.weight``
    (``(out, in, ...)``) and of ``layer.bias`` (with ``bias``), viewed as ``(outer, size, inner)``."""
    keys = [f"{layer}.weight", f"{layer}.bias"] if bias else [f"{layer}.weight"]
    return [Axis(key, 0, outer, inner) for key in keys]


def columns(
    layer: str, *, outer: int = 1, inner: int = 1, span: tuple[int, int] | None = None
) -> list[Axis]:
    """The units ``layer`` reads: axis 1 of ``layer.weight`` (``(out, in, ...)``)."""
    return [Axis(f"{layer}.weight", 1, outer, inner, span)]


def batchnorm(layer: str) -> list[Axis]:
    """The channels of a BatchNorm ``layer``: its affine weight and bias and its running mean and
    variance (buffers, in the state dict and permuted with the channels, but not weights: weight
    matching does not compare them — a running variance in the hundreds would outweigh every
    weight)."""
    affine = [Axis(f"{layer}.{key}", 0) for key in ("weight", "bias")]
    stats = [Axis(f"{layer}.{key}", 0, weight=False) for key in ("running_mean", "running_var")]
    return affine + stats


@dataclass(frozen=True)
class Permutation:
    """A permutation of ``size`` units and every parameter axis it moves (a list is kept as a
    tuple)."""

    size: int
    axes: tuple[Axis, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "axes", tuple(self.axes))


@dataclass(frozen=True)
class PermutationSpec:
    """A model's declared weight-space symmetry: named :class:`Permutation` s.

    The group is the product of the symmetric groups of the permutations; they must move
    disjoint entries (two permutations on one axis of a parameter act on disjoint spans), so
    they commute. ``description`` says what they are in a few words, for the check's report
    (e.g. "5 blocks' FF units, heads, residual stream").
    """

    perms: Mapping[str, Permutation]
    description: str = ""
    _by_key: dict[str, list[tuple[str, Axis]]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        perms = dict(self.perms)
        object.__setattr__(self, "perms", perms)
        by_key: dict[str, list[tuple[str, Axis]]] = {}
        for name, perm in perms.items():
            if perm.size < 1:
                raise PermutationSpecError(f"{name}: size must be >= 1, got {perm.size}")
            for ax in perm.axes:
                by_key.setdefault(ax.key, []).append((name, ax))
        object.__setattr__(self, "_by_key", by_key)

    @property
    def names(self) -> tuple[str, ...]:
        """The permutations' names, in declaration order."""
        return tuple(self.perms)

    @property
    def keys(self) -> tuple[str, ...]:
        """The parameters the spec moves, in order of first mention."""
        return tuple(self._by_key)

    def axes_of(self, key: str) -> list[tuple[str, Axis]]:
        """``(permutation name, axis)`` of every axis entry on parameter ``key``."""
        return list(self._by_key.get(key, []))

    def prefixed(self, prefix: str) -> PermutationSpec:
        """The same spec on the keys of a module holding this one as ``prefix`` (e.g.
        ``"policy."``)."""
        perms = {
            name: Permutation(p.size, tuple(ax.prefixed(prefix) for ax in p.axes))
            for name, p in self.perms.items()
        }
        return PermutationSpec(perms, self.description)

    def validate(self, shapes: Mapping[str, Tensor | Sequence[int]]) -> None:
        """Check the spec against a state dict (or its shapes): every key present, every view
        ``outer * size * inner`` tiling its span, spans inside their axis and disjoint.

        :raises PermutationSpecError: naming the permutation, key and axis at fault.
        """
        taken: dict[tuple[str, int], list[tuple[int, int, str]]] = {}
        for name, perm in self.perms.items():
            for ax in perm.axes:
                where = f"{name}: {ax.key} axis {ax.axis}"
                if ax.key not in shapes:
                    raise PermutationSpecError(f"{name}: no parameter '{ax.key}' in the state dict")
                shape = _shape(shapes[ax.key])
                if not -len(shape) <= ax.axis < len(shape):
                    raise PermutationSpecError(f"{where}: the parameter has shape {list(shape)}")
                a = ax.axis % len(shape)
                start, stop = ax.span if ax.span is not None else (0, shape[a])
                if not 0 <= start < stop <= shape[a]:
                    raise PermutationSpecError(
                        f"{where}: span ({start}, {stop}) is not inside the axis's {shape[a]}"
                    )
                if ax.outer < 1 or ax.inner < 1 or ax.outer * perm.size * ax.inner != stop - start:
                    raise PermutationSpecError(
                        f"{where}: {stop - start} entries are not outer {ax.outer} x size "
                        f"{perm.size} x inner {ax.inner}"
                    )
                for lo, hi, other in taken.setdefault((ax.key, a), []):
                    if start < hi and lo < stop:
                        raise PermutationSpecError(
                            f"{where}: entries ({start}, {stop}) are also moved by {other}"
                        )
                taken[(ax.key, a)].append((start, stop, name))

    def identity(self, device: torch.device | str | None = None) -> dict[str, Tensor]:
        """The identity element: ``name -> arange(size)``."""
        return {name: torch.arange(p.size, device=device) for name, p in self.perms.items()}

    def permute(
        self, perms: Mapping[str, Tensor], state: Mapping[str, Tensor]
    ) -> dict[str, Tensor]:
        """``g·θ``: the state dict with every declared axis gathered by its permutation.

        Pure: moved parameters are new tensors, the others are ``state``'s own. Names left out of
        ``perms`` stay put (the identity).

        :param perms: ``name -> (size,)`` long permutations.
        :raises PermutationSpecError: an unknown name or a permutation of the wrong size.
        """
        for name, p in perms.items():
            if name not in self.perms:
                raise PermutationSpecError(f"unknown permutation '{name}'; declared: {self.names}")
            if tuple(p.shape) != (self.perms[name].size,):
                raise PermutationSpecError(
                    f"{name}: a permutation of {self.perms[name].size} units, got {list(p.shape)}"
                )
        out = dict(state)
        for key, entries in self._by_key.items():
            if key not in state:
                raise PermutationSpecError(
                    f"{entries[0][0]}: no parameter '{key}' in the state dict"
                )
            w = state[key]
            for name, ax in entries:
                if name in perms:
                    w = permute_axis(w, ax, perms[name])
            out[key] = w
        return out


def _shape(value: Tensor | Sequence[int]) -> tuple[int, ...]:
    return tuple(value.shape) if isinstance(value, Tensor) else tuple(value)


def _span(w: Tensor, ax: Axis) -> tuple[int, int, int]:
    """``(axis, start, stop)`` of the entries ``ax`` covers in ``w``."""
    a = ax.axis % w.dim()
    start, stop = ax.span if ax.span is not None else (0, w.shape[a])
    return a, start, stop


def permute_axis(w: Tensor, ax: Axis, perm: Tensor) -> Tensor:
    """``w`` with the units of one axis entry gathered by ``perm`` (``(size,)`` long): a new
    tensor of ``w``'s shape."""
    a, start, stop = _span(w, ax)
    part = w.narrow(a, start, stop - start)
    view = (*w.shape[:a], ax.outer, -1, ax.inner, *w.shape[a + 1 :])
    moved = part.reshape(view).index_select(a + 1, perm.to(w.device)).reshape(part.shape)
    if stop - start == w.shape[a]:
        return moved
    return torch.cat([w.narrow(a, 0, start), moved, w.narrow(a, stop, w.shape[a] - stop)], dim=a)


def unit_view(w: Tensor, ax: Axis) -> Tensor:
    """The entries of ``w`` each unit of an axis entry owns: ``(size, K)``, unit ``u``'s row
    holding ``w[..., (o, u, i), ...]`` over every other index (what weight matching compares)."""
    a, start, stop = _span(w, ax)
    part = w.narrow(a, start, stop - start)
    view = part.reshape(*w.shape[:a], ax.outer, -1, ax.inner, *w.shape[a + 1 :])
    units = view.shape[a + 1]
    return view.movedim(a + 1, 0).reshape(units, -1)


def declared_weight_permutations(model: Any) -> PermutationSpec | None:
    """What ``model.weight_permutations()`` declares; ``None`` when it has no such method or it
    returns ``None`` (a wrapper whose network declares none)."""
    declare = getattr(model, "weight_permutations", None)
    spec = declare() if callable(declare) else None
    if spec is not None and not isinstance(spec, PermutationSpec):
        raise TypeError(f"{type(model).__name__}.weight_permutations() must return a spec")
    return spec


class WeightPermutations(Group):
    """The weight-permutation group of a :class:`PermutationSpec`, on a model's parameters.

    Sized from the spec and the parameters' shapes (so it is no registry built-in, which must be
    constructible with no arguments): :meth:`of` builds it from a module or a state dict.

    An element batch is a tuple of ``(n, size_k)`` long tensors, one per permutation in the
    spec's order (:meth:`perms` gives element ``i`` as a dict, :meth:`element` packs dicts). The
    group acts on ``(n, P)`` parameter vectors, the spec's parameters flattened in
    :attr:`PermutationSpec.keys` order (:meth:`flatten`); on a state dict, apply one element with
    :meth:`permute`. Finite, but never enumerated (:math:`\\prod_k n_k!` elements).
    """

    name: ClassVar[str] = "weight-permutation"
    acts_on: ClassVar[str] = "(n, P) parameter vectors: the spec's parameters, flattened"
    finite: ClassVar[bool] = True

    def __init__(self, spec: PermutationSpec, shapes: Mapping[str, Tensor | Sequence[int]]) -> None:
        spec.validate(shapes)
        self.spec = spec
        self.shapes = {key: _shape(shapes[key]) for key in spec.keys}
        self.sizes = tuple(p.size for p in spec.perms.values())
        self.num_params = sum(math.prod(s) for s in self.shapes.values())

    @classmethod
    def of(
        cls, model: torch.nn.Module | Mapping[str, Tensor], spec: PermutationSpec | None = None
    ) -> WeightPermutations:
        """The group of a module (its declared spec unless ``spec`` is given) or a state dict."""
        state = model.state_dict() if isinstance(model, torch.nn.Module) else model
        spec = spec if spec is not None else declared_weight_permutations(model)
        if spec is None:
            raise PermutationSpecError(f"{type(model).__name__} declares no weight permutations")
        return cls(spec, state)

    # -- one element: dicts and state dicts -----------------------------------------------------

    def perms(self, g: Element, i: int = 0) -> dict[str, Tensor]:
        """Element ``i`` of a batch as ``name -> (size,)``."""
        return {name: part[i] for name, part in zip(self.spec.names, element_parts(g), strict=True)}

    def element(self, *perms: Mapping[str, Tensor]) -> tuple[Tensor, ...]:
        """A batch of the given dicts (a name left out is the identity)."""
        ident = self.spec.identity()
        return tuple(
            torch.stack([p.get(name, ident[name]).to(torch.long) for p in perms])
            for name in self.spec.names
        )

    def permute(
        self, perms: Mapping[str, Tensor], state: Mapping[str, Tensor]
    ) -> dict[str, Tensor]:
        """``g·θ`` on a state dict (see :meth:`PermutationSpec.permute`)."""
        return self.spec.permute(perms, state)

    def flatten(self, state: Mapping[str, Tensor]) -> Tensor:
        """The spec's parameters of ``state`` as one ``(P,)`` vector."""
        return torch.cat([state[key].reshape(-1) for key in self.spec.keys])

    def unflatten(self, theta: Tensor) -> dict[str, Tensor]:
        """A ``(P,)`` vector back to ``key -> tensor`` (the spec's keys only)."""
        sizes = [math.prod(s) for s in self.shapes.values()]
        parts = torch.split(theta, sizes)
        return {k: p.reshape(s) for (k, s), p in zip(self.shapes.items(), parts, strict=True)}

    # -- the Group interface ----------------------------------------------------------------------

    def sample(
        self,
        n: int,
        generator: torch.Generator,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> tuple[Tensor, ...]:
        """Uniform random elements: per permutation the argsort of uniform keys, ``(n, size)``."""
        return tuple(
            rand((n, s), generator, dtype=torch.float64, device=device).argsort(dim=1)
            for s in self.sizes
        )

    def identity(
        self,
        n: int,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> tuple[Tensor, ...]:
        return tuple(torch.arange(s, device=device).expand(n, s).clone() for s in self.sizes)

    def compose(self, g: Element, h: Element) -> tuple[Tensor, ...]:
        """``(g h)(i) = h(g(i))`` per permutation."""
        return tuple(
            hp.gather(1, gp) for gp, hp in zip(element_parts(g), element_parts(h), strict=True)
        )

    def inverse(self, g: Element) -> tuple[Tensor, ...]:
        return tuple(p.argsort(dim=1) for p in element_parts(g))

    def act(self, g: Element, x: Tensor) -> Tensor:
        """``g[i]·θ_i`` for ``(n, P)`` parameter vectors ``x``."""
        return torch.stack(
            [
                self.flatten(self.permute(self.perms(g, i), self.unflatten(x[i])))
                for i in range(x.shape[0])
            ]
        )

    def example_input(
        self, n: int, generator: torch.Generator, *, dtype: torch.dtype = torch.float64
    ) -> Tensor:
        """Random parameter vectors, ``(n, P)``."""
        return randn((n, self.num_params), generator, dtype=dtype)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={s}" for k, s in zip(self.spec.names, self.sizes, strict=True))
        return f"WeightPermutations({sizes})"


__all__ = [
    "Axis",
    "Permutation",
    "PermutationSpec",
    "PermutationSpecError",
    "WeightPermutations",
    "columns",
    "declared_weight_permutations",
    "permute_axis",
    "rows",
    "unit_view",
]
