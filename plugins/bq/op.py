"""The BQ reduction of orienteering: a partial tour becomes the OP tail that is left.

After a path depot -> ... -> current, the rest is an orienteering path from ``current`` back to
the depot through unvisited nodes, within the remaining length budget. Nodes that cannot be
visited on the way back any more (``d(current, j) + d(j, depot) > budget``) never become
reachable again (the budget only shrinks, the triangle inequality holds), so they are dropped
from the reduced instance, a further quotient. Features per node: ``(x, y, prize, budget)`` and
the node's geometry relative to the two ends, ``(d(origin, j), d(j, depot), slack)`` with
``slack = 1 - (d(origin, j) + d(j, depot)) / budget`` the share of the budget a detour through
``j`` leaves; one action per node: go there next, or end the tour at the depot.

Why the geometry: feasibility and the price of a detour are sums of distances to the two ends,
which attention over coordinates can only approximate; given directly (and ``slack`` scale-free)
they make the tail's decision an MLP's job, as the tightness feature does for KP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from symco.core.reducer import ReducedBatch
from symco.core.tensors import gather_rows, pad_left_aligned
from symco.plugins.bq.common import AugmentedBQReducer, d4_augment, end_distances

ORIGIN, DEPOT = 1, 2  # node types; other nodes are 0
SLACK = 1e-6  # budget tolerance for float rounding


@dataclass(frozen=True)
class OPState:
    """``coords`` (B, N+1, 2); ``prizes`` (B, N+1); ``left`` (B,) budget left; ``visited``
    (B, N+1) bool (the depot counts as visited); ``tour`` (B, t) nodes visited in order, ``-1`` after
    the tour ended; ``current`` (B,); ``ended`` (B,) bool."""

    coords: Tensor
    prizes: Tensor
    left: Tensor
    visited: Tensor
    tour: Tensor
    current: Tensor
    ended: Tensor

    def reachable(self) -> Tensor:
        """(B, N+1) bool: unvisited nodes from which the depot is still within the budget."""
        b = self.coords.shape[0]
        here = self.coords[torch.arange(b), self.current][:, None]  # (B, 1, 2)
        d_go = torch.linalg.vector_norm(self.coords - here, dim=-1)  # (B, N+1)
        d_back = torch.linalg.vector_norm(self.coords - self.coords[:, :1], dim=-1)
        return ~self.visited & (d_go + d_back <= self.left[:, None] + SLACK) & ~self.ended[:, None]


def _path_lengths(coords: Tensor, nodes: Tensor) -> Tensor:
    """(B,) lengths of the open paths depot -> ``nodes`` (B, L), ``-1`` padded, in ``coords``'
    dtype (``coords`` (B, N+1, 2), depot first)."""
    b = nodes.shape[0]
    path = torch.cat([torch.zeros(b, 1, dtype=torch.long, device=nodes.device), nodes], dim=1)
    pts = gather_rows(coords, path)  # (B, L+1, 2)
    legs = torch.linalg.vector_norm(pts[:, 1:] - pts[:, :-1], dim=-1)  # (B, L)
    return torch.where(nodes >= 0, legs, 0.0).sum(dim=1)


class BQOPReducer(AugmentedBQReducer[OPState]):
    """Partial OP tour -> ``[origin, reachable unvisited nodes (by index), depot]``.

    Training samples draw the step ``t`` uniformly per expert tour. ``augment``: random D4 symmetry
    and random tour direction (a reversed optimal tour is optimal). ``normalize``: coordinates
    to the unit square, the budget scaled alike.
    """

    name: ClassVar[str] = "bq"
    problem: ClassVar[str] = "op"
    num_features: ClassVar[int] = 7
    num_node_types: ClassVar[int] = 3
    actions_per_node: ClassVar[int] = 1

    # -- the MDP ---------------------------------------------------------------------------------

    def init_state(self, instances: Mapping[str, Tensor]) -> OPState:
        coords = instances["coords"].float()
        b, n1, _ = coords.shape
        dev = coords.device
        visited = torch.zeros(b, n1, dtype=torch.bool, device=dev)
        visited[:, 0] = True
        zero = torch.zeros(b, dtype=torch.long, device=dev)
        return OPState(
            coords,
            instances["prizes"].float(),
            instances["max_length"].float().clone(),
            visited,
            zero[:, None][:, :0],
            zero,
            zero.bool(),
        )

    def step(self, state: OPState, node: Tensor, action: Tensor) -> OPState:
        """Go to ``node``; node ``0`` (the depot) ends the tour; ``-1`` leaves ended rows alone."""
        b = len(node)
        rows = torch.arange(b, device=node.device)
        move = (node > 0) & ~state.ended
        target = torch.where(move, node, state.current)
        step_len = torch.linalg.vector_norm(
            state.coords[rows, target] - state.coords[rows, state.current], dim=-1
        )
        visited = state.visited.clone()
        visited[rows[move], node[move]] = True
        return OPState(
            state.coords,
            state.prizes,
            state.left - step_len,
            visited,
            torch.cat([state.tour, torch.where(move, node, -1)[:, None]], 1),
            target,
            state.ended | (node == 0),
        )

    def done(self, state: OPState) -> Tensor:
        return state.ended

    def solutions(self, state: OPState) -> list[np.ndarray]:
        return [row[row > 0] for row in state.tour.cpu().numpy()]

    def packed(self, state: OPState) -> Tensor:
        tour = state.tour.long()  # (B, T): visited nodes (> 0) in order, the rest <= 0
        kept = tour > 0
        order = torch.sort((~kept).long(), dim=1, stable=True).indices  # kept first, in order
        out = torch.where(kept, tour, -1).gather(1, order)
        return out[:, : int(kept.sum(dim=1).max()) if tour.shape[1] else 0]

    def select(self, state: OPState, index: Tensor) -> OPState:
        return OPState(*(getattr(state, f)[index] for f in OPState.__dataclass_fields__))

    def state_from_partial(self, instances: Mapping[str, Tensor], partial: Tensor) -> OPState:
        """The state after visiting ``partial`` (B, L): nodes in order, the depot excluded,
        right-padded with ``-1`` (rows may differ in length).

        The vehicle stands on the last node (the depot for an empty row) with the budget
        ``max_length`` less the length of the path depot -> ... -> current, subtracted leg by leg
        as :meth:`step` does; the tour has not ended.

        :raises ValueError: the depot ``0``, a node out of range or visited twice, ``-1`` before a
            node.
        """
        state = self.init_state(instances)
        b, n1 = state.visited.shape
        dev = state.coords.device
        s = partial.long().to(dev)  # (B, L)
        valid = s > 0  # (B, L)
        if bool((s == 0).any()) or bool((s >= n1).any()):
            raise ValueError(f"OP partial tours hold nodes of 1..{n1 - 1} (the depot is implied)")
        if bool((valid[:, 1:] & ~valid[:, :-1]).any()):
            raise ValueError("OP partial tours must be right-padded with -1")
        counts = valid.sum(dim=1)  # (B,)
        visited = state.visited.clone()
        visited.scatter_(1, s.clamp_min(0), True)  # padding marks the depot, visited already
        if bool((visited.sum(dim=1) != counts + 1).any()):
            raise ValueError("an OP partial tour visits a node twice")
        path = torch.cat([torch.zeros(b, 1, dtype=torch.long, device=dev), s.clamp_min(0)], 1)
        pts = gather_rows(state.coords, path)  # (B, L+1, 2)
        legs = torch.linalg.vector_norm(pts[:, 1:] - pts[:, :-1], dim=-1)  # (B, L)
        left = state.left
        for i in range(s.shape[1]):  # leg by leg (not a sum), so the float32 budget is step's
            left = torch.where(valid[:, i], left - legs[:, i], left)
        current = torch.gather(path, 1, counts[:, None])[:, 0]  # (B,)
        return OPState(
            state.coords,
            state.prizes,
            left,
            visited,
            torch.where(valid, s, -1),
            current,
            torch.zeros(b, dtype=torch.bool, device=dev),
        )

    def equivalent_partial(
        self, instances: Mapping[str, Tensor], partial: Tensor, generator: torch.Generator
    ) -> tuple[dict[str, Tensor], Tensor]:
        """The same visited nodes in another order (the last one, the position, kept), with
        ``max_length`` changed by the change of the path's length, so the budget left is equal."""
        s = partial.long()
        b, width = s.shape
        dev = s.device
        counts = (s > 0).sum(dim=1)  # (B,)
        pos = torch.arange(width, device=dev).expand(b, width)
        key = torch.rand(b, width, generator=generator).to(dev)
        # the interior (before the last node) is shuffled; the last node and padding stay put
        key = torch.where(pos < (counts - 1)[:, None], key, 1.0 + pos.to(key.dtype))
        out = torch.gather(s, 1, key.argsort(dim=1))
        coords = instances["coords"]
        change = _path_lengths(coords, out) - _path_lengths(coords, s)  # (B,)
        budget = instances["max_length"]
        return {**instances, "max_length": budget + change.to(budget.dtype)}, out

    # -- reduction -------------------------------------------------------------------------------

    def reduce(self, state: OPState, *, knn: int | None = None) -> ReducedBatch:
        keep = state.reachable()
        if knn is not None:
            b = keep.shape[0]
            here = state.coords[torch.arange(b), state.current][:, None]
            d = torch.linalg.vector_norm(state.coords - here, dim=-1).masked_fill(~keep, torch.inf)
            k = min(knn, d.shape[1])
            near = torch.zeros_like(keep)
            near.scatter_(1, torch.topk(d, k, dim=1, largest=False).indices, True)
            keep &= near
        return self._batch(state, pad_left_aligned(keep))

    def _batch(self, state: OPState, middle: Tensor, target: Tensor | None = None) -> ReducedBatch:
        """The reduced batch ``[origin, middle (B, K) -1 padded, depot]``."""
        b = middle.shape[0]
        dev = middle.device
        zero = torch.zeros(b, 1, dtype=torch.long, device=dev)
        nodes = torch.cat([state.current[:, None], middle, zero], dim=1)  # (B, M)
        valid = nodes >= 0
        xy = gather_rows(state.coords, nodes)  # (B, M, 2)
        d_go, d_back = end_distances(xy)  # (B, M) each: from the origin, to the end
        left = state.left.clone()
        slack = 1.0 - (d_go + d_back) / left[:, None].clamp_min(SLACK)
        if self.normalize:
            xy, params = self.frame.canonicalize(xy, valid)
            scale = params.scale  # (B,) canonical lengths are the original ones times it
            left, d_go, d_back = left * scale, d_go * scale[:, None], d_back * scale[:, None]
        prize = gather_rows(state.prizes, nodes).masked_fill(~valid, 0.0)
        prize[:, 0] = 0.0  # collected already
        budget = left[:, None].expand_as(prize)
        features = torch.stack(
            [xy[..., 0], xy[..., 1], prize, budget, d_go, d_back, slack.clamp(-1.0, 1.0)], dim=-1
        )
        features = features.masked_fill(~valid[..., None], 0.0)  # (B, M, 7)
        node_type = torch.zeros_like(nodes)
        node_type[:, 0], node_type[:, -1] = ORIGIN, DEPOT
        mask = (valid & (node_type != ORIGIN))[..., None]  # (B, M, 1): nodes or end at the depot
        mask[state.ended, -1, 0] = False  # ended rows: nothing to do
        return ReducedBatch(features, node_type, mask, nodes.masked_fill(~valid, -1), target)

    # -- imitation samples -----------------------------------------------------------------------

    def trajectory(
        self, instances: Mapping[str, Tensor], solutions: Tensor
    ) -> tuple[Tensor, Tensor]:
        """The tour's nodes, then the depot (end), then ``-1`` padding."""
        s = solutions.long()
        b = s.shape[0]
        pad = torch.full((b, 1), -1, dtype=torch.long, device=s.device)
        nodes = torch.cat([s, pad], dim=1)
        length = (s > 0).sum(dim=1)
        nodes[torch.arange(b), length] = 0
        return nodes, torch.where(nodes >= 0, 0, -1)

    def expand(
        self, instances: Mapping[str, Tensor], solutions: Tensor, *, generator: torch.Generator
    ) -> ReducedBatch:
        """Per expert tour ``v_1..v_k``: the state after ``t`` nodes, ``t`` uniform in ``0..k``; the
        target is ``v_{t+1}``, or the depot when ``t = k``."""
        state = self.init_state(instances)
        tours = solutions.long()
        b = tours.shape[0]
        dev = tours.device
        length = (tours > 0).sum(dim=1)  # (B,)
        coords = state.coords
        if self.augment:
            coords = d4_augment(coords, generator)
            rev = (torch.rand(b, generator=generator) < 0.5).to(dev)
            pos = torch.arange(tours.shape[1], device=dev).expand_as(tours)
            back = (length[:, None] - 1 - pos).clamp_min(0)
            flipped = torch.where(pos < length[:, None], torch.gather(tours, 1, back), -1)
            tours = torch.where(rev[:, None], flipped, tours)
        t = (torch.rand(b, generator=generator).to(dev) * (length + 1)).long()  # (B,) in 0..k
        path = torch.cat([torch.zeros(b, 1, dtype=torch.long, device=dev), tours.clamp_min(0)], 1)
        pts = gather_rows(coords, path)  # (B, L+1, 2)
        legs = torch.linalg.vector_norm(pts[:, 1:] - pts[:, :-1], dim=-1)  # (B, L)
        pos = torch.arange(tours.shape[1], device=dev)[None]
        used = (legs * (pos < t[:, None])).sum(dim=1)
        rows = torch.arange(b, device=dev)
        current = path[rows, t]
        visited = torch.zeros_like(state.visited)
        visited[:, 0] = True
        visited.scatter_(1, torch.where(pos < t[:, None], tours, 0), True)
        state = OPState(
            coords,
            state.prizes,
            state.left - used,
            visited,
            tours,
            current,
            torch.zeros_like(t).bool(),
        )
        keep = state.reachable()
        middle = pad_left_aligned(keep)
        # shuffle the kept nodes within each row (padding stays last) so positions say nothing
        key = torch.rand(middle.shape, generator=generator).to(dev).masked_fill(middle < 0, 2.0)
        middle = torch.gather(middle, 1, key.argsort(dim=1))
        nxt = torch.where(t < length, path[rows, (t + 1).clamp_max(path.shape[1] - 1)], 0)
        nodes_m = torch.cat([current[:, None], middle, torch.zeros_like(current)[:, None]], 1)
        target = (nodes_m == nxt[:, None]).float()
        target[:, 0] = 0.0  # the origin is never a target (it can be the depot at t = 0)
        return self._batch(state, middle, target[..., None])
