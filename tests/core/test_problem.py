"""Contract tests every registered problem gets for free."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symco.core.errors import InvalidInstanceError
from symco.core.registry import Entry

from ..conftest import registered

PROBLEMS = registered("problem")


def _sizes(problem) -> int:
    return max(problem.min_size, 6)


def _some_solutions(problem, instances, registry):
    """Feasible solutions from the registered exact solver (or any installed one)."""
    solvers = [s for s in registry.solver_classes(problem.name) if s.available()]
    solver = next((s for s in solvers if s.exact), solvers[0])(time_limit=0.5)
    b = len(instances[problem.instance_spec[0].key])
    return [solver.solve(problem.select(instances, i)) for i in range(b)]


@pytest.mark.parametrize("entry", PROBLEMS)
def test_generate_shapes_and_seeding(entry: Entry) -> None:
    problem = entry.obj()
    n = _sizes(problem)
    for dist in problem.distributions:
        a = problem.generate(4, n, rng=np.random.default_rng(1), distribution=dist)
        b = problem.generate(4, n, rng=np.random.default_rng(1), distribution=dist)
        c = problem.generate(4, n, rng=np.random.default_rng(2), distribution=dist)
        assert problem.validate(a) == (4, n)
        assert all(np.array_equal(a[k], b[k]) for k in a)
        assert any(not np.array_equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("entry", PROBLEMS)
def test_validate_rejects_non_finite_and_bad_shapes(entry: Entry) -> None:
    problem = entry.obj()
    inst = problem.generate(2, _sizes(problem), rng=np.random.default_rng(0))
    float_keys = [s.key for s in problem.instance_spec if s.kind == "float" and s.key in inst]
    for bad in (np.nan, np.inf):
        broken = {k: v.copy() for k, v in inst.items()}
        broken[float_keys[0]].flat[3] = bad
        with pytest.raises(InvalidInstanceError, match=f"'{float_keys[0]}' has a non-finite value"):
            problem.validate(broken, "here")
    for spec in problem.instance_spec:
        if spec.key in inst and not spec.optional:
            wrong = {**inst, spec.key: inst[spec.key][..., None]}
            with pytest.raises(InvalidInstanceError, match=f"'{spec.key}' must have shape"):
                problem.validate(wrong, "here")
            missing = {k: v for k, v in inst.items() if k != spec.key}
            with pytest.raises(InvalidInstanceError, match=f"missing array '{spec.key}'"):
                problem.validate(missing, "here")


@pytest.mark.parametrize("entry", PROBLEMS)
def test_too_small_rejected(entry: Entry) -> None:
    problem = entry.obj()
    if problem.min_size <= 1:
        pytest.skip("any size is valid")
    with pytest.raises(InvalidInstanceError, match="at least"):
        problem.generate(1, problem.min_size - 1, rng=np.random.default_rng(0))


@pytest.mark.parametrize("entry", PROBLEMS)
def test_objective_invariant_under_relabelling(entry: Entry, registry) -> None:
    problem = entry.obj()
    inst = problem.generate(3, _sizes(problem), rng=np.random.default_rng(3))
    sols = _some_solutions(problem, inst, registry)
    problem.check_solution(inst, sols)
    base = problem.objective(inst, sols)

    @settings(
        max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    # nodes: the instance size plus the fixed (depot) nodes, which do not count in the size
    @given(st.permutations(range(problem.fixed_nodes, _sizes(problem) + problem.fixed_nodes)))
    def check(tail: list[int]) -> None:
        perm = np.array([*range(problem.fixed_nodes), *tail])
        inst2, sols2 = problem.relabel(inst, sols, perm)
        problem.check_solution(inst2, sols2)
        np.testing.assert_allclose(problem.objective(inst2, sols2), base, rtol=1e-9)

    check()


@pytest.mark.parametrize("entry", PROBLEMS)
def test_pack_unpack_round_trip(entry: Entry, registry) -> None:
    problem = entry.obj()
    inst = problem.generate(3, _sizes(problem), rng=np.random.default_rng(4))
    sols = _some_solutions(problem, inst, registry)
    back = problem.unpack_solutions(problem.pack_solutions(sols))
    assert all(np.array_equal(a, b) for a, b in zip(sols, back))


@pytest.mark.parametrize("entry", PROBLEMS)
def test_gap_sign_follows_sense(entry: Entry) -> None:
    problem = entry.obj()
    worse = 110.0 if problem.sense == "min" else 90.0
    assert float(problem.gap(worse, 100.0)) == pytest.approx(10.0)


@pytest.mark.parametrize("entry", PROBLEMS)
def test_file_round_trip(entry: Entry, registry, tmp_path) -> None:
    problem = entry.obj()
    if not problem.file_suffixes:
        pytest.skip("no file format")
    inst = problem.generate(1, _sizes(problem), rng=np.random.default_rng(5))
    sol = _some_solutions(problem, inst, registry)[0]
    path = tmp_path / f"x{problem.file_suffixes[0]}"
    problem.write(path, inst, sol)
    back, ref = problem.read(path)
    problem.validate(back)
    assert ref is not None
    np.testing.assert_allclose(ref, problem.objective(back, [sol]), rtol=1e-6)
