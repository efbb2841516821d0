"""m independent scalar MLPs applied elementwise to eigenvalues (SPE's φ_1..φ_m)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class EigenvalueMLPs(nn.Module):
    r"""``m`` scalar networks :math:`\varphi_\ell: \mathbb R \to \mathbb R` (1→hidden→1 MLPs),
    applied elementwise to a tensor of eigenvalues.

    .. math::
        \varphi_\ell(\lambda) = w^{(2)}_\ell{}^\top
        \operatorname{ReLU}(w^{(1)}_\ell \lambda + b^{(1)}_\ell)
        + b^{(2)}_\ell, \qquad \ell = 1..m

    Elementwise means permutation equivariant over the eigenvalues and equal outputs for equal
    eigenvalues (what SPE's basis invariance rests on); piecewise linear means Lipschitz (what
    its stability rests on). Shapes: ``(*, d)`` in, ``(*, d, m)`` out. All m MLPs run as one
    batched einsum.
    """

    def __init__(self, m: int, hidden: int) -> None:
        super().__init__()
        self.m, self.hidden = m, hidden
        self.w1 = nn.Parameter(torch.empty(m, hidden))
        self.b1 = nn.Parameter(torch.empty(m, hidden))
        self.w2 = nn.Parameter(torch.empty(m, hidden))
        self.b2 = nn.Parameter(torch.empty(m))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # the bounds nn.Linear uses: fan-in 1 for the first layer, `hidden` for the second
        nn.init.uniform_(self.w1, -1.0, 1.0)
        nn.init.uniform_(self.b1, -1.0, 1.0)
        bound = 1.0 / math.sqrt(self.hidden)
        nn.init.uniform_(self.w2, -bound, bound)
        nn.init.uniform_(self.b2, -bound, bound)

    def forward(self, lam: Tensor) -> Tensor:
        h = torch.relu(lam[..., None, None] * self.w1 + self.b1)  # (*, d, m, hidden)
        return (h * self.w2).sum(-1) + self.b2  # (*, d, m)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(m={self.m}, hidden={self.hidden})"
