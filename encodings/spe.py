"""SPE: stable and expressive positional encodings (Huang et al., ICLR 2024)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.utils import to_dense_adj, to_dense_batch

from symco.core.symmetry.declare import Symmetry
from symco.core.symmetry.weights import Axis, Permutation, PermutationSpec, columns, rows
from symco.encodings.base import Encoding
from symco.encodings.eigenpairs import EigenPairs
from symco.encodings.gin import AxisGIN
from symco.encodings.phi import EigenvalueMLPs


class SPE(Encoding):
    r"""Stable and Expressive Positional Encodings.

    With the first ``d`` eigenpairs :math:`(\Lambda, V)` of the normalized Laplacian
    (from :class:`~symco.encodings.EigenPairs`),

    .. math::
        Q_{:,:,\ell} = V \operatorname{diag}\big(\varphi_\ell(\Lambda)\big) V^\top
        \in \mathbb R^{N \times N}, \quad \ell = 1..m,
        \qquad
        \mathrm{SPE}(V, \Lambda)_i = W \sum_{j=1}^{N} \rho(Q)_{i,j,:} \in \mathbb R^{p}

    where the :math:`\varphi_\ell` are elementwise eigenvalue MLPs
    (:class:`~symco.encodings.phi.EigenvalueMLPs`) and :math:`\rho` is a GIN over the first
    node axis of the ``N×N×m`` tensor (:class:`~symco.encodings.gin.AxisGIN`), the second axis
    being a set that is sum-pooled. Only :math:`V \operatorname{diag}(\cdot) V^\top` is used, so
    the output is invariant to eigenvector signs and to any orthogonal basis change inside a
    repeated eigenspace; it is permutation equivariant, and Lipschitz in the Laplacian (stable).

    Batched without a loop over graphs (padded dense): the eigenvectors are scattered to a
    ``(B, n, d)`` tensor, ``Q`` is built for all graphs at once as ``(B, n, n, m)``, ρ's
    neighbour sums are batched matrix products with the ``(B, n, n)`` adjacency, the set axis is
    summed over real nodes only, and the real rows are gathered back to ``(N, out_dim)``.

    Shapes: a ``Batch`` with ``eigvals`` ``(B, d)``, ``eigvecs`` ``(N, d)``, ``eigmask``
    ``(B, d)``, ``edge_index`` ``(2, E)``, ``batch`` ``(N,)`` in; ``(N, out_dim)`` out.

    Args:
        num_eigs: ``d``, the eigenpairs used (the :meth:`transform` stores this many).
        m: number of eigenvalue networks φ_ℓ (16 on ZINC in the paper).
        phi_hidden: hidden width of each φ_ℓ.
        rho_hidden: width of ρ's GIN layers.
        rho_layers: number of GIN layers in ρ.
        out_dim: ``p``, the encoding width.

    Paper: Huang, Lu, Robinson, Yang, Zhang, Jegelka, Li, "On the Stability of Expressive
    Positional Encodings for Graphs", ICLR 2024, https://arxiv.org/abs/2310.02579.
    """

    name: ClassVar[str] = "spe"

    def __init__(
        self,
        num_eigs: int = 32,
        m: int = 16,
        phi_hidden: int = 16,
        rho_hidden: int = 32,
        rho_layers: int = 2,
        out_dim: int = 32,
    ) -> None:
        super().__init__()
        self.num_eigs, self.m, self.out_dim = num_eigs, m, out_dim
        self.phi = EigenvalueMLPs(m, phi_hidden)
        self.rho = AxisGIN(m, rho_hidden, rho_layers)
        self.out = nn.Linear(rho_hidden, out_dim)

    def symmetry_inputs(self, n: int, generator: torch.Generator) -> Data:
        """Cycles (no chords): every graph has the same spectrum, with eigenspaces of
        dimension 2, so basis invariance is checked on real repeated eigenspaces."""
        from symco.encodings.symmetry import random_graphs

        return random_graphs(n, self.symmetry_nodes, generator, transform=self.transform())

    def symmetries(self, inputs: Data) -> list[Symmetry]:
        """Permutation equivariant; invariant to eigenvector signs and to the basis of each
        repeated eigenspace (only :math:`V \\operatorname{diag}(\\varphi(\\Lambda)) V^\\top` is used)."""
        from symco.encodings.symmetry import eigen_basis, eigen_signs

        n = self.symmetry_nodes
        return [
            *super().symmetries(inputs),
            eigen_signs(self.num_eigs, n),
            eigen_basis(inputs, self.num_eigs, n),
        ]

    def weight_permutations(self) -> PermutationSpec:
        """The permutations of its parameters that leave the encoding unchanged
        (:math:`f_{g \\cdot \\theta} = f_\\theta`, ``symco check-symmetry`` checks it):

        * ``phi_nets``: the ``m`` eigenvalue networks :math:`\\varphi_\\ell` (axis 0 of their
          parameters) with the channels of :math:`Q` they make, read by ρ's first layer;
        * ``phi_units``: the hidden units of the :math:`\\varphi_\\ell`, one permutation shared by
          all ``m`` (each network's own would be a larger group, but an axis entry moves a whole
          axis of the ``(m, hidden)`` parameters);
        * ``rho{t}_hidden``, ``rho{t}_out``: the hidden and output units of ρ's GIN layer ``t``
          (the neighbour sum and the ReLUs act feature by feature, so they commute with them);
          the last layer's outputs are read by ``out``.
        """
        phi = [Axis(f"phi.{k}", 0) for k in ("w1", "b1", "w2", "b2")]
        perms = {
            "phi_nets": Permutation(self.m, (*phi, *columns("rho.mlps.0.0"))),
            "phi_units": Permutation(
                self.phi.hidden, tuple(Axis(f"phi.{k}", 1) for k in ("w1", "b1", "w2"))
            ),
        }
        layers = len(self.rho.mlps)
        for t in range(layers):
            mlp = f"rho.mlps.{t}"
            reader = f"rho.mlps.{t + 1}.0" if t + 1 < layers else "out"
            hidden = self.rho.hidden
            perms[f"rho{t}_hidden"] = Permutation(hidden, (*rows(f"{mlp}.0"), *columns(f"{mlp}.2")))
            perms[f"rho{t}_out"] = Permutation(hidden, (*rows(f"{mlp}.2"), *columns(reader)))
        return PermutationSpec(
            perms, f"φ's {self.m} networks and units, ρ's {layers} layers' units"
        )

    def transform(self) -> EigenPairs:
        return EigenPairs(self.num_eigs)

    def forward(self, data: Data) -> Tensor:
        batch = (
            data.batch
            if data.batch is not None
            else data.eigvecs.new_zeros(data.num_nodes, dtype=torch.long)
        )
        return self.from_eigs(data.eigvals, data.eigvecs, data.eigmask, data.edge_index, batch)

    def from_eigs(
        self, eigvals: Tensor, eigvecs: Tensor, eigmask: Tensor, edge_index: Tensor, batch: Tensor
    ) -> Tensor:
        """SPE from batched eigenpairs (see the class docstring for the shapes)."""
        v, node_mask = to_dense_batch(eigvecs, batch)  # (B, n, d), (B, n)
        adj = to_dense_adj(edge_index, batch, max_num_nodes=v.shape[1]).to(v.dtype)  # (B, n, n)
        phi = self.phi(eigvals) * eigmask.unsqueeze(-1)  # (B, d, m); dropped pairs contribute 0
        q = torch.einsum("bidm,bjd->bijm", v.unsqueeze(-1) * phi.unsqueeze(1), v)  # (B, n, n, m)
        h = self.rho(q, adj)  # (B, n, n, rho_hidden): GIN over axis 1, axis 2 is a set
        h = (h * node_mask[:, None, :, None]).sum(2)  # (B, n, rho_hidden): sum over real nodes
        return self.out(h[node_mask])  # (N, out_dim)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_eigs={self.num_eigs}, m={self.m}, phi={self.phi}, "
            f"rho={self.rho}, out_dim={self.out_dim})"
        )
