"""Frame averaging (Puny et al., ICLR 2022) of any n-body backbone over PCA frames."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from symco.core.symmetry.frames import DegenerateFrameError, PCAFrame, PCAFrames


class FrameAveraging(nn.Module):
    """:math:`E(3)`- (or :math:`SE(3)`-) equivariant wrapper of any n-body backbone
    ``f(loc, vel, charges) -> positions`` (Puny et al., *Frame Averaging for Invariant and
    Equivariant Network Design*, ICLR 2022).

    The frames are the core's :class:`~symco.core.symmetry.frames.PCAFrame` of the positions:
    centre :math:`c`, covariance eigenvectors :math:`E` and every sign choice,
    :math:`R_s = E \\operatorname{diag}(s)` (8 frames for :math:`O(3)`, the 4 with
    :math:`\\det = +1` for :math:`SO(3)` with ``proper``):

    .. math::

        \\hat x = \\frac{1}{|F|} \\sum_{s} f\\big((x - c) R_s,\\; v R_s,\\; q\\big) R_s^\\top + c .

    Positions are centred and rotated, velocities only rotated, charges untouched; the outputs
    (positions) are rotated back and re-centred, then averaged. The frame set moves with the
    input, so the average is equivariant for *any* ``f`` — exactly while the covariance's
    eigenvalues are distinct (the set of frames is then determined by the points).

    **Degenerate covariance** (two eigenvalues within ``tol`` of each other relative to the
    largest: a symmetric configuration such as a planar regular polygon): the eigenbasis inside
    the repeated eigenspace is arbitrary and the average would not be equivariant. With
    ``on_degenerate="tiebreak"`` (default) those instances take their frames from the
    second-moment tensor of positions *and* velocities instead, the covariance of the points
    :math:`\\{x_i - c\\} \\cup \\{\\pm v_i\\}` (:math:`\\propto C_x + 2 C_v`, still
    :math:`E(3)`-equivariant and permutation invariant), which separates the eigenvalues unless
    the velocities share the symmetry; instances still degenerate after that are counted in
    :attr:`last_degenerate` (their output is the average over ``eigh``'s basis: finite but not
    guaranteed equivariant). ``"raise"`` raises
    :class:`~symco.core.symmetry.frames.DegenerateFrameError` instead.

    Cost: ``|F|`` backbone calls per input (one batched call of ``|F| B`` examples). This
    averages the outputs only; the paper's n-body FA-GNN also un-frames, averages and re-frames
    latents between layers.
    """

    def __init__(
        self,
        backbone: nn.Module,
        proper: bool = False,
        tol: float = 1e-4,
        on_degenerate: Literal["tiebreak", "raise"] = "tiebreak",
    ) -> None:
        super().__init__()
        if on_degenerate not in ("tiebreak", "raise"):
            raise ValueError(f"on_degenerate must be 'tiebreak' or 'raise', got {on_degenerate!r}")
        self.backbone = backbone
        self.proper = proper
        self.on_degenerate = on_degenerate
        mode: Literal["raise", "report"] = "raise" if on_degenerate == "raise" else "report"
        self.frame = PCAFrame(proper=proper, tol=tol, on_degenerate=mode)
        self.last_degenerate = 0
        """Instances of the last call whose frames stayed degenerate after the tie-break."""

    def frames(self, loc: Tensor, vel: Tensor) -> PCAFrames:
        """The frames of positions ``loc`` ``(B, N, 3)`` (velocities ``(B, N, 3)`` break ties)."""
        params = self.frame.frames(loc)  # rotations (B, F, 3, 3), centre (B, 1, 3)
        degenerate = params.degenerate  # (B,)
        self.last_degenerate = 0
        if not bool(degenerate.any()):
            return params
        mixed = torch.cat([loc - params.centre, vel, -vel], dim=1)  # (B, 3N, 3), mean 0
        tie = self.frame.frames(mixed)
        pick = degenerate[:, None, None, None]  # (B, 1, 1, 1)
        rotations = torch.where(pick, tie.rotations, params.rotations)  # (B, F, 3, 3)
        eigenvalues = torch.where(degenerate[:, None], tie.eigenvalues, params.eigenvalues)
        still = degenerate & tie.degenerate  # (B,)
        self.last_degenerate = int(still.sum())
        return PCAFrames(rotations, params.centre, eigenvalues, still)

    def forward(self, loc: Tensor, vel: Tensor, charges: Tensor) -> Tensor:
        """``loc``/``vel`` ``(B, N, 3)``, ``charges`` ``(B, N)`` -> positions ``(B, N, 3)``.

        :raises DegenerateFrameError: with ``on_degenerate="raise"``, for a degenerate input.
        """
        params = self.frames(loc, vel)
        rot = params.rotations  # (B, F, 3, 3)
        batch, num_frames, n = loc.shape[0], rot.shape[1], loc.shape[1]
        x_c = (loc - params.centre)[:, None] @ rot  # (B, F, N, 3)
        v_c = vel[:, None] @ rot  # (B, F, N, 3)
        q_c = charges[:, None].expand(batch, num_frames, n)  # (B, F, N)
        out = self.backbone(x_c.flatten(0, 1), v_c.flatten(0, 1), q_c.flatten(0, 1))  # (BF, N, 3)
        out = out.reshape(batch, num_frames, n, 3)  # (B, F, N, 3)
        return self.frame.restore(out, params, points=True).mean(dim=1)  # (B, N, 3)


__all__ = ["DegenerateFrameError", "FrameAveraging"]
