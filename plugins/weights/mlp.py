"""A plain MLP that declares its weight permutations: the model the alignment tests use."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from symco.core.symmetry.weights import Permutation, PermutationSpec, columns, rows


class MLP(nn.Module):
    """``in_dim -> widths[0] -> ... -> widths[-1] -> out_dim``, ReLU after every hidden layer.

    Its hidden layer ``l`` is the permutation ``hidden{l}``: the rows of ``layers.{l}`` (weight
    and bias) and the columns of ``layers.{l + 1}``. Shapes: ``(B, in_dim)`` in, ``(B, out_dim)``
    out.
    """

    def __init__(self, in_dim: int, widths: Sequence[int], out_dim: int) -> None:
        super().__init__()
        dims = [in_dim, *widths, out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(1)  # (B, in_dim): images are flattened
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)  # type: ignore[no-any-return]

    def activations(self, x: Tensor, *, pre: bool = False) -> dict[str, Tensor]:
        """Every hidden layer's units on ``x``: ``hidden{l} -> (B, widths[l])``, after the ReLU
        (before it with ``pre``) — what activation matching correlates."""
        out = {}
        x = x.flatten(1)
        for i, layer in enumerate(self.layers[:-1]):
            z = layer(x)
            x = torch.relu(z)
            out[f"hidden{i}"] = z if pre else x
        return out

    def init_args(self) -> dict[str, Any]:
        """What rebuilds this architecture: ``MLP(**init_args())``."""
        widths = [int(layer.out_features) for layer in self.layers[:-1]]
        return {"in_dim": self.layers[0].in_features, "widths": widths,
                "out_dim": self.layers[-1].out_features}  # fmt: skip

    def pleas_merge(
        self, other: MLP, inputs: Tensor, widths: int | Sequence[int] | None, heads: str
    ) -> MLP:
        """This MLP and ``other`` merged by PLeaS on ``inputs`` (:func:`~.pleas.pleas_merge`),
        in float32."""
        from .pleas import pleas_merge

        merged, _ = pleas_merge(self, other, inputs, widths, heads=heads)  # type: ignore[arg-type]
        return merged.float()

    def weight_permutations(self) -> PermutationSpec:
        """``hidden{l}``: the units of hidden layer ``l``."""
        layers = [f"layers.{i}" for i in range(len(self.layers))]
        perms = {
            f"hidden{i}": Permutation(
                self.layers[i].out_features, (*rows(layers[i]), *columns(layers[i + 1]))
            )
            for i in range(len(layers) - 1)
        }
        return PermutationSpec(perms, f"{len(perms)} hidden layers' units")

    # -- what check_weight_symmetry runs it on -----------------------------------------------------

    def symmetry_inputs(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` standard normal inputs in float64."""
        first = self.layers[0]
        return torch.randn(n, first.in_features, generator=generator, dtype=torch.float64)

    def symmetry_outputs(self, inputs: Tensor) -> Tensor:
        return self(inputs)  # type: ignore[no-any-return]
