"""Local search with candidate lists for the CVRP: relocate, swap, 2-opt* between routes and
2-opt within a route, over each customer's ``K`` nearest customers, within capacity.

Every move considered makes a customer ``u`` adjacent to one of its candidates ``v`` (a
*granular* neighbourhood, Toth and Vigo 2003): a pass — each active customer tried once — costs
``O(N K)`` move evaluations, the candidate lists come from a k-d tree (``O(N K)`` memory, no
``N x N`` matrix), and every move changes at most two routes, which are re-indexed in
``O(route length)``. With ``p(x)``/``n(x)`` the predecessor/successor of ``x`` on its route (the
depot ``0`` at either end), the moves and their cost changes :math:`\\Delta`:

- **relocate** ``u`` after ``v`` (or before it):
  :math:`d(p_u, n_u) - d(p_u, u) - d(u, n_u) + d(v, u) + d(u, n_v) - d(v, n_v)`;
- **swap** ``u`` and ``v`` (each takes the other's place);
- **2-opt\\*** between the routes of ``u`` and ``v``: ``u`` continues with ``v`` and the tail after
  it (the head before ``v`` with the tail after ``u``), or ``u`` continues with the head of
  ``v``'s route reversed (the two tails joined, reversed):
  :math:`d(u, v) + d(n_u, n_v) - d(u, n_u) - d(v, n_v)`;
- **2-opt** within a route: the segment between ``u`` and ``v`` reversed.

A move is taken if it shortens the solution and no route exceeds the capacity (loads from
per-route prefix sums). A customer whose moves all fail is switched off (its don't-look bit)
until a move touches it or its route neighbours; the search ends when a sweep over every
customer finds no move. Distances are rounded as TSPLIB's ``EUC_2D``
where ``euc_2d`` is set. Routes never get created (an empty route is dropped), so the giant tour
never grows.

The search is sequential and runs on the host, one instance after the other, taking and giving
packed giant tours ``(B, L)`` like every improver.
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
from symco.problems.cvrp.problem import join_routes, split_routes
from symco.problems.geometry import candidate_lists

REL_TOL = 1e-9
"""A move is taken only if it shortens the solution by more than this fraction of its cost."""


def changed_customers(old: list[list[int]], new: list[list[int]]) -> list[int]:
    """The customers of every route of ``new`` that is not a route of ``old`` (read either way):
    their neighbours or their route's load changed, so their moves may have too."""
    before = {tuple(r) for r in old} | {tuple(r[::-1]) for r in old}
    return [c for r in new if tuple(r) not in before for c in r]


class RouteSearch:
    """The local search of one CVRP solution: routes, positions, loads, don't-look bits."""

    def __init__(
        self,
        xy: np.ndarray,
        demands: np.ndarray,
        capacity: float,
        euc_2d: bool,
        routes: list[list[int]],
        neighbours: int,
        candidates: list[list[int]] | None = None,
        active: list[int] | None = None,
    ) -> None:
        """:param xy: ``(N+1, 2)`` depot first. :param routes: customers ``1..N`` per route.
        :param candidates: each customer's candidate customers, if already built (index 0 unused).
        :param active: the customers to try first (default: all); the others start asleep."""
        n1 = len(xy)
        self.euc, self.cap = euc_2d, float(capacity)
        self.x, self.y = xy[:, 0].tolist(), xy[:, 1].tolist()  # Python floats: fast scalar math
        self.q = np.asarray(demands, dtype=np.float64).tolist()
        if candidates is None:  # customers' nearest customers (the depot is every route's end)
            near = candidate_lists(xy[1:], neighbours) if n1 > 2 else [[] for _ in range(n1 - 1)]
            candidates = [[], *([c + 1 for c in row] for row in near)]
        self.nb = candidates
        self.routes = [list(map(int, r)) for r in routes]
        self.route_of = [-1] * n1
        self.pos = [0] * n1
        self.touched: set[int] = set()  # routes re-indexed since the last ruin
        self.reindex()
        self.queue = deque(c for r in self.routes for c in r) if active is None else deque(active)
        self.queued = [False] * n1
        for c in self.queue:
            self.queued[c] = True
        self.dirty = False  # moves made since every customer was last woken
        self.cost = self.total()

    # -- bookkeeping -----------------------------------------------------------------------------

    def dist(self, a: int, b: int) -> float:
        d = math.hypot(self.x[a] - self.x[b], self.y[a] - self.y[b])
        return math.floor(d + 0.5) if self.euc else d

    def total(self) -> float:
        return sum(self.length(r) for r in self.routes)

    def reindex(self) -> None:
        """Positions, route ids and loads of every route (after :attr:`routes` was replaced)."""
        self.prefix: list[list[float]] = [[] for _ in self.routes]  # load up to and with each
        self.load = [0.0] * len(self.routes)
        for r in range(len(self.routes)):
            self.index(r)

    def index(self, r: int) -> None:
        """Positions, route ids and load prefix sums of route ``r`` after it changed."""
        acc, prefix = 0.0, []
        for i, c in enumerate(self.routes[r]):
            self.route_of[c], self.pos[c] = r, i
            acc += self.q[c]
            prefix.append(acc)
        self.prefix[r], self.load[r] = prefix, acc
        self.touched.add(r)

    def route_cost(self, r: int) -> float:
        return self.length(self.routes[r])

    def length(self, route: list[int]) -> float:
        """Length of one route, depot to depot."""
        if not route:
            return 0.0
        inner = sum(self.dist(route[i], route[i + 1]) for i in range(len(route) - 1))
        return self.dist(0, route[0]) + inner + self.dist(route[-1], 0)

    # -- ruin and recreate -----------------------------------------------------------------------

    def ruin_recreate(self, rng: np.random.Generator, most: int) -> bool:
        """One perturbation, kept only if it pays: remove a random customer and up to
        ``most - 1`` of its candidates, re-insert each (random order) where it costs least next
        to one of its routed candidates (a new route where none fits), then run the local search
        on the customers this woke. Undone unless the solution got shorter."""
        self.touched = set()
        snap = [list(r) for r in self.routes]
        nroutes = len(self.routes)
        seed = int(rng.integers(1, len(self.q)))
        size = int(rng.integers(1, most + 1))
        removed = [seed, *self.nb[seed][: size - 1]]
        before = sorted({self.route_of[c] for c in removed})
        old = sum(self.route_cost(r) for r in before)
        gone = set(removed)
        for r in before:
            self.routes[r] = [c for c in self.routes[r] if c not in gone]
            self.index(r)
        for c in rng.permutation(removed).tolist():
            self._insert(c, gone)
            gone.discard(c)
        for c in removed:  # the re-inserted customers and their new route neighbours
            self.wake(c, self.pred(c), self.succ(c))
        while self.queue:
            u = self.queue.popleft()
            self.queued[u] = False
            while self.improve_node(u):
                pass
        touched = sorted(self.touched)
        new = sum(self.route_cost(r) for r in touched)
        old += sum(self.length(snap[r]) for r in touched if r < nroutes and r not in before)
        if new < old - REL_TOL * self.cost:
            self.cost += new - old
            return True
        del self.routes[nroutes:], self.prefix[nroutes:], self.load[nroutes:]
        for r in touched:
            if r < nroutes:
                self.routes[r] = snap[r]
                self.index(r)
        return False

    def _insert(self, c: int, unrouted: set[int]) -> None:
        """Put ``c`` where it costs least next to a routed candidate within capacity, else on a
        route of its own."""
        best, where = 2.0 * self.dist(0, c), None
        qc = self.q[c]
        for v in self.nb[c]:
            if v in unrouted:
                continue
            r = self.route_of[v]
            if self.load[r] + qc > self.cap:
                continue
            pv, nv = self.pred(v), self.succ(v)
            after = self.dist(v, c) + self.dist(c, nv) - self.dist(v, nv)
            if after < best:
                best, where = after, (r, self.pos[v] + 1)
            ahead = self.dist(pv, c) + self.dist(c, v) - self.dist(pv, v)
            if ahead < best:
                best, where = ahead, (r, self.pos[v])
        if where is None:
            self.routes.append([c])
            self.prefix.append([])
            self.load.append(0.0)
            self.index(len(self.routes) - 1)
        else:
            self.routes[where[0]].insert(where[1], c)
            self.index(where[0])

    def pred(self, u: int) -> int:
        i = self.pos[u]
        return self.routes[self.route_of[u]][i - 1] if i else 0

    def succ(self, u: int) -> int:
        route = self.routes[self.route_of[u]]
        i = self.pos[u] + 1
        return route[i] if i < len(route) else 0

    def head(self, u: int) -> float:
        """Load of ``u``'s route up to and with ``u`` (0 for the depot)."""
        return self.prefix[self.route_of[u]][self.pos[u]] if u else 0.0

    def tail(self, u: int) -> float:
        """Load of ``u``'s route from ``u`` on (0 for the depot)."""
        if not u:
            return 0.0
        r = self.route_of[u]
        return self.load[r] - self.prefix[r][self.pos[u]] + self.q[u]

    def wake(self, *nodes: int) -> None:
        for v in nodes:
            if v and not self.queued[v]:
                self.queued[v] = True
                self.queue.append(v)

    def solution(self) -> list[list[int]]:
        return [r for r in self.routes if r]

    # -- moves -----------------------------------------------------------------------------------

    def improve_node(self, u: int) -> bool:
        """The first improving move that makes ``u`` adjacent to one of its candidates."""
        eps = REL_TOL * self.cost
        ru, pu, nu = self.route_of[u], self.pred(u), self.succ(u)
        d_pu, d_nu = self.dist(pu, u), self.dist(u, nu)
        gain_out = d_pu + d_nu - self.dist(pu, nu)  # what taking u out saves
        qu = self.q[u]
        for v in self.nb[u]:
            rv, pv, nv = self.route_of[v], self.pred(v), self.succ(v)
            d_uv = self.dist(u, v)
            same = ru == rv
            fits = same or self.load[rv] + qu <= self.cap
            # relocate u after v, then before v
            if (
                fits and nv != u and v != pu
                and d_uv + self.dist(u, nv) - self.dist(v, nv) - gain_out < -eps
            ):  # fmt: skip
                return self._relocate(u, v, after=True)
            if (
                fits and pv != u and v != nu
                and self.dist(pv, u) + d_uv - self.dist(pv, v) - gain_out < -eps
            ):  # fmt: skip
                return self._relocate(u, v, after=False)
            # swap u and v (not adjacent: relocate covers those)
            if v != pu and v != nu:
                qv = self.q[v]
                if same or (
                    self.load[ru] - qu + qv <= self.cap and self.load[rv] - qv + qu <= self.cap
                ):
                    delta = (
                        self.dist(pu, v) + self.dist(v, nu) - d_pu - d_nu
                        + self.dist(pv, u) + self.dist(u, nv) - self.dist(pv, v) - self.dist(v, nv)
                    )  # fmt: skip
                    if delta < -eps:
                        return self._swap(u, v)
            if same:
                if self._two_opt(u, v, eps):
                    return True
                continue
            # 2-opt*: u -> v and v's tail; v's head -> u's tail
            if (
                self.head(u) + self.tail(v) <= self.cap
                and self.head(pv) + self.tail(nu) <= self.cap
            ):
                delta = d_uv + self.dist(pv, nu) - d_nu - self.dist(pv, v)
                if delta < -eps:
                    return self._swap_tails(u, v, reverse=False)
            # 2-opt* reversed: u -> v -> v's head (reversed); the two tails joined
            if (
                self.head(u) + self.head(v) <= self.cap
                and self.tail(nu) + self.tail(nv) <= self.cap
            ):
                delta = d_uv + self.dist(nu, nv) - d_nu - self.dist(v, nv)
                if delta < -eps:
                    return self._swap_tails(u, v, reverse=True)
        return False

    def _relocate(self, u: int, v: int, *, after: bool) -> bool:
        ru, pu, nu = self.route_of[u], self.pred(u), self.succ(u)
        self.routes[ru].pop(self.pos[u])
        self.index(ru)
        rv = self.route_of[v]
        other = self.succ(v) if after else self.pred(v)
        self.routes[rv].insert(self.pos[v] + (1 if after else 0), u)
        self.index(rv)
        self.wake(u, pu, nu, v, other)
        return True

    def _swap(self, u: int, v: int) -> bool:
        ru, rv = self.route_of[u], self.route_of[v]
        near = (self.pred(u), self.succ(u), self.pred(v), self.succ(v))
        self.routes[ru][self.pos[u]], self.routes[rv][self.pos[v]] = v, u
        self.index(ru)
        if rv != ru:
            self.index(rv)
        self.wake(u, v, *near)
        return True

    def _two_opt(self, u: int, v: int, eps: float) -> bool:
        """Within one route, ``a`` before ``b`` (``u``, ``v`` in route order): reverse the
        segment after ``a`` through ``b`` (new edges ``(a, b)``, ``(n_a, n_b)``), or from ``a``
        through the node before ``b`` (new edges ``(p_a, p_b)``, ``(a, b)``)."""
        a, b = (u, v) if self.pos[u] < self.pos[v] else (v, u)
        r, i, j = self.route_of[a], self.pos[a], self.pos[b]
        route = self.routes[r]
        na, nb, pa, pb = self.succ(a), self.succ(b), self.pred(a), self.pred(b)
        d_ab = self.dist(a, b)
        if na != b and d_ab + self.dist(na, nb) - self.dist(a, na) - self.dist(b, nb) < -eps:
            route[i + 1 : j + 1] = route[i + 1 : j + 1][::-1]
        elif pb != a and self.dist(pa, pb) + d_ab - self.dist(pa, a) - self.dist(pb, b) < -eps:
            route[i:j] = route[i:j][::-1]
        else:
            return False
        self.index(r)
        self.wake(a, b, na, nb, pa, pb)
        return True

    def _swap_tails(self, u: int, v: int, *, reverse: bool) -> bool:
        ru, rv = self.route_of[u], self.route_of[v]
        iu, iv = self.pos[u], self.pos[v]
        a, b = self.routes[ru], self.routes[rv]
        near = (self.succ(u), self.pred(v), self.succ(v))
        if reverse:  # 0..u v..0 (v's head reversed) and 0..(u's tail reversed) (v's tail)..0
            self.routes[ru] = a[: iu + 1] + b[: iv + 1][::-1]
            self.routes[rv] = a[iu + 1 :][::-1] + b[iv + 1 :]
        else:  # 0..u v..0 and 0..p(v) n(u)..0
            self.routes[ru] = a[: iu + 1] + b[iv:]
            self.routes[rv] = b[:iv] + a[iu + 1 :]
        self.index(ru)
        self.index(rv)
        self.wake(u, v, *near)
        return True

    # -- passes ----------------------------------------------------------------------------------

    def improve_pass(self) -> None:
        """Try every customer that was active when the pass began (and any woken meanwhile, up
        to ``N`` tries). When the queue runs dry after moves were made, every customer wakes
        once more: a move changes route loads, which can make a sleeping customer's move fit, so
        the search ends only after a sweep over all customers finds nothing. The pass is undone
        if the solution came out longer (a move's rounded delta can differ from the objective's
        by an ulp)."""
        before, cost = [list(r) for r in self.routes], self.total()
        for _ in range(len(self.q) - 1):
            if not self.queue:
                if not self.dirty:
                    break
                self.dirty = False
                self.wake(*(c for r in self.routes for c in r))
            u = self.queue.popleft()
            self.queued[u] = False
            while self.improve_node(u):
                self.dirty = True  # keep improving around u; the move woke its neighbours
        self.cost = self.total()
        if self.cost > cost:
            self.routes, self.cost = before, cost
            self.reindex()

    @property
    def converged(self) -> bool:
        """Whether a sweep over every customer found no move."""
        return not self.queue and not self.dirty


@dataclass(frozen=True)
class RouteSearchState:
    """``searches``: one :class:`RouteSearch` per instance (host-side, updated in place);
    ``cost`` (B,) float64, by the problem's objective."""

    instances: Mapping[str, Tensor]
    searches: tuple[RouteSearch, ...]
    cost: Tensor


class RouteLocalSearch(Improver[RouteSearchState]):
    """Relocate, swap, 2-opt* and 2-opt with candidate lists and don't-look bits (see the module
    docstring); one step is one pass per solution. Converged when every customer sleeps: a local
    optimum of the four neighbourhoods restricted to the candidate lists."""

    name: ClassVar[str] = "ls"
    problem: ClassVar[str] = "cvrp"
    local_search: ClassVar[bool] = True

    def __init__(
        self,
        problem: Problem,
        policy: Policy | None = None,
        reducer: SymmetryReducer[Any] | None = None,
        *,
        knn: int | None = None,
        neighbours: int = 15,
    ) -> None:
        """:param neighbours: candidate-list size ``K`` (granular search: 10-20 suffice)."""
        super().__init__(problem, policy, reducer, knn=knn)
        if neighbours < 1:
            raise ValueError(f"need neighbours >= 1, got {neighbours}")
        self.neighbours = neighbours

    def start(self, instances: Mapping[str, Tensor], solutions: Tensor) -> RouteSearchState:
        return self._searches(instances, solutions, None)

    def restart(
        self, state: RouteSearchState, instances: Mapping[str, Tensor], solutions: Tensor
    ) -> RouteSearchState:
        """Other solutions of the same instances: the candidate lists are kept, and only the
        customers of routes that changed wake."""
        return self._searches(instances, solutions, state.searches)

    def _searches(
        self,
        instances: Mapping[str, Tensor],
        solutions: Tensor,
        previous: tuple[RouteSearch, ...] | None,
    ) -> RouteSearchState:
        xy = instances["coords"].double().cpu().numpy()  # (B, N+1, 2)
        demands = instances["demands"].double().cpu().numpy()  # (B, N+1)
        cap = instances["capacity"].double().cpu().numpy()  # (B,)
        euc = instances.get("euc_2d")
        rounded = np.zeros(len(xy), bool) if euc is None else euc.bool().cpu().numpy()
        packed = solutions.long().cpu().numpy()
        searches = []
        for i in range(len(xy)):
            routes = [r.tolist() for r in split_routes(packed[i])]
            old = None if previous is None else previous[i]
            searches.append(
                RouteSearch(
                    xy[i], demands[i], float(cap[i]), bool(rounded[i]), routes, self.neighbours,
                    None if old is None else old.nb,
                    None if old is None else changed_customers(old.solution(), routes),
                )
            )  # fmt: skip
        return self._state(in_float64(instances), tuple(searches))

    def _state(
        self, instances: Mapping[str, Tensor], searches: tuple[RouteSearch, ...]
    ) -> RouteSearchState:
        # in_float64 returns float64 arrays as they are: after start() this copies nothing
        cost = self.prob.objective_torch(in_float64(instances), self._packed(searches))
        return RouteSearchState(instances, searches, cost.cpu().double())

    def _packed(self, searches: tuple[RouteSearch, ...]) -> Tensor:
        return torch.as_tensor(
            self.prob.pack_solutions([join_routes(s.solution()) for s in searches])
        )

    def step(self, state: RouteSearchState, generator: torch.Generator) -> RouteSearchState:
        for s in state.searches:
            s.improve_pass()
        return self._state(state.instances, state.searches)

    def costs(self, state: RouteSearchState) -> Tensor:
        return state.cost

    def solutions(self, state: RouteSearchState) -> Tensor:
        return self._packed(state.searches).to(state.instances["coords"].device)

    def converged(self, state: RouteSearchState) -> bool:
        return all(s.converged for s in state.searches)


class RuinRecreate(RouteLocalSearch):
    """Ruin and recreate around the local search (Schrimpf et al. 2000; Christiaens and Vanden
    Berghe's SISR 2020 in spirit): one step brings each solution to a local optimum of
    :class:`RouteLocalSearch`, then runs ``iterations`` perturbations — remove a random customer
    and up to ``most - 1`` of its nearest customers, re-insert each where it costs least, local
    search on what that woke — each kept only if the solution got shorter. Every iteration
    touches ``O(most K)`` customers, so a step costs the same at 1,000 and 100,000 customers.
    Randomized: it needs a step or time limit."""

    name: ClassVar[str] = "rr"
    local_search: ClassVar[bool] = False

    def __init__(
        self,
        problem: Problem,
        policy: Policy | None = None,
        reducer: SymmetryReducer[Any] | None = None,
        *,
        knn: int | None = None,
        neighbours: int = 15,
        most: int = 16,
        iterations: int = 100,
    ) -> None:
        """:param most: most customers one ruin removes (at most ``neighbours + 1``).
        :param iterations: perturbations per solution per step."""
        super().__init__(problem, policy, reducer, knn=knn, neighbours=neighbours)
        if not 1 <= most <= neighbours + 1 or iterations < 1:
            raise ValueError(
                f"need 1 <= most <= neighbours + 1 and iterations >= 1, got {most}, {iterations}"
            )
        self.most, self.iterations = most, iterations

    def step(self, state: RouteSearchState, generator: torch.Generator) -> RouteSearchState:
        for s in state.searches:
            rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=generator)))
            while not s.converged:
                s.improve_pass()
            if len(s.q) > 2:  # a ruin needs a customer with a candidate
                for _ in range(self.iterations):
                    s.ruin_recreate(rng, self.most)
        return self._state(state.instances, state.searches)

    def converged(self, state: RouteSearchState) -> bool:
        return False
