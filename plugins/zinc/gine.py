"""A GINE graph regressor whose node features get a positional encoding added."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import GINEConv, global_add_pool

from symco.encodings.base import Encoding


class CategoricalEmbedding(nn.Module):
    """Sum of one embedding per categorical column: ``(N, C)`` long in, ``(N, dim)`` out."""

    def __init__(self, vocab: Sequence[int], dim: int) -> None:
        super().__init__()
        self.register_buffer("offsets", torch.tensor([0, *list(vocab)[:-1]]).cumsum(0))
        self.emb = nn.Embedding(sum(vocab), dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.emb(x + self.offsets).sum(-2)  # (N, dim)


class GINERegressor(nn.Module):
    r"""GINE layers (Hu et al., 2020) with bond embeddings, residuals and batch norm, sum readout.

    .. math::
        h^{(0)}_i = \mathrm{Emb}(\text{atom}_i) + W\,\mathrm{PE}_i, \qquad
        h^{(t+1)}_i = h^{(t)}_i + \mathrm{ReLU}\Big(\mathrm{BN}\big(\mathrm{MLP}_t\big(h^{(t)}_i
        + \textstyle\sum_{j \in \mathcal N(i)}
        \mathrm{ReLU}(h^{(t)}_j + e^{(t)}_{ji})\big)\big)\Big),
        \qquad \hat y = \mathrm{MLP}\Big(\sum_i h^{(T)}_i\Big)

    ``encoding`` (any :class:`~symco.encodings.Encoding`, or ``None``) supplies ``PE``; ``W``
    is a linear map from its ``out_dim`` to ``hidden``.

    Shapes: a ``Batch`` with ``x`` ``(N, C)`` long, ``edge_index`` ``(2, E)``, ``edge_attr``
    ``(E,)`` long, ``batch`` ``(N,)`` (and the encoding's attributes) in; ``(B,)`` out.

    Paper: Hu et al., "Strategies for Pre-training Graph Neural Networks", ICLR 2020,
    https://arxiv.org/abs/1905.12265.
    """

    def __init__(
        self,
        atom_vocab: Sequence[int],
        bond_vocab: int,
        hidden: int,
        num_layers: int,
        encoding: Encoding | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.atom = CategoricalEmbedding(atom_vocab, hidden)
        self.encoding = encoding
        self.pe_proj = nn.Linear(encoding.out_dim, hidden) if encoding is not None else None
        self.bonds = nn.ModuleList(nn.Embedding(bond_vocab, hidden) for _ in range(num_layers))
        self.convs = nn.ModuleList(
            GINEConv(
                nn.Sequential(
                    nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                    nn.Linear(hidden, hidden),
                )
            )
            for _ in range(num_layers)
        )  # fmt: skip
        self.norms = nn.ModuleList(nn.BatchNorm1d(hidden) for _ in range(num_layers))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, data: Data) -> Tensor:
        h = self.atom(data.x)  # (N, hidden)
        if self.encoding is not None and self.pe_proj is not None:
            h = h + self.pe_proj(self.encoding(data))  # (N, hidden)
        for bond, conv, norm in zip(self.bonds, self.convs, self.norms):
            h = h + self.dropout(torch.relu(norm(conv(h, data.edge_index, bond(data.edge_attr)))))
        return self.head(global_add_pool(h, data.batch)).squeeze(-1)  # (B,)
