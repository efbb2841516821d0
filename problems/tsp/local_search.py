"""Local search with candidate lists for the TSP: 2-opt and Or-opt over each node's ``K``
nearest neighbours, with don't-look bits.

The batched :class:`~symco.problems.tsp.improvers.TwoOpt` holds a ``(B, N, N)`` tensor; this
search never builds one. Each node's neighbours come from a k-d tree (scipy's ``cKDTree``), so
memory is ``O(N K)`` and a pass — every active node tried once — costs ``O(N K)`` move
evaluations (plus the segment reversals of the moves it makes). A node whose moves all fail is
switched off (its don't-look bit) until a move touches one of its tour neighbours.

For a node ``a`` and its successor ``b`` (then, mirrored, its predecessor), a neighbour ``c``
with :math:`d(a, c) < d(a, b)` gives the 2-opt move replacing ``(a, b), (c, d)`` by
``(a, c), (b, d)`` where ``d`` follows ``c``:

.. math::
    \\Delta = d(a, c) + d(b, d) - d(a, b) - d(c, d).

Neighbours are sorted by distance, so the scan stops at the first ``c`` with
:math:`d(a, c) \\ge d(a, b)`: every improving 2-opt move has one endpoint whose new edge is
shorter than the edge it loses, which makes the search with ``K = N - 1`` a full 2-opt. Or-opt
moves a chain of 1 to ``max_chain`` nodes starting at ``a`` next to a neighbour ``c`` of ``a``,
in either direction. Distances are rounded as TSPLIB's ``EUC_2D`` where ``euc_2d`` is set.

The search is sequential, so it runs on the host, one instance after the other: its state keeps
NumPy arrays per instance, and takes and gives packed ``(B, N)`` tensors like every improver.
Johnson and McGeoch, "The traveling salesman problem: a case study in local optimization" (1997).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from symco.core.decoding import in_float64
from symco.core.improver import Improver
from symco.core.policy import Policy
from symco.core.problem import Problem
from symco.core.reducer import SymmetryReducer
from symco.problems.geometry import candidate_lists

REL_TOL = 1e-9
"""A move is taken only if it shortens the tour by more than this fraction of its length."""


def changed_nodes(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Nodes whose pair of tour neighbours differs between the cyclic tours ``old`` and ``new``
    (the direction of travel does not matter)."""

    def sides(tour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nxt, prv = np.empty_like(tour), np.empty_like(tour)
        nxt[tour], prv[tour] = np.roll(tour, -1), np.roll(tour, 1)
        return np.minimum(nxt, prv), np.maximum(nxt, prv)

    (a, b), (c, d) = sides(np.asarray(old)), sides(np.asarray(new))
    return np.flatnonzero((a != c) | (b != d))


class TourSearch:
    """The local search of one tour: positions, candidate lists, don't-look bits."""

    def __init__(
        self,
        xy: np.ndarray,
        euc_2d: bool,
        tour: np.ndarray,
        neighbours: int,
        candidates: list[list[int]] | None = None,
        active: np.ndarray | None = None,
    ) -> None:
        """:param candidates: the candidate lists of the same points, if already built.
        :param active: the nodes to try first (default: all); the others start asleep."""
        n = len(tour)
        self.n, self.euc = n, euc_2d
        self.x, self.y = xy[:, 0].tolist(), xy[:, 1].tolist()  # Python floats: fast scalar math
        self.nb = candidate_lists(xy, neighbours) if candidates is None else candidates
        self.tour = np.asarray(tour, dtype=np.int64).copy()
        self.pos = np.empty(n, dtype=np.int64)
        self.pos[self.tour] = np.arange(n)
        start = np.arange(n) if active is None else np.asarray(active, dtype=np.int64)
        self.queue = deque(start.tolist()) if n >= 5 else deque()
        self.queued = np.zeros(n, dtype=bool)
        self.queued[list(self.queue)] = True
        self.length = self.tour_length()

    def dist(self, a: int, b: int) -> float:
        d = math.hypot(self.x[a] - self.x[b], self.y[a] - self.y[b])
        return math.floor(d + 0.5) if self.euc else d

    def tour_length(self) -> float:
        t = self.tour.tolist()
        return sum(self.dist(t[i - 1], t[i]) for i in range(self.n))

    def succ(self, a: int) -> int:
        return int(self.tour[(self.pos[a] + 1) % self.n])

    def pred(self, a: int) -> int:
        return int(self.tour[self.pos[a] - 1])

    def wake(self, *nodes: int) -> None:
        for v in nodes:
            if not self.queued[v]:
                self.queued[v] = True
                self.queue.append(v)

    def reverse(self, i: int, j: int) -> None:
        """Reverse the tour from position ``i`` forward to position ``j`` (cyclic), or the rest
        of the tour where that is shorter (the same cyclic tour, read the other way)."""
        n = self.n
        length = (j - i) % n + 1
        if 2 * length > n:
            i, j, length = (j + 1) % n, (i - 1) % n, n - length
        idx = (i + np.arange(length)) % n
        self.tour[idx] = self.tour[idx[::-1]]
        self.pos[self.tour[idx]] = idx

    def two_opt(self, a: int) -> bool:
        """The first improving 2-opt move at ``a`` (successor side, then predecessor side)."""
        eps = REL_TOL * self.length
        for forward in (True, False):
            b = self.succ(a) if forward else self.pred(a)
            d_ab = self.dist(a, b)
            for c in self.nb[a]:
                d_ac = self.dist(a, c)
                if d_ac >= d_ab:
                    break
                d = self.succ(c) if forward else self.pred(c)
                if c == b or d == a:
                    continue
                delta = d_ac + self.dist(b, d) - d_ab - self.dist(c, d)
                if delta < -eps:
                    pa, pc = int(self.pos[a]), int(self.pos[c])
                    if forward:  # a b ... c d  ->  a c ... b d
                        self.reverse((pa + 1) % self.n, pc)
                    else:  # d c ... b a  ->  d b ... c a
                        self.reverse(pc, (pa - 1) % self.n)
                    self.length += delta
                    self.wake(a, b, c, d)
                    return True
        return False

    def or_opt(self, a: int, max_chain: int) -> bool:
        """The first improving move of a chain ``a ..`` (1 to ``max_chain`` nodes) next to a
        neighbour ``c`` of ``a``: ``c, a..e, c+`` or ``c-, e..a, c``."""
        n, eps = self.n, REL_TOL * self.length
        pa = int(self.pos[a])
        for m in range(1, min(max_chain, n - 3) + 1):
            chain = [int(self.tour[(pa + i) % n]) for i in range(m)]
            e, p = chain[-1], self.pred(a)
            nx = int(self.tour[(pa + m) % n])
            removed = self.dist(p, a) + self.dist(e, nx) - self.dist(p, nx)
            inside = set(chain)
            for c in self.nb[a]:
                if c in inside:
                    continue
                for before in (True, False):  # c then the chain, or the chain (reversed) then c
                    other = self.succ(c) if before else self.pred(c)
                    if other in inside or {c, other} == {p, nx}:
                        continue
                    added = self.dist(c, a) + self.dist(e, other) - self.dist(c, other)
                    delta = added - removed
                    if delta < -eps:
                        self.move_chain(chain, c, before)
                        self.length += delta
                        self.wake(p, nx, a, e, c, other)
                        return True
        return False

    def move_chain(self, chain: list[int], c: int, before: bool) -> None:
        """Take ``chain`` out and put it after ``c`` (``before``: ``c, a..e``) or before it
        reversed (``e..a, c``)."""
        rest = [v for v in self.tour.tolist() if v not in set(chain)]
        at = rest.index(c)
        piece = chain if before else chain[::-1]
        new = rest[: at + 1] + piece + rest[at + 1 :] if before else rest[:at] + piece + rest[at:]
        self.tour = np.asarray(new, dtype=np.int64)
        self.pos[self.tour] = np.arange(self.n)

    def improve_pass(self, max_chain: int) -> None:
        """Try every node that was active when the pass began (and any woken meanwhile, up to
        ``N`` tries): a node whose moves all fail goes to sleep. The pass is undone if the tour
        came out longer (a move's rounded delta can differ from the objective's by an ulp)."""
        before, length = self.tour.copy(), self.tour_length()
        self._pass(max_chain)
        self.length = self.tour_length()
        if self.length > length:
            self.tour, self.length = before, length
            self.pos[self.tour] = np.arange(self.n)

    def _pass(self, max_chain: int) -> None:
        for _ in range(self.n):
            if not self.queue:
                return
            a = self.queue.popleft()
            self.queued[a] = False
            while self.two_opt(a) or (max_chain > 0 and self.or_opt(a, max_chain)):
                pass  # keep improving around a; the moves woke its neighbours


@dataclass(frozen=True)
class SearchState:
    """``searches``: one :class:`TourSearch` per instance (host-side, updated in place);
    ``cost`` (B,) float64, the tours' lengths by the problem's objective."""

    instances: Mapping[str, Tensor]
    searches: tuple[TourSearch, ...]
    cost: Tensor


class NeighbourLocalSearch(Improver[SearchState]):
    """2-opt and Or-opt with candidate lists and don't-look bits (see the module docstring); one
    step is one pass per tour. Converged when every node sleeps: a local optimum of both
    neighbourhoods restricted to the candidate lists."""

    name: ClassVar[str] = "ls"
    problem: ClassVar[str] = "tsp"
    local_search: ClassVar[bool] = True

    def __init__(
        self,
        problem: Problem,
        policy: Policy | None = None,
        reducer: SymmetryReducer[Any] | None = None,
        *,
        knn: int | None = None,
        neighbours: int = 10,
        max_chain: int = 3,
    ) -> None:
        """:param neighbours: candidate-list size ``K`` (Johnson and McGeoch: 8-20 suffice).
        :param max_chain: longest chain Or-opt moves (0: 2-opt only)."""
        super().__init__(problem, policy, reducer, knn=knn)
        if neighbours < 1 or max_chain < 0:
            raise ValueError(
                f"need neighbours >= 1 and max_chain >= 0, got {neighbours}, {max_chain}"
            )
        self.neighbours, self.max_chain = neighbours, max_chain

    def start(self, instances: Mapping[str, Tensor], solutions: Tensor) -> SearchState:
        xy = instances["coords"].double().cpu().numpy()  # (B, N, 2)
        euc = instances.get("euc_2d")
        rounded = np.zeros(len(xy), bool) if euc is None else euc.bool().cpu().numpy()
        tours = solutions.long().cpu().numpy()
        searches = tuple(
            TourSearch(xy[i], bool(rounded[i]), tours[i], self.neighbours) for i in range(len(xy))
        )
        return self._state(in_float64(instances), searches)

    def restart(
        self, state: SearchState, instances: Mapping[str, Tensor], solutions: Tensor
    ) -> SearchState:
        """Other tours of the same instances: the candidate lists are kept, and only the nodes
        whose tour neighbours changed wake (after a re-construction of one segment, a few
        hundred of 10,000: the pass costs what changed, not ``N``)."""
        tours = solutions.long().cpu().numpy()
        searches = tuple(
            TourSearch(
                np.stack([s.x, s.y], axis=1),
                s.euc,
                tours[i],
                self.neighbours,
                s.nb,
                active=changed_nodes(s.tour, tours[i]),
            )
            for i, s in enumerate(state.searches)
        )
        return self._state(instances, searches)

    def _state(
        self, instances: Mapping[str, Tensor], searches: tuple[TourSearch, ...]
    ) -> SearchState:
        # in_float64 returns float64 arrays as they are: after start() this copies nothing
        cost = self.prob.objective_torch(
            in_float64(instances), torch.as_tensor(np.stack([s.tour for s in searches]))
        )
        return SearchState(instances, searches, cost.cpu().double())

    def step(self, state: SearchState, generator: torch.Generator) -> SearchState:
        for s in state.searches:
            s.improve_pass(self.max_chain)
        return self._state(state.instances, state.searches)

    def costs(self, state: SearchState) -> Tensor:
        return state.cost

    def solutions(self, state: SearchState) -> Tensor:
        device = state.instances["coords"].device
        return torch.as_tensor(np.stack([s.tour for s in state.searches])).to(device)

    def converged(self, state: SearchState) -> bool:
        return not any(s.queue for s in state.searches)
