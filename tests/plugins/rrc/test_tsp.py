"""TSP random re-construction: the segments one step re-builds."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.mark.parametrize("max_nodes, blocks", [(None, 10), (15, 3), (1, 1)])
def test_max_nodes_caps_the_blocks_of_a_step(registry, rrc_setup, max_nodes, blocks) -> None:
    """50 nodes tiled by 10 blocks of 5 positions (an interior of 4 after each ``u``): all of them, or a random subset of
    ``max_nodes // 5`` (at least one), disjoint, each still a window of the tour; the capped
    improver keeps the contract (never worse, feasible, reproducible)."""
    problem, reducer, policy, inst, tensors, sols = rrc_setup("tsp", 50, 2)
    cls = registry.get("improver", "rrc", "tsp")
    rrc = cls(problem, policy=policy, reducer=reducer, min_length=4, max_length=4,
              max_nodes=max_nodes)  # fmt: skip
    prop = rrc.propose(rrc.start(tensors, sols), torch.Generator().manual_seed(0))
    pos = prop.extra["pos"].reshape(2, blocks, 6)  # (B, S, L+2)
    for tour in pos:
        assert len(set(tour[:, :-1].flatten().tolist())) == 5 * blocks  # disjoint blocks
        steps = (tour[:, 1:] - tour[:, :-1]) % 50
        assert bool((steps == 1).all())  # consecutive tour positions
    runs = []
    for _ in range(2):
        res = rrc.improve(tensors, sols, generator=torch.Generator().manual_seed(3), steps=4)
        problem.check_solution(inst, problem.unpack_solutions(res.solutions.numpy()))
        assert (res.costs <= res.start_costs + 1e-9).all()
        runs.append(res.costs)
    np.testing.assert_array_equal(runs[0], runs[1])


def test_max_nodes_must_be_positive(registry, rrc_setup) -> None:
    problem, reducer, policy, *_ = rrc_setup("tsp", 10, 1)
    with pytest.raises(ValueError, match="max_nodes"):
        registry.get("improver", "rrc", "tsp")(problem, policy, reducer, max_nodes=0)
