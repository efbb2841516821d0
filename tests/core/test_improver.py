"""Contract tests every registered improver gets: never worse, always feasible, reproducible,
limits honoured; plus the chain and the driver's refusals."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symco.core.decoding import greedy
from symco.core.improver import Chain, Improver
from symco.core.registry import Entry

from ..conftest import registered

IMPROVERS = registered("improver")


def _build(entry: Entry, registry, knn: int | None = None, **options) -> tuple:
    """The problem, its first reducer, a small random policy and the improver."""
    problem = registry.problem(entry.problem)
    reducer = registry.entries("reducer", entry.problem)[0].obj()
    torch.manual_seed(0)  # the test's own random policy
    policy = registry.get("policy", "transformer")(
        reducer.num_features, reducer.num_node_types, reducer.actions_per_node,
        num_layers=1, dim=16, heads=2, ff_dim=32,
    ).eval()  # fmt: skip
    cls = entry.obj
    if cls.needs_policy:
        options |= {"policy": policy, "reducer": reducer}
    return problem, reducer, policy, cls(problem, knn=knn, **options)


def _start(problem, reducer, policy, n: int, b: int, seed: int, **gen) -> tuple:
    inst = problem.generate(b, n, rng=np.random.default_rng(seed), **gen)
    tensors = {k: torch.as_tensor(v) for k, v in inst.items()}
    return inst, tensors, greedy(policy, reducer, tensors)  # packed (B, L)


def _unpacked(problem, packed: torch.Tensor) -> list[np.ndarray]:
    return problem.unpack_solutions(packed.cpu().numpy())


@pytest.mark.parametrize("entry", IMPROVERS)
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(n=st.integers(3, 14), knn=st.sampled_from([None, 3]), seed=st.integers(0, 2**16))
def test_steps_never_worsen_and_stay_feasible(
    entry: Entry, registry, n: int, knn, seed: int
) -> None:
    problem, reducer, policy, imp = _build(entry, registry, knn)
    inst, tensors, sols = _start(problem, reducer, policy, n, 3, seed)
    gen = torch.Generator().manual_seed(seed)
    state = imp.start(tensors, sols)
    cost = imp.costs(state)
    np.testing.assert_allclose(
        cost.numpy(), problem.objective(inst, _unpacked(problem, sols)), rtol=1e-6
    )
    for _ in range(5):
        if imp.converged(state):
            break
        state = imp.step(state, gen)
        now = imp.costs(state)
        assert bool((now <= cost + 1e-9).all()), (cost, now)
        current = _unpacked(problem, imp.solutions(state))
        problem.check_solution(inst, current)  # raises on an infeasible solution
        np.testing.assert_allclose(now.numpy(), problem.objective(inst, current), rtol=1e-6)
        cost = now


@pytest.mark.parametrize("entry", IMPROVERS)
def test_same_seed_same_result(entry: Entry, registry) -> None:
    problem, reducer, policy, imp = _build(entry, registry)
    _, tensors, sols = _start(problem, reducer, policy, 20, 4, 1)
    runs = [
        imp.improve(tensors, sols, generator=torch.Generator().manual_seed(7), steps=6)
        for _ in range(2)
    ]
    assert runs[0].steps == runs[1].steps
    assert torch.equal(runs[0].solutions, runs[1].solutions)
    assert np.all(runs[0].costs <= runs[0].start_costs + 1e-9)
    assert len(runs[0].trace) == runs[0].steps + 1


@pytest.mark.parametrize("entry", IMPROVERS)
def test_time_limit_is_honoured(entry: Entry, registry) -> None:
    problem, reducer, policy, imp = _build(entry, registry)
    _, tensors, sols = _start(problem, reducer, policy, 30, 4, 2)
    gen = torch.Generator().manual_seed(0)
    one = imp.improve(tensors, sols, generator=gen, steps=1).seconds  # the cost of one step
    t0 = time.perf_counter()
    res = imp.improve(tensors, sols, generator=gen, time_limit=0.5)
    wall = time.perf_counter() - t0
    assert wall <= 0.5 + 2 * one + 0.2  # checked before each step: at most one step over
    assert res.steps >= 1 or imp.stops


@pytest.mark.parametrize("entry", IMPROVERS)
def test_bad_limits_are_refused(entry: Entry, registry) -> None:
    problem, reducer, policy, imp = _build(entry, registry)
    _, tensors, sols = _start(problem, reducer, policy, 8, 2, 3)
    gen = torch.Generator()
    for kwargs, message in (({"steps": 0}, "steps must be >= 1"),
                            ({"time_limit": 0.0}, "time_limit must be > 0"),
                            ({"time_limit": -1.0}, "time_limit must be > 0")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            imp.improve(tensors, sols, generator=gen, **kwargs)
    if not imp.stops:
        with pytest.raises(ValueError, match="needs a step count or a time limit"):
            imp.improve(tensors, sols, generator=gen)
    if entry.obj.needs_policy:
        with pytest.raises(ValueError, match="re-constructs with a policy"):
            entry.obj(problem)


def test_cvrp_with_one_route(registry) -> None:
    """A capacity that fits every customer: one route, the window cuts inside it."""
    entry = next(e for e in registered("improver") if e.values[0].qualname == "cvrp/rrc").values[0]
    problem, reducer, policy, imp = _build(entry, registry)
    inst = problem.generate(2, 12, rng=np.random.default_rng(0))
    inst["capacity"] = np.full_like(inst["capacity"], int(inst["demands"].sum(axis=1).max()))
    tensors = {k: torch.as_tensor(v) for k, v in inst.items()}
    sols = greedy(policy, reducer, tensors)
    res = imp.improve(tensors, sols, generator=torch.Generator().manual_seed(0), steps=8)
    problem.check_solution(inst, _unpacked(problem, res.solutions))
    assert np.all(res.costs <= res.start_costs + 1e-9)


def _two_opt_optimal(xy: np.ndarray, tour: np.ndarray) -> bool:
    """No reversal of any segment shortens the tour (brute force)."""

    def length(t):
        return float(np.linalg.norm(xy[t] - xy[np.roll(t, -1)], axis=1).sum())

    base, n = length(tour), len(tour)
    for i, j in itertools.combinations(range(n), 2):
        t = tour.copy()
        t[i : j + 1] = t[i : j + 1][::-1]
        if length(t) < base - 1e-9 * base:
            return False
    return True


def test_two_opt_reaches_a_local_optimum(registry) -> None:
    problem = registry.problem("tsp")
    two_opt = registry.get("improver", "2opt", "tsp")(problem)
    inst = problem.generate(3, 9, rng=np.random.default_rng(4))
    tensors = {k: torch.as_tensor(v) for k, v in inst.items()}
    sols = torch.as_tensor(np.stack([np.random.default_rng(i).permutation(9) for i in range(3)]))
    res = two_opt.improve(tensors, sols, generator=torch.Generator())  # runs to convergence
    assert res.steps >= 1
    for xy, tour in zip(inst["coords"], res.solutions.numpy()):
        assert _two_opt_optimal(xy, tour)


def _best_or_move(dist: np.ndarray, tour: list[int], max_chain: int) -> float:
    """The most negative length change of moving a chain of 1..max_chain nodes (brute force)."""
    n = len(tour)

    def length(t: list[int]) -> float:
        return float(sum(dist[t[a], t[(a + 1) % n]] for a in range(n)))

    base, best = length(tour), 0.0
    for k in range(1, min(max_chain, n - 3) + 1):
        for i in range(n):
            chain = [tour[(i + c) % n] for c in range(k)]
            rest = [x for x in tour if x not in chain]
            for j in range(len(rest)):
                for c in (chain, chain[::-1]):
                    best = min(best, length(rest[: j + 1] + c + rest[j + 1 :]) - base)
    return best


@pytest.mark.parametrize("n", [5, 7, 12])
def test_or_opt_takes_the_best_chain_move(registry, n: int) -> None:
    problem = registry.problem("tsp")
    or_opt = registry.get("improver", "oropt", "tsp")(problem)
    inst = problem.generate(4, n, rng=np.random.default_rng(n))
    tensors = {k: torch.as_tensor(v) for k, v in inst.items()}
    sols = torch.as_tensor(np.stack([np.random.default_rng(i).permutation(n) for i in range(4)]))
    state = or_opt.start(tensors, sols)
    moved = or_opt.step(state, torch.Generator())
    dist = np.linalg.norm(inst["coords"][:, :, None] - inst["coords"][:, None], axis=-1)
    for b in range(4):
        want = _best_or_move(dist[b], state.tours[b].tolist(), 3)
        got = float(moved.cost[b] - state.cost[b])
        assert got == pytest.approx(want, abs=1e-9)
        assert sorted(moved.tours[b].tolist()) == list(range(n))
    res = or_opt.improve(tensors, sols, generator=torch.Generator())  # to its local optimum
    for b in range(4):
        assert _best_or_move(dist[b], res.solutions[b].tolist(), 3) > -1e-9
    np.testing.assert_allclose(res.costs, problem.objective(inst, res.solutions.numpy()))


def test_two_opt_on_tsplib_rounding(registry) -> None:
    """With ``euc_2d`` the improver's costs are the problem's rounded objective."""
    problem = registry.problem("tsp")
    two_opt = registry.get("improver", "2opt", "tsp")(problem)
    inst = problem.generate(2, 12, rng=np.random.default_rng(5))
    inst = {"coords": inst["coords"] * 100, "euc_2d": np.array([True, False])}
    tensors = {k: torch.as_tensor(v) for k, v in inst.items()}
    sols = torch.arange(12).repeat(2, 1)  # (2, 12) packed
    res = two_opt.improve(tensors, sols, generator=torch.Generator())
    np.testing.assert_allclose(res.costs, problem.objective(inst, res.solutions.numpy()))


def test_chain_takes_turns_and_never_worsens(registry) -> None:
    problem = registry.problem("tsp")
    rrc = next(e.obj for e in registry.entries("improver", "tsp") if e.obj.needs_policy)
    _, reducer, policy, _ = _build(registry.entry("improver", "2opt", "tsp"), registry)
    chain = Chain(
        [
            rrc(problem, policy=policy, reducer=reducer),
            registry.get("improver", "2opt", "tsp")(problem),
        ]
    )
    assert not chain.stops  # a randomized member: needs a limit
    _, tensors, sols = _start(problem, reducer, policy, 25, 3, 6)
    res = chain.improve(tensors, sols, generator=torch.Generator().manual_seed(0), steps=3)
    assert res.steps == 3 and np.all(res.costs <= res.start_costs + 1e-9)
    search = Chain([registry.get("improver", "2opt", "tsp")(problem)])
    done = search.improve(tensors, sols, generator=torch.Generator())  # converges on its own
    assert search.stops and done.steps >= 1


def test_an_improver_without_steps_is_abstract() -> None:
    with pytest.raises(TypeError):
        Improver(None)  # type: ignore[abstract]


def test_chain_keeps_member_states_and_matches_restarting_from_scratch(registry) -> None:
    """A chain hands solutions over with ``restart`` (2-opt keeps its distance matrix, the very
    tensor) and ends exactly where starting every member afresh every round ends."""
    problem = registry.problem("tsp")
    rrc = next(e.obj for e in registry.entries("improver", "tsp") if e.obj.needs_policy)
    _, reducer, policy, _ = _build(registry.entry("improver", "2opt", "tsp"), registry)
    members = [rrc(problem, policy=policy, reducer=reducer),
               registry.get("improver", "2opt", "tsp")(problem)]  # fmt: skip
    chain = Chain(members)
    _, tensors, sols = _start(problem, reducer, policy, 25, 3, 6)
    state = chain.start(tensors, sols)
    dist = state.states[1].dist
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        state = chain.step(state, gen)
        assert state.states[1].dist is dist  # kept, not rebuilt
    gen = torch.Generator().manual_seed(0)
    current = sols
    for _ in range(3):
        for m in members:
            s = m.step(m.start(tensors, current), gen)
            while m.stops and not m.converged(s):
                s = m.step(s, gen)
            current = m.solutions(s)
    assert torch.equal(state.solutions, current)


@pytest.mark.parametrize("entry", IMPROVERS, ids=lambda e: f"{e.problem}-{e.name}")
def test_memory_is_a_byte_count(entry: Entry, registry) -> None:
    """Every improver says what it needs (0: negligible beside decoding), never less with more."""
    *_, imp = _build(entry, registry)
    small, large = imp.memory_bytes(1, 100), imp.memory_bytes(4, 1000)
    assert isinstance(small, int) and 0 <= small <= large
