"""The :class:`Group` interface: a symmetry group, its elements and its action on tensors.

Elements are always *batched*: an element batch has a leading dimension ``n`` and
``act(g, x)`` pairs ``g[i]`` with ``x[i]``. An element batch is a tensor (e.g. ``(n, d, d)``
rotation matrices) or a tuple of tensors (e.g. ``(R, t)`` for a Euclidean motion). Every group
is a *left* action:

.. math::

    \\operatorname{act}(g h, x) = \\operatorname{act}(g, \\operatorname{act}(h, x)),
    \\qquad \\operatorname{act}(e, x) = x .

Randomness is explicit: :meth:`Group.sample` and :meth:`Group.example_input` draw only from the
``torch.Generator`` they are given, never from the global RNG.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, TypeAlias

import torch
from torch import Tensor

Element: TypeAlias = Tensor | tuple[Tensor, ...]
"""A batch of group elements: one tensor, or a tuple of tensors sharing the leading dim ``n``."""


def element_parts(g: Element) -> tuple[Tensor, ...]:
    """The tensors of an element batch, as a tuple (a single tensor becomes a 1-tuple)."""
    return g if isinstance(g, tuple) else (g,)


def as_tensor(g: Element) -> Tensor:
    """The single tensor of a tensor-valued element batch (``TypeError`` for a tuple)."""
    if isinstance(g, tuple):
        raise TypeError("expected a tensor element batch, got a tuple")
    return g


def as_pair(g: Element) -> tuple[Tensor, Tensor]:
    """The two tensors of a pair-valued element batch (``TypeError`` otherwise)."""
    if not isinstance(g, tuple) or len(g) != 2:
        raise TypeError("expected a (tensor, tensor) element batch")
    return g[0], g[1]


def element_size(g: Element) -> int:
    """The batch size ``n`` of an element batch."""
    return int(element_parts(g)[0].shape[0])


class Group(ABC):
    """A group acting on batched tensors.

    Subclasses set the class attributes and implement the abstract methods; every built-in
    group can be constructed with no arguments (sizes have defaults).

    Attributes:
        name: the registry name, e.g. ``"node-permutation"``.
        short_name: a short label for tables and command lines, e.g. ``"d4"`` for the square's
            dihedral group; a subclass that sets its own ``name`` but no ``short_name`` gets
            ``short_name = name``. :meth:`~symco.core.registry.Registry.group` accepts either.
        acts_on: one line saying what ``x`` is, with its shape.
        finite: whether the group is finite (even when too large for :meth:`elements`).
    """

    name: ClassVar[str]
    short_name: ClassVar[str]
    acts_on: ClassVar[str]
    finite: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # default the label to the class's own name; a subclass that inherits its parent's
        # name keeps the parent's label too
        if "name" in cls.__dict__ and "short_name" not in cls.__dict__:
            cls.short_name = cls.name

    @abstractmethod
    def sample(
        self,
        n: int,
        generator: torch.Generator,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> Element:
        """``n`` random elements drawn with ``generator`` (float parts in ``dtype``)."""

    def elements(self) -> Element | None:
        """All elements of a finite group as one batch, or ``None`` (infinite or too large)."""
        return None

    @abstractmethod
    def identity(
        self,
        n: int,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> Element:
        """``n`` copies of the identity element."""

    @abstractmethod
    def compose(self, g: Element, h: Element) -> Element:
        """The product ``g * h``, with ``act(g * h, x) == act(g, act(h, x))``."""

    @abstractmethod
    def inverse(self, g: Element) -> Element:
        """The inverse ``g^{-1}`` of every element of the batch."""

    @abstractmethod
    def act(self, g: Element, x: Tensor) -> Tensor:
        """Apply ``g[i]`` to ``x[i]`` for every ``i`` of the batch."""

    @abstractmethod
    def example_input(
        self, n: int, generator: torch.Generator, *, dtype: torch.dtype = torch.float64
    ) -> Tensor:
        """A random object of the kind this group acts on, with batch size ``n``."""

    def equal(self, g: Element, h: Element, atol: float = 1e-9) -> Tensor:
        """``(n,)`` bool: whether ``g[i]`` and ``h[i]`` are the same element.

        The default compares every tensor part: exactly for integer parts, within ``atol``
        (absolute, elementwise) for floating parts.
        """
        result: Tensor | None = None
        for a, b in zip(element_parts(g), element_parts(h), strict=True):
            same = _parts_equal(a, b, atol)
            result = same if result is None else result & same
        assert result is not None
        return result

    def select(self, g: Element, index: Tensor) -> Element:
        """``g[index]``: batch indexing of an element batch (tuples are indexed part by part)."""
        if isinstance(g, tuple):
            return tuple(part[index] for part in g)
        return g[index]

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _parts_equal(a: Tensor, b: Tensor, atol: float) -> Tensor:
    """``(n,)`` bool: rowwise equality of two tensors with the same shape ``(n, ...)``."""
    n = a.shape[0]
    a_flat, b_flat = a.reshape(n, -1), b.reshape(n, -1)  # (n, K)
    if a.is_floating_point() or b.is_floating_point():
        return ((a_flat - b_flat).abs() <= atol).all(dim=1)
    return (a_flat == b_flat).all(dim=1)


def resolve_device(device: torch.device | str | None, generator: torch.Generator) -> torch.device:
    """The target device: ``device`` when given, else the generator's."""
    return torch.device(device) if device is not None else generator.device


def randn(
    shape: tuple[int, ...],
    generator: torch.Generator,
    *,
    dtype: torch.dtype,
    device: torch.device | str | None = None,
) -> Tensor:
    """Standard normal draws made on the generator's device, then moved to ``device``."""
    out = torch.randn(shape, generator=generator, dtype=dtype, device=generator.device)
    return out.to(resolve_device(device, generator))


def rand(
    shape: tuple[int, ...],
    generator: torch.Generator,
    *,
    dtype: torch.dtype,
    device: torch.device | str | None = None,
) -> Tensor:
    """Uniform ``[0, 1)`` draws made on the generator's device, then moved to ``device``."""
    out = torch.rand(shape, generator=generator, dtype=dtype, device=generator.device)
    return out.to(resolve_device(device, generator))


def randint(
    low: int,
    high: int,
    shape: tuple[int, ...],
    generator: torch.Generator,
    *,
    device: torch.device | str | None = None,
) -> Tensor:
    """Uniform integers in ``[low, high)`` (long), drawn with ``generator``."""
    out = torch.randint(low, high, shape, generator=generator, device=generator.device)
    return out.to(resolve_device(device, generator))


def batched_eye(
    n: int, d: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> Tensor:
    """``n`` identity matrices ``(n, d, d)`` (the identity of any matrix group)."""
    return torch.eye(d, dtype=dtype, device=device).expand(n, d, d).clone()
