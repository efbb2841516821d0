"""The CVRP candidate-list local search (``--improve ls``) against brute force on small instances:
with every customer a candidate, its local optimum admits no improving relocate, swap, 2-opt*
or 2-opt move within capacity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from symco.problems.cvrp.local_search import RouteLocalSearch
from symco.problems.cvrp.problem import CVRP, join_routes, split_routes

TOL = 1e-7


def _cost(xy: np.ndarray, routes: list[list[int]], euc: bool = False) -> float:
    total = 0.0
    for r in routes:
        if r:
            p = xy[[0, *r, 0]]
            d = np.linalg.norm(p[1:] - p[:-1], axis=1)
            total += float((np.floor(d + 0.5) if euc else d).sum())
    return total


def _neighbours(routes: list[list[int]]) -> list[list[list[int]]]:
    """Every solution one relocate, swap, 2-opt* (both ways) or 2-opt move away."""
    out = []
    nr = len(routes)
    for a in range(nr):
        ra = routes[a]
        for i in range(len(ra)):  # relocate ra[i] anywhere
            rest = [list(r) for r in routes]
            u = rest[a].pop(i)
            for b in range(nr):
                for j in range(len(rest[b]) + 1):
                    new = [list(r) for r in rest]
                    new[b].insert(j, u)
                    out.append(new)
        for i in range(len(ra)):  # 2-opt within the route
            for j in range(i + 1, len(ra)):
                new = [list(r) for r in routes]
                new[a][i : j + 1] = new[a][i : j + 1][::-1]
                out.append(new)
        for b in range(nr):
            rb = routes[b]
            for i in range(len(ra)):
                for j in range(len(rb)):
                    if (a, i) < (b, j):  # swap
                        new = [list(r) for r in routes]
                        new[a][i], new[b][j] = rb[j], ra[i]
                        out.append(new)
                    if a != b:  # 2-opt*: cut after ra[i] and before rb[j], or reversed heads
                        new = [list(r) for r in routes]
                        new[a], new[b] = ra[: i + 1] + rb[j:], rb[:j] + ra[i + 1 :]
                        out.append(new)
                        new = [list(r) for r in routes]
                        new[a] = ra[: i + 1] + rb[: j + 1][::-1]
                        new[b] = ra[i + 1 :][::-1] + rb[j + 1 :]
                        out.append(new)
    return out


def _fits(routes: list[list[int]], demands: np.ndarray, cap: float) -> bool:
    return all(demands[r].sum() <= cap for r in routes)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(3, 9), euc=st.booleans())
def test_full_candidate_lists_reach_a_local_optimum(seed: int, n: int, euc: bool) -> None:
    problem = CVRP()
    rng = np.random.default_rng(seed)
    inst = problem.generate(1, n, rng=rng)
    inst["capacity"] = np.array([max(int(inst["demands"].max()), 12)])
    if euc:
        inst["coords"] = np.round(inst["coords"] * 50)
        inst["euc_2d"] = np.array([True])
    demands, cap = inst["demands"][0], float(inst["capacity"][0])
    # a feasible start: customers in random order, a new route whenever the vehicle is full
    routes: list[list[int]] = [[]]
    for c in rng.permutation(np.arange(1, n + 1)).tolist():
        if demands[routes[-1]].sum() + demands[c] > cap:
            routes.append([])
        routes[-1].append(c)
    tensors = {k: torch.as_tensor(v) for k, v in inst.items()}
    start = torch.as_tensor(join_routes(routes))[None]
    res = RouteLocalSearch(problem, neighbours=n - 1).improve(
        tensors, start, generator=torch.Generator()
    )
    assert bool(problem.feasible_torch(tensors, res.solutions)[0])
    got = [r.tolist() for r in split_routes(res.solutions[0].numpy())]
    xy = inst["coords"][0]
    cost = _cost(xy, got, euc)
    assert res.costs[0] == pytest.approx(cost) and cost <= res.start_costs[0] + TOL
    for other in _neighbours(got):
        if _fits(other, demands, cap):
            assert _cost(xy, other, euc) >= cost - TOL * max(cost, 1.0), (got, other)


def test_two_opt_star_uncrosses_two_routes() -> None:
    """Two routes that cross: depot in the middle, customers on two lines, each route taking the
    near half of one line and the far half of the other; swapping tails uncrosses them."""
    xy = np.array([[0, 0], [1, 1], [2, 2], [1, -1], [2, -2]], dtype=float)
    inst = {"coords": xy[None], "demands": np.array([[0, 1, 1, 1, 1]]), "capacity": np.array([2])}
    tensors = {k: torch.as_tensor(v) for k, v in inst.items()}
    start = torch.as_tensor(join_routes([[1, 4], [3, 2]]))[None]
    res = RouteLocalSearch(CVRP(), neighbours=4).improve(
        tensors, start, generator=torch.Generator()
    )
    assert sorted(sorted(r.tolist()) for r in split_routes(res.solutions[0].numpy())) == [
        [1, 2],
        [3, 4],
    ]
    assert res.costs[0] == pytest.approx(8 * np.sqrt(2))  # two out-and-back legs per line


def test_capacity_is_never_exceeded() -> None:
    """Relocating every customer into one route would save distance but breaks capacity."""
    xy = np.array([[0, 0], [1, 0], [1.1, 0], [1.2, 0]], dtype=float)
    inst = {"coords": xy[None], "demands": np.array([[0, 2, 2, 2]]), "capacity": np.array([4])}
    tensors = {k: torch.as_tensor(v) for k, v in inst.items()}
    start = torch.as_tensor(join_routes([[1], [2], [3]]))[None]
    res = RouteLocalSearch(CVRP()).improve(tensors, start, generator=torch.Generator())
    routes = split_routes(res.solutions[0].numpy())
    assert len(routes) == 2 and bool(CVRP().feasible_torch(tensors, res.solutions)[0])


def test_restart_keeps_the_candidate_lists_and_batches_pad() -> None:
    problem = CVRP()
    inst = problem.generate(2, 30, rng=np.random.default_rng(1))
    tensors = {k: torch.as_tensor(v) for k, v in inst.items()}
    one = [join_routes([[c] for c in range(1, 31)]), join_routes([[c] for c in range(30, 0, -1)])]
    width = max(len(t) for t in one)
    start = torch.full((2, width), -1, dtype=torch.long)
    for i, t in enumerate(one):
        start[i, : len(t)] = torch.as_tensor(t)
    ls = RouteLocalSearch(problem)
    state = ls.start(tensors, start)
    state = ls.step(state, torch.Generator())
    assert ls.solutions(state).shape[1] < width  # routes merged: the giant tours shrink
    again = ls.restart(state, tensors, ls.solutions(state))
    assert all(a.nb is b.nb for a, b in zip(state.searches, again.searches))
    assert bool(problem.feasible_torch(tensors, ls.solutions(again)).all())
    np.testing.assert_allclose(
        ls.costs(again).numpy(), problem.objective(inst, ls.solutions(again).numpy())
    )
