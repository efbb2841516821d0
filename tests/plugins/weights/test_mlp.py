"""The plugin's MLP declares its hidden layers, and the declaration holds."""

from __future__ import annotations

import torch

from symco.core.symmetry import check_weight_symmetry
from symco.plugins.weights.mlp import MLP


def test_hidden_layers_are_its_permutations() -> None:
    torch.manual_seed(0)
    mlp = MLP(4, [6, 5, 7], 3)
    spec = mlp.weight_permutations()
    assert spec.names == ("hidden0", "hidden1", "hidden2")
    assert [p.size for p in spec.perms.values()] == [6, 5, 7]
    assert spec.description == "3 hidden layers' units"
    (result,) = check_weight_symmetry(mlp, n=4, seed=0, tol=1e-10)
    assert result.passed, result.row()


def test_activations_are_the_hidden_units() -> None:
    mlp = MLP(4, [6, 5], 3)
    x = torch.randn(10, 4)
    pre, post = mlp.activations(x, pre=True), mlp.activations(x)
    assert {k: tuple(v.shape) for k, v in post.items()} == {"hidden0": (10, 6), "hidden1": (10, 5)}
    assert torch.equal(post["hidden0"], torch.relu(pre["hidden0"]))
