"""The flow-equivariant recurrent next-frame predictor (FERNN; G-RNN with one velocity)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from symco.plugins.fernn.cell import FlowConvCell
from symco.plugins.fernn.loop import LoopedFlowConvCell


def conv3x3(c_in: int, c_out: int) -> nn.Conv2d:
    """A 3x3 convolution with circular padding (it commutes with rolls of the torus)."""
    return nn.Conv2d(c_in, c_out, 3, padding=1, padding_mode="circular")


class FERNN(nn.Module):
    """A recurrent next-frame predictor over a velocity set (Keller, 2025, arXiv 2507.14793).

    The frames pass through a :class:`FlowConvCell`; to predict frame :math:`t + 1` the state
    is first moved one step along its own velocity, read out by a max over the velocities and
    decoded by ``decoder_layers`` x (3x3 conv + ReLU) and an output 3x3 conv:

    .. math::

        \\hat x_{t+1} = \\operatorname{dec}\\big(\\max_{v \\in V}
            \\operatorname{roll}(h^t_v, v)\\big),
        \\qquad h^{t+1}_v = \\operatorname{ReLU}\\big(\\operatorname{conv}_u(\\hat x_{t+1})
            + \\operatorname{conv}_h(\\operatorname{roll}(h^t_v, v))\\big).

    Reading out the *moved* state makes the prediction of frame :math:`t + 1` move by
    :math:`(t + 1) \\hat v` under a flow :math:`\\hat v` — exactly what frame :math:`t + 1` of
    the moved sequence does — and the moved state is the one the next update needs anyway.
    After the input frames the model rolls out on its own predictions (detached: no gradient
    flows through a fed-back frame, as in the paper). With ``V = {(0, 0)}`` this is the G-RNN,
    with the same parameters.

    Shapes: ``x`` ``(B, T_in, C_in, H, W)`` -> predictions ``(B, steps, C_in, H, W)``.

    :param velocities: ``(|V|, 2)`` rows ``(v_y, v_x)`` (:func:`.velocities.velocity_set`).
    :param looped: compute the cell one velocity at a time (the slow reference).
    """

    def __init__(
        self,
        velocities: Tensor,
        in_channels: int = 1,
        hidden: int = 32,
        decoder_layers: int = 4,
        looped: bool = False,
    ) -> None:
        super().__init__()
        cell = LoopedFlowConvCell if looped else FlowConvCell
        self.cell = cell(in_channels, hidden, velocities)
        layers: list[nn.Module] = []
        for _ in range(decoder_layers):
            layers += [conv3x3(hidden, hidden), nn.ReLU()]
        self.decoder = nn.Sequential(*layers, conv3x3(hidden, in_channels))

    @property
    def velocities(self) -> Tensor:
        return self.cell.velocities

    def encode(self, x: Tensor) -> Tensor:
        """The state after the frames ``x`` ``(B, T, C_in, H, W)``: ``(B, |V|, C, H, W)``."""
        h = self.cell.initial_state(x[:, 0])
        for t in range(x.shape[1]):
            h = self.cell(x[:, t], h)
        return h

    def rollout(self, x: Tensor, steps: int) -> tuple[Tensor, Tensor]:
        """``(predictions (B, steps, C_in, H, W), state after the last predicted frame)``."""
        h = self.encode(x)
        preds = []
        for _ in range(steps):
            shifted = self.cell.shift(h)  # (B, V, C, H, W): every channel one step on
            y = self.decoder(self.cell.interior(shifted).amax(dim=1))  # (B, C_in, H, W)
            preds.append(y)
            h = self.cell.combine(y.detach(), shifted)
        return torch.stack(preds, dim=1), h

    def forward(self, x: Tensor, steps: int) -> Tensor:
        """Predict ``steps`` frames after ``x`` (the last update, unused, is skipped)."""
        h = self.encode(x)
        preds = []
        for k in range(steps):
            shifted = self.cell.shift(h)
            y = self.decoder(self.cell.interior(shifted).amax(dim=1))
            preds.append(y)
            if k + 1 < steps:
                h = self.cell.combine(y.detach(), shifted)
        return torch.stack(preds, dim=1)  # (B, steps, C_in, H, W)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(velocities={self.cell.num_velocities}, "
            f"hidden={self.cell.hidden}, decoder_layers={(len(self.decoder) - 1) // 2})"
        )


__all__ = ["FERNN"]
