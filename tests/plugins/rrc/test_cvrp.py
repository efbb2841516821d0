"""CVRP random re-construction on packed tensors: the giant-tour helpers by hand, and proposals
that describe the tours exactly (splicing a proposal's own tail back changes nothing)."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from symco.plugins.rrc.cvrp import CVRPReconstruction, canonical_tours, compact, with_depots
from symco.plugins.rrc.reconstruct import Rebuilt
from symco.problems.cvrp.problem import CVRP, join_routes, split_routes


def test_compact_and_depots_by_hand() -> None:
    x = torch.tensor([[5, -1, 6, 7], [-1, -1, 8, -1]])
    assert compact(x, x >= 0).tolist() == [[5, 6, 7], [8, -1, -1]]
    cust = torch.tensor([[3, 4, 5, 6]])
    starts = torch.tensor([[True, False, True, True]])
    assert with_depots(cust, starts).tolist() == [[0, 3, 4, 0, 5, 0, 6]]
    messy = torch.tensor([[0, 0, 3, -1, 4, 0, 0, 5, 0, -1]])
    assert canonical_tours(messy).tolist() == [[0, 3, 4, 0, 5]]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_canonical_tours_is_join_of_split(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(3):
        perm = rng.permutation(np.arange(1, 9))
        cuts = np.sort(np.append(rng.choice(np.arange(0, 9), size=rng.integers(0, 5)), 0))
        row = np.insert(perm, cuts, 0)  # from the depot; empty routes, a trailing depot too
        rows.append(np.concatenate([row, -np.ones(rng.integers(0, 3), dtype=np.int64)]))
    packed = torch.as_tensor(CVRP().pack_solutions(rows))
    got = CVRP().unpack_solutions(canonical_tours(packed).numpy())
    for g, r in zip(got, rows):
        np.testing.assert_array_equal(g, join_routes(split_routes(r)))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(3, 25))
def test_splicing_the_current_tail_back_keeps_every_cost(seed: int, n: int) -> None:
    """Each proposal's ``current`` is its tail as the tour has it: put back as if re-built, the
    tours keep their costs (so a better re-construction is better by exactly what it saves)."""
    problem = CVRP()
    inst = problem.generate(3, n, rng=np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    sols = []
    for i in range(3):  # random feasible routes: customers in random order, cut by capacity
        seq, load = [0], 0
        for c in rng.permutation(np.arange(1, n + 1)):
            if load + inst["demands"][i, c] > inst["capacity"][i]:
                seq, load = [*seq, 0], 0
            seq.append(int(c))
            load += int(inst["demands"][i, c])
        sols.append(np.asarray(seq))
    tensors = {k: torch.as_tensor(v) for k, v in inst.items()}
    rrc = CVRPReconstruction.__new__(CVRPReconstruction)  # the splice needs no policy
    rrc.prob, rrc.candidates, rrc.min_length, rrc.max_length = problem, 4, 1, 100
    state = rrc.start(tensors, torch.as_tensor(problem.pack_solutions(sols)))
    gen = torch.Generator().manual_seed(seed)
    prop = rrc.propose(state, gen)
    exact = {k: (v.double() if v.is_floating_point() else v) for k, v in prop.sub.items()}
    current = problem.objective_torch(exact, prop.current)
    same = Rebuilt(
        prop.current, current - 1e-6, current, torch.ones_like(current, dtype=torch.bool)
    )
    spliced = rrc.splice(state, prop, same)
    torch.testing.assert_close(spliced.cost, state.cost, rtol=1e-9, atol=1e-9)
    problem.check_solution(inst, problem.unpack_solutions(spliced.tours.numpy()))
