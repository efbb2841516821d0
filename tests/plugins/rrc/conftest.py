"""Shared by the RRC tests: a tiny untrained policy, instances and their greedy solutions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from symco.core.decoding import greedy


@pytest.fixture
def rrc_setup(registry: Any) -> Callable[..., tuple[Any, ...]]:
    """``make(problem_name, n, b, seed=0)`` -> problem, reducer, a 1-layer policy, the
    instances (NumPy and tensors) and the policy's greedy solutions."""

    def make(problem_name: str, n: int, b: int, seed: int = 0) -> tuple[Any, ...]:
        problem = registry.problem(problem_name)
        reducer = registry.entries("reducer", problem_name)[0].obj()
        torch.manual_seed(0)
        policy = registry.get("policy", "transformer")(
            reducer.num_features, reducer.num_node_types, reducer.actions_per_node,
            num_layers=1, dim=16, heads=2, ff_dim=32,
        ).eval()  # fmt: skip
        inst = problem.generate(b, n, rng=np.random.default_rng(seed))
        tensors = {k: torch.as_tensor(v) for k, v in inst.items()}
        return problem, reducer, policy, inst, tensors, greedy(policy, reducer, tensors)

    return make
