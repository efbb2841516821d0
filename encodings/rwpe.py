"""torch_geometric's random-walk PE as a symco encoding (its math is reused as is)."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import AddRandomWalkPE

from symco.encodings.base import Encoding


class RWPE(Encoding):
    r"""Random-walk structural encoding (Dwivedi et al., 2022): the return probabilities of a
    random walk after 1..k steps.

    .. math::
        \mathrm{PE}_i = \big( (D^{-1}A)_{ii}, (D^{-1}A)^2_{ii}, \dots, (D^{-1}A)^k_{ii} \big)

    Computed by torch_geometric's :class:`~torch_geometric.transforms.AddRandomWalkPE`;
    :meth:`forward` returns the stored tensor. Invariant to node relabelling by construction
    (no eigenvectors), but less expressive than eigenvector-based encodings.

    Shapes: a ``Batch`` with ``rw_pe`` ``(N, k)`` in, ``(N, k)`` out.

    Paper: Dwivedi et al., "Graph Neural Networks with Learnable Structural and Positional
    Representations", ICLR 2022, https://arxiv.org/abs/2110.07875.
    """

    name: ClassVar[str] = "rwpe"

    def __init__(self, walk_length: int = 16) -> None:
        super().__init__()
        self.walk_length, self.out_dim = walk_length, walk_length

    def transform(self) -> AddRandomWalkPE:
        return AddRandomWalkPE(self.walk_length, attr_name="rw_pe")

    def forward(self, data: Data) -> Tensor:
        return data.rw_pe  # (N, k)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(walk_length={self.walk_length})"
