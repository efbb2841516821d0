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

    The first ``invariant_dim`` channels :math:`d_0` are held fixed (``0``: none); the
    transformation network :math:`T_\\phi` maps the others given :math:`R`, either as an MLP
    of :math:`(h, \\operatorname{vec} R)` or (``transform="bilinear"``) as a learned linear
    representation of :math:`SO(3)`, linear in :math:`h` and in the entries of :math:`R`:

    .. math::

        T_\\phi(h, R) &= \\big[h_{:d_0},\\; \\mathrm{MLP}_\\phi(h, \\operatorname{vec} R)\\big]
            \\quad\\text{or}\\quad
            \\big[h_{:d_0},\\; \\textstyle W_0 h + \\sum_{ab} R_{ab} W_{ab} h\\big] \\\\
        \\mathcal{L}_{mse} &= \\frac{\\sum_i \\lVert T_\\phi(h_i(x), R) - h_i(Rx) \\rVert^2}
                              {\\sum_i \\lVert h_i(Rx) \\rVert^2} \\\\
        \\mathcal{L}_{nce} &= -\\frac{1}{A}\\sum_i \\log
            \\frac{\\exp(\\cos(T_\\phi(h_i(x), R), h_i(Rx)) / \\tau)}
                  {\\sum_j \\exp(\\cos(T_\\phi(h_i(x), R), h_j(Rx)) / \\tau)}

    with :math:`i, j` over the real atoms of the batch (the others are the negatives of the
    contrastive form). ``kind="both"`` adds the two. The bilinear form can represent exactly
    any sum of scalar and vector (:math:`l \\le 1`) representations, so the objective can be met
    by embeddings that still carry the geometry; holding channels fixed (:math:`d_0 > 0`) instead
    demands that the energy head's input be invariant, which a plain Transformer most easily
    meets by ignoring the positions (we measured that collapse on the molecule set).
    ``stop_gradient`` treats :math:`h(Rx)` as a fixed target (as in BYOL/SimSiam). The authors'
    blog calls the objective contrastive; the exact form in the paper could not be read here
    (see the plugin's docs).

    :param dim: the embedding width :math:`d`; ``invariant_dim``: :math:`d_0` (``0..dim``).
    :param transform: ``"mlp"`` (the default, so that checkpoints saved before the bilinear
        form existed load as they were trained) or ``"bilinear"`` (with ``invariant_dim=0``:
        the form ``configs/mlip/transip.yaml`` uses and the benchmark recommends).
    :param weight: :math:`\\lambda` of the objective in the training loss.
    :param invariant_readout: the energy head reads the Haar average of the transformation,
        :math:`\\bar T h = \\int_{SO(3)} T_\\phi(h, R)\\, dR = [h_{:d_0}, W_0 h]` (the
        :math:`R`-terms average to zero), instead of :math:`h` (bilinear form only). Where
        :math:`T_\\phi` is a representation and :math:`h` equivariant, :math:`\\bar T` is the
        projector onto the invariant part, :math:`\\bar T\\, T_\\phi(\\cdot, R) = \\bar T`, so the
        energy is invariant to the degree the embedding is equivariant; the objective alone does
        not make a head that reads all of :math:`h` invariant.
    """

    def __init__(
        self,
        dim: int = 64,
        invariant_dim: int = 32,
        weight: float = 1.0,
        kind: Literal["mse", "infonce", "both"] = "both",
        temperature: float = 0.1,
        hidden: int = 128,
        transform: Literal["mlp", "bilinear"] = "mlp",
        stop_gradient: bool = False,
        invariant_readout: bool = False,
    ) -> None:
        super().__init__()
        if not 0 <= invariant_dim <= dim:
            raise ValueError(f"invariant_dim must be in 0..dim={dim}, got {invariant_dim}")
        if transform not in ("mlp", "bilinear"):
            raise ValueError(f"transform must be 'bilinear' or 'mlp', got {transform!r}")
        self.dim, self.invariant_dim = dim, invariant_dim
        self.weight, self.kind, self.temperature = weight, kind, temperature
        if invariant_readout and transform != "bilinear":
            raise ValueError("invariant_readout needs transform='bilinear' (a linear T in R)")
        self.form, self.stop_gradient = transform, stop_gradient
        self.invariant_readout = invariant_readout
        rot = dim - invariant_dim
        self.transform: nn.Module | None = None
        if rot > 0 and transform == "mlp":
            self.transform = nn.Sequential(
                nn.Linear(dim + 9, hidden), nn.SiLU(), nn.Linear(hidden, rot)
            )
        elif rot > 0:  # rows: W_0 (the R-independent part), then W_ab for the 9 entries of R
            self.transform = nn.Linear(10 * dim, rot, bias=False)

    def forward(self, h: Tensor, rot: Tensor) -> Tensor:
        """:math:`T_\\phi(h, R)`: ``h`` ``(B, N, d)``, ``rot`` ``(B, 3, 3)`` → ``(B, N, d)``."""
        if self.transform is None:
            return h
        r = rot.reshape(-1, 1, 9).to(h.dtype)  # (B, 1, 9)
        if self.form == "mlp":
            moved = self.transform(torch.cat([h, r.expand(-1, h.shape[1], -1)], dim=-1))
        else:  # h ⊗ [1, vec R]: every product of a channel with an entry of R
            coef = torch.cat([torch.ones_like(r[..., :1]), r], dim=-1)  # (B, 1, 10)
            outer = coef.unsqueeze(-1) * h.unsqueeze(-2)  # (B, N, 10, d)
            moved = self.transform(outer.flatten(-2))  # (B, N, d - d0)
        return torch.cat([h[..., : self.invariant_dim], moved], dim=-1)

    def average(self, h: Tensor) -> Tensor:
        """:math:`\\int T_\\phi(h, R)\\, dR` ``(B, N, d)`` (Haar measure) for the bilinear form:
        :math:`T_\\phi` at :math:`R = 0`, since the entries of a Haar-random rotation have mean 0."""
        if self.form != "bilinear":
            raise ValueError("the Haar average is only closed-form for transform='bilinear'")
        return self.forward(h, h.new_zeros(h.shape[0], 3, 3))

    def loss(self, h: Tensor, h_rot: Tensor, rot: Tensor, real: Tensor) -> Tensor:
        """The objective for embeddings ``h`` of ``x`` and ``h_rot`` of ``R x`` ``(B, N, d)``;
        ``real`` ``(B, N)`` marks the atoms."""
        pred = self.forward(h, rot)[real]  # (A, d)
        target = h_rot[real]  # (A, d)
        if self.stop_gradient:
            target = target.detach()
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
                f"transform={self.form}, weight={self.weight}"
                + (", invariant_readout=True" if self.invariant_readout else ""))  # fmt: skip


__all__ = ["LearnedEquivariance"]
