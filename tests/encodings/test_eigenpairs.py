"""EigenPairs: matches a dense numpy eigendecomposition; never splits a repeated eigenspace."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data

from symco.core.errors import InvalidInstanceError
from symco.encodings import EigenPairs, to_data


def _projector(vals: np.ndarray, vecs: np.ndarray, lam: float, tol: float = 1e-6) -> np.ndarray:
    cols = np.abs(vals - lam) <= tol
    return vecs[:, cols] @ vecs[:, cols].T


@pytest.mark.parametrize("weighted", [False, True])
def test_matches_dense_numpy(weighted: bool) -> None:
    rng = np.random.default_rng(0)
    g = nx.gnp_random_graph(14, 0.3, seed=3)
    if weighted:
        for u, v in g.edges:
            g.edges[u, v]["weight"] = float(rng.uniform(0.5, 2.0))
    ref = nx.normalized_laplacian_matrix(g, weight="weight" if weighted else None).toarray()
    vals, vecs = np.linalg.eigh(ref)
    data = EigenPairs(d=14)(to_data(g))
    got_vals = data.eigvals[0].double().numpy()
    got_vecs = data.eigvecs.double().numpy()
    np.testing.assert_allclose(got_vals, vals, atol=1e-5)
    # eigenvectors are defined up to sign/basis: compare eigenspace projectors
    for lam in np.unique(np.round(vals, 6)):
        np.testing.assert_allclose(
            _projector(got_vals, got_vecs, lam, 1e-5), _projector(vals, vecs, lam, 1e-5), atol=1e-5
        )
    assert data.eigmask.all()


def test_padding_and_batching() -> None:
    small, big = to_data(nx.path_graph(3)), to_data(nx.path_graph(7))
    t = EigenPairs(d=5)
    batch = Batch.from_data_list([t(small), t(big)])
    assert batch.eigvals.shape == (2, 5) and batch.eigvecs.shape == (10, 5)
    assert batch.eigmask.tolist() == [[True] * 3 + [False] * 2, [True] * 5]
    assert (batch.eigvecs[:3, 3:] == 0).all() and (batch.eigvals[0, 3:] == 0).all()


def test_truncation_drops_a_split_eigenspace() -> None:
    # C_8: eigenvalues 0, then pairs (1 - cos 2πk/8) for k = 1, 2, 3, then 2.
    g = to_data(nx.cycle_graph(8))
    for d, kept in [(1, 1), (2, 1), (3, 3), (4, 3), (5, 5), (6, 5), (7, 7), (8, 8)]:
        data = EigenPairs(d=d)(g.clone())
        assert int(data.eigmask.sum()) == kept, d
        assert (data.eigvecs[:, kept:] == 0).all()
    with pytest.raises(InvalidInstanceError, match="splits the eigenspace"):
        EigenPairs(d=2, on_split="raise")(g.clone())
    assert EigenPairs(d=3, on_split="raise")(g.clone()).eigmask.all()


def test_bad_input() -> None:
    with pytest.raises(InvalidInstanceError, match="not undirected"):
        EigenPairs(d=2)(Data(edge_index=torch.tensor([[0], [1]]), num_nodes=2))
    with pytest.raises(InvalidInstanceError, match="directed"):
        to_data(nx.DiGraph([(0, 1)]))
    with pytest.raises(InvalidInstanceError, match="d must be"):
        EigenPairs(d=0)
