"""TransIP's objective: equivariance learned in the embedding space of a non-equivariant model."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn


class LearnedEquivariance(nn.Module):
    """Teach a model's per-atom embeddings :math:`h(x) \\in \\mathbb{R}^{N \\times d}` to
    transform predictably under rotations :math:`R` (TransIP, Elhag et al. 2025: a learned
    transformation network maps the embedding of a configuration to the embedding of its
    rotated copy, and a loss aligns the two).

    The embedding is split into an invariant part (the first ``invariant_dim`` channels, read
    by the energy head) and a rotating part. The transformation network :math:`T_\\phi` keeps
    the invariant part and maps the rotating part given :math:`R`:

    .. math::

        T_\\phi(h, R) &= \\big[h_{:d_0},\\; \\mathrm{MLP}_\\phi(h, \\operatorname{vec} R)\\big] \\\\
        \\mathcal{L}_{mse} &= \\frac{\\sum_i \\lVert T_\\phi(h_i(x), R) - h_i(Rx) \\rVert^2}
                              {\\sum_i \\lVert h_i(Rx) \\rVert^2} \\\\
        \\mathcal{L}_{nce} &= -\\frac{1}{A}\\sum_i \\log
            \\frac{\\exp(\\cos(T_\\phi(h_i(x), R), h_i(Rx)) / \\tau)}
                  {\\sum_j \\exp(\\cos(T_\\phi(h_i(x), R), h_j(Rx)) / \\tau)}

    with :math:`i, j` over the real atoms of the batch (the others are the negatives of the
    contrastive form). ``kind="both"`` adds the two. The authors' blog calls the objective
    contrastive; the exact form in the paper could not be read here (see the plugin's docs).

    :param dim: the embedding width :math:`d`; ``invariant_dim``: :math:`d_0`.
    :param weight: :math:`\\lambda` of the objective in the training loss.
    """

    def __init__(
        self,
        dim: int = 64,
        invariant_dim: int = 32,
        weight: float = 1.0,
        kind: Literal["mse", "infonce", "both"] = "both",
        temperature: float = 0.1,
        hidden: int = 128,
    ) -> None:
        super().__init__()
        if not 0 < invariant_dim <= dim:
            raise ValueError(f"invariant_dim must be in 1..dim={dim}, got {invariant_dim}")
        self.dim, self.invariant_dim = dim, invariant_dim
        self.weight, self.kind, self.temperature = weight, kind, temperature
        rot = dim - invariant_dim
        self.transform = (
            nn.Sequential(nn.Linear(dim + 9, hidden), nn.SiLU(), nn.Linear(hidden, rot))
            if rot > 0
            else None
        )

    def forward(self, h: Tensor, rot: Tensor) -> Tensor:
        """:math:`T_\\phi(h, R)`: ``h`` ``(B, N, d)``, ``rot`` ``(B, 3, 3)`` → ``(B, N, d)``."""
        if self.transform is None:
            return h
        r = rot.reshape(-1, 1, 9).to(h.dtype).expand(-1, h.shape[1], -1)  # (B, N, 9)
        moved = self.transform(torch.cat([h, r], dim=-1))  # (B, N, d - d0)
        return torch.cat([h[..., : self.invariant_dim], moved], dim=-1)

    def loss(self, h: Tensor, h_rot: Tensor, rot: Tensor, real: Tensor) -> Tensor:
        """The objective for embeddings ``h`` of ``x`` and ``h_rot`` of ``R x`` ``(B, N, d)``;
        ``real`` ``(B, N)`` marks the atoms."""
        pred = self.forward(h, rot)[real]  # (A, d)
        target = h_rot[real]  # (A, d)
        out = h.new_zeros(())
        if self.kind in ("mse", "both"):
            out = out + ((pred - target) ** 2).sum() / (target**2).sum().clamp_min(1e-12)
        if self.kind in ("infonce", "both"):
            a = nn.functional.normalize(pred, dim=-1)
            b = nn.functional.normalize(target, dim=-1)
            logits = a @ b.T / self.temperature  # (A, A)
            labels = torch.arange(len(a), device=a.device)
            out = out + nn.functional.cross_entropy(logits, labels)
        return out

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, invariant_dim={self.invariant_dim}, kind={self.kind}, "
                f"weight={self.weight}")  # fmt: skip


__all__ = ["LearnedEquivariance"]
