"""Dense pair tensors of fully connected point sets (shared by the n-body models).

For ``N`` particles the graph is complete without self-loops; every model here works on dense
``(B, N, N, ...)`` pair tensors with the diagonal masked out (cheaper than an edge list and a
scatter for ``N = 5``).
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn


def pair_differences(x: Tensor) -> Tensor:
    """``x_i - x_j`` for points ``x`` ``(B, N, d)``: ``(B, N, N, d)``."""
    return x[:, :, None, :] - x[:, None, :, :]


def off_diagonal(n: int, *, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``(1, N, N, 1)`` weights: 1 for pairs ``i != j``, 0 on the diagonal."""
    mask = 1.0 - torch.eye(n, dtype=dtype, device=device)  # (N, N)
    return mask[None, :, :, None]


def charge_products(charges: Tensor) -> Tensor:
    """``q_i q_j`` for charges ``(B, N)``: ``(B, N, N, 1)``."""
    return (charges[:, :, None] * charges[:, None, :])[..., None]


def pair_features(h: Tensor) -> tuple[Tensor, Tensor]:
    """``h_i`` and ``h_j`` broadcast to every pair: two ``(B, N, N, F)`` tensors."""
    n = h.shape[1]
    return h[:, :, None, :].expand(-1, -1, n, -1), h[:, None, :, :].expand(-1, n, -1, -1)


def mlp(
    sizes: list[int], act: type[nn.Module] = nn.SiLU, *, last_act: bool = False
) -> nn.Sequential:
    """``Linear -> act -> ... -> Linear`` (``act`` after the last layer too if ``last_act``)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_act:
            layers.append(act())
    return nn.Sequential(*layers)


__all__ = ["charge_products", "mlp", "off_diagonal", "pair_differences", "pair_features"]
