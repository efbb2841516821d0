"""Atoms as padded batches, element tables and radius graphs (shared by every potential).

A batch of ``B`` structures with at most ``N`` atoms is padded: atomic numbers ``z`` ``(B, N)``
(0 marks padding, always after the real atoms of a row) and positions ``pos`` ``(B, N, 3)`` in
Å. Every potential maps ``(z, pos)`` to one energy per structure ``(B,)``; forces are
:math:`-\\partial E / \\partial x` by autograd. Padding must not change the energy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from symco.core.errors import InvalidInstanceError

ELEMENTS: tuple[int, ...] = (1, 6, 7, 8, 9, 16, 17)
"""H, C, N, O, F, S, Cl: the elements of the organic molecule sets."""


def symbol(z: int) -> str:
    """The chemical symbol of atomic number ``z`` (``Z=<z>`` outside the periodic table)."""
    try:
        from ase.data import chemical_symbols
    except ImportError:  # the symbol is for messages only
        return f"Z={int(z)}"
    return chemical_symbols[int(z)] if 0 < int(z) < len(chemical_symbols) else f"Z={int(z)}"


class ElementIndex(nn.Module):
    """Atomic numbers to indices ``0..len(elements)-1`` (padding and unknown elements map to
    ``-1``); an unknown element raises :class:`InvalidInstanceError` naming it.

    :param elements: the atomic numbers a model knows, in its embedding order.
    """

    def __init__(self, elements: Sequence[int] = ELEMENTS) -> None:
        super().__init__()
        self.elements = tuple(int(e) for e in elements)
        if not self.elements or len(set(self.elements)) != len(self.elements):
            raise InvalidInstanceError(f"elements must be distinct atomic numbers, got {elements}")
        if min(self.elements) < 1 or max(self.elements) > 118:
            raise InvalidInstanceError(f"elements must be atomic numbers 1..118, got {elements}")
        table = torch.full((119,), -1, dtype=torch.long)
        table[list(self.elements)] = torch.arange(len(self.elements))
        self.register_buffer("table", table, persistent=False)

    def __len__(self) -> int:
        return len(self.elements)

    def forward(self, z: Tensor) -> Tensor:
        """``(B, N)`` indices, ``-1`` on padding."""
        idx = self.table[z.clamp(0, 118)]  # (B, N)
        unknown = (idx < 0) & (z > 0)
        if bool(unknown.any()):
            bad = int(z[unknown][0])
            raise InvalidInstanceError(
                f"element {symbol(bad)} is not one this model knows ({', '.join(symbol(e) for e in self.elements)})"
            )
        return idx

    def one_hot(self, z: Tensor) -> Tensor:
        """``(B, N, len(elements))`` one-hot rows, zero rows on padding."""
        idx = self.forward(z)
        hot = torch.nn.functional.one_hot(idx.clamp_min(0), len(self.elements))
        return hot * (idx >= 0)[..., None]

    def extra_repr(self) -> str:
        return ", ".join(symbol(e) for e in self.elements)


class Graph(NamedTuple):
    """The real atoms of a padded batch, flattened, and their radius graph.

    ``node`` ``(A,)``: flat index ``b * N + i`` of each real atom in the ``(B, N)`` batch;
    ``batch`` ``(A,)`` its structure; ``pos`` ``(A, 3)`` (a view of the batch's positions, so
    gradients flow back to them); ``edge_index`` ``(2, E)`` pairs ``(j, i)`` (source, target)
    of atoms in the same structure closer than the cutoff; ``vec`` ``(E, 3)`` is
    :math:`x_i - x_j` (target minus source) and ``length`` ``(E,)`` its norm.
    """

    node: Tensor
    batch: Tensor
    pos: Tensor
    edge_index: Tensor
    vec: Tensor
    length: Tensor


def radius_graph(z: Tensor, pos: Tensor, cutoff: float) -> Graph:
    """The flattened real atoms of ``(z, pos)`` and every ordered pair within ``cutoff`` Å.

    Pairs are found densely per structure (``(B, N, N)`` distances: molecules are small). Only the selection of pairs is
    non-differentiable; ``vec`` and ``length`` carry gradients to ``pos``.
    """
    bsz, n = z.shape
    real = z > 0  # (B, N)
    with torch.no_grad():
        dist = torch.cdist(pos, pos)  # (B, N, N)
        pair = real[:, :, None] & real[:, None, :] & (dist < cutoff)
        pair &= ~torch.eye(n, dtype=torch.bool, device=z.device)
    b, i, j = pair.nonzero(as_tuple=True)  # target i, source j
    flat = real.reshape(-1)
    # flat batch index -> compact atom index
    compact = torch.cumsum(flat.long(), 0) - 1  # (B*N,)
    node = flat.nonzero(as_tuple=True)[0]  # (A,)
    src, dst = compact[b * n + j], compact[b * n + i]
    pos_flat = pos.reshape(bsz * n, 3)[node]  # (A, 3)
    vec = pos_flat[dst] - pos_flat[src]  # (E, 3): x_i - x_j
    length = vec.norm(dim=-1)  # (E,)
    batch = torch.div(node, n, rounding_mode="floor")
    return Graph(node, batch, pos_flat, torch.stack([src, dst]), vec, length)


def scatter_structures(values: Tensor, graph: Graph, num_structures: int) -> Tensor:
    """Sum per-atom ``values`` ``(A,)`` into their structures: ``(B,)``."""
    out = values.new_zeros(num_structures)
    return out.index_add(0, graph.batch, values)


__all__ = ["ELEMENTS", "ElementIndex", "Graph", "radius_graph", "scatter_structures", "symbol"]
