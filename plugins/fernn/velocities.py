"""Velocity sets of flow-equivariant RNNs and the index arithmetic of their channels.

Velocities are integer pixel shifts per frame. Rows are stored as ``(v_y, v_x)`` — the order of
:func:`symco.core.symmetry.roll2d`'s ``(dy, dx)``; positive ``v_x`` moves right, positive
``v_y`` moves down. User-facing options (configs, benchmarks) spell a velocity ``(vx, vy)``.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from symco.core.errors import InvalidInstanceError

Axes = Literal["xy", "x"]
"""``"xy"``: the square :math:`[-r, r]^2`; ``"x"``: the horizontal line :math:`[-r, r] x {0}`."""


def velocity_set(radius: int, axes: Axes = "xy") -> Tensor:
    """The velocity set :math:`V` as ``(|V|, 2)`` long rows ``(v_y, v_x)``, ``(0, 0)`` included.

    ``|V| = (2r + 1)^2`` for ``axes="xy"`` and ``2r + 1`` for ``axes="x"``; rows are ordered by
    ``v_y`` then ``v_x``.
    """
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 0:
        raise InvalidInstanceError(f"radius: must be an integer >= 0, got {radius!r}")
    if axes not in ("xy", "x"):
        raise InvalidInstanceError(f"axes: must be 'xy' or 'x', got {axes!r}")
    span = torch.arange(-radius, radius + 1)
    vy = span if axes == "xy" else torch.zeros(1, dtype=torch.long)
    grid_y, grid_x = torch.meshgrid(vy, span, indexing="ij")
    return torch.stack([grid_y.reshape(-1), grid_x.reshape(-1)], dim=1)


def roll_index(velocities: Tensor, height: int, width: int, border: int = 0) -> Tensor:
    """``(|V|, (H + 2b) (W + 2b))`` long: for each velocity, the flat source pixel of every
    pixel of the rolled image with a circular border of ``b = border`` pixels.

    With ``border=0``, ``x.flatten(-2)[..., index[v]]`` is ``torch.roll(x, v, dims=(-2, -1))``;
    with ``border=1`` it is that roll circularly padded by one pixel (what a 3x3 convolution on
    the torus reads):

    .. math::

        \\operatorname{index}[v, i (W + 2b) + j] = ((i - b - v_y) \\bmod H)\\, W
            + (j - b - v_x) \\bmod W .
    """
    i = torch.arange(-border, height + border)
    j = torch.arange(-border, width + border)
    rows = (i[None, :] - velocities[:, :1]) % height  # (V, H + 2b)
    cols = (j[None, :] - velocities[:, 1:]) % width  # (V, W + 2b)
    return (rows[:, :, None] * width + cols[:, None, :]).reshape(len(velocities), -1)


def channel_shift(velocities: Tensor, shift: Tensor, height: int, width: int) -> Tensor:
    """``(n, |V|)`` long: index of the velocity :math:`v - \\hat v` (mod ``(H, W)``) for every
    channel ``v`` and every ``shift[b] = \\hat v``; ``-1`` where it is not in ``V``.

    Moving an input sequence by the flow of :math:`\\hat v` maps a FERNN's velocity channel
    :math:`v` to the channel of :math:`v - \\hat v`; on a grid of side ``2r + 1`` the square
    :math:`[-r, r]^2` is the whole group :math:`Z_H \\times Z_W`, and no channel is lost.
    """
    modulus = torch.tensor([height, width])
    keys = velocities % modulus  # (V, 2) representatives
    code = keys[:, 0] * width + keys[:, 1]  # (V,)
    lookup = torch.full((height * width,), -1, dtype=torch.long)
    lookup[code] = torch.arange(len(velocities))
    moved = (velocities[None, :, :] - shift[:, None, :].cpu()) % modulus  # (n, V, 2)
    return lookup[moved[..., 0] * width + moved[..., 1]]


def describe(velocities: Tensor) -> str:
    """``V`` in words, velocities as ``(vx, vy)``: ``"vx, vy in [-1, 1] (9 velocities)"``."""
    r = int(velocities.abs().max()) if len(velocities) else 0
    k = len(velocities)
    if k == (2 * r + 1) ** 2:
        return f"vx, vy in [-{r}, {r}] ({k} velocities)"
    if k == 2 * r + 1 and bool((velocities[:, 0] == 0).all()):
        return f"vx in [-{r}, {r}], vy = 0 ({k} velocities)"
    return f"(vx, vy) in {velocities.flip(1).tolist()}"


__all__ = ["Axes", "channel_shift", "describe", "roll_index", "velocity_set"]
