"""SignNet (Lim et al., ICLR 2023): a sign-invariant eigenvector encoding, as a baseline."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.utils import to_dense_adj, to_dense_batch

from symco.core.symmetry.declare import Symmetry
from symco.encodings.base import Encoding
from symco.encodings.eigenpairs import EigenPairs
from symco.encodings.gin import AxisGIN


class SignNet(Encoding):
    r"""SignNet: a GIN φ applied to every eigenvector (with its eigenvalue) and to its negation,
    summed, then an MLP ρ over the ``d`` eigenvector channels.

    .. math::
        \mathrm{SignNet}(V, \Lambda)_i = \rho\Big(\big[\phi(v_k, \lambda_k)_i
        + \phi(-v_k, \lambda_k)_i\big]_{k=1..d}\Big)

    Invariant to each eigenvector's sign, but **not** to basis changes inside repeated
    eigenspaces (and not stable there): the middle ground between LapPE and SPE.
    φ is :class:`~symco.encodings.gin.AxisGIN` over the nodes with the ``d`` eigenvectors as
    independent slices; dropped/padded pairs are masked before ρ.

    Shapes: a ``Batch`` with ``eigvals`` ``(B, d)``, ``eigvecs`` ``(N, d)``, ``eigmask``
    ``(B, d)``, ``edge_index``, ``batch`` in; ``(N, out_dim)`` out.

    Paper: Lim et al., "Sign and Basis Invariant Networks for Spectral Graph Representation
    Learning", ICLR 2023, https://arxiv.org/abs/2202.13013.
    """

    name: ClassVar[str] = "signnet"

    def __init__(
        self, num_eigs: int = 16, hidden: int = 16, phi_layers: int = 2, out_dim: int = 32
    ) -> None:
        super().__init__()
        self.num_eigs, self.out_dim = num_eigs, out_dim
        self.phi = AxisGIN(2, hidden, phi_layers)
        self.rho = nn.Sequential(
            nn.Linear(num_eigs * hidden, out_dim), nn.ReLU(), nn.Linear(out_dim, out_dim)
        )

    def symmetries(self, inputs: Data) -> list[Symmetry]:
        """Permutation equivariant and invariant to eigenvector signs (φ(v) + φ(-v))."""
        from symco.encodings.symmetry import eigen_signs

        return [*super().symmetries(inputs), eigen_signs(self.num_eigs, self.symmetry_nodes)]

    def transform(self) -> EigenPairs:
        return EigenPairs(self.num_eigs)

    def forward(self, data: Data) -> Tensor:
        batch = (
            data.batch
            if data.batch is not None
            else data.eigvecs.new_zeros(data.num_nodes, dtype=torch.long)
        )
        v, node_mask = to_dense_batch(data.eigvecs, batch)  # (B, n, d), (B, n)
        adj = to_dense_adj(data.edge_index, batch, max_num_nodes=v.shape[1]).to(
            v.dtype
        )  # (B, n, n)
        lam = data.eigvals.unsqueeze(1).expand_as(v)  # (B, n, d)
        h = sum(
            self.phi(torch.stack([s * v, lam], dim=-1), adj) for s in (1.0, -1.0)
        )  # (B, n, d, c)
        h = h * data.eigmask[:, None, :, None]  # dropped/padded eigenpairs carry nothing
        return self.rho(h[node_mask].flatten(1))  # (N, out_dim)

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(num_eigs={self.num_eigs}, phi={self.phi}, out_dim={self.out_dim})"
