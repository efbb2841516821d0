"""Cyclic shifts of images on a torus: :class:`TorusTranslation` (:math:`Z_H \\times Z_W`) and
the flows they generate, :class:`TorusFlow`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import Tensor

from .group import Element, Group, as_tensor, randint, randn

_MAX_ENUMERATED = 4096


def roll2d(x: Tensor, dy: Tensor, dx: Tensor) -> Tensor:
    """Cyclically roll the last two axes of ``x`` by per-sample shifts, without a Python loop.

    ``dy`` and ``dx`` are long tensors whose shape ``L`` is the leading shape of ``x``
    ``(*L, ..., H, W)``; slice ``x[l]`` is rolled by ``(dy[l], dx[l])`` exactly like
    ``torch.roll(x[l], (dy[l], dx[l]), dims=(-2, -1))``:

    .. math::

        x'_{\\dots, i, j} = x_{\\dots, (i - dy) \\bmod H, (j - dx) \\bmod W} .
    """
    height, width = x.shape[-2], x.shape[-1]
    lead = dy.dim()
    middle = [1] * (x.dim() - lead - 2)
    rows = (torch.arange(height, device=x.device) - dy[..., None]) % height  # (*L, H)
    cols = (torch.arange(width, device=x.device) - dx[..., None]) % width  # (*L, W)
    rows = rows.reshape(*dy.shape, *middle, height, 1).expand(x.shape)  # (*L, ..., H, W)
    cols = cols.reshape(*dx.shape, *middle, 1, width).expand(x.shape)  # (*L, ..., H, W)
    return x.gather(-2, rows).gather(-1, cols)


class _TorusShifts(Group):
    """Shared arithmetic of :math:`Z_H \\times Z_W`: ``(n, 2)`` long ``(dy, dx)`` mod ``(H, W)``."""

    finite: ClassVar[bool] = True

    def __init__(self, height: int = 8, width: int = 8) -> None:
        if height < 1 or width < 1:
            raise ValueError(f"height and width must be >= 1, got {height}x{width}")
        self.height = height
        self.width = width

    def modulus(self, device: torch.device | None = None) -> Tensor:
        """``(2,)`` long: ``(H, W)``."""
        return torch.tensor([self.height, self.width], device=device)

    def reduce(self, g: Element) -> Tensor:
        """The representatives of ``g`` in ``[0, H) x [0, W)``, ``(n, 2)``."""
        shifts = as_tensor(g)
        return shifts % self.modulus(shifts.device)

    def elements(self) -> Tensor | None:
        """All ``H * W`` shifts ``(H * W, 2)`` (row-major, ``(0, 0)`` first), when
        ``H * W <= 4096``."""
        if self.height * self.width > _MAX_ENUMERATED:
            return None
        dy, dx = torch.meshgrid(
            torch.arange(self.height), torch.arange(self.width), indexing="ij"
        )  # (H, W) each
        return torch.stack([dy.reshape(-1), dx.reshape(-1)], dim=1)

    def identity(
        self,
        n: int,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """``(n, 2)`` zeros (``dtype`` is ignored: elements are integers)."""
        return torch.zeros(n, 2, dtype=torch.long, device=device)

    def compose(self, g: Element, h: Element) -> Tensor:
        """The sum of the shifts, mod ``(H, W)``."""
        return self.reduce(as_tensor(g) + as_tensor(h))

    def inverse(self, g: Element) -> Tensor:
        """The negated shift, mod ``(H, W)``."""
        return self.reduce(-as_tensor(g))

    def equal(self, g: Element, h: Element, atol: float = 1e-9) -> Tensor:
        """``(n,)`` bool: equality mod ``(H, W)`` (any integer representative is accepted)."""
        return (self.reduce(g) == self.reduce(h)).all(dim=1)


class TorusTranslation(_TorusShifts):
    """Cyclic translations :math:`Z_H \\times Z_W` of ``H x W`` images.

    An element batch is ``(n, 2)`` long shifts ``(dy, dx)``, taken mod ``(H, W)``; it acts on
    ``x`` ``(n, ..., H, W)`` by rolling the last two axes, exactly like
    ``torch.roll(x[b], (dy[b], dx[b]), dims=(-2, -1))`` for every ``b`` (see :func:`roll2d`).
    """

    name: ClassVar[str] = "torus-translation"
    acts_on: ClassVar[str] = "(B, ..., H, W) images: cyclic roll of the last two axes"

    def sample(
        self,
        n: int,
        generator: torch.Generator,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """``(n, 2)`` uniform shifts in ``[0, H) x [0, W)``."""
        dy = randint(0, self.height, (n,), generator, device=device)
        dx = randint(0, self.width, (n,), generator, device=device)
        return torch.stack([dy, dx], dim=1)

    def act(self, g: Element, x: Tensor) -> Tensor:
        """Roll ``x`` ``(n, ..., H, W)`` by ``(dy[b], dx[b])`` per sample."""
        shifts = as_tensor(g).to(x.device)  # (n, 2)
        return roll2d(x, shifts[:, 0], shifts[:, 1])

    def example_input(
        self, n: int, generator: torch.Generator, *, dtype: torch.dtype = torch.float64
    ) -> Tensor:
        """Random 2-channel images, ``(n, 2, H, W)``."""
        return randn((n, 2, self.height, self.width), generator, dtype=dtype)

    def __repr__(self) -> str:
        return f"TorusTranslation(height={self.height}, width={self.width})"


class TorusFlow(_TorusShifts):
    """Flows generated by the cyclic translations of ``H x W`` images, acting on sequences.

    An element is an integer velocity :math:`v = (v_y, v_x)` (``(n, 2)`` long, taken mod
    ``(H, W)``). It acts on a sequence ``x`` ``(n, T, ..., H, W)`` by moving frame ``t`` by
    :math:`t v` (cyclically; frame 0 is unchanged):

    .. math::

        \\operatorname{act}(v, x)_t = \\operatorname{roll}(x_t,\\, t v) .

    This is the group of flows a constant velocity field generates from the translations, as
    in flow-equivariant recurrent networks (Keller, 2025). Flows commute:
    ``compose(v, w) = v + w`` and ``inverse(v) = -v`` (mod ``(H, W)``).
    :meth:`act_offset` applies a flow that starts from an initial translation and/or time.

    ``velocities`` (rows ``(v_y, v_x)``) restricts :meth:`sample` to a set — say the horizontal
    velocities a model is built for; by default it draws from ``[-max_speed, max_speed]^2``.
    """

    name: ClassVar[str] = "torus-flow"
    acts_on: ClassVar[str] = "(B, T, ..., H, W) image sequences: frame t rolled by t * v"

    def __init__(
        self,
        height: int = 8,
        width: int = 8,
        max_speed: int = 1,
        velocities: Sequence[Sequence[int]] | Tensor | None = None,
    ) -> None:
        super().__init__(height, width)
        if max_speed < 0:
            raise ValueError(f"max_speed must be >= 0, got {max_speed}")
        self.max_speed = max_speed
        self.velocities: Tensor | None = None
        if velocities is not None:
            v = torch.as_tensor(velocities)
            if v.dim() != 2 or v.shape[1] != 2 or v.shape[0] == 0 or v.is_floating_point():
                raise ValueError("velocities must be a non-empty (k, 2) set of integer (vy, vx)")
            self.velocities = v.long()

    def sample(
        self,
        n: int,
        generator: torch.Generator,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """``(n, 2)`` velocities uniform in ``[-max_speed, max_speed]^2``, or in the given
        ``velocities`` (not reduced)."""
        if self.velocities is not None:
            pick = randint(0, len(self.velocities), (n,), generator, device=device)
            return self.velocities.to(pick.device)[pick]
        speed = self.max_speed
        return randint(-speed, speed + 1, (n, 2), generator, device=device)

    def act(self, g: Element, x: Tensor) -> Tensor:
        """Roll frame ``t`` of ``x`` ``(n, T, ..., H, W)`` by ``t * v``."""
        return self.act_offset(g, x)

    def act_offset(
        self, g: Element, x: Tensor, offset: Tensor | None = None, start: int = 0
    ) -> Tensor:
        """Roll frame ``t`` of ``x`` ``(n, T, ..., H, W)`` by ``offset + (start + t) * v``.

        ``offset`` ``(n, 2)`` long is an initial translation (default none) and ``start`` the
        time of frame 0 (e.g. to continue a sequence); ``act(v, x)`` is
        ``act_offset(v, x, None, 0)``.
        """
        velocity = as_tensor(g).to(x.device)  # (n, 2)
        times = torch.arange(start, start + x.shape[1], device=x.device)  # (T,)
        shifts = times[None, :, None] * velocity[:, None, :]  # (n, T, 2)
        if offset is not None:
            shifts = shifts + offset.to(x.device)[:, None, :]
        return roll2d(x, shifts[..., 0], shifts[..., 1])

    def example_input(
        self, n: int, generator: torch.Generator, *, dtype: torch.dtype = torch.float64
    ) -> Tensor:
        """Random sequences of 4 frames of 2-channel images, ``(n, 4, 2, H, W)``."""
        return randn((n, 4, 2, self.height, self.width), generator, dtype=dtype)

    def __repr__(self) -> str:
        extra = "" if self.velocities is None else f", velocities={self.velocities.tolist()}"
        return (
            f"TorusFlow(height={self.height}, width={self.width}, max_speed={self.max_speed}"
            f"{extra})"
        )


__all__ = ["TorusFlow", "TorusTranslation", "roll2d"]
