"""A plain Transformer potential on atom types and Cartesian coordinates (TransIP's backbone)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from symco.plugins.mlip.atoms import ELEMENTS, ElementIndex


class TransformerPotential(nn.Module):
    """A non-equivariant Transformer over atoms as tokens (Elhag et al., *Learning Inter-Atomic
    Potentials without Explicit Equivariance* — TransIP, 2025):

    .. math::

        t_i^{(0)} &= e_{Z_i} + \\phi(x_i - \\bar x) \\\\
        t^{(\\ell + 1)} &= \\mathrm{Block}_\\ell\\big(t^{(\\ell)}\\big)
            \\quad \\text{(pre-norm self-attention + MLP, padding masked)} \\\\
        E &= \\textstyle\\sum_i \\psi\\big(\\mathrm{LN}(t_i^{(L)})_{[:d_0]}\\big)

    Coordinates enter through an MLP :math:`\\phi` of the centred Cartesian coordinates, so the
    energy is exactly invariant to translations (centring) and to permutations of the atoms (no
    positional encoding, a sum readout), and *not* to rotations: rotation equivariance of the
    forces is learned, from augmentation and from :class:`~.learned_equivariance.
    LearnedEquivariance` on the embeddings :meth:`embed` returns. The energy head :math:`\\psi`
    reads the first ``invariant_dim`` channels of the final embedding; the rest are the
    embedding's rotating part (see the objective).

    Shapes: ``z`` ``(B, N)`` (0: padding), ``pos`` ``(B, N, 3)`` → ``(B,)``.
    """

    rotation_symmetry: ClassVar[str] = "learned"

    def __init__(
        self,
        elements: Sequence[int] = ELEMENTS,
        dim: int = 64,
        layers: int = 3,
        heads: int = 4,
        invariant_dim: int = 32,
        ff_mult: int = 2,
    ) -> None:
        super().__init__()
        if not 0 < invariant_dim <= dim:
            raise ValueError(f"invariant_dim must be in 1..dim={dim}, got {invariant_dim}")
        self.index = ElementIndex(elements)
        self.dim, self.invariant_dim = dim, invariant_dim
        self.species = nn.Embedding(len(self.index), dim)
        self.coords = nn.Sequential(nn.Linear(3, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                dim,
                heads,
                ff_mult * dim,
                dropout=0.0,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            for _ in range(layers)
        )
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Sequential(nn.Linear(invariant_dim, dim), nn.SiLU(), nn.Linear(dim, 1))

    def embed(self, z: Tensor, pos: Tensor) -> Tensor:
        """The final per-atom embeddings ``(B, N, dim)`` (zero on padding)."""
        real = (z > 0).to(pos.dtype)[..., None]  # (B, N, 1)
        centre = (pos * real).sum(1, keepdim=True) / real.sum(1, keepdim=True).clamp_min(1)
        idx = self.index(z).clamp_min(0)  # (B, N)
        t = self.species(idx) + self.coords(pos - centre)  # (B, N, d)
        pad = z == 0  # (B, N): keys to ignore
        # forces train through a gradient of the energy: attention needs a double backward,
        # which only the math kernel has on CPU (flash attention's backward is not differentiable)
        with sdpa_kernel(SDPBackend.MATH):
            for block in self.blocks:
                t = block(t, src_key_padding_mask=pad)
        return self.norm(t) * real  # (B, N, d)

    def readout(self, h: Tensor, z: Tensor) -> Tensor:
        """Energies ``(B,)`` from embeddings ``(B, N, dim)``."""
        e = self.head(h[..., : self.invariant_dim]).squeeze(-1)  # (B, N)
        return (e * (z > 0).to(e.dtype)).sum(1)

    def forward(self, z: Tensor, pos: Tensor) -> Tensor:
        return self.readout(self.embed(z, pos), z)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, layers={len(self.blocks)}, invariant_dim={self.invariant_dim}"


__all__ = ["TransformerPotential"]
