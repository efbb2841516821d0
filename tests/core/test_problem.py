"""Contract tests every registered problem gets for free."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symco.core.errors import InfeasibleSolutionError, InvalidInstanceError
from symco.core.problem import Problem
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


# -- batched torch objective and feasibility ---------------------------------------------------


def _torch_case(problem, registry, seed: int = 7, b: int = 3):
    """Instances (optional ``(B,)`` bool flags such as ``euc_2d`` set at random), feasible
    solutions, and well-formed ones that may be infeasible: each feasible solution relabelled by
    a random node permutation (fixed nodes kept) but read in the original instance."""
    rng = np.random.default_rng(seed)
    inst = problem.generate(b, _sizes(problem), rng=rng)
    for spec in problem.instance_spec:
        if spec.optional and spec.kind == "bool" and spec.shape == ("B",):
            inst[spec.key] = rng.random(b) < 0.5
    sols = _some_solutions(problem, inst, registry)
    nodes = problem.size(inst) + problem.fixed_nodes
    shuffled = []
    for _ in range(4):
        perm = np.concatenate(
            [
                np.arange(problem.fixed_nodes),
                problem.fixed_nodes + rng.permutation(nodes - problem.fixed_nodes),
            ]
        )
        shuffled += problem.relabel(inst, sols, perm)[1]
    return inst, sols, shuffled


def _tensors(inst, sols, problem, copies: int = 1):
    """The instances repeated ``copies`` times (as torch) and the packed solutions, -1 padded."""
    tensors = {k: torch.as_tensor(np.concatenate([v] * copies)) for k, v in inst.items()}
    width = max((len(s) for s in sols), default=0)
    packed = np.full((len(sols), width), -1, dtype=np.int64)
    for i, s in enumerate(sols):
        packed[i, : len(s)] = s
    return tensors, torch.as_tensor(packed)


def _numpy_feasible(problem, inst, sols) -> np.ndarray:
    ok = []
    for i, s in enumerate(sols):
        try:
            problem.check_solution(problem.select(inst, i), [s])
        except (InfeasibleSolutionError, IndexError):
            ok.append(False)
        else:
            ok.append(True)
    return np.array(ok)


@pytest.mark.parametrize("entry", PROBLEMS)
def test_torch_objective_matches_numpy(entry: Entry, registry) -> None:
    """``objective_torch`` (and the NumPy round trip of the base class) equals ``objective`` to
    1e-9 relative in float64, on feasible solutions and on well-formed infeasible ones."""
    problem = entry.obj()
    inst, sols, shuffled = _torch_case(problem, registry)
    b = len(sols)
    every = sols + shuffled
    big = {k: np.concatenate([v] * (len(every) // b)) for k, v in inst.items()}
    tensors, packed = _tensors(inst, every, problem, copies=len(every) // b)
    want = problem.objective(big, every)
    for got in (
        problem.objective_torch(tensors, packed),
        Problem.objective_torch(problem, tensors, packed),
    ):
        assert got.dtype == torch.float64 and got.shape == (len(every),)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("entry", PROBLEMS)
def test_torch_feasibility_matches_numpy(entry: Entry, registry) -> None:
    """``feasible_torch`` is ``True`` on feasible solutions and agrees with ``check_solution`` of
    the unpacked rows on corrupted ones: a node duplicated or out of range (same length), one
    dropped or repeated at the end (another length), relabelled solutions."""
    problem = entry.obj()
    inst, sols, shuffled = _torch_case(problem, registry, seed=11)
    b = len(sols)
    tensors, packed = _tensors(inst, sols, problem)
    assert problem.feasible_torch(tensors, packed).all()
    rng = np.random.default_rng(0)
    nodes = problem.size(inst) + problem.fixed_nodes
    same, other = list(shuffled), []
    for _ in range(6):
        for s in sols:
            s = np.asarray(s, dtype=np.int64)
            if s.size == 0:
                same += [s, s, s]
                other += [np.array([nodes]), np.array([0])]
                continue
            i, j = rng.integers(0, s.size, 2)
            dup, far = s.copy(), s.copy()
            dup[i] = s[j]
            far[i] = nodes + int(rng.integers(0, 3))
            same += [dup, far, s]
            other += [np.delete(s, i), np.concatenate([s, s[i : i + 1]])]
    verdicts = []
    for corrupted in (same, other):
        copies = len(corrupted) // b
        tensors, packed = _tensors(inst, corrupted, problem, copies=copies)
        big = {k: np.concatenate([v] * copies) for k, v in inst.items()}
        want = _numpy_feasible(problem, big, problem.unpack_solutions(packed.numpy()))
        verdicts.append(want)
        for got in (
            problem.feasible_torch(tensors, packed),
            Problem.feasible_torch(problem, tensors, packed),
        ):
            assert got.dtype == torch.bool
            np.testing.assert_array_equal(got.numpy(), want)
    assert verdicts[0].any() and not verdicts[0].all()


# -- instance specs ------------------------------------------------------------------------------


def _spec_problem(shape: tuple) -> type[Problem]:
    """A Problem subclass declaring one array of ``shape`` (defining it runs the spec check)."""
    from symco.core.problem import ArraySpec

    class CVRPLike(Problem):
        name = "cvrp-like"
        instance_spec = (ArraySpec("coords", shape, "float"),)

    return CVRPLike


@pytest.mark.parametrize("axis", ["N+1", "M", 2.0, True, -1])
def test_spec_axis_other_than_b_n_or_int_refused_at_definition(axis) -> None:
    with pytest.raises(TypeError) as exc:
        _spec_problem(("B", axis, 2))
    assert str(exc.value) == (
        f"CVRPLike.instance_spec: 'coords' has axis {axis!r}; axes are 'B', 'N' or a non-negative"
        " int (CVRP-like: declare the axis 'N' and set fixed_nodes = 1)"
    )


def test_spec_axes_b_n_and_ints_accepted() -> None:
    assert _spec_problem(("B", "N", 2)).instance_spec[0].shape == ("B", "N", 2)
    assert _spec_problem(("B", 3)).instance_spec[0].shape == ("B", 3)
