"""The first ``d`` eigenpairs of the normalized graph Laplacian, stored for PyG batching."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform
from torch_geometric.utils import get_laplacian, to_dense_adj

from symco.core.errors import InvalidInstanceError


def normalized_laplacian(data: Data) -> np.ndarray:
    r"""The dense symmetric normalized Laplacian :math:`I - D^{-1/2} A D^{-1/2}` (float64, N×N).

    Uses ``data.edge_weight`` when present; isolated nodes get a diagonal 1 (the convention of
    torch_geometric's ``get_laplacian``, which
    :class:`~torch_geometric.transforms.AddLaplacianEigenvectorPE` uses too).
    A non-symmetric ``edge_index``/``edge_weight`` raises one clear error.
    """
    n = int(data.num_nodes or 0)
    if n == 0:
        raise InvalidInstanceError("cannot take the Laplacian of an empty graph (0 nodes)")
    weight = getattr(data, "edge_weight", None)
    w = None if weight is None else weight.double()
    adj = to_dense_adj(data.edge_index, edge_attr=w, max_num_nodes=n)[0]  # (N, N)
    if not torch.allclose(adj, adj.T, atol=1e-10):
        raise InvalidInstanceError(
            "the graph is not undirected: edge_index/edge_weight are not symmetric"
        )
    ei, w = get_laplacian(data.edge_index, w, normalization="sym", num_nodes=n)
    return to_dense_adj(ei, edge_attr=w, max_num_nodes=n)[0].double().numpy()  # (N, N)


class EigenPairs(BaseTransform):
    r"""Stores the ``d`` smallest eigenpairs of the normalized Laplacian on each ``Data``.

    .. math::
        L = I - D^{-1/2} A D^{-1/2} = V \operatorname{diag}(\Lambda) V^\top,
        \qquad \lambda_1 \le \dots \le \lambda_N \in [0, 2]

    computed densely in float64 (``numpy.linalg.eigh``), stored in float32 as

    * ``data.eigvals``: ``(1, d)``, so a PyG ``Batch`` of B graphs holds ``(B, d)``;
    * ``data.eigvecs``: ``(N, d)``, concatenated over the batch to ``(sum N, d)``;
    * ``data.eigmask``: ``(1, d)`` bool, ``True`` where a pair is kept.

    Columns past ``N`` (graphs smaller than ``d``) are zero and masked out.

    **Repeated eigenvalues at the cut.** Keeping ``d < N`` pairs may cut through an eigenspace
    (``λ_d ≈ λ_{d+1}`` within ``tol``): the kept vectors would then be an arbitrary,
    basis-dependent part of that eigenspace, and no downstream network could be basis invariant.
    This never happens silently: with ``on_split="drop"`` (default) the whole partial eigenspace
    is dropped (its columns zeroed and masked out, so fewer than ``d`` pairs are kept, visible
    in ``eigmask``); with ``on_split="raise"`` an :class:`~symco.core.errors.InvalidInstanceError`
    is raised.

    Args:
        d: number of eigenpairs to keep (the padded width).
        tol: eigenvalues closer than this are treated as one repeated eigenvalue.
        on_split: ``"drop"`` or ``"raise"`` when the cut splits a repeated eigenspace.

    Paper: Huang et al., "On the Stability of Expressive Positional Encodings for Graphs",
    ICLR 2024, https://arxiv.org/abs/2310.02579.
    """

    def __init__(
        self, d: int, tol: float = 1e-6, on_split: Literal["drop", "raise"] = "drop"
    ) -> None:
        if d < 1:
            raise InvalidInstanceError(f"EigenPairs: d must be >= 1, got {d}")
        if on_split not in ("drop", "raise"):
            raise InvalidInstanceError(
                f"EigenPairs: on_split must be 'drop' or 'raise', got {on_split!r}"
            )
        self.d = d
        self.tol = tol
        self.on_split = on_split

    def kept(self, eigvals: np.ndarray) -> int:
        """How many of the sorted ``eigvals`` are kept: ``min(d, N)``, less a split eigenspace."""
        n = len(eigvals)
        k = min(self.d, n)
        if k == n or eigvals[k] - eigvals[k - 1] > self.tol:
            return k
        if self.on_split == "raise":
            raise InvalidInstanceError(
                f"EigenPairs: keeping d={self.d} of {n} eigenpairs splits the eigenspace of "
                f"eigenvalue {eigvals[k - 1]:.6g} (repeated within tol={self.tol:g})"
            )
        start = k - 1  # walk down to the first index of the repeated cluster; keep what is below
        while start > 0 and eigvals[start] - eigvals[start - 1] <= self.tol:
            start -= 1
        return start

    def forward(self, data: Data) -> Data:
        lap = normalized_laplacian(data)
        vals, vecs = np.linalg.eigh(lap)  # ascending; (N,), (N, N)
        n, d = len(vals), self.d
        k = self.kept(vals)
        eigvals = np.zeros((1, d))
        eigvecs = np.zeros((n, d))
        eigvals[0, :k] = vals[:k]
        eigvecs[:, :k] = vecs[:, :k]
        data.eigvals = torch.as_tensor(eigvals, dtype=torch.float32)
        data.eigvecs = torch.as_tensor(eigvecs, dtype=torch.float32)
        data.eigmask = torch.arange(d).view(1, d) < k
        return data

    def __repr__(self) -> str:
        return f"{type(self).__name__}(d={self.d}, tol={self.tol:g}, on_split={self.on_split!r})"
