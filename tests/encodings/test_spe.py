"""SPE: sign and basis invariance, permutation equivariance, batching without a per-graph loop,
and its declared weight permutations."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.data import Batch, Data

from symco.encodings import SPE, EigenPairs, SignNet, to_data

ATOL = 1e-5


def _spe(num_eigs: int = 12, seed: int = 0) -> SPE:
    torch.manual_seed(seed)
    return SPE(num_eigs=num_eigs, m=8, phi_hidden=8, rho_hidden=16, out_dim=8).eval()


@st.composite
def graphs(draw: st.DrawFn, max_nodes: int = 10) -> nx.Graph:
    n = draw(st.integers(2, max_nodes))
    seed = draw(st.integers(0, 2**16))
    p = draw(st.floats(0.2, 0.8))
    return nx.gnp_random_graph(n, p, seed=seed)


def _clusters(vals: np.ndarray, k: int, tol: float = 1e-5) -> list[list[int]]:
    out: list[list[int]] = []
    for i in range(k):
        if out and vals[i] - vals[out[-1][-1]] <= tol:
            out[-1].append(i)
        else:
            out.append([i])
    return out


@settings(max_examples=20, deadline=None)
@given(g=graphs(), seed=st.integers(0, 2**16))
def test_sign_flip_invariance(g: nx.Graph, seed: int) -> None:
    spe = _spe()
    data = Batch.from_data_list([spe.transform()(to_data(g))])
    gen = torch.Generator().manual_seed(seed)
    signs = torch.randint(0, 2, (1, data.eigvecs.shape[1]), generator=gen) * 2 - 1
    flipped = data.clone()
    flipped.eigvecs = data.eigvecs * signs
    with torch.no_grad():
        torch.testing.assert_close(spe(flipped), spe(data), atol=ATOL, rtol=0)


@pytest.mark.parametrize("n", [6, 9, 12])
def test_basis_change_in_repeated_eigenspace(n: int) -> None:
    # cycle graphs: every eigenvalue but 0 (and 2 for even n) is 2-fold
    spe = _spe(num_eigs=n)
    data = Batch.from_data_list([spe.transform()(to_data(nx.cycle_graph(n)))])
    vals = data.eigvals[0].double().numpy()
    k = int(data.eigmask.sum())
    rng = np.random.default_rng(n)
    rotated = data.clone()
    vecs = data.eigvecs.double().clone()
    repeated = [c for c in _clusters(vals, k) if len(c) > 1]
    assert repeated, "a cycle graph has repeated eigenvalues"
    for c in repeated:
        q, _ = np.linalg.qr(rng.normal(size=(len(c), len(c))))
        vecs[:, c] = vecs[:, c] @ torch.as_tensor(q)
    rotated.eigvecs = vecs.float()
    assert not torch.allclose(rotated.eigvecs, data.eigvecs, atol=1e-3)
    with torch.no_grad():
        torch.testing.assert_close(spe(rotated), spe(data), atol=ATOL, rtol=0)


@settings(max_examples=20, deadline=None)
@given(g=graphs(), seed=st.integers(0, 2**16))
def test_permutation_equivariance(g: nx.Graph, seed: int) -> None:
    spe = _spe()
    t = spe.transform()
    data = to_data(g)
    n = data.num_nodes
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))  # new k = old order[k]
    rank = torch.empty_like(order)
    rank[order] = torch.arange(n)
    permuted = Data(edge_index=rank[data.edge_index], num_nodes=n)
    with torch.no_grad():
        out = spe(Batch.from_data_list([t(data)]))
        out_perm = spe(Batch.from_data_list([t(permuted)]))
    torch.testing.assert_close(out_perm, out[order], atol=ATOL, rtol=0)


def test_batched_equals_per_graph() -> None:
    spe = _spe(num_eigs=8)
    t = spe.transform()
    items = [t(to_data(nx.gnp_random_graph(n, 0.4, seed=n))) for n in (3, 9, 5, 12, 1)]
    with torch.no_grad():
        batched = spe(Batch.from_data_list(items))
        single = torch.cat([spe(Batch.from_data_list([d])) for d in items])
    assert batched.shape == (30, 8)
    torch.testing.assert_close(batched, single, atol=ATOL, rtol=0)


def test_gradients_reach_every_parameter() -> None:
    spe = SPE(num_eigs=6, m=4, phi_hidden=4, rho_hidden=8, out_dim=4).train()
    data = Batch.from_data_list([spe.transform()(to_data(nx.cycle_graph(7)))] * 2)
    spe(data).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in spe.parameters())


def test_signnet_sign_invariant_but_not_basis_invariant() -> None:
    torch.manual_seed(0)
    net = SignNet(num_eigs=6, hidden=8, out_dim=8).eval()
    data = Batch.from_data_list([EigenPairs(6)(to_data(nx.cycle_graph(10)))])
    flipped = data.clone()
    flipped.eigvecs = data.eigvecs * torch.tensor([1, -1, 1, -1, -1, 1])
    with torch.no_grad():
        torch.testing.assert_close(net(flipped), net(data), atol=ATOL, rtol=0)
    c, s = np.cos(0.7), np.sin(0.7)
    rotated = data.clone()
    rotated.eigvecs = data.eigvecs.clone()
    rotated.eigvecs[:, 1:3] = data.eigvecs[:, 1:3] @ torch.tensor([[c, -s], [s, c]]).float()
    with torch.no_grad():
        assert not torch.allclose(net(rotated), net(data), atol=1e-3)


def test_repr_mentions_the_math_parts() -> None:
    text = repr(SPE(num_eigs=4, m=2))
    assert "SPE(" in text and "m=2" in text and "AxisGIN" in text
    assert "arxiv.org/abs/2310.02579" in (SPE.__doc__ or "")


@pytest.mark.parametrize("rho_layers", [1, 3])
def test_weight_permutations_leave_the_encoding_unchanged(rho_layers: int) -> None:
    """φ's networks and hidden units and ρ's units, in float64 to ~1e-10; moving φ's networks
    without the ρ columns that read their channels breaks it."""
    from symco.core.symmetry import Permutation, PermutationSpec, check_weight_symmetry

    torch.manual_seed(0)
    enc = SPE(num_eigs=6, m=3, phi_hidden=5, rho_hidden=4, rho_layers=rho_layers, out_dim=3)
    spec = enc.weight_permutations()
    assert len(spec.names) == 2 + 2 * rho_layers
    (result,) = check_weight_symmetry(enc, n=3, seed=0, tol=1e-10)
    assert result.passed, result.row()
    nets = spec.perms["phi_nets"]
    alone = tuple(a for a in nets.axes if a.key.startswith("phi."))
    enc.weight_permutations = lambda: PermutationSpec(  # type: ignore[method-assign]
        {**spec.perms, "phi_nets": Permutation(nets.size, alone)}
    )
    (broken,) = check_weight_symmetry(enc, n=3, seed=0)
    assert not broken.passed and broken.max_rel > 1e-4, broken.row()
