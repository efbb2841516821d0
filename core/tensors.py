"""Batched tensor helpers shared by reducers and plugins: per-row gathers, left-aligned index
lists and per-row random permutations.

Every helper works on a leading batch dimension ``B``; index tensors are ``long`` and use ``-1``
for padding, the convention of :attr:`~symco.core.reducer.ReducedBatch.node_index`.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["gather_rows", "pad_left_aligned", "shuffled"]


def gather_rows(x: Tensor, index: Tensor) -> Tensor:
    """The rows ``x[b, index[b]]`` of every batch entry.

    Args:
        x: ``(B, N, ...)``, the rows to read.
        index: ``(B, M)`` long, row indices into ``x``; ``-1`` marks padding.

    Returns:
        ``(B, M, ...)``. Padding entries (``index < 0``) read row 0: callers mask them, e.g.
        through ``node_index``.
    """
    # gather needs an index of x's rank, broadcast over the trailing dims
    flat = index.clamp_min(0).reshape(index.shape[0], -1, *([1] * (x.dim() - 2)))  # (B, M, 1...)
    return torch.gather(x, 1, flat.expand(-1, -1, *x.shape[2:]))


def pad_left_aligned(keep: Tensor) -> Tensor:
    """The indices of the ``True`` entries of every row, increasing and left-aligned.

    Args:
        keep: ``(B, N)`` bool.

    Returns:
        ``(B, K)`` long, ``K`` the largest count of ``True`` in a row; shorter rows are padded
        with ``-1``. ``K = 0`` for an empty ``keep``.
    """
    count = keep.sum(dim=1)  # (B,)
    k = int(count.max()) if keep.numel() else 0
    # a stable sort of "not kept" puts the kept indices first, in their original order
    order = torch.sort((~keep).to(torch.uint8), dim=1, stable=True).indices[:, :k]  # (B, K)
    pos = torch.arange(k, device=keep.device)[None]  # (1, K)
    return torch.where(pos < count[:, None], order, -1)


def shuffled(count: int, b: int, generator: torch.Generator, device: torch.device) -> Tensor:
    """``b`` independent random permutations of ``0, ..., count - 1``.

    Args:
        count: the length of each permutation.
        b: the number of permutations (rows).
        generator: a CPU generator, the only source of randomness.
        device: where the result is returned.

    Returns:
        ``(b, count)`` long.
    """
    # drawn on the CPU generator and then moved, so a seed gives the same permutations on
    # every device
    return torch.argsort(torch.rand(b, count, generator=generator), dim=1).to(device)
