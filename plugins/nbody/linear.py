"""The linear-motion baseline of the n-body benchmark."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Linear(nn.Module):
    """Straight-line motion with a learned time: :math:`\\hat x_i = x_i + \\alpha\\, v_i`.

    The EGNN paper's "Linear" baseline (the motion equation :math:`p(t) = p(0) + v(0)\\,t`, one
    learned scalar); it ignores the charges and is trivially :math:`E(3) \\times S_N`
    equivariant. ``alpha`` starts at ``alpha_init`` (1.0: the 1,000 steps of 0.001 between the
    input and output frames).
    """

    def __init__(self, alpha_init: float = 1.0) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.tensor(float(alpha_init)))

    def forward(self, loc: Tensor, vel: Tensor, charges: Tensor) -> Tensor:
        """``loc``/``vel`` ``(B, N, 3)`` (``charges`` unused) -> positions ``(B, N, 3)``."""
        return loc + self.alpha.to(loc.dtype) * vel
