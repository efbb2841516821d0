"""Symmetries of graph encodings and graph models, declared for ``symco check-symmetry``.

The check runs on a PyG ``Batch`` of ``n`` graphs of ``N`` nodes each (the same ``N``, so a
per-graph permutation is a ``(n, N)`` element of :class:`~symco.core.symmetry.NodePermutation`):

* node permutation: every node-level attribute (``x``, ``eigvecs``, ``lap_pe``, ...) is
  permuted, ``edge_index`` relabelled; node outputs permute, graph outputs stay;
* eigenvector signs / bases: ``eigvecs`` of each graph times a sign vector, or times an
  orthogonal matrix acting inside each repeated eigenspace (blocks from ``eigvals``).

The random graphs are cycles with random chords drawn from the generator: cycles have repeated
Laplacian eigenvalues, so basis invariance is tested on real eigenspaces of dimension 2.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from symco.core.symmetry.declare import Symmetry
from symco.core.symmetry.group import Group

NOT_NODE_LEVEL = ("edge_index", "batch", "ptr")


def random_graphs(
    n: int,
    num_nodes: int,
    generator: torch.Generator,
    *,
    chords: int = 0,
    node_vocab: Sequence[int] = (),
    edge_vocab: int | Sequence[int] = (),
    transform: Callable[[Data], Data] | None = None,
) -> Batch:
    """``n`` undirected graphs of ``num_nodes`` nodes: a cycle plus ``chords`` random chords,
    categorical node/edge features (one column per vocabulary size; an int vocabulary gives a
    1-D feature) or a constant node feature,
    the ``transform`` applied per graph, float attributes in float64."""
    graphs = []
    for _ in range(n):
        u = torch.arange(num_nodes)
        extra = torch.randint(0, num_nodes, (2, chords), generator=generator)
        extra = extra[:, extra[0] != extra[1]]
        src = torch.cat([u, extra[0]])
        dst = torch.cat([(u + 1) % num_nodes, extra[1]])
        pairs = torch.unique(torch.stack([torch.minimum(src, dst), torch.maximum(src, dst)]), dim=1)
        edge_index = torch.cat([pairs, pairs.flip(0)], dim=1)  # (2, E) both directions
        x = _categorical(num_nodes, node_vocab, generator)
        data = Data(edge_index=edge_index, num_nodes=num_nodes, x=x)
        if edge_vocab:
            if isinstance(edge_vocab, int):
                half = torch.randint(0, edge_vocab, (pairs.shape[1],), generator=generator)
            else:
                half = _categorical(pairs.shape[1], edge_vocab, generator)
            data.edge_attr = torch.cat([half, half])
        graphs.append(transform(data) if transform is not None else data)
    batch = Batch.from_data_list(graphs)
    for key in batch.keys():  # noqa: SIM118 (a PyG Batch iterates (key, value) pairs)
        value = batch[key]
        if isinstance(value, Tensor) and value.is_floating_point():
            batch[key] = value.double()
    return batch


def _categorical(rows: int, vocab: Sequence[int], generator: torch.Generator) -> Tensor:
    if not vocab:
        return torch.ones(rows, 1, dtype=torch.float64)
    cols = [torch.randint(0, int(v), (rows, 1), generator=generator) for v in vocab]
    return torch.cat(cols, dim=1)  # (rows, len(vocab)) long


def permute_graph_nodes(batch: Batch, perm: Tensor) -> Batch:
    """Relabel the nodes of each graph: new node ``i`` of graph ``b`` is old node ``perm[b, i]``.

    :param batch: ``n`` graphs of ``N`` nodes each.
    :param perm: ``(n, N)`` long permutations.
    """
    n, size = perm.shape
    offset = (torch.arange(n, device=perm.device) * size)[:, None]
    old = (perm + offset).reshape(-1)  # (n*N,) old global index of each new node
    new_of_old = torch.empty_like(old)
    new_of_old[old] = torch.arange(len(old), device=old.device)
    out = batch.clone()
    total = n * size
    for key in batch.keys():  # noqa: SIM118 (a PyG Batch iterates (key, value) pairs)
        value = batch[key]
        if key in NOT_NODE_LEVEL or not isinstance(value, Tensor) or value.dim() == 0:
            continue
        if value.shape[0] == total:
            out[key] = value[old]
    out.edge_index = new_of_old[batch.edge_index]
    return out


def node_permutation(num_nodes: int, *, graph_level: bool) -> Symmetry:
    """Node relabelling within each graph: node outputs ``(n*N, ...)`` permute the same way;
    graph outputs (``graph_level``) are invariant."""
    from symco.core.symmetry import NodePermutation

    group = NodePermutation(num_nodes)

    def act_output(g: Tensor, y: Tensor) -> Tensor:
        n, size = g.shape
        return group.act(g, y.reshape(n, size, *y.shape[1:])).reshape(y.shape)

    return Symmetry(
        group,
        act_input=lambda g, batch: permute_graph_nodes(batch, g),
        act_output=None if graph_level else act_output,
        relation="invariant" if graph_level else "permuted",
        description="nodes of each graph" + (" -> prediction" if graph_level else " -> rows"),
    )


def _with_eigvecs(batch: Batch, eigvecs: Tensor) -> Batch:
    out = batch.clone()
    out.eigvecs = eigvecs
    return out


def _on_eigvecs(group: Group, num_eigs: int, num_nodes: int) -> Callable[[Tensor, Batch], Batch]:
    """``(g, batch) -> batch`` with each graph's eigenvectors ``(N, d)`` acted on by ``g``."""

    def act(g: Tensor, batch: Batch) -> Batch:
        v = batch.eigvecs.reshape(g.shape[0], num_nodes, num_eigs)  # (n, N, d)
        return _with_eigvecs(batch, group.act(g.to(v.dtype), v).reshape(-1, num_eigs))

    return act


def eigen_signs(num_eigs: int, num_nodes: int) -> Symmetry:
    """Eigenvector sign flips per graph; the encoding must not change."""
    from symco.core.symmetry import EigenSigns

    group = EigenSigns(num_eigs)
    act = _on_eigvecs(group, num_eigs, num_nodes)
    return Symmetry(group, act, None, "invariant", "signs of the eigenvectors")


def eigen_basis(batch: Batch, num_eigs: int, num_nodes: int, tol: float = 1e-6) -> Symmetry:
    """Orthogonal changes of basis inside each repeated eigenspace of the (same-spectrum)
    graphs of ``batch``; the encoding must not change."""
    from symco.core.symmetry import EigenBasis

    eigvals, kept = batch.eigvals[0], batch.eigmask[0]  # (d,), (d,): kept columns come first
    # padded/dropped columns get distinct sentinel values: singleton blocks (a sign at most)
    sentinel = 10.0 + torch.arange(len(eigvals), dtype=eigvals.dtype)
    group = EigenBasis.from_eigenvalues(torch.where(kept, eigvals, sentinel), tol=tol)
    act = _on_eigvecs(group, num_eigs, num_nodes)
    return Symmetry(group, act, None, "invariant", "bases of repeated eigenspaces")
