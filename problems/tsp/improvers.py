"""Batched 2-opt for the TSP in torch: a local search baseline and a polish for learned tours."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from symco.core.improver import Improver

REL_TOL = 1e-9
"""A move is taken only if it shortens the tour by more than this fraction."""


@dataclass(frozen=True)
class TwoOptState:
    """``dist`` (B, N, N) float64 distances (TSPLIB-rounded where ``euc_2d``), ``tours`` (B, N)
    long, ``cost`` (B,) float64, ``active`` (B,) bool: not yet at a 2-opt local optimum."""

    dist: Tensor
    tours: Tensor
    cost: Tensor
    active: Tensor


def distance_matrix(instances: Mapping[str, Tensor]) -> Tensor:
    """``(B, N, N)`` float64 Euclidean distances, rounded as TSPLIB's EUC_2D where ``euc_2d``."""
    xy = instances["coords"].double()
    d = torch.cdist(xy, xy)  # (B, N, N)
    euc = instances.get("euc_2d")
    if euc is not None:
        d = torch.where(euc.to(d.device).bool()[:, None, None], torch.floor(d + 0.5), d)
    return d


def tour_lengths(dist: Tensor, tours: Tensor) -> Tensor:
    """``(B,)`` closed tour lengths of ``tours`` (B, N) under ``dist`` (B, N, N)."""
    nxt = tours.roll(-1, dims=1)
    return torch.gather(torch.gather(dist, 1, tours[..., None].expand(-1, -1, dist.shape[2])), 2,
                        nxt[..., None])[..., 0].sum(dim=1)  # fmt: skip


class TwoOpt(Improver[TwoOptState]):
    """Best-improvement 2-opt, every tour of the batch at once; one step takes each tour's best
    move.

    With the tour ``t`` and :math:`P_{ij} = d(t_i, t_j)`, reversing ``t[i+1..j]`` changes the
    length by

    .. math::
        \\Delta_{ij} = P_{i,j} + P_{i+1,j+1} - P_{i,i+1} - P_{j,j+1}, \\quad 0 \\le i < j - 1,

    computed for all pairs as one ``(B, N, N)`` tensor; the step reverses the segment of the most
    negative :math:`\\Delta` of each tour. Converged (a 2-opt local optimum) when no
    :math:`\\Delta` is negative. Memory ``O(B N^2)``: batch large instances in small groups.
    """

    name: ClassVar[str] = "2opt"
    problem: ClassVar[str] = "tsp"
    local_search: ClassVar[bool] = True

    def start(self, instances: Mapping[str, Tensor], solutions: list[np.ndarray]) -> TwoOptState:
        dist = distance_matrix(instances)
        tours = torch.as_tensor(self.prob.pack_solutions(solutions), device=dist.device).long()
        cost = tour_lengths(dist, tours)
        active = torch.full_like(cost, tours.shape[1] >= 4, dtype=torch.bool)
        return TwoOptState(dist, tours, cost, active)

    def step(self, state: TwoOptState, generator: torch.Generator) -> TwoOptState:
        tours = state.tours
        b, n = tours.shape
        p = torch.gather(state.dist, 1, tours[..., None].expand(-1, -1, n))  # rows in tour order
        p = torch.gather(p, 2, tours[:, None, :].expand(-1, n, -1))  # (B, N, N) P_ij
        edge = torch.diagonal(p.roll(-1, dims=2), dim1=1, dim2=2)  # (B, N) P_{i,i+1}
        delta = p + p.roll((-1, -1), dims=(1, 2)) - edge[:, :, None] - edge[:, None, :]
        pair = torch.triu(torch.ones(n, n, dtype=torch.bool, device=tours.device), diagonal=2)
        delta = delta.masked_fill(~pair, torch.inf).view(b, n * n)
        best, flat = delta.min(dim=1)  # (B,)
        move = state.active & (best < -REL_TOL * state.cost)
        i, j = (flat // n)[:, None], (flat % n)[:, None]  # (B, 1) each
        idx = torch.arange(n, device=tours.device).expand(b, n)
        inside = move[:, None] & (idx > i) & (idx <= j)
        tours = torch.gather(tours, 1, torch.where(inside, i + 1 + j - idx, idx))
        cost = torch.where(move, tour_lengths(state.dist, tours), state.cost)
        return TwoOptState(state.dist, tours, cost, move)

    def costs(self, state: TwoOptState) -> Tensor:
        return state.cost

    def solutions(self, state: TwoOptState) -> list[np.ndarray]:
        return list(state.tours.cpu().numpy())

    def converged(self, state: TwoOptState) -> bool:
        return not bool(state.active.any())
