"""RRC's random views: each sub-problem decoded in a random image under the problem's finite
symmetry group — never worse, reproducible, a different re-construction than the identity view,
and refused where the objective is not invariant."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from symco.core.symmetry import SquareDihedral


@pytest.mark.parametrize("problem_name", ["tsp", "cvrp"])
def test_views_never_worsen_and_reproduce(registry, rrc_setup, problem_name: str) -> None:
    problem, reducer, policy, inst, tensors, sols = rrc_setup(problem_name, 20, 4)
    cls = registry.get("improver", "rrc", problem_name)
    runs = []
    for _ in range(2):
        imp = cls(problem, policy=policy, reducer=reducer, views=SquareDihedral())
        res = imp.improve(tensors, sols, generator=torch.Generator().manual_seed(3), steps=6)
        sols_np = problem.unpack_solutions(res.solutions.numpy())
        problem.check_solution(inst, sols_np)
        assert (res.costs <= res.start_costs + 1e-9).all()
        np.testing.assert_allclose(res.costs, problem.objective(inst, sols_np), rtol=1e-9)
        runs.append(res.costs)
    np.testing.assert_array_equal(runs[0], runs[1])


def test_a_view_changes_what_the_policy_decodes(registry, rrc_setup) -> None:
    """The same proposals, decoded in the identity view and in random views: the policy is not
    D4-invariant, so the re-constructions differ (what lets a stalled segment move again)."""
    problem, reducer, policy, _, tensors, sols = rrc_setup("tsp", 30, 8)
    cls = registry.get("improver", "rrc", "tsp")
    plain = cls(problem, policy=policy, reducer=reducer, min_length=20, max_length=20)
    viewed = cls(problem, policy=policy, reducer=reducer, views=SquareDihedral(),
                 min_length=20, max_length=20)  # fmt: skip
    state = plain.start(tensors, sols)
    proposal = plain.propose(state, torch.Generator().manual_seed(0))
    a = plain.rebuild(proposal, torch.Generator().manual_seed(1))
    b = viewed.rebuild(proposal, torch.Generator().manual_seed(1))
    assert not torch.equal(a.solution, b.solution)
    # costs are those of the original (un-moved) sub-instances either way
    torch.testing.assert_close(a.current_cost, b.current_cost)


def test_views_and_augment_exclude_each_other(registry, rrc_setup) -> None:
    problem, reducer, policy, *_ = rrc_setup("tsp", 8, 1)
    cls = registry.get("improver", "rrc", "tsp")
    with pytest.raises(ValueError, match="exclude each other"):
        cls(problem, policy=policy, reducer=reducer, views=SquareDihedral(),
            augment=SquareDihedral())  # fmt: skip
