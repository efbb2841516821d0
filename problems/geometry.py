"""Euclidean helpers shared by the routing problems (TSP, CVRP, OP), and the torch helpers of the
built-in problems' batched objectives and feasibility checks (torch imported where used)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where it is used: ``symco --help`` must not load it
    from torch import Tensor

INT_SCALE = 100_000.0
"""Integer solvers see unit-square distances times this (rounding error <= 5e-6 per edge)."""


def distance_matrix(coords: np.ndarray, euc_2d: bool = False) -> np.ndarray:
    """``(N, N)`` Euclidean distances of ``(N, 2)`` points; TSPLIB ``EUC_2D`` rounds each to nint."""
    diff = coords[:, None, :] - coords[None, :, :]
    d = np.sqrt((diff**2).sum(-1))
    return np.floor(d + 0.5) if euc_2d else d


def int_distance_matrix(coords: np.ndarray, euc_2d: bool = False) -> np.ndarray:
    """Integer distances for integer solvers: TSPLIB nint for ``EUC_2D``, else scaled so that the
    bounding box spans :data:`INT_SCALE` units."""
    if euc_2d:
        return distance_matrix(coords, True).astype(np.int64)
    return np.rint(distance_matrix(coords * int_scale(coords))).astype(np.int64)


def int_scale(coords: np.ndarray) -> float:
    """The factor that maps ``coords`` (any extent) onto about ``INT_SCALE`` integer units."""
    extent = float(np.ptp(coords, axis=0).max()) if len(coords) else 0.0
    return INT_SCALE / extent if extent > 0 else 1.0


def edge_lengths(
    coords: np.ndarray, order: np.ndarray, euc_2d: np.ndarray | bool = False
) -> np.ndarray:
    """Lengths of the closed tours ``order`` (``(B, L)`` indices) over ``coords`` (``(B, N, 2)``).

    :return: ``(B, L)``; entry ``l`` is the edge from ``order[:, l]`` to ``order[:, l+1]`` (cyclic).
    """
    pts = np.take_along_axis(coords, order[..., None], axis=1)  # (B, L, 2)
    d = np.linalg.norm(pts - np.roll(pts, -1, axis=1), axis=-1)  # (B, L)
    rounded = np.broadcast_to(np.asarray(euc_2d, dtype=bool).reshape(-1, 1), d.shape)
    return np.where(rounded, np.floor(d + 0.5), d)


def candidate_lists(xy: np.ndarray, k: int) -> list[list[int]]:
    """Each point's ``min(k, N - 1)`` nearest other points, nearest first, from a k-d tree:
    ``O(N K)`` memory, never an ``N x N`` matrix."""
    from scipy.spatial import cKDTree  # imported where used: scipy is slow to import

    n = len(xy)
    k = min(k, n - 1)
    _, nb = cKDTree(xy).query(xy, k + 1)  # (N, K+1) nearest first, usually the point itself
    nb = np.asarray(nb).reshape(n, k + 1)
    own = nb == np.arange(n)[:, None]
    # drop the point itself (or the farthest, where duplicates pushed it out of the first k+1)
    keep = ~own & (own.any(axis=1, keepdims=True) | (np.arange(k + 1) < k))
    return nb[keep].reshape(n, k).tolist()  # type: ignore[no-any-return]


def as_float_tensor(x: Tensor) -> Tensor:
    """``x`` itself if floating point, else as float64 (integer TSPLIB coordinates, demands)."""
    import torch

    return x if x.is_floating_point() else x.to(torch.float64)


def edge_lengths_torch(coords: Tensor, order: Tensor, euc_2d: Tensor | None = None) -> Tensor:
    """The torch twin of :func:`edge_lengths`, on the tensors' device and in ``coords``' dtype.

    :param coords: ``(B, N, 2)``.
    :param order: ``(B, L)`` long node indices in ``0..N-1``, read as closed tours.
    :param euc_2d: ``(B,)`` bool or ``None``: round each edge of those instances to the nearest
        integer, half up (``floor(d + 0.5)``, TSPLIB's nint, as :func:`edge_lengths`).
    :return: ``(B, L)``; entry ``l`` is the edge from ``order[:, l]`` to ``order[:, l+1]`` (cyclic).
    """
    import torch

    coords = as_float_tensor(coords)
    index = order.long().to(coords.device)[..., None].expand(-1, -1, coords.shape[-1])
    pts = torch.gather(coords, 1, index)  # (B, L, 2)
    diff = pts - pts.roll(-1, dims=1)
    d = (diff * diff).sum(dim=-1).sqrt()  # (B, L), as np.linalg.norm computes it
    if euc_2d is not None:
        d = torch.where(euc_2d.to(d.device).bool()[:, None], torch.floor(d + 0.5), d)
    return d


def path_lengths_torch(coords: Tensor, nodes: Tensor) -> Tensor:
    """``(B,)`` lengths of the closed tours node 0 -> ``nodes`` -> node 0 (depot first).

    :param coords: ``(B, N, 2)``.
    :param nodes: ``(B, L)`` long, each row's nodes left-aligned and ``-1`` padded (padding reads
        as the depot, whose edges to itself are 0).
    """
    import torch

    b = nodes.shape[0]
    depot = torch.zeros(b, 1, dtype=torch.long, device=nodes.device)
    tours = torch.cat([depot, nodes.long().clamp_min(0)], dim=1)  # (B, L+1), closed back to 0
    return edge_lengths_torch(coords, tours).sum(dim=1)


def drop_padding(solutions: Tensor) -> tuple[Tensor, Tensor]:
    """Move the ``-1`` entries of ``solutions`` (B, L) to the end of each row, keeping the order
    of the others (``unpack_solutions`` drops them wherever they are).

    :return: ``(solutions, kept)``: the compacted rows and where they hold an entry, (B, L) each.
    """
    import torch

    s = solutions.long()
    order = torch.sort((s < 0).to(torch.uint8), dim=1, stable=True).indices
    s = torch.gather(s, 1, order)
    return s, s >= 0


def chosen_sum(per_node: Tensor, solutions: Tensor) -> Tensor:
    """``(B,)`` sums of ``per_node`` (B, N) over the entries of ``solutions`` (B, L) in ``0..N-1``
    (``-1`` padding, and out-of-range entries, add nothing)."""
    import torch

    s = solutions.long().to(per_node.device)
    kept = (s >= 0) & (s < per_node.shape[1])
    return torch.where(kept, torch.gather(per_node, 1, torch.where(kept, s, 0)), 0).sum(dim=1)


def has_repeats(solutions: Tensor) -> Tensor:
    """``(B,)`` bool: some entry ``>= 0`` of a row of ``solutions`` (B, L) appears twice."""
    s = solutions.long().sort(dim=1).values
    return ((s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)).any(dim=1)
