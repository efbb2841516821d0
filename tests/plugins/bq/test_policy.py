"""The BQ transformer's memory estimate (one block's activations, no attention scores) and its
declared weight permutations."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
import torch

from symco.core.symmetry import Axis, Permutation, PermutationSpec, check_weight_symmetry
from symco.plugins.bq.lightning import BQModule
from symco.plugins.bq.policy import BQTransformer


def test_forward_bytes_is_one_block_linear_in_the_nodes() -> None:
    """Blocks run in turn and the fused attention kernel holds no ``(heads, M, M)`` scores, so
    the peak is one block's activations: ``max(9 dim, 6 dim + 2 ff_dim)`` floats per node."""
    paper = BQTransformer(2, 3, 1)  # 9 layers, dim 192, 12 heads, ff_dim 512
    assert paper.forward_bytes(1, 1000) == 4 * 1000 * max(9 * 192, 6 * 192 + 2 * 512)
    assert paper.forward_bytes(4, 2000) == 8 * paper.forward_bytes(1, 1000)
    wide = BQTransformer(2, 3, 1, num_layers=1, dim=64, heads=2, ff_dim=1024)
    assert wide.forward_bytes(1, 10) == 4 * 10 * (6 * 64 + 2 * 1024)  # the feed-forward's peak
    assert BQTransformer(2, 3, 1, num_layers=18).forward_bytes(1, 1000) == paper.forward_bytes(
        1, 1000
    )


def _randomized(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every parameter redrawn (the ReZero gates start at 0: every block would be the identity
    and its heads and FF units could be permuted at will)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=gen))
    return module


def _module(**policy: int) -> BQModule:
    from symco.plugins.bq.tsp import BQTSPReducer
    from symco.problems.tsp import TSP

    small = partial(BQTransformer, num_layers=2, dim=16, heads=4, ff_dim=24, **policy)
    return _randomized(BQModule(TSP(), BQTSPReducer(), small))  # type: ignore[return-value]


def test_weight_permutations_leave_the_logits_unchanged() -> None:
    """FF units, heads and the residual stream of every block, in float64 to ~1e-10."""
    module = _module()
    spec = module.weight_permutations()
    assert spec is not None and set(spec.names) == {"ff0", "ff1", "heads0", "heads1", "residual"}
    assert spec.description == "2 blocks' FF units, heads, residual stream"
    assert all(key.startswith("policy.") for key in spec.keys)
    (result,) = check_weight_symmetry(module, n=3, seed=0, tol=1e-10)
    assert result.passed, result.row()


@pytest.mark.parametrize("name", ["heads0", "residual"])
def test_a_wrong_declaration_fails(name: str) -> None:
    """Heads whose value rows stay put, or a stream that skips the output head, change the
    logits: the check is not vacuous."""
    module = _module()
    spec = module.weight_permutations()
    assert spec is not None
    perm = spec.perms[name]
    if name == "heads0":  # the query and key rows move, the value rows (rows 32..47) do not
        qkv = ("policy.blocks.0.qkv.weight", "policy.blocks.0.qkv.bias")
        axes = [Axis(a.key, 0, 2, a.inner, (0, 32)) if a.key in qkv else a for a in perm.axes]
    else:
        axes = [a for a in perm.axes if a.key != "policy.head.weight"]
    broken = PermutationSpec({**spec.perms, name: Permutation(perm.size, tuple(axes))})
    module.weight_permutations = lambda: broken  # type: ignore[method-assign]
    (result,) = check_weight_symmetry(module, n=3, seed=0)
    assert not result.passed and result.max_rel > 1e-4, result.row()


def test_weight_evaluate_is_the_greedy_gap_and_permutation_invariant(tmp_path: Path) -> None:
    """What ``symco barrier`` reads of a BQ policy: a labelled file's greedy gap (%, the same as
    ``greedy_gaps``) and the share solved to the reference — unchanged by a weight permutation."""
    import numpy as np

    from symco.core.symmetry import WeightPermutations
    from symco.problems.tsp import TSP
    from symco.problems.tsp.solvers import ExactTSP

    problem = TSP()
    instances = problem.generate(6, 7, rng=np.random.default_rng(0))
    solver = ExactTSP()
    sols = np.stack(
        [
            solver.solve({k: v[i : i + 1] for k, v in instances.items()}).reshape(-1)
            for i in range(6)
        ]
    )
    objs = problem.objective(instances, sols)
    path = tmp_path / "tsp7.npz"
    np.savez(path, **instances, **{problem.solution_key: sols, problem.objective_key: objs})
    module = _module()
    data = module.weight_data(str(path))
    gap, solved = module.weight_evaluate(data)
    gaps = module.greedy_gaps(data)
    assert gap == pytest.approx(float(gaps.mean())) and gap >= -1e-9
    assert solved == pytest.approx(float((gaps <= 1e-6).double().mean()))
    group = WeightPermutations.of(module)
    state = module.state_dict()
    module.load_state_dict(group.permute(group.perms(group.sample(1, torch.Generator())), state))
    assert module.weight_evaluate(data) == pytest.approx((gap, solved))
