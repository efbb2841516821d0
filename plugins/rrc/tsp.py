"""Random re-construction for the TSP: re-build disjoint segments of every tour at once.

Each step draws one segment length ``L`` (uniform in ``[min_length, max_length]``) and a random
offset per tour, and cuts the tour into ``N // (L + 1)`` disjoint blocks ``u, s_1, ..., s_L``
(the last ``N mod (L+1)`` positions are left alone); of these it re-builds all, or a random
``S = max_nodes // (L + 1)`` of them on large tours. The interior of each
block, between ``u`` and the node ``v`` after it, is a path-TSP with fixed ends — exactly BQ's
reduced state ``[origin u, {s_1..s_L}, destination v]`` — so it is decoded as the small instance
``[u, s_1, ..., s_L, v]`` from the partial tour ``[v, u]``, in a random direction (``v`` to
``u`` half the time). A re-built interior replaces the old one where the path gets shorter;
blocks are disjoint, so all ``B * S`` segments are independent and decoded in one batch.

LEHD draws one segment per tour per step, of length uniform in ``[4, N]``; tiling the tour makes
every policy call re-build ``N`` nodes' worth of segments instead of ``L``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import torch
from torch import Tensor

from symco.core.policy import Policy
from symco.core.problem import Problem
from symco.core.reducer import SymmetryReducer
from symco.core.symmetry.group import Group
from symco.plugins.rrc.reconstruct import Proposal, Rebuilt, Reconstruction, in_float64, rows_of


@dataclass(frozen=True)
class TourState:
    """``instances`` (coordinates in float64), ``tours`` (B, N) long, ``cost`` (B,) float64."""

    instances: dict[str, Tensor]
    tours: Tensor
    cost: Tensor


def tour_state(problem: Problem, instances: Mapping[str, Tensor], solutions: Tensor) -> TourState:
    """The packed tours ``solutions`` (B, N) as a :class:`TourState` (costs by the problem's
    objective, in float64)."""
    exact = in_float64(instances)
    tours = solutions.long().to(exact["coords"].device)
    return TourState(exact, tours, problem.objective_torch(exact, tours))


class TSPReconstruction(Reconstruction[TourState]):
    """RRC for the TSP with any TSP reducer (its ``state_from_partial`` takes partial tours
    ``[first, ..., current]``); see the module docstring."""

    name: ClassVar[str] = "rrc"
    problem: ClassVar[str] = "tsp"

    def __init__(
        self,
        problem: Problem,
        policy: Policy | None = None,
        reducer: SymmetryReducer[Any] | None = None,
        *,
        knn: int | None = None,
        augment: Group | None = None,
        views: Group | None = None,
        min_length: int = 4,
        max_length: int = 100,
        max_nodes: int | None = 20_000,
    ) -> None:
        """:param min_length: shortest segment interior re-built (LEHD: 4).
        :param max_length: longest segment interior (capped at ``N - 1``); long segments find
            what short ones cannot, short ones are cheap (a block costs ``O(L^2)`` node updates).
        :param max_nodes: most tour positions one step re-builds per tour (``None``: all): a
            random subset of the blocks beyond it, so a step of a 100,000-node tour costs what
            one of a 20,000-node tour does (tiling all of it took about as long as decoding it,
            and held 7 GiB of segments) and the steps come often enough to chain with ``ls``.
        """
        super().__init__(problem, policy, reducer, knn=knn, augment=augment, views=views)
        if not 2 <= min_length <= max_length:
            raise ValueError(f"need 2 <= min_length <= max_length, got {min_length}, {max_length}")
        if max_nodes is not None and max_nodes < 1:
            raise ValueError(f"max_nodes must be >= 1 or None, got {max_nodes}")
        self.min_length = min_length
        self.max_length = max_length
        self.max_nodes = max_nodes

    def start(self, instances: Mapping[str, Tensor], solutions: Tensor) -> TourState:
        return tour_state(self.prob, instances, solutions)

    def restart(
        self, state: TourState, instances: Mapping[str, Tensor], solutions: Tensor
    ) -> TourState:
        tours = solutions.long().to(state.tours.device)  # the float64 instances are kept
        return replace(state, tours=tours, cost=self.prob.objective_torch(state.instances, tours))

    def costs(self, state: TourState) -> Tensor:
        return state.cost

    def solutions(self, state: TourState) -> Tensor:
        return state.tours

    def converged(self, state: TourState) -> bool:
        return state.tours.shape[1] < 4  # every tour of 3 nodes or fewer is optimal

    def propose(self, state: TourState, generator: torch.Generator) -> Proposal:
        tours = state.tours
        b, n = tours.shape
        dev = tours.device
        hi = min(self.max_length, n - 1)
        lo = min(self.min_length, hi)
        length = int(torch.randint(lo, hi + 1, (1,), generator=generator))  # L interior nodes
        tiles = n // (length + 1)  # blocks that tile a tour
        s = tiles if self.max_nodes is None else max(1, min(tiles, self.max_nodes // (length + 1)))
        offset = torch.randint(0, n, (b, 1), generator=generator).to(dev)
        if s < tiles:  # a random subset of the tiles, per tour
            pick = torch.rand(b, tiles, generator=generator).argsort(dim=1)[:, :s].to(dev)
            block = pick[..., None] * (length + 1)  # (B, S, 1) first positions
        else:
            block = (torch.arange(s, device=dev)[:, None] * (length + 1))[None]  # (1, S, 1)
        pos = (offset[:, None] + block + torch.arange(length + 2, device=dev)) % n  # (B, S, L+2)
        pos = pos.reshape(b * s, length + 2)  # positions of u, s_1..s_L, v in the tour
        owner = torch.arange(b, device=dev).repeat_interleave(s)  # (R,)
        nodes = torch.gather(tours[owner], 1, pos)  # (R, L+2)
        flip = (torch.rand(b * s, generator=generator) < 0.5).to(dev)
        nodes = torch.where(flip[:, None], nodes.flip(1), nodes)  # decode v -> u half the time
        sub = rows_of(state.instances, owner, skip="coords")
        # index both axes at once: coords[owner] alone would copy the whole instance per row
        sub["coords"] = state.instances["coords"][owner[:, None], nodes]  # (R, L+2, 2)
        r = b * s
        partial = torch.tensor([length + 1, 0], device=dev).expand(
            r, 2
        )  # first = end, current = start
        current = torch.arange(length + 2, device=dev).expand(r, -1)  # the path as it is
        return Proposal(sub, partial, current, owner, {"pos": pos, "nodes": nodes, "flip": flip})

    def splice(self, state: TourState, proposal: Proposal, rebuilt: Rebuilt) -> TourState:
        pos, nodes, flip = (proposal.extra[k] for k in ("pos", "nodes", "flip"))
        keep = rebuilt.better
        if not bool(keep.any()):
            return state
        # a solution of the small instance is [end, start, x_1..x_L]: the new interior
        order = torch.gather(nodes, 1, rebuilt.solution[:, 2:])  # (R, L) original nodes
        order = torch.where(flip[:, None], order.flip(1), order)  # back to u -> v direction
        owner = proposal.owner[keep]
        tours = state.tours.clone()
        tours[owner[:, None], pos[keep, 1:-1]] = order[keep]
        saved = torch.zeros_like(state.cost).index_add_(
            0, owner, (rebuilt.current_cost - rebuilt.cost)[keep]
        )
        # recompute rather than subtract: rounding never accumulates
        cost = torch.where(saved > 0, self.prob.objective_torch(state.instances, tours), state.cost)
        return replace(state, tours=tours, cost=cost)
