"""The residual-pathway backbone (an EGNN plus a free GNN): where its equivariance error comes
from, and the regularizer's penalties on a sub-batch."""

from __future__ import annotations

import pytest
import torch

from symco.core.errors import InvalidInstanceError
from symco.core.symmetry import check_symmetries
from symco.plugins.nbody.egnn import EGNN
from symco.plugins.nbody.gnn import GNN
from symco.plugins.nbody.lightning import NBodyModule, penalized, rotate_inputs, rotate_outputs
from symco.plugins.nbody.residual_pathway import ResidualPathway
from symco.plugins.nbody.soft import SoftEquivariance


def _model(alpha: float) -> ResidualPathway:
    torch.manual_seed(0)
    return ResidualPathway(EGNN(16, 2), GNN(16, 2, residual=False), alpha_init=alpha).double()


def _inputs(n: int = 12) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    module = NBodyModule(EGNN(8, 1))
    return module.symmetry_inputs(n, torch.Generator().manual_seed(3))


def test_alpha_zero_is_the_equivariant_pathway() -> None:
    model, x = _model(0.0).requires_grad_(False), _inputs()
    assert torch.equal(model(*x), model.equivariant(*x))
    assert float(model.unconstrained(*x).abs().max()) == 0.0
    assert "alpha=0" in repr(model)


def test_penalties_of_the_free_part_are_the_models() -> None:
    """f = e + alpha u with e exactly O(3)-equivariant: every candidate's sampled error of f is
    that of alpha u (float64, the same group elements)."""
    model, x = _model(0.7).requires_grad_(False), _inputs()
    reg = SoftEquivariance()
    fn, is_model = penalized(model)
    assert not is_model
    kwargs = {"act_input": rotate_inputs, "act_output": rotate_outputs}
    free = reg.penalties(fn, x, torch.Generator().manual_seed(5), **kwargs)  # type: ignore[arg-type]
    full = reg.penalties(lambda y: model(*y), x, torch.Generator().manual_seed(5), **kwargs)  # type: ignore[arg-type]
    assert float(full.min()) > 1e-6  # the GNN pathway breaks every candidate
    torch.testing.assert_close(free, full, rtol=1e-9, atol=1e-12)
    _, is_model = penalized(GNN(8, 1).double())
    assert is_model  # no unconstrained(): the backbone itself


def test_sub_batch_penalties_are_those_of_the_first_examples() -> None:
    model, x = _model(0.7).requires_grad_(False), _inputs(12)
    fn, _ = penalized(model)
    kwargs = {"act_input": rotate_inputs, "act_output": rotate_outputs}
    sub = SoftEquivariance(batch=4).penalties(fn, x, torch.Generator().manual_seed(2), **kwargs)  # type: ignore[arg-type]
    head = tuple(t[:4] for t in x)
    ref = SoftEquivariance().penalties(fn, head, torch.Generator().manual_seed(2), **kwargs)  # type: ignore[arg-type]
    torch.testing.assert_close(sub, ref, rtol=0, atol=0)
    with pytest.raises(InvalidInstanceError, match="regularizer: batch must be >= 1"):
        SoftEquivariance(batch=0).check()


def test_the_regularized_pathway_trains() -> None:
    """A few steps of the soft module on the residual pathway: the loss falls, alpha moves off 0."""
    torch.manual_seed(0)
    backbone = ResidualPathway(EGNN(16, 2), GNN(16, 2, residual=False))
    module = NBodyModule(backbone, lr=3e-3, regularizer=SoftEquivariance(batch=4, tune_step=None))
    x = _inputs(16)
    batch = {"loc": x[0].float(), "vel": x[1].float(), "charges": x[2].float(),
             "target": (x[0] + x[1] + 0.1).float()}  # fmt: skip
    opt = torch.optim.Adam(module.parameters(), lr=3e-3)
    module.log = module.log_dict = lambda *a, **k: None  # type: ignore[method-assign]
    module.print = lambda *a, **k: None  # type: ignore[method-assign]
    losses = []
    for _ in range(30):
        loss = module.training_step(batch, 0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]
    assert float(backbone.alpha.detach()) != 0.0


def test_declared_symmetries_catch_the_free_pathway() -> None:
    """NBodyModule declares E(3) and particle permutations for any backbone: with the free
    pathway switched off the residual pathway passes both, switched on it fails E(3) only."""
    off = {r.label.split(":")[0]: r.passed for r in check_symmetries(NBodyModule(_model(0.0)))}
    on = {r.label.split(":")[0]: r.passed for r in check_symmetries(NBodyModule(_model(0.7)))}
    assert off == {"euclidean": True, "node-permutation": True}
    assert on == {"euclidean": False, "node-permutation": True}
