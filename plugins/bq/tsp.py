"""The BQ reduction of the TSP: a partial tour becomes the path-TSP of what is left.

After visiting ``first, ..., current``, the rest of an optimal tour is an optimal Hamiltonian path
from ``current`` through the unvisited nodes to ``first``. That path-TSP instance — origin,
remaining nodes, destination — is all the policy sees: every partial tour with the same endpoints
and the same unvisited set maps to the same reduced state (the bisimulation quotient).
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

ORIGIN, DESTINATION = 1, 2  # node types; remaining nodes are 0


@dataclass(frozen=True)
class TSPState:
    """A batch of partial tours on ``N`` nodes after ``t`` steps.

    ``coords`` (B, N, 2); ``tour`` (B, t) visited nodes in order (``tour[:, 0]`` is the first node,
    ``tour[:, -1]`` the current one); ``visited`` (B, N) bool.
    """

    coords: Tensor
    tour: Tensor
    visited: Tensor

    @property
    def first(self) -> Tensor:
        return self.tour[:, 0]

    @property
    def current(self) -> Tensor:
        return self.tour[:, -1]


class BQTSPReducer(SampledBQReducer[TSPState]):
    """Partial tour -> path-TSP instance ``[origin, remaining (by node index), destination]``.

    Features per node: its (normalised) coordinates. Node types: 0 remaining, 1 origin,
    2 destination. One action per node: go there next (only remaining nodes are feasible).
    """

    name: ClassVar[str] = "bq"
    problem: ClassVar[str] = "tsp"
    num_features: ClassVar[int] = 2
    num_node_types: ClassVar[int] = 3
    actions_per_node: ClassVar[int] = 1

    # -- the MDP ---------------------------------------------------------------------------------

    def init_state(self, instances: Mapping[str, Tensor], first: Tensor | None = None) -> TSPState:
        coords = instances["coords"].float()
        b, n, _ = coords.shape
        if first is None:
            first = torch.zeros(b, dtype=torch.long, device=coords.device)
        visited = torch.zeros(b, n, dtype=torch.bool, device=coords.device)
        visited[torch.arange(b), first] = True
        return TSPState(coords, first[:, None], visited)

    def step(self, state: TSPState, node: Tensor, action: Tensor) -> TSPState:
        visited = state.visited.clone()
        visited[torch.arange(len(node)), node] = True
        return TSPState(state.coords, torch.cat([state.tour, node[:, None]], 1), visited)

    def done(self, state: TSPState) -> Tensor:
        return state.visited.all(dim=1)

    def solutions(self, state: TSPState) -> list[np.ndarray]:
        return list(state.tour.cpu().numpy())

    def packed(self, state: TSPState) -> Tensor:
        return state.tour.long()  # (B, N): a tour is its own packed form

    def select(self, state: TSPState, index: Tensor) -> TSPState:
        return TSPState(state.coords[index], state.tour[index], state.visited[index])

    def state_from_partial(self, instances: Mapping[str, Tensor], partial: Tensor) -> TSPState:
        """The state after the partial tour ``partial`` (B, L), rows ``[first, ..., current]``.

        ``first`` is where the tour started (the reduced path-TSP's destination), ``current`` where
        it stands (the origin); an empty (all ``-1``) row is :meth:`init_state`, standing on node 0.
        Every row must hold the same number of distinct nodes, as :meth:`reduce` assumes.

        Random re-construction uses the same call: the tour minus a segment, rotated to start right
        after the segment, is the path-TSP from the node before the segment to the node after it
        through the segment's nodes.

        :raises ValueError: rows of different lengths, ``-1`` before a node, a node out of range or
            visited twice.
        """
        coords = instances["coords"].float()
        b, n, _ = coords.shape
        s = partial.long().to(coords.device)  # (B, L)
        counts = (s >= 0).sum(dim=1)  # (B,)
        k = int(counts[0]) if b else 0
        if bool((counts != k).any()):
            raise ValueError(
                f"TSP partial tours must have the same length across the batch, got {counts.tolist()}"
            )
        if k == 0:
            return self.init_state(instances)
        tour = s[:, :k]  # (B, k)
        if bool((tour < 0).any()) or bool((tour >= n).any()):
            raise ValueError(f"TSP partial tours must be right-padded nodes of 0..{n - 1}")
        visited = torch.zeros(b, n, dtype=torch.bool, device=coords.device)
        visited.scatter_(1, tour, True)
        if bool((visited.sum(dim=1) != k).any()):
            raise ValueError("a TSP partial tour visits a node twice")
        return TSPState(coords, tour, visited)

    def equivalent_partial(
        self, instances: Mapping[str, Tensor], partial: Tensor, generator: torch.Generator
    ) -> tuple[dict[str, Tensor], Tensor]:
        """The same partial tours with their interior ``partial[:, 1:-1]`` shuffled: the endpoints
        and the visited set, all the reduced path-TSP depends on, stay (instances unchanged)."""
        s = partial.long()
        b = s.shape[0]
        k = int((s >= 0).sum(dim=1).max()) if s.numel() else 0  # one length for the batch
        out = s.clone()
        if k > 3:  # an interior of at least two nodes
            perm = shuffled(k - 2, b, generator, s.device) + 1  # (B, k-2) positions 1..k-2
            out[:, 1 : k - 1] = torch.gather(s, 1, perm)
        return dict(instances), out

    # -- reduction -------------------------------------------------------------------------------

    def reduce(self, state: TSPState, *, knn: int | None = None) -> ReducedBatch:
        b, n = state.visited.shape
        left = n - state.tour.shape[1]  # unvisited nodes, the same for the whole batch
        # unvisited node indices in increasing order: a stable sort puts False (unvisited) first
        remaining = torch.sort(state.visited.to(torch.uint8), dim=1, stable=True).indices[:, :left]
        truncated = knn is not None and left > knn
        if truncated:
            d = torch.linalg.vector_norm(
                gather_rows(state.coords, remaining)
                - state.coords[torch.arange(b), state.current][:, None],
                dim=-1,
            )  # (B, left)
            keep = torch.topk(d, knn, dim=1, largest=False).indices.sort(dim=1).values
            remaining = torch.gather(remaining, 1, keep)
        nodes = torch.cat(
            [state.current[:, None], remaining, state.first[:, None]], dim=1
        )  # (B, M)
        return self._batch(state.coords, nodes, local=truncated)

    def _batch(
        self, coords: Tensor, nodes: Tensor, target: Tensor | None = None, *, local: bool = False
    ) -> ReducedBatch:
        """The reduced batch of ``nodes`` (B, M) = ``[origin, remaining..., destination]``;
        ``local``: a kNN view, framed by the origin's neighbourhood (:attr:`local_frame`)."""
        b, m = nodes.shape
        xy = gather_rows(coords, nodes)  # (B, M, 2)
        if self.normalize:
            xy = (self.local_frame if local else self.frame).canonicalize(xy)[0]
        node_type = torch.zeros(b, m, dtype=torch.long, device=coords.device)
        node_type[:, 0], node_type[:, -1] = ORIGIN, DESTINATION
        mask = (node_type == 0)[..., None]  # (B, M, 1)
        return ReducedBatch(self._features(xy), node_type, mask, nodes, target)

    def _features(self, xy: Tensor) -> Tensor:
        """Node features from the (normalised) coordinates ``xy`` (B, M, 2) of ``[origin, ..., destination]``."""
        return xy

    # -- imitation samples -----------------------------------------------------------------------

    def trajectory(
        self, instances: Mapping[str, Tensor], solutions: Tensor
    ) -> tuple[Tensor, Tensor]:
        """The tour after node 0 (the initial state already stands on node 0), rotated to start there."""
        tours = solutions.long()
        n = tours.shape[1]
        start = (tours == 0).long().argmax(dim=1, keepdim=True)  # (B, 1)
        rest = torch.gather(tours, 1, (start + torch.arange(1, n, device=tours.device)) % n)
        return rest, torch.zeros_like(rest)

    def expand(
        self, instances: Mapping[str, Tensor], solutions: Tensor, *, generator: torch.Generator
    ) -> ReducedBatch:
        """One sample per expert tour: a random window of the (cyclic, randomly reversed) tour.

        Any window ``tour[a], tour[a+1], ..., tour[a+M-1]`` (indices mod N) of an optimal tour is an
        optimal path from ``tour[a]`` to ``tour[a+M-1]`` through the nodes between, so the reduced
        state ``[tour[a], {tour[a+1..a+M-2]}, tour[a+M-1]]`` has the target ``tour[a+1]``. ``M`` is drawn
        once per call (one size per batch, no padding) uniformly in ``[min_subproblem, N+1]``;
        ``M = N+1`` is the initial state (origin = destination). Remaining nodes are shuffled, so
        nothing but the policy's equivariance can tie the target to a position.
        """
        coords = instances["coords"].float()
        tours = solutions.long()
        b, n = tours.shape
        dev = tours.device
        if self.augment:
            coords = d4_augment(coords, generator)
        m = subproblem_size(self.min_subproblem, n + 1, self.sizes, generator)
        reverse = torch.rand(b, generator=generator) < 0.5
        tours = torch.where(reverse.to(dev)[:, None], tours.flip(1), tours)
        start = torch.randint(0, n, (b, 1), generator=generator).to(dev)
        window = torch.gather(tours, 1, (start + torch.arange(m, device=dev)) % n)  # (B, M)
        order = torch.argsort(torch.rand(b, m - 2, generator=generator), dim=1).to(dev) + 1
        middle = torch.gather(window, 1, order)  # shuffled remaining nodes
        nodes = torch.cat([window[:, :1], middle, window[:, -1:]], dim=1)
        target = torch.zeros(b, m, 1, device=dev)
        target[:, 1:-1, 0] = (order == 1).float()  # the node that came right after the origin
        return self._batch(coords, nodes, target)


class BQTSPDistanceReducer(BQTSPReducer):
    """:class:`BQTSPReducer` with each node's distances to the two ends as features:
    ``(x, y, d(origin, j), d(j, destination))`` in the normalised frame.

    The next node of an optimal path is nearly always close to the origin, and how a node sits
    between the two ends shapes the rest of the path; attention over coordinates has to learn
    these distances, features hand them over (as for CVRP and OP, where they made the difference).
    """

    name: ClassVar[str] = "bq-dist"
    num_features: ClassVar[int] = 4

    def _features(self, xy: Tensor) -> Tensor:
        d_go, d_back = end_distances(xy)  # (B, M) each: from the origin, to the end
        return torch.cat([xy, d_go[..., None], d_back[..., None]], dim=-1)  # (B, M, 4)
