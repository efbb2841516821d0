"""The symmetric group acting on the node axis: :class:`NodePermutation`."""

from __future__ import annotations

import itertools
from typing import ClassVar

import torch
from torch import Tensor

from .group import Element, Group, as_tensor, rand, randn

_MAX_ENUMERATED_NODES = 6


class NodePermutation(Group):
    """Permutations :math:`S_N` of the ``N`` nodes of a graph or point set.

    An element batch is a ``(n, N)`` long tensor ``perm`` whose rows are permutations of
    ``0..N-1``. It acts on ``x`` of shape ``(n, N, ...)`` by *gathering* along the node axis:

    .. math::

        \\operatorname{act}(p, x)_{b, i} = x_{b, p_b(i)} .

    With this convention the product that makes :meth:`act` a left action is

    .. math::

        (g h)(i) = h(g(i)), \\qquad g^{-1}(g(i)) = i ,

    i.e. ``compose(g, h) = h.gather(1, g)`` and ``inverse(g) = g.argsort(1)``.

    The group is finite (:math:`N!` elements) but :meth:`elements` enumerates it only when
    ``N <= 6`` (720 elements) and returns ``None`` beyond. Elements are integer-valued: the
    ``dtype`` arguments of :meth:`sample` and :meth:`identity` are accepted and ignored.
    """

    name: ClassVar[str] = "node-permutation"
    acts_on: ClassVar[str] = "(B, N, ...) tensors: node axis 1"
    finite: ClassVar[bool] = True

    def __init__(self, num_nodes: int = 8) -> None:
        if num_nodes < 1:
            raise ValueError(f"num_nodes must be >= 1, got {num_nodes}")
        self.num_nodes = num_nodes

    def sample(
        self,
        n: int,
        generator: torch.Generator,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """Uniform random permutations: the argsort of i.i.d. uniform keys, ``(n, N)`` long."""
        keys = rand((n, self.num_nodes), generator, dtype=torch.float64, device=device)  # (n, N)
        return keys.argsort(dim=1)

    def elements(self) -> Tensor | None:
        """All :math:`N!` permutations ``(N!, N)`` (lexicographic order) when ``N <= 6``."""
        if self.num_nodes > _MAX_ENUMERATED_NODES:
            return None
        perms = list(itertools.permutations(range(self.num_nodes)))
        return torch.tensor(perms, dtype=torch.long)  # (N!, N)

    def identity(
        self,
        n: int,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """``(n, N)`` copies of ``0..N-1``."""
        ident = torch.arange(self.num_nodes, device=device)  # (N,)
        return ident.expand(n, self.num_nodes).clone()

    def compose(self, g: Element, h: Element) -> Tensor:
        """``(g h)(i) = h(g(i))``, shape ``(n, N)``."""
        return as_tensor(h).gather(1, as_tensor(g))

    def inverse(self, g: Element) -> Tensor:
        """The inverse permutation, ``(n, N)``."""
        return as_tensor(g).argsort(dim=1)

    def act(self, g: Element, x: Tensor) -> Tensor:
        """``x'[b, i] = x[b, perm[b, i]]`` for ``x`` of shape ``(n, N, ...)``."""
        perm = as_tensor(g)  # (n, N)
        index = perm.reshape(*perm.shape, *([1] * (x.dim() - 2)))  # (n, N, 1, ...)
        return x.gather(1, index.expand_as(x))

    def example_input(
        self, n: int, generator: torch.Generator, *, dtype: torch.dtype = torch.float64
    ) -> Tensor:
        """Random node features, ``(n, N, 3)``."""
        return randn((n, self.num_nodes, 3), generator, dtype=dtype)

    def __repr__(self) -> str:
        return f"NodePermutation(num_nodes={self.num_nodes})"


__all__ = ["NodePermutation"]
