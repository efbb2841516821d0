"""torch_geometric's Laplacian eigenvector PE as a symco encoding (its math is reused as is)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import AddLaplacianEigenvectorPE

from symco.encodings.base import Encoding


class PaddedLaplacianPE(AddLaplacianEigenvectorPE):
    """:class:`~torch_geometric.transforms.AddLaplacianEigenvectorPE`, zero-padded to ``k`` columns.

    The parent needs ``N > k`` (it fails on smaller graphs); here a graph with ``N <= k`` gets
    its ``N - 1`` non-trivial eigenvectors from the parent's code, then zero columns up to ``k``,
    so every graph batches. The parent flips eigenvector signs with torch's global RNG; here its
    call runs inside ``torch.random.fork_rng`` seeded from this transform's own generator
    (``seed``), so the output is reproducible and the caller's RNG untouched.
    """

    def __init__(self, k: int, *args: Any, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(k, *args, **kwargs)
        self.generator = torch.Generator().manual_seed(seed)

    def forward(self, data: Data) -> Data:
        n = int(data.num_nodes or 0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=self.generator)))
            if n > self.k:
                data = super().forward(data)
            else:  # the parent's computation with the k it supports on this graph
                parent = AddLaplacianEigenvectorPE(
                    n - 1, self.attr_name, self.is_undirected, **self.kwargs
                )
                data = parent.forward(data)
        pe = getattr(data, self.attr_name)  # (N, min(k, N - 1))
        if pe.shape[1] < self.k:
            pe = torch.cat([pe, pe.new_zeros(pe.shape[0], self.k - pe.shape[1])], dim=1)
        setattr(data, self.attr_name, pe.float())  # (N, k)
        return data


class LapPE(Encoding):
    r"""Laplacian eigenvector positional encoding (Dwivedi et al., 2020): the ``k`` eigenvectors
    of the normalized Laplacian after the trivial one, as node features.

    .. math::
        L = I - D^{-1/2} A D^{-1/2} = V \Lambda V^\top, \qquad
        \mathrm{PE}_i = (V_{i,2}, \dots, V_{i,k+1})

    Computed by torch_geometric's :class:`~torch_geometric.transforms.AddLaplacianEigenvectorPE`
    (through :class:`PaddedLaplacianPE`); :meth:`forward` returns the stored ``(N, k)`` tensor,
    with a fresh random sign per eigenvector and graph while training (``sign_flip``; the usual
    augmentation, drawn like dropout from torch's RNG). Not invariant to signs or to bases of
    repeated eigenspaces, and unstable near repeated eigenvalues: the baseline SPE fixes.

    Shapes: a ``Batch`` with ``lap_pe`` ``(N, k)`` in, ``(N, k)`` out.

    Paper: Dwivedi et al., "Benchmarking Graph Neural Networks", https://arxiv.org/abs/2003.00982.
    """

    name: ClassVar[str] = "lappe"

    def __init__(self, k: int = 8, sign_flip: bool = True, seed: int = 0) -> None:
        """:param seed: seeds this encoding's own generator (the training sign flips and the
        transform's signs); the global RNG is never used."""
        super().__init__()
        self.k, self.out_dim, self.sign_flip, self.seed = k, k, sign_flip, seed
        self.generator = torch.Generator().manual_seed(seed)

    def transform(self) -> PaddedLaplacianPE:
        return PaddedLaplacianPE(self.k, attr_name="lap_pe", is_undirected=True, seed=self.seed)

    def forward(self, data: Data) -> Tensor:
        pe = data.lap_pe  # (N, k)
        if self.training and self.sign_flip:
            num_graphs = int(data.num_graphs) if data.batch is not None else 1
            batch = (
                data.batch
                if data.batch is not None
                else torch.zeros_like(pe[:, 0], dtype=torch.long)
            )
            draw = torch.randint(0, 2, (num_graphs, self.k), generator=self.generator)
            sign = (draw * 2 - 1).to(pe.device)  # (B, k)
            pe = pe * sign[batch]
        return pe

    def __repr__(self) -> str:
        return f"{type(self).__name__}(k={self.k}, sign_flip={self.sign_flip})"
