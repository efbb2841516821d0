"""Contract tests every registered reducer gets: feasible targets, feasible decoded solutions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symco.core.reducer import ReducedBatch
from symco.core.registry import Entry

from ..conftest import registered

REDUCERS = registered("reducer")


def _setup(entry: Entry, registry, n: int, b: int = 3):
    problem = registry.problem(entry.problem)
    inst = problem.generate(b, n, rng=np.random.default_rng(n))
    solver = next(
        s
        for s in registry.solver_classes(problem.name)
        if s.available() and (s.max_size or 99) >= n
    )
    sols = [solver(time_limit=0.2).solve(problem.select(inst, i)) for i in range(b)]
    tensors = {k: torch.as_tensor(v) for k, v in inst.items()}
    return problem, entry.obj(), inst, sols, tensors


@pytest.mark.parametrize("entry", REDUCERS)
@pytest.mark.parametrize("n", [5, 9])
def test_expanded_targets_are_feasible(entry: Entry, registry, n: int) -> None:
    problem, red, _, sols, tensors = _setup(entry, registry, n)
    packed = torch.as_tensor(problem.pack_solutions(sols))
    for seed in range(5):
        batch = red.expand(tensors, packed, generator=torch.Generator().manual_seed(seed))
        assert batch.target is not None
        assert batch.features.shape[-1] == red.num_features
        assert batch.action_mask.shape[-1] == red.actions_per_node
        assert torch.all(batch.target >= 0) and torch.all(batch.target.sum((1, 2)) > 0)
        assert not (batch.target.bool() & ~batch.action_mask).any()


@pytest.mark.parametrize("entry", REDUCERS)
@pytest.mark.parametrize("n", [6, 11])
def test_expert_round_trip(entry: Entry, registry, n: int) -> None:
    """Rolling the expert's trajectory through the reducer rebuilds its solution and objective,
    and every expert action is feasible in the reduced state it is taken from."""
    problem, red, inst, sols, tensors = _setup(entry, registry, n)
    node, action = red.trajectory(tensors, torch.as_tensor(problem.pack_solutions(sols)))
    state = red.init_state(tensors)
    for t in range(node.shape[1]):
        done = red.done(state)
        if bool(done.all()):
            break
        batch = red.reduce(state)
        nd, ac = node[:, t], action[:, t]
        assert torch.equal(nd >= 0, ~done)
        pos = (batch.node_index == nd[:, None]).long().argmax(dim=1)
        rows = (~done).nonzero()[:, 0]
        assert batch.action_mask[rows, pos[rows], ac[rows]].all()
        state = red.step(state, nd.masked_fill(done, -1), ac.clamp_min(0))
    assert bool(red.done(state).all())
    got = red.solutions(state)
    problem.check_solution(inst, got)
    np.testing.assert_allclose(problem.objective(inst, got), problem.objective(inst, sols))


def _tiny_policy(registry, red):
    return registry.get("policy", "transformer")(
        red.num_features,
        red.num_node_types,
        red.actions_per_node,
        num_layers=1,
        dim=16,
        heads=2,
        ff_dim=16,
    ).eval()


@pytest.mark.parametrize("entry", REDUCERS)
@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    n=st.integers(2, 14),
    seed=st.integers(0, 2**16),
    knn=st.sampled_from([None, 1, 3]),
    width=st.sampled_from([0, 3]),
)
def test_decoding_is_always_feasible(
    entry: Entry, registry, n: int, seed: int, knn, width: int
) -> None:
    """Greedy and beam decoding of a random policy give feasible solutions, any size, any kNN."""
    from symco.core.decoding import beam_search, greedy

    problem = registry.problem(entry.problem)
    n = max(n, problem.min_size)
    inst = problem.generate(3, n, rng=np.random.default_rng(seed))
    torch.manual_seed(seed)  # a different random policy per example; the test owns the global RNG
    red, tensors = entry.obj(), {k: torch.as_tensor(v) for k, v in inst.items()}
    policy = _tiny_policy(registry, red)
    if width:
        sols = beam_search(policy, red, problem, tensors, width, knn=knn)
    else:
        sols = greedy(policy, red, tensors, knn=knn)
    assert sols.dtype == torch.long and sols.shape[0] == 3  # packed (B, L), -1 padded
    sols = problem.unpack_solutions(sols.numpy())
    problem.check_solution(inst, sols)
    assert np.all(np.isfinite(problem.objective(inst, sols)))


@pytest.mark.parametrize("entry", REDUCERS)
def test_knn_bounds_the_candidates_where_supported(entry: Entry, registry) -> None:
    """With ``knn=k`` a reducer that supports it offers at most ``k`` feasible nodes; one that does
    not (``supports_knn = False``) reduces exactly as without it."""
    problem = registry.problem(entry.problem)
    inst = problem.generate(4, max(30, problem.min_size), rng=np.random.default_rng(0))
    red, tensors = entry.obj(), {k: torch.as_tensor(v) for k, v in inst.items()}
    state = red.init_state(tensors)
    full, near = red.reduce(state), red.reduce(state, knn=5)
    if red.supports_knn:
        assert int(near.action_mask.any(dim=-1).sum(dim=1).max()) <= 5 + 1  # + a depot/end action
        assert near.features.shape[1] < full.features.shape[1]
    else:
        torch.testing.assert_close(near.features, full.features)
        assert torch.equal(near.node_index, full.node_index)


# -- partial solutions and the quotient ------------------------------------------------------------


def _pad(solutions: list[np.ndarray]) -> torch.Tensor:
    """(B, L) long: ``solutions`` right-padded with ``-1``."""
    width = max((len(s) for s in solutions), default=0)
    out = torch.full((len(solutions), width), -1, dtype=torch.long)
    for i, s in enumerate(solutions):
        out[i, : len(s)] = torch.as_tensor(np.asarray(s), dtype=torch.long)
    return out


def _stepped(red, tensors, node: torch.Tensor, action: torch.Tensor, t: int):
    """The state after the expert's first ``t`` actions (finished rows step on node ``-1``)."""
    state = red.init_state(tensors)
    for i in range(t):
        done = red.done(state)
        state = red.step(state, node[:, i].masked_fill(done, -1), action[:, i].clamp_min(0))
    return state


def _assert_same_batch(a: ReducedBatch, b: ReducedBatch, tol: float) -> None:
    torch.testing.assert_close(a.features, b.features, rtol=tol, atol=tol)
    for name in ("node_type", "action_mask", "node_index"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


@pytest.mark.parametrize("entry", REDUCERS)
@pytest.mark.parametrize("n", [6, 9])
def test_state_from_partial_matches_steps(entry: Entry, registry, n: int) -> None:
    """The partial solution after ``t`` expert steps (``solutions`` of the stepped state, in the
    problem's format) rebuilds that state: the same solutions, the same reduced batch (with and
    without kNN). Finished episodes have no partial counterpart (OP: ending is not in the
    solution), so only running rows are compared."""
    problem, red, _, sols, tensors = _setup(entry, registry, n)
    node, action = red.trajectory(tensors, torch.as_tensor(problem.pack_solutions(sols)))
    last = node.shape[1]
    for t in sorted({0, 1, last // 2, last - 1}):
        state = _stepped(red, tensors, node, action, t)
        built = red.state_from_partial(tensors, _pad(red.solutions(state)))
        for a, b in zip(red.solutions(built), red.solutions(state)):
            np.testing.assert_array_equal(a, b)
        running = (~red.done(state)).nonzero()[:, 0]
        assert not red.done(built)[running].any()
        state, built = red.select(state, running), red.select(built, running)
        for knn in (None, 3):
            _assert_same_batch(red.reduce(built, knn=knn), red.reduce(state, knn=knn), 1e-6)


@pytest.mark.parametrize("entry", REDUCERS)
def test_quotient_identity(entry: Entry, registry) -> None:
    """Two partial solutions that leave the same sub-problem (the reducer's own witness,
    ``equivalent_partial``) reduce to identical batches."""
    problem, red, _, sols, tensors = _setup(entry, registry, 9, b=4)
    node, action = red.trajectory(tensors, torch.as_tensor(problem.pack_solutions(sols)))
    last = node.shape[1]
    full = _pad(red.solutions(_stepped(red, tensors, node, action, last - 1)))
    try:
        red.equivalent_partial(tensors, full, torch.Generator().manual_seed(0))
    except NotImplementedError:
        pytest.skip(f"{entry.qualname} has no equivalent_partial witness")

    def witness_differs(seed: int) -> bool:
        inst2, partial2 = red.equivalent_partial(tensors, full, torch.Generator().manual_seed(seed))
        same = partial2.shape == full.shape and torch.equal(partial2, full)
        return not (same and all(torch.equal(inst2[k], v) for k, v in tensors.items()))

    assert any(witness_differs(seed) for seed in range(5)), "the witness never changes anything"

    @settings(
        max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(seed=st.integers(0, 2**16), t=st.integers(0, last - 1), knn=st.sampled_from([None, 3]))
    def check(seed: int, t: int, knn: int | None) -> None:
        partial = _pad(red.solutions(_stepped(red, tensors, node, action, t)))
        inst2, partial2 = red.equivalent_partial(
            tensors, partial, torch.Generator().manual_seed(seed)
        )
        a = red.reduce(red.state_from_partial(tensors, partial), knn=knn)
        b = red.reduce(red.state_from_partial(inst2, partial2), knn=knn)
        _assert_same_batch(a, b, 1e-5)

    check()


@pytest.mark.parametrize("entry", REDUCERS)
@pytest.mark.parametrize("n", [6, 10])
def test_packed_is_the_solutions_packed(entry: Entry, registry, n: int) -> None:
    """``packed`` (what decoding hands on) is ``solutions`` in the problem's packed layout at
    every step of an expert trajectory, on the state's device: ``unpack_solutions`` gives the
    same solutions back, and the width is the longest solution's."""
    problem, red, _, sols, tensors = _setup(entry, registry, n)
    node, action = red.trajectory(tensors, torch.as_tensor(problem.pack_solutions(sols)))
    for t in range(node.shape[1] + 1):
        state = _stepped(red, tensors, node, action, t)
        want = red.solutions(state)
        got = red.packed(state)
        assert got.dtype == torch.long and got.shape[0] == len(want)
        assert got.shape[1] == max((len(s) for s in want), default=0)
        assert ((got >= 0).long().diff(dim=1) <= 0).all()  # -1 only as right padding
        back = problem.unpack_solutions(got.numpy())
        for a, b in zip(back, want):
            np.testing.assert_array_equal(a, b)
