"""The candidate-list local search (``--improve ls``) against brute force on small tours."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from symco.problems.geometry import candidate_lists
from symco.problems.tsp.local_search import NeighbourLocalSearch
from symco.problems.tsp.problem import TSP


def _length(xy: np.ndarray, tour: list[int], euc: bool = False) -> float:
    d = np.linalg.norm(xy[tour] - xy[np.roll(tour, -1)], axis=1)
    return float((np.floor(d + 0.5) if euc else d).sum())


def _is_two_opt_optimal(xy: np.ndarray, tour: list[int], euc: bool = False) -> bool:
    base = _length(xy, tour, euc)
    for i, j in itertools.combinations(range(len(tour)), 2):
        t = list(tour)
        t[i : j + 1] = t[i : j + 1][::-1]
        if _length(xy, t, euc) < base - 1e-9 * base:
            return False
    return True


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(5, 14))
def test_full_candidate_lists_reach_a_two_opt_optimum(seed: int, n: int) -> None:
    """With every other node a candidate, the search is a complete 2-opt (the pruning by
    :math:`d(a, c) < d(a, b)` loses no improving move)."""
    problem = TSP()
    inst = problem.generate(2, n, rng=np.random.default_rng(seed))
    tensors = {k: torch.as_tensor(v) for k, v in inst.items()}
    perms = [np.random.default_rng(seed + i).permutation(n) for i in range(2)]
    start = torch.as_tensor(np.stack(perms))
    ls = NeighbourLocalSearch(problem, neighbours=n - 1, max_chain=0)
    res = ls.improve(tensors, start, generator=torch.Generator())
    for xy, tour in zip(inst["coords"], res.solutions.tolist()):
        assert sorted(tour) == list(range(n)) and _is_two_opt_optimal(xy, tour)
    np.testing.assert_allclose(res.costs, problem.objective(inst, res.solutions.numpy()))


def test_or_opt_moves_a_misplaced_node() -> None:
    """Points on a line visited out of order by one node: Or-opt puts it back."""
    xy = np.array([[float(i), 0.0] for i in range(8)])[None]
    tour = torch.tensor([[0, 1, 5, 2, 3, 4, 6, 7]])
    ls = NeighbourLocalSearch(TSP(), neighbours=3, max_chain=1)
    res = ls.improve({"coords": torch.as_tensor(xy)}, tour, generator=torch.Generator())
    assert res.costs[0] == pytest.approx(14.0)  # there and back along the line


def test_tsplib_rounding_is_the_objective() -> None:
    problem = TSP()
    inst = problem.generate(2, 30, rng=np.random.default_rng(3))
    inst = {"coords": inst["coords"] * 100, "euc_2d": np.array([True, False])}
    tensors = {k: torch.as_tensor(v) for k, v in inst.items()}
    start = torch.arange(30).repeat(2, 1)
    res = NeighbourLocalSearch(problem).improve(tensors, start, generator=torch.Generator())
    np.testing.assert_allclose(res.costs, problem.objective(inst, res.solutions.numpy()))
    assert np.all(res.costs < res.start_costs)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(2, 40), k=st.integers(1, 12))
def test_candidate_lists_are_the_nearest_other_points(seed: int, n: int, k: int) -> None:
    xy = np.random.default_rng(seed).random((n, 2))
    got = candidate_lists(xy, k)
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    for i, row in enumerate(got):
        assert len(row) == min(k, n - 1) and i not in row
        np.testing.assert_allclose(d[i, row], np.sort(d[i])[: len(row)])


def test_restart_keeps_the_candidate_lists_and_wakes_what_changed() -> None:
    problem = TSP()
    inst = problem.generate(2, 20, rng=np.random.default_rng(1))
    tensors = {k: torch.as_tensor(v) for k, v in inst.items()}
    ls = NeighbourLocalSearch(problem)
    state = ls.start(tensors, torch.arange(20).repeat(2, 1))
    again = ls.restart(state, tensors, torch.arange(20).flip(0).repeat(2, 1))
    assert all(a.nb is b.nb for a, b in zip(state.searches, again.searches))
    assert ls.converged(again)  # the same cyclic tours read backwards: nothing to wake
    moved = torch.arange(20).repeat(2, 1)
    moved[:, [5, 6]] = moved[:, [6, 5]]
    again = ls.restart(state, tensors, moved)
    assert not ls.converged(again)
    assert sorted(again.searches[0].queue) == [4, 5, 6, 7]  # whose tour neighbours changed
