"""Random re-construction for the CVRP: re-build the tail of neighbouring routes.

Routes can be served in any order and either direction at the same cost, so each proposal orders
a solution's routes by the angle of their centroid around the depot, rotated so that a random
route comes last, with each route reversed at random, and re-builds the last ``K`` customers of
that giant tour — the chosen route, its angular neighbours and the end of the route where the cut
falls. What is left after the prefix is BQ's reduced CVRP state: the vehicle on the customer
``o`` before the cut with the capacity its route has left, the ``K`` customers, the depot. It is
decoded as the small instance ``[depot, o, c_1..c_K]`` from the partial solution ``[0, o]``, where
``o``'s demand stands for everything its route served up to it (so the capacity left matches);
the depot-to-``o`` leg is the same before and after, so comparing the small instance's
objective compares the tails. ``K`` is drawn once per step (one state size for the batch), and
``candidates`` proposals per instance are decoded together; the best improving one is kept.

Everything stays on the tensors' device: a solution is its packed giant tour ``(B, L)`` (``-1``
padded), routes are numbered by the depots before them, and re-ordering and reversing routes is
one sort of the customers by ``(new route position, position within the route)``.
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
from symco.core.tensors import gather_rows
from symco.plugins.rrc.reconstruct import Proposal, Rebuilt, Reconstruction, in_float64, rows_of


@dataclass(frozen=True)
class RoutesState:
    """``instances`` (float64 coordinates), ``tours`` (B, L) long canonical giant tours
    (:func:`canonical_tours`), ``cost`` (B,) float64."""

    instances: dict[str, Tensor]
    tours: Tensor
    cost: Tensor


def compact(x: Tensor, keep: Tensor, fill: int = -1) -> Tensor:
    """The ``keep`` entries of each row of ``x`` (B, L), in order, left-aligned, padded with
    ``fill`` to the longest row's count."""
    order = torch.sort((~keep).long(), dim=1, stable=True).indices  # kept first, in order
    out = torch.where(keep, x, fill).gather(1, order)
    return out[:, : int(keep.sum(dim=1).max()) if x.shape[1] else 0]


def canonical_tours(tours: Tensor) -> Tensor:
    """Giant tours ``[0, route 1..., 0, route 2..., ...]`` (``-1`` padded) of packed solutions:
    padding anywhere and empty routes (a depot not followed by a customer) dropped."""
    s = compact(tours, tours >= 0)  # (B, L') no holes
    nxt = torch.cat([s[:, 1:], s.new_full((s.shape[0], 1), -1)], dim=1)
    return compact(s, (s > 0) | ((s == 0) & (nxt > 0)))


def with_depots(customers: Tensor, starts: Tensor) -> Tensor:
    """``customers`` (R, T) with the depot ``0`` put before every position where ``starts``
    (R, T) bool is set: a customer moves right by the route starts up to and at it."""
    r, t = customers.shape
    shift = starts.long().cumsum(dim=1)  # (R, T)
    pos = torch.arange(t, device=customers.device) + shift
    width = t + (int(shift[:, -1].max()) if t else 0)
    out = customers.new_full((r, width + 1), -1)  # column `width`: where no depot goes
    out.scatter_(1, pos, customers)
    out.scatter_(1, torch.where(starts, pos - 1, width), 0)
    return out[:, :width]


class CVRPReconstruction(Reconstruction[RoutesState]):
    """RRC for the CVRP with any CVRP reducer whose ``state_from_partial`` takes giant-tour
    prefixes (``[0, a, b, 0, c]``); see the module docstring."""

    name: ClassVar[str] = "rrc"
    problem: ClassVar[str] = "cvrp"

    def __init__(
        self,
        problem: Problem,
        policy: Policy | None = None,
        reducer: SymmetryReducer[Any] | None = None,
        *,
        knn: int | None = None,
        augment: Group | None = None,
        views: Group | None = None,
        min_length: int = 8,
        max_length: int = 100,
        candidates: int = 4,
    ) -> None:
        """:param min_length: fewest customers re-built by one proposal.
        :param max_length: most customers re-built (capped at ``N - 1``).
        :param candidates: proposals per instance per step (different routes and directions).
        """
        super().__init__(problem, policy, reducer, knn=knn, augment=augment, views=views)
        if not 1 <= min_length <= max_length or candidates < 1:
            raise ValueError(
                f"need 1 <= min_length <= max_length and candidates >= 1, got {min_length}, "
                f"{max_length}, {candidates}"
            )
        self.min_length, self.max_length, self.candidates = min_length, max_length, candidates

    def start(self, instances: Mapping[str, Tensor], solutions: Tensor) -> RoutesState:
        exact = in_float64(instances)
        tours = canonical_tours(solutions.long().to(exact["coords"].device))
        return RoutesState(exact, tours, self.prob.objective_torch(exact, tours))

    def restart(
        self, state: RoutesState, instances: Mapping[str, Tensor], solutions: Tensor
    ) -> RoutesState:
        tours = canonical_tours(solutions.long().to(state.tours.device))
        return replace(state, tours=tours, cost=self.prob.objective_torch(state.instances, tours))

    def costs(self, state: RoutesState) -> Tensor:
        return state.cost

    def solutions(self, state: RoutesState) -> Tensor:
        return state.tours

    def converged(self, state: RoutesState) -> bool:
        return state.instances["coords"].shape[1] < 3  # one customer: nothing to re-order

    def propose(self, state: RoutesState, generator: torch.Generator) -> Proposal:
        inst, s = state.instances, state.tours
        coords, demands = inst["coords"], inst["demands"]
        b, n = coords.shape[0], coords.shape[1] - 1  # customers
        dev = coords.device
        if n < 2:
            empty = torch.zeros(0, dtype=torch.long, device=dev)
            return Proposal({}, empty[:, None], empty[:, None], empty, {})
        hi = min(self.max_length, n - 1)
        k = int(torch.randint(min(self.min_length, hi), hi + 1, (1,), generator=generator))
        # routes: the depot before each; route id and place within the route of every customer
        rid = (s == 0).long().cumsum(dim=1) - 1  # (B, L)
        is_cust = s > 0
        routes = int(rid.max()) + 1
        count = (s == 0).sum(dim=1)  # (B,) routes per tour
        first = torch.zeros(b, routes + 1, dtype=torch.long, device=dev)  # position of each depot
        first.scatter_(
            1, torch.where(s == 0, rid, routes), torch.arange(s.shape[1], device=dev).expand(b, -1)
        )
        place = (
            torch.arange(s.shape[1], device=dev) - first.gather(1, rid.clamp_min(0)) - 1
        )  # (B, L)
        size = torch.zeros(b, routes + 1, dtype=torch.long, device=dev)
        size.scatter_add_(1, torch.where(is_cust, rid, routes), is_cust.long())
        # routes ordered by the angle of their centroid around the depot (padding routes last)
        node = s.clamp_min(0)
        xy = gather_rows(coords, node) * is_cust[..., None]  # (B, L, 2)
        centre = (
            coords.new_zeros(b, routes + 1, 2).index_put_(
                (
                    torch.arange(b, device=dev)[:, None].expand_as(rid),
                    torch.where(is_cust, rid, routes),
                ),
                xy,
                accumulate=True,
            )[:, :routes]
            / size[:, :routes, None].clamp_min(1)
            - coords[:, :1]
        )  # (B, R, 2)
        angle = torch.atan2(centre[..., 1], centre[..., 0])
        angle = angle.masked_fill(torch.arange(routes, device=dev) >= count[:, None], torch.inf)
        rank = torch.sort(angle, dim=1, stable=True).indices.argsort(dim=1)  # (B, R) angle order
        # C proposals per tour: a random route last (its angular predecessors before it), every
        # route reversed at random
        c = self.candidates
        owner = torch.arange(b, device=dev).repeat_interleave(c)  # (P,)
        last = (torch.rand(b * c, generator=generator).to(dev) * count[owner]).long()  # (P,)
        new_pos = (rank[owner] - last[:, None] - 1) % count[owner, None]  # (P, R)
        flip = (torch.rand(b * c, routes, generator=generator) < 0.5).to(dev)
        cust_rid, cust_place = rid[owner].clamp_min(0), place[owner]  # (P, L)
        cust_size = size[owner].gather(1, cust_rid)
        within = torch.where(flip.gather(1, cust_rid), cust_size - 1 - cust_place, cust_place)
        key = new_pos.gather(1, cust_rid) * (s.shape[1] + 1) + within
        key = key.masked_fill(~is_cust[owner], torch.iinfo(torch.long).max)
        order = key.argsort(dim=1)[:, :n]  # (P, N) customers in the new giant-tour order
        flat = s[owner].gather(1, order)  # (P, N)
        route = new_pos.gather(1, cust_rid.gather(1, order))  # (P, N) new route of each
        starts = torch.ones_like(route, dtype=torch.bool)
        starts[:, 1:] = route[:, 1:] != route[:, :-1]
        cut = n - k  # customers kept in the prefix (>= 1)
        o_route = route[:, cut - 1]  # (P,) the route the vehicle is on
        on_route = route[:, :cut] == o_route[:, None]
        used = (gather_rows(demands[owner], flat[:, :cut]) * on_route).sum(dim=1)  # (P,)
        prefix = with_depots(flat[:, :cut], starts[:, :cut])
        # the tail as it is, in small-instance indices (o = 1, window = 2..K+1)
        local = 2 + torch.arange(k, device=dev).expand(b * c, k)
        tail = with_depots(local, starts[:, cut:])
        current = torch.cat([torch.tensor([0, 1], device=dev).expand(b * c, 2), tail], dim=1)
        window = flat[:, cut:]  # (P, K)
        nodes = torch.cat([torch.zeros_like(window[:, :1]), flat[:, cut - 1 : cut], window], dim=1)
        sub = rows_of(inst, owner, skip="coords")
        sub["coords"] = gather_rows(coords[owner], nodes)  # (P, K+2, 2)
        sub_dem = gather_rows(demands[owner], nodes)
        sub_dem[:, 1] = used.to(sub_dem.dtype)
        sub["demands"] = sub_dem
        partial = torch.tensor([0, 1], device=dev).expand(b * c, 2)
        return Proposal(sub, partial, current, owner, {"nodes": nodes, "prefix": prefix})

    def splice(self, state: RoutesState, proposal: Proposal, rebuilt: Rebuilt) -> RoutesState:
        if not bool(rebuilt.better.any()):
            return state
        b, c = state.tours.shape[0], self.candidates
        saving = torch.where(rebuilt.better, rebuilt.current_cost - rebuilt.cost, -torch.inf)
        best = saving.view(b, c).argmax(dim=1) + torch.arange(b, device=saving.device) * c  # (B,)
        found = torch.isfinite(saving[best])  # (B,)
        tail = rebuilt.solution[best, 2:]  # small-instance indices; 0 is the depot
        tail = torch.where(
            tail >= 0, proposal.extra["nodes"][best].gather(1, tail.clamp_min(0)), -1
        )
        tours = canonical_tours(torch.cat([proposal.extra["prefix"][best], tail], dim=1))
        cost = self.prob.objective_torch(state.instances, tours)
        # never worse, even by a rounding of the objective (the tails were compared, not tours)
        keep = found & (cost <= state.cost)
        width = max(tours.shape[1], state.tours.shape[1])
        tours = torch.where(keep[:, None], _pad(tours, width), _pad(state.tours, width))
        return replace(
            state, tours=canonical_tours(tours), cost=torch.where(keep, cost, state.cost)
        )


def _pad(tours: Tensor, width: int) -> Tensor:
    return torch.nn.functional.pad(tours, (0, width - tours.shape[1]), value=-1)
