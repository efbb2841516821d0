"""The naive reference of :class:`~.cell.FlowConvCell`: a Python loop over the velocities."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from symco.plugins.fernn.cell import FlowConvCell


class LoopedFlowConvCell(FlowConvCell):
    """:class:`FlowConvCell` computed one velocity at a time (``torch.roll`` and a convolution
    per :math:`v`), the way the update reads on paper. Same parameters and the same result; it
    exists as the baseline of ``benchmarks/fernn.py`` and as a test oracle.
    """

    def shift(self, h: Tensor) -> Tensor:
        rows = [
            F.pad(torch.roll(h[:, k], (int(vy), int(vx)), dims=(-2, -1)), (1, 1, 1, 1), "circular")
            for k, (vy, vx) in enumerate(self.velocities.tolist())
        ]
        return torch.stack(rows, dim=1)  # (B, V, C, H + 2, W + 2)

    def combine(self, x: Tensor, shifted: Tensor) -> Tensor:
        u = self.conv_u(x)  # (B, C, H, W)
        rows = [torch.relu(u + self.conv_h(shifted[:, k])) for k in range(shifted.shape[1])]
        return torch.stack(rows, dim=1)


__all__ = ["LoopedFlowConvCell"]
