"""The shipped models give the same solutions as before the core redesign (recorded at 988c4fe
by decoding fixed seeded instances: greedy, greedy with kNN, beam search)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from symco.core.decoding import beam_search, greedy
from symco.core.manager import shipped_models
from symco.core.training.checkpoints import load_model

from ...conftest import _PM

CASES = json.loads((Path(__file__).with_name("recorded") / "regression.json").read_text())


@pytest.mark.parametrize("key", sorted(CASES))
def test_shipped_model_solutions_unchanged(key: str, registry) -> None:
    case = CASES[key]
    module = load_model(case["model"], shipped_models(_PM), registry).module
    inst = module.problem.generate(4, case["size"], rng=np.random.default_rng(case["seed"]))
    tensors = {k: torch.as_tensor(v) for k, v in inst.items()}
    if case["decode"] == "greedy":
        sols = greedy(module.policy, module.reducer, tensors, knn=case["knn"])
    else:
        width = int(case["decode"].partition(":")[2])
        sols = beam_search(
            module.policy, module.reducer, module.problem, tensors, width, knn=case["knn"]
        )
    assert sols.dtype == torch.long  # packed (B, L), -1 padded: the same tours once unpacked
    sols = module.problem.unpack_solutions(sols.numpy())
    assert [[int(x) for x in s] for s in sols] == case["solutions"]
    np.testing.assert_allclose(module.problem.objective(inst, sols), case["objectives"], rtol=1e-12)
