"""The flow-equivariant convolutional RNN cell (Keller, 2025, arXiv 2507.14793)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from symco.plugins.fernn.velocities import roll_index


class FlowConvCell(nn.Module):
    """One step of a recurrent network whose hidden state is lifted over a velocity set ``V``.

    Every velocity channel :math:`v` keeps its own image state, moved by its own velocity before
    it is combined with the new frame:

    .. math::

        h^{t}_v = \\operatorname{ReLU}\\big(\\operatorname{conv}_u(x_t)
            + \\operatorname{conv}_h(\\operatorname{roll}(h^{t-1}_v, v))\\big),

    with 3x3 circular convolutions without bias, :math:`\\operatorname{conv}_h` shared over
    :math:`v` and :math:`\\operatorname{conv}_u(x_t)` the same for every :math:`v` (the trivial
    lift). On the torus this makes the cell equivariant to flows of any :math:`\\hat v \\in V`:
    moving the input sequence by :math:`t \\hat v` maps channel :math:`v` to
    :math:`v - \\hat v` and rolls it by :math:`t \\hat v`. With ``V = {(0, 0)}`` it is a
    plain convolutional RNN (the G-RNN).

    The velocities are folded into the batch: one ``index_select`` rolls every channel *and*
    adds the one-pixel circular border ``conv_h`` reads, and one convolution call serves all
    velocities — no Python loop over ``V``. The state is kept channels-last in memory
    (``(B, |V|, H, W, C)``), so that the gather moves whole rows of ``C`` values.

    Shapes: ``x`` ``(B, C_in, H, W)``, ``h`` ``(B, |V|, C, H, W)`` -> ``(B, |V|, C, H, W)``.

    :param velocities: ``(|V|, 2)`` integer rows ``(v_y, v_x)`` (see :mod:`.velocities`).
    """

    def __init__(self, in_channels: int, hidden: int, velocities: Tensor) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.hidden = hidden
        self.register_buffer("velocities", velocities.long().clone(), persistent=False)
        self.conv_u = nn.Conv2d(in_channels, hidden, 3, padding=1, padding_mode="circular", bias=False)  # fmt: skip
        self.conv_h = nn.Conv2d(hidden, hidden, 3, bias=False)  # reads the border shift() adds
        self._index: dict[tuple[int, int, torch.device], Tensor] = {}

    @property
    def num_velocities(self) -> int:
        return int(self.velocities.shape[0])

    def _roll_index(self, height: int, width: int, device: torch.device) -> Tensor:
        key = (height, width, device)
        if key not in self._index:  # flat rows of the (V, H, W) state, built once per grid size
            index = roll_index(self.velocities.cpu(), height, width, border=1)  # (V, (H+2)(W+2))
            offset = torch.arange(self.num_velocities)[:, None] * (height * width)
            self._index[key] = (index + offset).reshape(-1).to(device)
        return self._index[key]

    def shift(self, h: Tensor) -> Tensor:
        """:math:`\\operatorname{roll}(h_v, v)` for every channel at once, with a one-pixel
        circular border: ``(B, |V|, C, H, W)`` -> ``(B, |V|, C, H + 2, W + 2)``
        (:meth:`interior` drops the border)."""
        batch, num_v, channels, height, width = h.shape
        rows = h.permute(0, 1, 3, 4, 2).reshape(batch, num_v * height * width, channels)
        index = self._roll_index(height, width, h.device)
        moved = rows.index_select(1, index)  # (B, V*(H+2)*(W+2), C)
        return moved.view(batch, num_v, height + 2, width + 2, channels).permute(0, 1, 4, 2, 3)

    @staticmethod
    def interior(shifted: Tensor) -> Tensor:
        """The rolled state without its border, ``(B, |V|, C, H, W)`` (a view)."""
        return shifted[..., 1:-1, 1:-1]

    def initial_state(self, x: Tensor) -> Tensor:
        """The zero state for frames like ``x`` ``(B, C_in, H, W)``: ``(B, |V|, C, H, W)``."""
        batch, _, height, width = x.shape
        h = x.new_zeros(batch, self.num_velocities, height, width, self.hidden)
        return h.permute(0, 1, 4, 2, 3)  # channels-last in memory, like every later state

    def combine(self, x: Tensor, shifted: Tensor) -> Tensor:
        """The update from a frame ``(B, C_in, H, W)`` and a :meth:`shift`-ed state."""
        batch, num_v, channels, height, width = shifted.shape  # with the border
        u = self.conv_u(x).permute(0, 2, 3, 1)  # (B, H, W, C): the same for every velocity
        flat = shifted.reshape(batch * num_v, channels, height, width)  # channels-last view
        w = self.conv_h(flat).permute(0, 2, 3, 1)  # (B*V, H-2, W-2, C): the border is consumed
        w = w.reshape(batch, num_v, height - 2, width - 2, channels)
        # the sum and the ReLU run over contiguous channels-last memory (they are bandwidth
        # bound: a layout mismatch would cost more than the convolution)
        h = torch.relu(u[:, None] + w)  # (B, V, H, W, C)
        return h.permute(0, 1, 4, 2, 3)  # (B, V, C, H, W), still channels-last in memory

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        return self.combine(x, self.shift(h))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(in_channels={self.in_channels}, hidden={self.hidden}, "
            f"velocities={self.num_velocities})"
        )


__all__ = ["FlowConvCell"]
