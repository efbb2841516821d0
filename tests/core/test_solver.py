"""Contract tests every registered solver gets: feasibility and agreement with exact solvers."""

from __future__ import annotations

import numpy as np
import pytest

from symco.core.errors import InvalidInstanceError
from symco.core.registry import Entry

from ..conftest import available_solvers

SOLVERS = available_solvers()


@pytest.mark.parametrize("entry", SOLVERS)
def test_matches_exact_on_tiny_instances(entry: Entry, registry) -> None:
    problem = registry.problem(entry.problem)
    exact = [s for s in registry.solver_classes(problem.name) if s.exact]
    rng = np.random.default_rng(7)
    solver = entry.obj(time_limit=0.3)
    for n in range(problem.min_size, 10):
        inst = problem.generate(2, n, rng=rng)
        sols = [solver.solve(problem.select(inst, i)) for i in range(2)]
        problem.check_solution(inst, sols)
        got = problem.objective(inst, sols)
        if exact:
            ref_solver = exact[0]()
            ref = problem.objective(
                inst, [ref_solver.solve(problem.select(inst, i)) for i in range(2)]
            )
            if entry.obj.heuristic:  # feasible and never better than optimal
                assert np.all(
                    got >= ref * (1 - 1e-9) if problem.sense == "min" else got <= ref * (1 + 1e-9)
                )
            else:  # integer solvers round distances at 1e-5 resolution: allow that much per edge
                np.testing.assert_allclose(
                    got, ref, rtol=1e-4, err_msg=f"{entry.qualname} at N={n}"
                )


@pytest.mark.parametrize("entry", SOLVERS)
def test_size_limit_enforced(entry: Entry, registry) -> None:
    if entry.obj.max_size is None:
        pytest.skip("no size limit")
    with pytest.raises(InvalidInstanceError, match="at most"):
        entry.obj().check_size(entry.obj.max_size + 1)


def test_time_limit_must_be_positive(registry) -> None:
    cls = registry.solver_class("tsp", "ortools")
    with pytest.raises(InvalidInstanceError, match="positive"):
        cls(time_limit=0)
