"""The BQ reduction of the CVRP: a partial solution becomes the CVRP tail that is left.

After serving some customers, what matters for the rest is only where the vehicle stands, how
much capacity it has left, and which customers remain: the reduced instance is
``[origin, remaining customers (by index), depot]`` with per-node features
``(x, y, demand / C, remaining capacity / C)`` and the node's distances to the two ends,
``(d(origin, j), d(j, depot), d(origin, depot) + d(depot, j) - d(origin, j))`` — the last is the
price of reaching ``j`` through the depot rather than directly. An action picks the next customer
and whether it is reached directly or through the depot (a refill): two logits per node.

Why the distances: both logits of a node compare sums of distances to the two ends, which
attention over coordinates can only approximate; given directly, an MLP reads them off.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from symco.core.reducer import ReducedBatch
from symco.core.tensors import gather_rows, shuffled
from symco.plugins.bq.common import (
    SampledBQReducer,
    d4_augment,
    end_distances,
    subproblem_size,
)

ORIGIN, DEPOT = 1, 2  # node types; customers are 0
DIRECT, VIA_DEPOT = 0, 1  # actions per node


@dataclass(frozen=True)
class CVRPState:
    """A batch of partial CVRP solutions after ``t`` customers.

    ``coords`` (B, N+1, 2); ``demands`` (B, N+1) float; ``capacity`` (B,) float; ``visited`` (B, N+1)
    bool (the depot counts as visited); ``tour`` (B, t) customers in order; ``via`` (B, t) bool,
    whether each was reached through the depot; ``load`` (B,) capacity left in the vehicle.
    """

    coords: Tensor
    demands: Tensor
    capacity: Tensor
    visited: Tensor
    tour: Tensor
    via: Tensor
    load: Tensor

    @property
    def current(self) -> Tensor:
        """(B,) the node the vehicle stands on (the depot before the first customer)."""
        if self.tour.shape[1] == 0:
            return torch.zeros_like(self.capacity, dtype=torch.long)
        return self.tour[:, -1]


class BQCVRPReducer(SampledBQReducer[CVRPState]):
    """Partial CVRP solution -> ``[origin, remaining customers, depot]`` with capacity features.

    The episode starts at the depot with an empty vehicle, so the first action is always "via
    depot": every solution's routes then read the same way (each route starts with a refill).
    """

    name: ClassVar[str] = "bq"
    problem: ClassVar[str] = "cvrp"
    num_features: ClassVar[int] = 7
    num_node_types: ClassVar[int] = 3
    actions_per_node: ClassVar[int] = 2
    start_full: ClassVar[bool] = False
    """Whether the vehicle leaves the depot full (both moves to the first customer feasible, the
    capacity feature at 1) rather than empty (the first move goes via the depot)."""

    # -- the MDP ---------------------------------------------------------------------------------

    def init_state(self, instances: Mapping[str, Tensor]) -> CVRPState:
        coords = instances["coords"].float()
        b, n1, _ = coords.shape
        dev = coords.device
        visited = torch.zeros(b, n1, dtype=torch.bool, device=dev)
        visited[:, 0] = True
        empty = torch.zeros(b, 0, dtype=torch.long, device=dev)
        return CVRPState(
            coords,
            instances["demands"].float(),
            instances["capacity"].float(),
            visited,
            empty,
            empty.bool(),
            # empty vehicle: the first customer is reached via the depot (full: either way)
            instances["capacity"].float().clone()
            if self.start_full
            else torch.zeros(b, device=dev),
        )

    def step(self, state: CVRPState, node: Tensor, action: Tensor) -> CVRPState:
        rows = torch.arange(len(node), device=node.device)
        visited = state.visited.clone()
        visited[rows, node] = True
        # standing on the depot (before the first customer) every move starts a route
        via = (action == VIA_DEPOT) | (state.current == 0)
        load = torch.where(via, state.capacity, state.load) - state.demands[rows, node]
        return CVRPState(
            state.coords,
            state.demands,
            state.capacity,
            visited,
            torch.cat([state.tour, node[:, None]], 1),
            torch.cat([state.via, via[:, None]], 1),
            load,
        )

    def done(self, state: CVRPState) -> Tensor:
        return state.visited.all(dim=1)

    def solutions(self, state: CVRPState) -> list[np.ndarray]:
        out = []
        for tour, via in zip(state.tour.cpu().numpy(), state.via.cpu().numpy()):
            seq: list[int] = []
            for node, refill in zip(tour.tolist(), via.tolist()):
                seq += [0, node] if refill else [node]
            out.append(np.asarray(seq, dtype=np.int64))
        return out

    def packed(self, state: CVRPState) -> Tensor:
        """The giant tours of :meth:`solutions`, built on the device: customer ``t`` moves
        right by the refills up to it, and a refill puts the depot just before it."""
        tour, via = state.tour.long(), state.via.bool()  # (B, T) each
        b, t = tour.shape
        shift = via.long().cumsum(dim=1)  # (B, T) depots inserted up to and at each customer
        pos = torch.arange(t, device=tour.device) + shift  # (B, T) where each customer lands
        width = t + (int(shift[:, -1].max()) if t else 0)
        out = tour.new_full((b, width), -1)
        out.scatter_(1, pos, tour)
        depot = torch.where(via, pos - 1, width)  # (B, T); width: a dropped column
        out = torch.cat([out, out.new_full((b, 1), -1)], dim=1)
        out.scatter_(1, depot, 0)
        return out[:, :width]

    def select(self, state: CVRPState, index: Tensor) -> CVRPState:
        return CVRPState(*(getattr(state, f)[index] for f in CVRPState.__dataclass_fields__))

    def state_from_partial(self, instances: Mapping[str, Tensor], partial: Tensor) -> CVRPState:
        """The state after the giant-tour prefix ``partial`` (B, L), e.g. ``[0, a, b, 0, c]``.

        Each route is preceded by the depot ``0`` (the first customer is always reached via the
        depot); a customer preceded by ``0`` is flagged ``via``; the vehicle stands on the last
        customer with the capacity minus the demand served on the current (last) route. A trailing
        ``0`` changes nothing: the MDP decides the refill together with the next customer. Every
        row must serve the same number of customers, as :meth:`reduce` assumes.

        :raises ValueError: rows with different numbers of customers, a customer out of range or
            served twice.
        """
        state = self.init_state(instances)
        b, n1 = state.visited.shape
        s = partial.long().to(state.coords.device)  # (B, L)
        counts = (s > 0).sum(dim=1)  # (B,)
        t = int(counts[0]) if b else 0
        if bool((counts != t).any()):
            raise ValueError(
                "CVRP partial solutions must serve the same number of customers across the batch,"
                f" got {counts.tolist()}"
            )
        if t == 0:
            return state
        order, via = self.trajectory(instances, s)  # (B, t) each
        if bool((order >= n1).any()):
            raise ValueError(f"a CVRP partial solution holds a node outside 0..{n1 - 1}")
        visited = state.visited.clone()
        visited.scatter_(1, order, True)
        if bool((visited.sum(dim=1) != t + 1).any()):
            raise ValueError("a CVRP partial solution serves a customer twice")
        via = via.bool()
        route = via.long().cumsum(dim=1)  # (B, t) route number of each customer
        current_route = route == route[:, -1:]  # (B, t)
        demand = gather_rows(state.demands, order)  # (B, t)
        served = torch.where(current_route, demand, 0.0).sum(dim=1)  # (B,) integers: exact
        return CVRPState(
            state.coords,
            state.demands,
            state.capacity,
            visited,
            order,
            via,
            state.capacity - served,
        )

    def equivalent_partial(
        self, instances: Mapping[str, Tensor], partial: Tensor, generator: torch.Generator
    ) -> tuple[dict[str, Tensor], Tensor]:
        """The same customers in other routes' order: the complete routes shuffled and some of
        them reversed, the current (last) route's customers before the vehicle's position
        shuffled. The position, the served set and the capacity left stay (instances unchanged).

        :return: the new giant-tour prefixes, ``-1`` padded (trailing ``0`` dropped).
        """
        s = partial.long()
        b = s.shape[0]
        dev = s.device
        order, via_long = self.trajectory(instances, s)  # (B, t) each
        t = order.shape[1]
        if t == 0:
            return dict(instances), s.clone()
        route = via_long.cumsum(dim=1) - 1  # (B, t) route id of each position
        current = route == route[:, -1:]  # (B, t) on the current route
        pos = torch.arange(t, device=dev).expand(b, t)
        # complete routes: a random rank per route id, a random direction
        rank = torch.gather(shuffled(t, b, generator, dev), 1, route)
        reverse = torch.gather((torch.rand(b, t, generator=generator) < 0.5).to(dev), 1, route)
        inner = torch.where(reverse, t - 1 - pos, pos)  # (B, t) key within the route
        # the current route comes last, its customers shuffled but for the last one
        rank = torch.where(current, t, rank)
        inner = torch.where(current, shuffled(t, b, generator, dev), inner)
        inner = torch.where(pos == t - 1, t, inner)
        perm = (rank * (t + 1) + inner).argsort(dim=1)  # (B, t)
        order, route = torch.gather(order, 1, perm), torch.gather(route, 1, perm)
        via = torch.ones_like(order, dtype=torch.bool)
        via[:, 1:] = route[:, 1:] != route[:, :-1]
        # the giant tour: each customer moves right by the depots up to its route's (inclusive)
        at = pos + via.long().cumsum(dim=1)  # (B, t) where each customer goes
        width = t + int(via.sum(dim=1).max())
        out = torch.full((b, width + 1), -1, dtype=torch.long, device=dev)  # a spare column
        out.scatter_(1, at, order)
        out.scatter_(1, torch.where(via, at - 1, width), 0)  # the depot before each route
        return dict(instances), out[:, :width]

    # -- reduction -------------------------------------------------------------------------------

    def reduce(self, state: CVRPState, *, knn: int | None = None) -> ReducedBatch:
        b, n1 = state.visited.shape
        left = n1 - 1 - state.tour.shape[1]  # the same for the whole batch
        remaining = torch.sort(state.visited.to(torch.uint8), dim=1, stable=True).indices[:, :left]
        current = state.current
        if knn is not None and left > knn:
            d = torch.linalg.vector_norm(
                gather_rows(state.coords, remaining)
                - state.coords[torch.arange(b), current][:, None],
                dim=-1,
            )  # (B, left)
            keep = torch.topk(d, knn, dim=1, largest=False).indices.sort(dim=1).values
            remaining = torch.gather(remaining, 1, keep)
        depot = torch.zeros_like(current)
        nodes = torch.cat([current[:, None], remaining, depot[:, None]], dim=1)  # (B, M)
        return self._batch(state.coords, state.demands, state.capacity, state.load, nodes)

    def _batch(
        self,
        coords: Tensor,
        demands: Tensor,
        capacity: Tensor,
        load: Tensor,
        nodes: Tensor,
        target: Tensor | None = None,
    ) -> ReducedBatch:
        """The reduced batch of ``nodes`` (B, M) = ``[origin, remaining..., depot]``."""
        b, m = nodes.shape
        xy = gather_rows(coords, nodes)  # (B, M, 2)
        demand = gather_rows(demands, nodes) / capacity[:, None]  # (B, M)
        left = (load / capacity)[:, None].expand(b, m)
        features = self._features(xy, demand, left)  # (B, M, F)
        node_type = torch.zeros(b, m, dtype=torch.long, device=nodes.device)
        node_type[:, 0], node_type[:, -1] = ORIGIN, DEPOT
        customer = node_type == 0
        direct = customer & (demand <= left + 1e-6)
        mask = torch.stack([direct, customer], dim=-1)  # (B, M, 2)
        return ReducedBatch(features, node_type, mask, nodes, target)

    def _features(self, xy: Tensor, demand: Tensor, left: Tensor) -> Tensor:
        """Node features from the coordinates ``xy`` (B, M, 2) of ``[origin, ..., depot]``, the
        demands and the capacity left, both ``(B, M)`` fractions of the capacity:
        ``(x, y, demand, left, d(origin, j), d(j, depot), refill)`` (B, M, 7), the origin's
        demand 0 (it is served already)."""
        d_go, d_back = end_distances(xy)  # (B, M) each: from the origin, to the end
        refill = d_go[:, -1:] + d_back - d_go  # (B, M) extra length of going via the depot
        if self.normalize:
            xy, params = self.frame.canonicalize(xy)
            scale = params.scale  # (B,) canonical lengths are the original ones times it
            d_go, d_back, refill = (d * scale[:, None] for d in (d_go, d_back, refill))
        demand = torch.cat([torch.zeros_like(demand[:, :1]), demand[:, 1:]], dim=1)
        return torch.stack([xy[..., 0], xy[..., 1], demand, left, d_go, d_back, refill], dim=-1)

    # -- imitation samples -----------------------------------------------------------------------

    def trajectory(
        self, instances: Mapping[str, Tensor], solutions: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Customers in giant-tour order; action "via depot" where a ``0`` precedes the customer."""
        s = solutions.long()
        b = s.shape[0]
        prev = torch.cat([torch.zeros_like(s[:, :1]), s[:, :-1]], dim=1)
        customer = s > 0
        n = int(customer.sum(dim=1).max()) if s.numel() else 0
        order = s[customer].view(b, n)
        via = (prev == 0)[customer].view(b, n)
        return order, via.long()

    def _augment_routes(
        self, order: Tensor, via: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        """Random route order and direction per instance (vectorised over the batch)."""
        b, n = order.shape
        dev = order.device
        route = via.long().cumsum(dim=1) - 1  # (B, N) route id of each position
        rank = shuffled(n, b, generator, dev)  # a random rank per route id
        reverse = (torch.rand(b, n, generator=generator) < 0.5).to(dev)
        pos = torch.arange(n, device=dev).expand(b, n)
        pos = torch.where(torch.gather(reverse, 1, route), n - 1 - pos, pos)
        key = torch.gather(rank, 1, route) * n + pos
        perm = key.argsort(dim=1)
        order, route = torch.gather(order, 1, perm), torch.gather(route, 1, perm)
        via = torch.ones_like(via)
        via[:, 1:] = route[:, 1:] != route[:, :-1]
        return order, via

    def expand(
        self, instances: Mapping[str, Tensor], solutions: Tensor, *, generator: torch.Generator
    ) -> ReducedBatch:
        """One sample per expert solution: the state after its first ``t`` customers.

        ``t`` is drawn once per call (one reduced size ``M = N - t + 2`` per batch, no padding); the
        vehicle's load is what the expert's current route has left; the target is the expert's
        next customer and how it was reached. Where the expert starts a new route, the remaining
        routes can follow in any order and direction at the same cost, so the target is every end
        of every remaining route, via the depot (a multi-label target; the one end the route
        shuffle happened to put first would be label noise). Remaining customers are shuffled.
        """
        coords = instances["coords"].float()
        demands, capacity = instances["demands"].float(), instances["capacity"].float()
        order, via = self.trajectory(instances, solutions)
        b, n = order.shape
        dev = order.device
        if self.augment:
            coords = d4_augment(coords, generator)
            order, via = self._augment_routes(order, via, generator)
        m = subproblem_size(self.min_subproblem, n + 2, self.sizes, generator)
        t = min(n + 2 - m, n - 1)  # customers already served
        rows = torch.arange(b, device=dev)
        # (B, N) demand served up to each position
        served = gather_rows(demands, order).cumsum(dim=1)
        served = torch.cat([torch.zeros(b, 1, device=dev), served], dim=1)  # (B, N+1)
        pos = torch.arange(n, device=dev).expand(b, n)
        route_start = torch.where(via.bool(), pos, 0).cummax(dim=1).values  # (B, N)
        if t == 0:
            current, load = torch.zeros(b, dtype=torch.long, device=dev), torch.zeros(b, device=dev)
        else:
            current = order[:, t - 1]
            load = capacity - (served[:, t] - served[rows, route_start[:, t - 1]])
        left = order[:, t:]  # (B, N-t): the next customer first
        perm = shuffled(n - t, b, generator, dev)
        nodes = torch.cat(
            [current[:, None], torch.gather(left, 1, perm), torch.zeros_like(current)[:, None]], 1
        )
        target = torch.zeros(b, nodes.shape[1], 2, device=dev)
        target[rows, 1 + perm.argsort(dim=1)[:, 0], via[:, t].long()] = 1.0
        starts = via[:, t:].bool()  # (B, N-t) a route starts here
        ends = torch.cat([via[:, t + 1 :].bool(), torch.ones_like(starts[:, :1])], dim=1)
        new_route = starts[:, 0]  # (B,) the expert's next move goes via the depot
        route_end = torch.gather(starts | ends, 1, perm) & new_route[:, None]  # (B, N-t), shuffled
        target[:, 1:-1, 1] = torch.where(route_end, 1.0, target[:, 1:-1, 1])
        return self._batch(coords, demands, capacity, load, nodes, target)


class BQCVRPPlainReducer(BQCVRPReducer):
    """:class:`BQCVRPReducer` with the published BQ-NCO PerceiverIO input:
    ``(x, y, demand, left)`` per node (fractions of the capacity; the origin keeps its demand),
    the vehicle starting full at the depot. With ``normalize: false`` the coordinates are the
    raw ones, as the official checkpoints expect (``symco import-model --from bq-nco``)."""

    name: ClassVar[str] = "bq-plain"
    num_features: ClassVar[int] = 4
    start_full: ClassVar[bool] = True

    def _features(self, xy: Tensor, demand: Tensor, left: Tensor) -> Tensor:
        if self.normalize:
            xy = self.frame.canonicalize(xy)[0]
        return torch.cat([xy, demand[..., None], left[..., None]], dim=-1)  # (B, M, 4)
