"""The EGNN's declared weight permutations: its MLPs' hidden units, its messages and its node
features leave the predicted positions unchanged (float64, to ~1e-10)."""

from __future__ import annotations

import torch

from symco.core.symmetry import Axis, Permutation, PermutationSpec, check_weight_symmetry
from symco.plugins.nbody.egnn import EGNN
from symco.plugins.nbody.lightning import NBodyModule
from symco.plugins.nbody.linear import Linear


def _randomized(seed: int = 0) -> NBodyModule:
    """A small EGNN with every parameter redrawn (phi_x's last layer starts near zero, which
    would leave the positions almost independent of the weights)."""
    module = NBodyModule(EGNN(hidden=6, num_layers=2))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=gen))
    return module


def test_weight_permutations_leave_the_positions_unchanged() -> None:
    module = _randomized()
    spec = module.weight_permutations()
    assert spec is not None and len(spec.names) == 2 * 5 + 1
    assert spec.description == "2 layers' MLP units and messages, node features"
    (result,) = check_weight_symmetry(module, n=3, seed=0, tol=1e-10)
    assert result.passed, result.row()


def test_node_features_must_move_in_both_halves_of_the_edge_input() -> None:
    """Moving the ``h_i`` block of phi_e's input but not the ``h_j`` block breaks it."""
    module = _randomized()
    spec = module.weight_permutations()
    assert spec is not None
    h = spec.perms["h"]
    axes = tuple(
        a if a.key != "backbone.layers.0.phi_e.0.weight" else Axis(a.key, 1, span=(0, 6))
        for a in h.axes
    )
    broken = PermutationSpec({**spec.perms, "h": Permutation(h.size, axes)})
    module.weight_permutations = lambda: broken  # type: ignore[method-assign]
    (result,) = check_weight_symmetry(module, n=3, seed=0)
    assert not result.passed and result.max_rel > 1e-4, result.row()


def test_a_backbone_without_a_declaration_declares_nothing() -> None:
    assert NBodyModule(Linear()).weight_permutations() is None
    assert check_weight_symmetry(NBodyModule(Linear())) == []
