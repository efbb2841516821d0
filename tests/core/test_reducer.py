"""Contract tests every registered reducer gets: feasible targets, feasible decoded solutions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

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
def test_untrained_policy_decodes_feasible_solutions(entry: Entry, registry) -> None:
    from symco.plugins.bq.decode import greedy

    problem, red, inst, _, tensors = _setup(entry, registry, 8)
    policy_cls = registry.get("policy", "transformer")
    policy = policy_cls(
        red.num_features,
        red.num_node_types,
        red.actions_per_node,
        num_layers=1,
        dim=16,
        heads=2,
        ff_dim=16,
    )
    sols = greedy(policy.eval(), red, tensors)
    problem.check_solution(inst, sols)
    assert np.all(np.isfinite(problem.objective(inst, sols)))
